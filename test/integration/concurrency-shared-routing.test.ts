// Opens and resolves under the routing lock SHARED (issue #22, item 3;
// src/store/migrations/routing/functions.sql, "Open and close without the exclusive routing
// lock"): the fast paths run side by side, anything that may queue or match
// waits for them and runs exclusive, and the three promises hold.
//
// SQL level, on both stores: which mode of the lock a change holds when it
// commits — a fast open or resolve only the shared one; one that falls back
// only the exclusive one, as the shared lock taken in the rolled-back
// subtransaction is gone (on PostgreSQL and on PGlite). On PostgreSQL with
// two connections: a second open completes while a first has not committed
// (no exclusive lock), and an open that must queue waits for a resolve in
// flight and then takes the slot it freed.
//
// Across processes: two server processes on one PostgreSQL (one process on
// PGlite) take opens and resolves from many clients, in waves that fill the
// agents and empty them again, so both paths run; the promises are checked
// in snapshots during the load (PostgreSQL) and after it.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import type { Db, Queryable } from '../../src/store/db.js';
import { openPglite } from '../../src/store/pglite.js';
import { openPostgres } from '../../src/store/postgres.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { heldOpen } from '../helpers/held-open.js';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { call, SERVER_ENV, setUp, STARTUP_TIMEOUT_MS } from '../helpers/load.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { describeEachStore, openTestStore, storeKinds, type TestStore } from '../helpers/stores.js';
import { migratedDataDir } from '../helpers/pglite-template.js';

const OPEN = `select (o.opened).id, (o.opened).state, (o.opened).agent_id
  from sb_open_conversation('api', null, $1::text, '{"id": "c"}'::jsonb, $2::text, 0, now(), false, '{}'::jsonb) o`;
const CLOSE = `select (o.closed).id, (o.closed).state from sb_close_conversation($1::uuid, 'resolved', now(), 'agent', null, null, 'test') o`;

/** The modes of the routing lock (7301001) this transaction holds. */
async function routingLockModes(tx: Queryable): Promise<string[]> {
  const rows = await tx.query<{ mode: string }>(
    `select mode from pg_locks where locktype = 'advisory' and objid = 7301001 and pid = pg_backend_pid() and granted order by mode`,
  );
  return rows.map((r) => r.mode);
}

