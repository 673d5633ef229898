// A process claims only the outbound rows it can send: those of the
// producers its worker has. Email (SMTP_URL) may be configured on some
// processes only; a process without it used to claim due email rows and
// cancel them for good ("no producer email in this process"). Now it leaves
// them to the processes that have email. The ordering-key rule still spans
// producers: a row waits behind an earlier pending row of its key, whoever
// sends that one. And a claim reads none of the rows it leaves: with
// thousands of another producer's rows due, every claim read past them all.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { claim, claimNew, enqueue, type NewOutbound } from '../../src/events/outbound/outbox.js';
import type { SendOutcome, SendRequest } from '../../src/events/outbound/send.js';
import { createOutboundWorker, type OutboundWorker, type Producer } from '../../src/events/outbound/worker.js';
import type { Queryable } from '../../src/store/db.js';
import { describeEachStore } from '../helpers/stores.js';

/** A producer with nothing to sign. */
const plain: Producer = { prepare: async () => (rows) => ({ headers: new Map(rows.map((row) => [row.id, {}])) }) };

describeEachStore('outbox claims by producer', (store) => {
  beforeEach(() => store().reset());

  const ctx = (): Ctx => ({ db: store().db, now: () => new Date() });

  /** A worker with these producers whose requests all succeed, noting what it sent (by message id). */
  function worker(producers: readonly string[]): { worker: OutboundWorker; sent: string[] } {
    const sent: string[] = [];
    const sendFn = async (request: SendRequest): Promise<SendOutcome> => {
      sent.push(request.headers['x-message']!);
      return { status: 204, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 };
    };
    const w = createOutboundWorker(ctx(), {
      producers: Object.fromEntries(producers.map((name) => [name, plain])),
      concurrency: 8,
      timeoutMs: 5_000,
      pollMs: 60_000,
      allowPrivate: true,
      sendFn,
    });
    return { worker: w, sent };
  }

  const row = (producer: string, messageId: string, orderingKey: string | null = null): NewOutbound => ({
    producer,
    messageId,
    name: 'x',
    orderingKey,
    url: producer === 'email' ? 'mailto:team@example.test' : 'http://hooks.example.test/in',
    headers: { 'x-message': messageId },
    body: Buffer.from('{}'),
    maxAttempts: 3,
  });

  const states = async () =>
    Object.fromEntries(
      (await store().db.query<{ message_id: string; state: string; attempts: number; last_error: string | null }>(
        'select message_id, state, attempts, last_error from outbound_requests order by id',
      )).map((r) => [r.message_id, `${r.state}/${r.attempts}${r.last_error ? `/${r.last_error}` : ''}`]),
    );

  it("a worker without a producer never claims or cancels that producer's rows; a worker with it delivers them", async () => {
    await store().db.transaction((tx) =>
      enqueue(
        tx,
        [
          row('email', 'mail-1', 'conversation-1'),
          // behind mail-1 on its key: it waits for mail-1 whoever sends it
          row('webhook', 'hook-1', 'conversation-1'),
          row('email', 'mail-2'),
          row('webhook', 'hook-2'),
        ],
        new Date(),
      ),
    );

    const webhooksOnly = worker(['webhook']);
    await webhooksOnly.worker.tick();
    assert.deepEqual(webhooksOnly.sent, ['hook-2']);
    assert.deepEqual(await states(), {
      'mail-1': 'pending/0',
      'hook-1': 'pending/0',
      'mail-2': 'pending/0',
      'hook-2': 'delivered/1',
    });
    const logged = await store().db.query<{ n: number }>('select count(*)::int as n from outbound_attempts');
    assert.equal(logged[0]!.n, 1, 'nothing was logged for the email rows: they were never claimed');

    const withEmail = worker(['webhook', 'email']);
    await withEmail.worker.tick();
    assert.deepEqual([...withEmail.sent].sort(), ['hook-1', 'mail-1', 'mail-2']);
    assert.ok(withEmail.sent.indexOf('mail-1') < withEmail.sent.indexOf('hook-1'), 'hook-1 went after mail-1, its key');
    assert.deepEqual(await states(), {
      'mail-1': 'delivered/1',
      'hook-1': 'delivered/1',
      'mail-2': 'delivered/1',
      'hook-2': 'delivered/1',
    });
  });

  it('a feed claiming its fresh rows takes only those of the worker producers', async () => {
    const now = new Date();
    const claimed = await store().db.transaction(async (tx) => {
      const ids = await enqueue(tx, [row('email', 'mail-1'), row('webhook', 'hook-1')], now);
      return claimNew(tx, ids, now, { limit: 10, leaseUntil: new Date(now.getTime() + 60_000), producers: ['webhook'] });
    });
    assert.deepEqual(claimed.map((r) => r.message_id), ['hook-1']);
    const due = await store().db.query<{ message_id: string }>('select message_id from outbound_requests where next_attempt_at <= $1', [now]);
    assert.deepEqual(due.map((r) => r.message_id), ['mail-1'], 'the email row is left due, for a process with email');
  });

  /** Rows a plan node of outbound_requests read, over all its loops: those it returned and those its filters removed. */
  interface PlanNode {
    'Relation Name'?: string;
    'Node Type': string;
    'Index Name'?: string;
    'Actual Rows': number;
    'Actual Loops': number;
    'Rows Removed by Filter'?: number;
    'Rows Removed by Index Recheck'?: number;
    Plans?: PlanNode[];
  }
  const readOf = (node: PlanNode): { rows: number; where: string[] } => {
    const below = (node.Plans ?? []).map(readOf);
    const own = node['Relation Name'] === 'outbound_requests'
      ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops']
      : 0;
    const where = own > 0 ? [`${node['Node Type']}${node['Index Name'] ? ` on ${node['Index Name']}` : ''}: ${own}`] : [];
    return { rows: own + below.reduce((n, b) => n + b.rows, 0), where: [...where, ...below.flatMap((b) => b.where)] };
  };

  // Found in review (2026-11-26): a producer no process has any more (email after SMTP_URL is removed)
  // leaves its rows pending; the claim walked every pending row in due order and filtered by producer,
  // so each claim of each process read past all of them. Counted in rows, not milliseconds: the plan
  // PostgreSQL ran (EXPLAIN ANALYZE) says how many rows each scan read and threw away.
  for (const producers of [['webhook'], ['webhook', 'rapidpro']]) {
  it(`a claim reads none of another producer's due rows, however many wait (producers ${producers.join(', ')})`, async () => {
    const db = store().db;
    const foreign = 2_000;
    const now = new Date();
    await db.query(
      `insert into outbound_requests (producer, message_id, name, url, method, body, max_attempts, state, next_attempt_at, created_at)
       -- the other producer's rows, due before any of this worker's
       select 'email', 'mail-' || g, 'x', 'mailto:team@example.test', 'SMTP', '\\x00'::bytea, 3, 'pending',
              $1::timestamptz - interval '1 hour' + g * interval '1 ms', $1::timestamptz - interval '1 hour'
         from generate_series(1, $2::int) g
       union all
       -- this worker's history: delivered, in no claim's way
       select 'webhook', 'old-' || g, 'x', 'http://hooks.example.test/in', 'POST', '\\x00'::bytea, 3, 'delivered',
              $1::timestamptz - interval '1 day', $1::timestamptz - interval '1 day'
         from generate_series(1, $2::int) g`,
      [now, foreign],
    );
    await db.transaction((tx) => enqueue(tx, [row('webhook', 'hook-1'), row('webhook', 'hook-2', 'conversation-1'), row('webhook', 'hook-3', 'conversation-1')], now));
    await db.exec('analyze outbound_requests');
    const slots = { limit: 8, leaseUntil: new Date(now.getTime() + 60_000), perDestination: 4, producers };

    // the claim as claim() sends it, explained (and run: rolled back)
    let plan: PlanNode | undefined;
    await db
      .transaction(async (tx) => {
        const explaining: Queryable = {
          query: async <Row,>(text: string, params?: readonly unknown[]) => {
            const [explained] = await tx.query<{ 'QUERY PLAN': unknown }>(`explain (analyze, format json) ${text}`, params);
            const json = explained!['QUERY PLAN'];
            plan = (typeof json === 'string' ? JSON.parse(json) : json)[0].Plan as PlanNode;
            return [] as Row[];
          },
          exec: (text) => tx.exec(text),
        };
        await claim(explaining, now, slots);
        throw new Error('rollback');
      })
      .catch((error: unknown) => assert.match(String(error), /rollback/));
    assert.ok(plan, 'the claim was explained');
    const read = readOf(plan);
    // the rows claimed (hook-1, hook-2), hook-3 behind hook-2, and their look-ups by id: a few dozen at most
    assert.ok(read.rows < 50, `the claim read ${read.rows} rows of outbound_requests (${read.where.join('; ')}), with ${foreign} other rows due`);

    const claimed = await claim(db, now, slots);
    assert.deepEqual(claimed.map((r) => r.message_id), ['hook-1', 'hook-2']);
  });
  }

  it('a claim for several producers takes the earliest due rows of them all, each destination within its cap', async () => {
    const db = store().db;
    const now = new Date();
    const at = (seconds: number) => new Date(now.getTime() - 60_000 + seconds * 1_000);
    // due in this order: a1 b1 a2 b2 a3 b3 a4 b4, a's and b's each to one destination
    for (let i = 1; i <= 4; i++) {
      await db.transaction((tx) => enqueue(tx, [row('a', `a${i}`)], at(2 * i)));
      await db.transaction((tx) => enqueue(tx, [{ ...row('b', `b${i}`), url: 'http://other.example.test/in' }], at(2 * i + 1)));
    }
    const lease = new Date(now.getTime() + 60_000);
    const first = await claim(db, now, { limit: 5, leaseUntil: lease, producers: ['a', 'b'] });
    assert.deepEqual(first.map((r) => r.message_id), ['a1', 'b1', 'a2', 'b2', 'a3']);
    // b's destination has one in flight, its cap is two: one more of b, the rest of a
    const second = await claim(db, now, {
      limit: 5, leaseUntil: lease, perDestination: 2, inFlight: new Map([['http://other.example.test', 1]]), producers: ['b', 'a', 'b'],
    });
    assert.deepEqual(second.map((r) => r.message_id), ['b3', 'a4']);
    assert.deepEqual(await claim(db, now, { limit: 5, leaseUntil: lease, producers: ['a'] }), []);
  });

  it("a claim running while another process's claim holds its rows takes the next ones, and leaves no due row unclaimed", async (t) => {
    if (store().kind !== 'postgres') return t.skip('two connections: PGlite has one');
    const db = store().db;
    const now = new Date();
    const at = (seconds: number) => new Date(now.getTime() - 60_000 + seconds * 1_000);
    // due in this order: a1 b1 a2 b2 a3 b3 a4 b4 (two producers, two destinations)
    for (let i = 1; i <= 4; i++) {
      await db.transaction((tx) => enqueue(tx, [row('a', `a${i}`)], at(2 * i)));
      await db.transaction((tx) => enqueue(tx, [{ ...row('b', `b${i}`), url: 'http://other.example.test/in' }], at(2 * i + 1)));
    }
    const slots = { limit: 4, leaseUntil: new Date(now.getTime() + 60_000), producers: ['a', 'b'] };
    let byB: string[] = [];
    // A's claim inside an open transaction: B's claim runs while A's still holds what it locked
    const byA = await db.transaction(async (tx) => {
      const a = await claim(tx, now, slots);
      byB = (await claim(db, now, slots)).map((r) => r.message_id);
      return a.map((r) => r.message_id);
    });
    assert.deepEqual(byA, ['a1', 'b1', 'a2', 'b2']);
    assert.deepEqual(byB, ['a3', 'b3', 'a4', 'b4'], 'B, with four free slots, takes the four due rows A did not');
  });
});
