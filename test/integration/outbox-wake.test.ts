// The outbox worker is woken by commits: outbound requests, whoever commits
// them (migration 0027's NOTIFY); events, in the process that committed them
// (onCommitted: events send no NOTIFY, whose commit lock would serialize
// every chat message). It claims in batches with a per-destination cap, shares the work
// between processes without a double send, and looks again after its
// listening connection is lost. Every worker here polls once a minute, and
// no test waits ten seconds: a delivery seen is one the poll did not cause.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { claim, enqueue, type NewOutbound } from '../../src/events/outbound/outbox.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { OUTBOX_CHANNEL, type Db } from '../../src/store/db.js';
import { openPostgres } from '../../src/store/postgres.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, testWorker, type Receiver } from '../helpers/webhook-receiver.js';

const POLL_MS = 60_000;
/** Far below the poll: what arrives within it was woken by the commit. */
const PROMPTLY_MS = 10_000;

async function until(what: string, done: () => boolean | Promise<boolean>, withinMs = PROMPTLY_MS): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms (the poll is ${POLL_MS} ms): ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describeEachStore('outbox worker wake-up and batches', (store) => {
  let receiver: Receiver;
  let secrets: string[];
  let workers: OutboundWorker[];
  let extraDbs: Db[];

  // No onCommitted wake-up here: only NOTIFY or the poll can wake a worker.
  const context = (db: Db = store().db): Ctx => ({ db, now: () => new Date() });

  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    secrets = [];
    workers = [];
    extraDbs = [];
    receiver = await startReceiver(() => secrets);
  });
  afterEach(async () => {
    for (const w of workers) await w.stop();
    for (const db of extraDbs) await db.close();
    await receiver.close();
  });

  async function subscribe(ctx: Ctx) {
    const { endpoint, secret } = await endpointFor(ctx, receiver, { events: ['session_state_open'] });
    secrets.push(secret);
    return endpoint;
  }

  /** As a PL/pgSQL function or another process would: a request written by SQL, nothing called after commit. */
  async function enqueueBySql(db: Db, endpointId: string, messageId: string) {
    await db.query(
      `insert into outbound_requests (producer, endpoint_id, message_id, name, url, body, max_attempts, next_attempt_at, created_at)
       values ('webhook', $1, $2, 'session_state_open', $3, convert_to('{"event":"session_state_open"}', 'utf8'), 3, now(), now())`,
      [endpointId, messageId, receiver.url],
    );
  }

  /** A process's own commits of events wake its own worker, as the server wires it. */
  function wakesItself(ctx: Ctx, worker: OutboundWorker): void {
    ctx.onCommitted = () => worker.committed();
  }

  function started(ctx: Ctx, options: Parameters<typeof testWorker>[1] = {}): OutboundWorker {
    const worker = testWorker(ctx, { pollMs: POLL_MS, ...options });
    workers.push(worker);
    worker.start();
    return worker;
  }

  /** A second "process": its own pool on PostgreSQL; PGlite is one process with one connection. */
  function otherProcess(): Ctx {
    const { url, kind } = store();
    if (kind === 'pglite') return context();
    const db = openPostgres({ connectionString: url!, max: 4 });
    extraDbs.push(db);
    return context(db);
  }

  it('a request committed by another process is delivered at once, though its poll is a minute away', async () => {
    const ctx = context();
    const endpoint = await subscribe(ctx);
    started(ctx);
    // the start's own pass has nothing to do; let it end
    await new Promise((resolve) => setTimeout(resolve, 300));
    await enqueueBySql(otherProcess().db, endpoint.id, 'msg_other_1');
    await until('the request from the other process', () => receiver.accepted.length === 1);
    assert.equal(receiver.accepted[0]!.id, 'msg_other_1');
  });

  it('an event wakes the worker of the process that committed it, and sends no NOTIFY', async () => {
    let notified = 0;
    const listening = await store().db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1) });
    try {
      const ctx = context();
      await subscribe(ctx);
      wakesItself(ctx, started(ctx));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await openConversation(ctx, { customer: { id: 'c-1', name: 'Ana' } });
      await until('the session_state_open delivery', () => receiver.accepted.length === 1);
      assert.deepEqual(receiver.problems, []);
      // the fan-out's own requests notify; the conversation's events do not
      await new Promise((resolve) => setTimeout(resolve, 300));
      const fannedOut = notified;
      await openConversation(otherProcess(), { customer: { id: 'c-2', name: 'Bia' } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(notified, fannedOut, 'committing events alone notifies nobody');
    } finally {
      await listening.close();
    }
  });

  it('a request enqueued by plain SQL, outside withEvents, wakes the worker at its commit', async () => {
    const ctx = context();
    const { endpoint, secret } = await endpointFor(ctx, receiver, { events: ['session_state_open'] });
    secrets.push(secret);
    started(ctx);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store().db.transaction(async (tx) => {
      // as a PL/pgSQL routing function would: rows written by SQL, nothing called after commit
      await tx.query(
        `insert into outbound_requests (producer, endpoint_id, message_id, name, url, body, max_attempts, next_attempt_at, created_at)
         values ('webhook', $1, 'msg_sql_1', 'session_state_open', $2, convert_to('{"event":"session_state_open"}', 'utf8'), 3, now(), now())`,
        [endpoint.id, receiver.url],
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(receiver.requests.length, 0, 'nothing is sent before the commit');
    });
    await until('the request inserted by SQL', () => receiver.accepted.length === 1);
    assert.equal(receiver.accepted[0]!.id, 'msg_sql_1');
  });

  it('one claim takes a batch in one statement and gives each destination what its cap leaves', async () => {
    const now = new Date();
    const rows = (url: string, n: number): NewOutbound[] =>
      Array.from({ length: n }, (_, i) => ({ producer: 'test', messageId: `${url}-${i}`, name: 'x', url, body: Buffer.from('{}'), maxAttempts: 1 }));
    const [a, b] = [rows('http://a.test/in', 40), rows('http://b.test/in', 40)];
    await store().db.transaction((tx) => enqueue(tx, a.flatMap((row, i) => [row, b[i]!]), now));
    const lease = new Date(now.getTime() + 60_000);

    const batch = await claim(store().db, now, { limit: 50, leaseUntil: lease, producers: ['test'] });
    assert.equal(batch.length, 50);
    assert.deepEqual(new Set(batch.map((r) => r.destination)), new Set(['http://a.test', 'http://b.test']));

    // a.test already has 3 in flight of its cap of 5: it gets 2, b.test its 5
    const capped = await claim(store().db, now, { limit: 20, leaseUntil: lease, perDestination: 5, inFlight: new Map([['http://a.test', 3]]), producers: ['test'] });
    const count = (d: string) => capped.filter((r) => r.destination === d).length;
    assert.deepEqual([count('http://a.test'), count('http://b.test')], [2, 5]);

    // a destination at its cap is passed by: the batch fills from the others
    const full = await claim(store().db, now, { limit: 10, leaseUntil: lease, perDestination: 30, inFlight: new Map([['http://a.test', 30]]), producers: ['test'] });
    assert.equal(full.length, 10);
    assert.ok(full.every((r) => r.destination === 'http://b.test'));

    // nothing claimed twice, and leased rows are not due
    const ids = [...batch, ...capped, ...full].map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    const again = await claim(store().db, now, { limit: 100, leaseUntil: lease, producers: ['test'] });
    assert.equal(again.length, 80 - ids.length);
    assert.ok(again.every((r) => !ids.includes(r.id)));
  });

  it('two workers in two processes share a burst and never send one delivery twice', async () => {
    const one = context();
    const two = otherProcess();
    await subscribe(one);
    // small batches, so both take turns claiming
    wakesItself(one, started(one, { concurrency: 4 }));
    wakesItself(two, started(two, { concurrency: 4 }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const writers = [one, two];
    const N = 60;
    await Promise.all(Array.from({ length: N }, (_, i) => openConversation(writers[i % 2]!, { customer: { id: `c-${i}`, name: `C ${i}` } })));
    await until(`${N} deliveries`, () => receiver.accepted.length >= N);
    // a moment for a double send to show itself
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ids = receiver.requests.map((r) => r.id);
    assert.equal(ids.length, N, `each delivery sent once: ${ids.length} requests for ${N} deliveries`);
    assert.equal(new Set(ids).size, N);
    const delivered = await store().db.query<{ n: number }>(`select count(*)::int as n from outbound_requests where state = 'delivered'`);
    assert.equal(delivered[0]!.n, N);
    const attempts = await store().db.query<{ n: number }>(`select count(*)::int as n from outbound_attempts`);
    assert.equal(attempts[0]!.n, N, 'one attempt logged per delivery');
  });

  it('a listener hears a NOTIFY when its transaction commits, not before; on PostgreSQL it listens again after losing its connection', async () => {
    let reconnected = 0;
    let notified = 0;
    const listening = await store().db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1), reconnected: () => (reconnected += 1) });
    try {
      await store().db.transaction(async (tx) => {
        await tx.query(`select pg_notify($1, '')`, [OUTBOX_CHANNEL]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(notified, 0, 'not before the commit');
      });
      await until('the notification at commit', () => notified === 1);
      if (store().kind === 'pglite') return; // one in-process connection: nothing to lose

      const ctx = context();
      const endpoint = await subscribe(ctx);
      started(ctx);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killed = await store().db.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen %'`,
      );
      assert.equal(killed[0]!.n, 2, "the worker's and this test's listening connections");
      // the catch-up: `reconnected` is what makes the worker look for what was notified while it was gone
      await until('the listener to reconnect', () => reconnected === 1);
      await enqueueBySql(otherProcess().db, endpoint.id, 'msg_after');
      await until('the delivery of a request committed after the reconnect', () => receiver.accepted.length === 1);
      await until('the notification on the new connection', () => notified >= 2);
    } finally {
      await listening.close();
    }
  });

  it('a worker that lost its listening connection delivers what was committed while it was gone', async () => {
    const ctx = context();
    const endpoint = await subscribe(ctx);
    // the worker's store loses its listening connection and cannot make one for a while
    let gate!: () => void;
    const down = new Promise<void>((resolve) => (gate = resolve));
    let handlers: Parameters<Db['listen']>[1] | undefined;
    const db = store().db;
    const flaky: Db = {
      ...db,
      listen: async (channel, h) => {
        handlers = h;
        const real = await db.listen(channel, h);
        void down.then(() => h.reconnected?.());
        return real;
      },
    };
    const deliveryErrors: unknown[] = [];
    const listenErrors: unknown[] = [];
    started({ db: flaky, now: () => new Date() }, { onError: (e) => deliveryErrors.push(e), onListenError: (e) => listenErrors.push(e) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(handlers);
    // the store reports the lost connection: a wake-up problem, not a failed delivery
    handlers.onError?.(new Error('Connection terminated unexpectedly'));
    assert.deepEqual(listenErrors.map((e) => (e as Error).message), ['Connection terminated unexpectedly']);
    assert.deepEqual(deliveryErrors, []);
    // while "down" the notification is lost: the handler is not called for it
    const notified = handlers.notified;
    handlers.notified = () => {};
    await enqueueBySql(otherProcess().db, endpoint.id, 'msg_gone');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(receiver.requests.length, 0, 'not delivered while the notification was lost');
    handlers.notified = notified;
    gate();
    await until('the catch-up delivery', () => receiver.accepted.length === 1);
  });
});