describeEachStore('routing lock shared for opens and resolves', (store) => {
  let ctx: Ctx;
  let clock: ReturnType<typeof fakeClock>;
  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    ctx = { db: store().db, now: clock.now };
  });

  it('a fast open and a fast resolve hold the lock shared; so do, at capacity, an open that queues and a resolve that gives its slot to the head (row-level decisions)', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const first = await store().db.transaction(async (tx) => {
      const [row] = await tx.query<{ id: string; state: string; agent_id: string }>(OPEN, ['c-1', null]);
      assert.deepEqual(await routingLockModes(tx), ['ShareLock'], 'an open with an agent free holds the lock shared');
      return row!;
    });
    assert.equal(first.state, 'assigned');
    assert.equal(first.agent_id, agent.id);

    const second = await store().db.transaction(async (tx) => {
      const [row] = await tx.query<{ id: string; state: string }>(OPEN, ['c-2', null]);
      // every agent who could serve it locked for share and full (concurrency-capacity-rows.test.ts)
      assert.deepEqual(await routingLockModes(tx), ['ShareLock'], 'an open that queues holds the lock shared, and only so');
      return row!;
    });
    assert.equal(second.state, 'queued');

    await store().db.transaction(async (tx) => {
      const [row] = await tx.query<{ state: string }>(CLOSE, [first.id]);
      assert.equal(row!.state, 'resolved');
      assert.deepEqual(await routingLockModes(tx), ['ShareLock'], 'a resolve whose agent takes the queued conversation holds it shared');
    });
    const [taken] = await store().db.query<{ state: string; agent_id: string }>('select state, agent_id from conversations where id = $1', [second.id]);
    assert.deepEqual(taken, { state: 'assigned', agent_id: agent.id }, 'the freed slot went to the queued conversation');

    await store().db.transaction(async (tx) => {
      const [row] = await tx.query<{ state: string }>(CLOSE, [second.id]);
      assert.equal(row!.state, 'resolved');
      assert.deepEqual(await routingLockModes(tx), ['ShareLock'], 'a resolve with nothing queued holds it shared');
    });
    assert.deepEqual(await invariantViolations(store().db), []);
    const [agentRow] = await store().db.query<{ load: number }>('select load from agents where id = $1', [agent.id]);
    assert.equal(agentRow!.load, 0);
  });

  it('a repeated external_ref, a manual department and a sticky agent still behave as before', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 5, departments: ['desk', 'sticky'] });
    const again = async () => openConversation(ctx, { customer: { id: 'r' }, external_ref: 'room-1', channel: 'api' });
    const one = await again();
    const two = await again();
    assert.equal(one.created, true);
    assert.equal(two.created, false);
    assert.equal(two.conversation.id, one.conversation.id);

    await store().db.query(`insert into department_routing (department, settings) values ('desk', '{"mode": "manual"}'::jsonb)`);
    const manual = await openConversation(ctx, { customer: { id: 'm' }, department: 'desk' });
    assert.equal(manual.conversation.state, 'queued', 'a manual department queues even with an agent free');

    await store().db.query(`insert into department_routing (department, settings) values ('sticky', '{"sticky_window_s": 3600}'::jsonb)`);
    const other = await makeAgent(ctx, { status: 'online', capacity: 5, departments: ['sticky'] });
    clock.advance(1000);
    const before = await openConversation(ctx, { customer: { id: 'v' }, department: 'sticky', customer_verified: true });
    const last = before.conversation.agent_id!;
    assert.equal(last, other.id, 'the least loaded agent');
    clock.advance(1000);
    await closeConversation(ctx, before.conversation.id, {}, SYSTEM);
    clock.advance(1000);
    // Both agents now hold one and `agent` has waited longest: the policy's pick, which the
    // fast path would make; the sticky agent wins only on the exclusive path.
    await openConversation(ctx, { customer: { id: 'filler' }, department: 'sticky' });
    clock.advance(1000);
    const returning = await openConversation(ctx, { customer: { id: 'v' }, department: 'sticky', customer_verified: true });
    assert.equal(returning.conversation.agent_id, other.id, 'the returning verified customer goes back to their agent');
    const unverified = await openConversation(ctx, { customer: { id: 'v' }, department: 'sticky' });
    assert.equal(unverified.conversation.agent_id, agent.id, 'a claimed id picks no one: the least loaded, idle longest');
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('an open does not overtake a conversation whose sticky wait has ended, even from a department with an empty queue', async () => {
    await store().db.query(`insert into department_routing (department, settings) values ('sales', '{"sticky_window_s": 3600, "sticky_wait_s": 20}'::jsonb)`);
    const first = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const kim = await openConversation(ctx, { customer: { id: 'kim' }, department: 'sales', customer_verified: true });
    assert.equal(kim.conversation.agent_id, first.id);
    clock.advance(1000);
    await closeConversation(ctx, kim.conversation.id, {}, SYSTEM);
    await openConversation(ctx, { customer: { id: 'lee' }, department: 'sales' }); // first is full
    // room, but kim's next conversation waits for first until sticky_until
    const spare = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales', 'desk'] });
    const back = await openConversation(ctx, { customer: { id: 'kim' }, department: 'sales', customer_verified: true });
    assert.equal(back.conversation.state, 'queued');
    clock.advance(21_000); // the wait has ended, no sweep yet: kim is anyone's, spare has room
    // desk's queue is empty, so the guess lets the open try the fast path; it must not give spare the newcomer
    const newcomer = await store().db.transaction(async (tx) => {
      const [row] = await tx.query<{ id: string; state: string }>(
        `select (o.opened).id, (o.opened).state
           from sb_open_conversation('api', null, 'ann', '{"id": "ann"}'::jsonb, 'desk', 0, $1::timestamptz, false, '{}'::jsonb) o`,
        [clock.now()],
      );
      assert.deepEqual(await routingLockModes(tx), ['ExclusiveLock'], 'an ended sticky wait sends the open to the exclusive path');
      return row!;
    });
    const [served] = await store().db.query<{ agent_id: string }>('select agent_id from conversations where id = $1', [back.conversation.id]);
    assert.equal(served!.agent_id, spare.id, 'kim, whose turn came first, is served first');
    assert.equal(newcomer.state, 'queued', 'the newcomer waits: spare is full');
    assert.deepEqual(await invariantViolations(store().db), []);
  });
});

describe('routing lock shared, two connections [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let store: TestStore | undefined;
  let second: Db | undefined;
  after(async () => {
    await second?.close();
    await store?.close();
  });

  const settled = async <T>(p: Promise<T>, ms: number): Promise<boolean> =>
    Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

  it('a second open completes while the first has not committed, and an open that must queue waits for a resolve in flight', async () => {
    store = await openTestStore('postgres', { poolSize: 2 });
    second = openPostgres({ connectionString: store.url!, max: 2 });
    const ctx: Ctx = { db: store.db, now: () => new Date() };
    const a = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const b = await makeAgent(ctx, { status: 'online', capacity: 1 });

    // Two opens in flight: the first holds its agent's row and the lock (shared) until released.
    const one = heldOpen(store.db, async (tx) => (await tx.query<{ id: string; state: string; agent_id: string }>(OPEN, ['c-1', null]))[0]!);
    const first = await one.ran;
    assert.equal(first.state, 'assigned');
    const twoOpen = second.query<{ id: string; state: string; agent_id: string }>(OPEN, ['c-2', null]);
    assert.equal(await settled(twoOpen, 10_000), true, 'the second open committed while the first was still open: nobody held the lock exclusive');
    const [two] = await twoOpen;
    assert.equal(two!.state, 'assigned');
    assert.notEqual(two!.agent_id, first.agent_id, 'the second open passed over the agent the first had locked');
    one.release();
    await one.done;
    assert.deepEqual([first.agent_id, two!.agent_id].sort(), [a.id, b.id].sort());

    // Both agents full. A resolve in flight (fast: nothing is queued) frees a's slot; an open now
    // finds nobody it can lock with room, so it must wait for the exclusive lock, then sees the slot.
    const held = first.agent_id === a.id ? first : two!;
    const closing = heldOpen(store.db, async (tx) => (await tx.query<{ state: string }>(CLOSE, [held.id]))[0]!);
    assert.equal((await closing.ran).state, 'resolved');
    const thirdOpen = second.query<{ id: string; state: string; agent_id: string | null }>(OPEN, ['c-3', null]);
    assert.equal(await settled(thirdOpen, 500), false, 'the open that would queue waits for the resolve in flight');
    closing.release();
    await closing.done;
    const [third] = await thirdOpen;
    assert.deepEqual({ state: third!.state, agent_id: third!.agent_id }, { state: 'assigned', agent_id: held.agent_id }, 'decided on committed state: the freed slot, not the queue');
    assert.deepEqual(await invariantViolations(store.db), []);
    assert.deepEqual(await overCapacity(store.db), []);
  });
});

// ---- across processes ------------------------------------------------------------

interface LockSamples {
  samples: number;
  /** samples in which at least one session held the routing lock shared, two or more, exclusive */
  shared: number;
  sharedTogether: number;
  exclusive: number;
}

/** Samples pg_locks (the routing lock's granted modes) until `work` settles. */
async function sampleLocks(db: Db, work: Promise<unknown>): Promise<LockSamples> {
  const seen: LockSamples = { samples: 0, shared: 0, sharedTogether: 0, exclusive: 0 };
  let done = false;
  void work.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    const rows = await db.query<{ mode: string; n: number }>(
      `select mode, count(*)::int as n from pg_locks
        where locktype = 'advisory' and objid = 7301001 and granted
          and database = (select oid from pg_database where datname = current_database())
        group by mode`,
    );
    seen.samples += 1;
    const shared = rows.find((r) => r.mode === 'ShareLock')?.n ?? 0;
    if (shared > 0) seen.shared += 1;
    if (shared > 1) seen.sharedTogether += 1;
    if (rows.some((r) => r.mode === 'ExclusiveLock')) seen.exclusive += 1;
    await sleep(5);
  }
  return seen;
}

/**
 * Opens and resolves from `clients` clients spread over `servers`, in waves:
 * opening up to 70 open conversations (39 slots: agents fill, conversations
 * queue, resolves match), then resolving down to 8 (every open finds room).
 */
async function openAndResolve(servers: string[], adminToken: string, operations: number, clients: number) {
  const open = new Set<string>();
  const created = new Set<string>();
  const resolved = new Set<string>();
  const failures: string[] = [];
  let started = 0;
  const departments = [null, 'sales', 'support'];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const base = servers[c % servers.length]!;
      while (started < operations) {
        const n = started++;
        const target = Math.floor(n / 120) % 2 === 0 ? 70 : 8;
        if (open.size < target || open.size === 0) {
          const department = departments[n % departments.length];
          const reply = await call(base, 'POST', '/api/v1/conversations', {
            token: adminToken,
            body: { customer: { id: `s-${n}`, name: 'Shared' }, ...(department ? { department } : {}) },
          });
          if (reply.status !== 201) failures.push(`create ${reply.status} ${JSON.stringify(reply.body)}`);
          else {
            created.add(reply.body.id);
            open.add(reply.body.id);
          }
        } else {
          const ids = [...open];
          const id = ids[(n * 7919) % ids.length]!;
          open.delete(id);
          const reply = await call(base, 'POST', `/api/v1/conversations/${id}/resolve`, { token: adminToken, body: {} });
          if (reply.status === 200) resolved.add(id);
          else failures.push(`resolve ${reply.status} ${JSON.stringify(reply.body)}`);
        }
      }
    }),
  );
  return { created, resolved, failures };
}

/**
 * What the event log shows of the paths: opens that queued, resolves whose
 * freed slot went to the queue, and opens assigned at once (queued_at =
 * assigned_at).
 */
async function pathsInLog(db: Queryable): Promise<{ queued: number; matched: number; at_once: number }> {
  const [row] = await db.query<{ queued: number; matched: number; at_once: number }>(
    `select count(*) filter (where type = 'conversation.queued')::int as queued,
            count(*) filter (where type = 'conversation.assigned' and (data -> 'conversation' ->> 'queued_at') <> (data -> 'conversation' ->> 'assigned_at'))::int as matched,
            count(*) filter (where type = 'conversation.assigned' and (data -> 'conversation' ->> 'queued_at') = (data -> 'conversation' ->> 'assigned_at'))::int as at_once
       from events`,
  );
  return row!;
}

describe('opens and resolves hammered across processes', { concurrency: true }, () => {
  for (const kind of storeKinds()) {
    describe(`[${kind}]`, () => {
      const servers: ServerProcess[] = [];
      let store: TestStore | undefined;
      let dataDir: string | undefined;
      let reader: Db | undefined;
      after(async () => {
        await Promise.all(servers.map((s) => s.kill()));
        await reader?.close();
        await store?.close();
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
      });

      if (kind === 'postgres') {
        it('two processes on one PostgreSQL: both paths run, side by side, and every promise holds', async (t) => {
          store = await openTestStore('postgres', { poolSize: 4 });
          const db = store.db;
          servers.push(
            ...(await Promise.all([0, 1].map(() => startServerProcess({ env: { ...SERVER_ENV, DATABASE_URL: store!.url!, DATA_DIR: undefined }, timeoutMs: STARTUP_TIMEOUT_MS })))),
          );
          const urls = servers.map((s) => s.url);
          const { adminToken } = await setUp(urls);

          const problems: string[] = [];
          let monitoring = true;
          const monitor = (async () => {
            while (monitoring) {
              // any snapshot sees a prefix of the commits, and each commit keeps the promises
              const seen = await db.transaction(async (tx) => {
                await tx.query('set transaction isolation level repeatable read');
                const found = await invariantViolations(tx);
                for (const a of await overCapacity(tx)) found.push(`agent ${a.id} holds ${a.load} of ${a.capacity}`);
                return found;
              });
              problems.push(...seen);
              await sleep(20);
            }
          })();
          const work = openAndResolve(urls, adminToken, 480, 16);
          const locks = await sampleLocks(db, work);
          const load = await work;
          monitoring = false;
          await monitor;

          t.diagnostic(`lock samples ${JSON.stringify(locks)}`);
          const errors = servers.flatMap((s) => s.logs().filter((l) => Number(l.level) >= 50).map((l) => JSON.stringify(l.err ?? l.msg)));
          assert.deepEqual(load.failures, [], `the servers logged: ${errors.slice(0, 5).join('\n')}`);
          assert.deepEqual(problems, [], 'every snapshot during the load kept the promises');
          assert.deepEqual(await invariantViolations(db), []);
          assert.deepEqual(await overCapacity(db), []);
          const [counted] = await db.query<{ n: number; closed: number }>(
            `select count(*)::int as n, count(*) filter (where state = 'resolved')::int as closed from conversations where id = any ($1::uuid[])`,
            [[...load.created]],
          );
          assert.deepEqual(counted, { n: load.created.size, closed: load.resolved.size }, 'every acknowledged open and resolve committed');

          const paths = await pathsInLog(db);
          t.diagnostic(`in the log ${JSON.stringify(paths)}`);
          assert.ok(paths.queued > 0 && paths.matched > 0 && paths.at_once > 0, `both paths ran: ${JSON.stringify(paths)}`);
          // sampled every 5 ms over the load: held shared. Exclusive holders (the sweep, a fallback)
          // are rare since queueing and matching at capacity hold it shared too (concurrency-capacity-rows.test.ts).
          assert.ok(locks.shared > 0, `the lock was seen held shared: ${JSON.stringify(locks)}`);
        });
      } else {
        it('one process on embedded PGlite: both paths run and every promise holds', async () => {
          dataDir = await migratedDataDir('sb-shared-routing-');
          const server = await startServerProcess({ env: { ...SERVER_ENV, DATABASE_URL: undefined, DATA_DIR: dataDir }, timeoutMs: STARTUP_TIMEOUT_MS });
          servers.push(server);
          const { adminToken } = await setUp([server.url]);
          const load = await openAndResolve([server.url], adminToken, 360, 8);
          assert.deepEqual(load.failures, []);
          const code = await server.kill();
          assert.equal(code, 0, `the server exits cleanly on SIGTERM\n${server.stderr.slice(-20).join('\n')}`);
          reader = await openPglite(dataDir);
          assert.deepEqual(await invariantViolations(reader), []);
          assert.deepEqual(await overCapacity(reader), []);
          const [counted] = await reader.query<{ n: number; closed: number }>(
            `select count(*)::int as n, count(*) filter (where state = 'resolved')::int as closed from conversations where id = any ($1::uuid[])`,
            [[...load.created]],
          );
          assert.deepEqual(counted, { n: load.created.size, closed: load.resolved.size });
          const paths = await pathsInLog(reader);
          assert.ok(paths.queued > 0 && paths.matched > 0 && paths.at_once > 0, `both paths ran: ${JSON.stringify(paths)}`);
        });
      }
    });
  }
});
