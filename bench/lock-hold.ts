// `npx tsx bench/lock-hold.ts` — what the global locks cost, in this process
// against PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL; a scratch
// database, dropped afterwards). No HTTP and no MQTT: the domain functions the
// routes call, so the figures are the store's and the locks', not the web
// server's. Three phases of --seconds each:
//   1. messages: --message-clients clients add chat messages flat out to 500
//      open conversations (addMessage) — messages/s and latency
//   2. routing: --routing-clients clients open a conversation (assigned at
//      once: nobody is at capacity) and resolve it, flat out — routing
//      changes/s, and how long each holds the routing lock
//   3. both at once — the two rates side by side, and the routing lock's hold
//
// The hold is timed around the routing transaction in this process: from the
// answer to BEGIN + pg_advisory_xact_lock (the lock is held) to the answer to
// the message carrying the events, COMMIT and the WAL flush. That is an upper
// bound: it includes one network round trip and the flush, which happen after
// the lock is released. `empty` is that same bound for a routing transaction
// that does nothing, so hold − empty is about the work done under the lock.
// A routing change made in one call (Db.transactOne, migration 0026) takes
// the lock inside PostgreSQL: its bound is the whole call, timed only in
// phase 2a (one client, so it never waits for the lock) — the same one round
// trip and flush as the transaction's bound. Under contention the mean hold
// is also derived from pg_locks sampling (Little's law: mean sessions
// holding the lock ÷ routing changes/s), which counts only time the server
// holds it, for either shape.
// In-server hold (issue #22, the figure the ceiling is judged on): the bench
// puts wrappers of sb_open_conversation and sb_close_conversation in a schema
// of its scratch database ahead of public on the search path. Each notes
// clock_timestamp(), calls the real function (which takes the routing lock
// itself) and records the time and the mode of the lock the change ended up
// holding: shared (item 3's fast paths) or exclusive (everything else, and
// every change before item 3); a deferred trigger notes clock_timestamp()
// again at pre-commit. The moment the lock was granted comes from wrappers of
// pg_advisory_xact_lock and pg_advisory_xact_lock_shared in the same schema
// (pg_catalog is put last on the search path, so they come first): each
// notes clock_timestamp() in a transaction-local setting once the real one
// returns. A failed fast attempt's note is undone with its subtransaction,
// so a change that fell back to the exclusive path is timed from the
// exclusive grant. Lock granted → pre-commit is the hold, without network or
// waiting: only the commit record (synchronous_commit off: no flush under the
// lock) and the release follow. Call → pre-commit is reported beside it: it
// adds the guesses, a failed fast attempt and, with several clients, the wait
// for the lock. Under contention the mean hold of each mode also comes from
// pg_locks sampling (Little's law: mean sessions holding the lock in that
// mode ÷ the changes/s that took it in that mode; a failed attempt's shared
// hold counts there), and the wrappers count the changes per kind and mode.
// The ceiling is 1 / the exclusive hold: changes/s that the lock allows
// (shared holders do not exclude each other), whatever the cores.
// The "at capacity" phases: every agent full, a queue behind them; each
// client opens a conversation (it queues) and resolves a random open one (an
// assigned one's slot goes to the queue). These ran exclusive until the
// row-level decisions (docs/architecture.md, "At capacity: row-level
// decisions"); now they hold the lock shared, the per-mode counts show the
// few that fall back, and the shared hold (lock grant → pre-commit)
// includes the waits for agents' and conversations' rows, which now
// serialize what the lock did: it is no ceiling. Call → pre-commit with 16
// clients shows the wait for the lock that went.
//
// The floor phases (with --only=capacity) call bench_timing.sb_floor: a
// PL/pgSQL function that takes the lock exclusive and inserts one event,
// timed the same way: the least an exclusive change can hold the lock.
//
//   options: --seconds=10 --message-clients=32 --routing-clients=16 --agents=20
//            --only=capacity (just the two at-capacity phases and the two
//            floor phases: the exclusive hold, for comparing the routing
//            functions' writes)
import { performance } from 'node:perf_hooks';
import { createAgent, updateAgent } from '../src/agents/agents.js';
import { SYSTEM } from '../src/agents/model.js';
import { setPasswordCostForTests } from '../src/agents/passwords.js';
import type { Config } from '../src/config.js';
import type { Ctx } from '../src/context.js';
import { closeConversation, openConversation } from '../src/conversations/lifecycle.js';
import { addMessage } from '../src/conversations/messages.js';
import { withEvents } from '../src/events/outbox.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import { LOCKS, type Db, type Statement } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { inServerHolds, shown, TIMING_SQL, type InServerHold } from './hold-timing.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const num = (name: string, fallback: number) => Number(args.get(name) ?? fallback);
const SECONDS = num('seconds', 10);
const MESSAGE_CLIENTS = num('message-clients', 32);
const ROUTING_CLIENTS = num('routing-clients', 16);
const AGENTS = num('agents', 20);
const CAPACITY_ONLY = args.get('only') === 'capacity';
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/lock-hold.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

/** Times every routing transaction from lock held to commit answered, and every routing call whole. */
function timingDb(db: Db, holds: number[], calls: number[]): Db {
  return {
    async transactOne<Row>(text: string, params: readonly unknown[]) {
      const t = performance.now();
      const rows = await db.transactOne<Row>(text, params);
      calls.push(performance.now() - t);
      return rows;
    },
    async transactOneThen<Row, After>(text: string, params: readonly unknown[], after: Statement) {
      const t = performance.now();
      const result = await db.transactOneThen<Row, After>(text, params, after);
      calls.push(performance.now() - t);
      return result;
    },
    kind: db.kind,
    query: (text, params) => db.query(text, params),
    exec: (text) => db.exec(text),
    close: () => db.close(),
    listen: (channel, handlers) => db.listen(channel, handlers),
    async transaction(fn, options) {
      if (!options?.locks?.includes(LOCKS.routing)) return db.transaction(fn, options);
      let locked = 0;
      const value = await db.transaction(async (tx) => {
        locked = performance.now();
        return fn(tx);
      }, options);
      holds.push(performance.now() - locked);
      return value;
    },
  };
}

/**
 * Samples pg_locks every 5 ms while `work` runs: the mean number of sessions
 * holding and waiting for each advisory lock of this database (7301001 the
 * routing lock, 7301002 the events lock before migration 0022). A figure
 * that does not depend on the machine's speed: who queues on what.
 */
async function sampled<T>(db: Db, work: Promise<T>): Promise<{ value: T; samples: number; locks: Record<string, { held: number; waiting: number }> }> {
  // keys: the advisory lock's id, and for the routing lock also its mode (7301001:ShareLock, 7301001:ExclusiveLock)
  let done = false;
  const totals = new Map<string, { held: number; waiting: number }>();
  let samples = 0;
  const sampler = (async () => {
    while (!done) {
      const rows = await db.query<{ key: string; granted: boolean; n: number }>(
        `select k.key, l.granted, count(*)::int as n
           from pg_locks l, lateral (values (l.objid::text), (case when l.objid = 7301001 then l.objid::text || ':' || l.mode end)) k(key)
          where l.locktype = 'advisory' and l.database = (select oid from pg_database where datname = current_database())
            and k.key is not null
          group by 1, 2`,
      );
      samples += 1;
      for (const r of rows) {
        const t = totals.get(r.key) ?? { held: 0, waiting: 0 };
        if (r.granted) t.held += r.n;
        else t.waiting += r.n;
        totals.set(r.key, t);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const value = await work.finally(() => (done = true));
  await sampler;
  const round = (x: number) => Math.round((x / Math.max(1, samples)) * 100) / 100;
  return { value, samples, locks: Object.fromEntries([...totals].map(([k, t]) => [k, { held: round(t.held), waiting: round(t.waiting) }])) };
}


async function flatOut(clients: number, seconds: number, op: (client: number, i: number) => Promise<void>): Promise<{ rate: number; latency: ReturnType<typeof summarize> }> {
  const until = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        await op(c, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { rate: Math.round((latencies.length / (performance.now() - started)) * 1000), latency: summarize(latencies) };
}

async function main() {
  setPasswordCostForTests({ N: 1024, r: 8, p: 1 });
  const scratch = await createScratchDatabase(pgUrl!, 'sb_lockbench');
  const setup = openPostgres({ connectionString: scratch.url, max: 2 });
  try {
    await migrate(setup);
    await setup.exec(TIMING_SQL);
  } finally {
    await setup.close();
  }
  // Every connection from here on calls the timing wrappers.
  const timedUrl = new URL(scratch.url);
  // pg_catalog last: the lock wrappers come before the built-in functions
  timedUrl.searchParams.set('options', '-c search_path=bench_timing,public,pg_catalog');
  const raw = openPostgres({ connectionString: timedUrl.toString(), max: MESSAGE_CLIENTS + ROUTING_CLIENTS + 4 });
  const holds: number[] = [];
  const calls: number[] = [];
  const db = timingDb(raw, holds, calls);
  try {
    await seedSettings(raw, defaultSettings({ maxCustomers: 1_000_000, attendantKeepAliveMs: 3_600_000, agentOfflineGraceMs: 3_600_000, offlinePolicy: 'requeue' } as Config), new Date());
    const ctx: Ctx = { db, now: () => new Date() };
    for (let i = 0; i < AGENTS; i++) {
      const agent = await createAgent(ctx, { name: `A${i}`, email: `a${i}@bench.test`, password: 'bench-password', role: 'agent', capacity: null, departments: [] });
      await updateAgent(ctx, agent.id, { status: 'online' }, SYSTEM);
    }
    const chats: string[] = [];
    for (let i = 0; i < 500; i++) chats.push((await openConversation(ctx, { customer: { id: `chat-${i}` } })).conversation.id);
    const rtt: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await raw.query('select 1');
      rtt.push(performance.now() - t);
    }
    holds.length = 0;
    for (let i = 0; i < 200; i++) await withEvents(ctx, async () => undefined, { routing: true });
    const empty = summarize(holds);

    let seq = 0;
    const message = async () => {
      await addMessage(ctx, chats[Math.floor(Math.random() * chats.length)]!, { sender: 'customer', sender_id: null, text: `m${seq++}` }, SYSTEM);
    };
    const routing = async (c: number, i: number) => {
      const { conversation } = await openConversation(ctx, { customer: { id: `r-${c}-${i}-${seq++}` } });
      await closeConversation(ctx, conversation.id, { reason: 'bench' }, SYSTEM);
    };
    const ceiling = (p: number) => Math.round(1000 / p);

    /** Mean hold from sampling: sessions holding the routing lock on average ÷ changes/s. */
    const meanHold = (locks: Record<string, { held: number }>, changesPerS: number) =>
      Math.round(((locks['7301001']?.held ?? 0) / Math.max(1, changesPerS)) * 1e6) / 1e3;
    /**
     * The same per mode of the lock: sessions holding it exclusive (shared) on
     * average ÷ the changes/s that held it so (the wrappers' counts over the phase).
     */
    const meanHoldByMode = (locks: Record<string, { held: number }>, h: InServerHold, seconds: number) => {
      const count = (mode: string) => Object.entries(h.paths).reduce((n, [k, v]) => (k.endsWith(`/${mode}`) ? n + v : n), 0);
      const per = (mode: string, key: string) => {
        const rate = count(mode) / seconds;
        return rate === 0 ? null : Math.round(((locks[`7301001:${key}`]?.held ?? 0) / rate) * 1e6) / 1e3;
      };
      return { exclusive_ms: per('exclusive', 'ExclusiveLock'), shared_ms: per('shared', 'ShareLock') };
    };

    /**
     * Every agent full (one more than they hold) and a queue behind them; each client
     * opens (it queues) and resolves a random open conversation. Run with
     * `clients`, then everything open is resolved and capacities restored.
     */
    const atCapacity = async (clients: number) => {
      // room for one more each, beside the message phase's open conversations
      const agents = await raw.query<{ id: string; load: number }>('select id, load from agents');
      for (const a of agents) await updateAgent(ctx, a.id, { capacity: a.load + 1 }, SYSTEM);
      const pool: string[] = [];
      for (let i = 0; i < agents.length + 10; i++) pool.push((await openConversation(ctx, { customer: { id: `full-${i}` } })).conversation.id);
      await inServerHolds(raw);
      const started = performance.now();
      const run = await sampled(
        raw,
        flatOut(clients, SECONDS, async (c, i) => {
          pool.push((await openConversation(ctx, { customer: { id: `q-${c}-${i}-${seq++}` } })).conversation.id);
          const id = pool.splice(Math.floor(Math.random() * pool.length), 1)[0]!;
          await closeConversation(ctx, id, { reason: 'bench' }, SYSTEM);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const held = await inServerHolds(raw);
      for (const id of pool) await closeConversation(ctx, id, { reason: 'bench' }, SYSTEM);
      for (const a of agents) await updateAgent(ctx, a.id, { capacity: null }, SYSTEM);
      await inServerHolds(raw);
      return { changes_per_s: run.value.rate * 2, pairs: run.value, advisory_locks: run.locks, in_server: held, mean_hold_by_mode_ms: meanHoldByMode(run.locks, held, seconds) };
    };

    const server = (h: InServerHold) =>
      `in-server hold (lock granted → pre-commit, ${h.changes} changes ${JSON.stringify(h.paths)}) p50 ${h.hold_ms.p50} ms, p99 ${h.hold_ms.p99} ms (function alone p50 ${h.function_ms.p50}, p99 ${h.function_ms.p99}; call → pre-commit p50 ${h.call_ms.p50}, p99 ${h.call_ms.p99}); exclusive: ${Object.entries(h.exclusive_hold_ms).map(([k, l]) => `${k} ${shown(l)}`).join(', ') || 'none'}; shared: ${Object.entries(h.shared_hold_ms).map(([k, l]) => `${k} ${shown(l)}`).join(', ') || 'none'}`;
    const full = (f: Awaited<ReturnType<typeof atCapacity>>) =>
      `${f.changes_per_s} changes/s; ${server(f.in_server)}; sampled mean hold by mode ${JSON.stringify(f.mean_hold_by_mode_ms)}; advisory locks ${JSON.stringify(f.advisory_locks)}`;
    /** The floor (bench_timing.sb_floor): the lock exclusive and one event insert, flat out with `clients`. */
    const atFloor = async (clients: number) => {
      await inServerHolds(raw);
      const run = await flatOut(clients, SECONDS, async () => void (await raw.query('select bench_timing.sb_floor(now())')));
      return { changes_per_s: run.rate, in_server: await inServerHolds(raw) };
    };
    if (CAPACITY_ONLY) {
      const fullOne = await atCapacity(1);
      const fullMany = await atCapacity(ROUTING_CLIENTS);
      const floorOne = await atFloor(1);
      const floorMany = await atFloor(ROUTING_CLIENTS);
      process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, at_capacity_one_client: fullOne, at_capacity: fullMany, floor_one_client: floorOne, floor: floorMany }, null, 2)}\n`);
      process.stdout.write(`routing at capacity, one client: ${full(fullOne)}\nrouting at capacity (${ROUTING_CLIENTS} clients): ${full(fullMany)}\n`);
      process.stdout.write(`floor (lock exclusive + one event insert), one client: ${floorOne.changes_per_s}/s; ${server(floorOne.in_server)}\n`);
      process.stdout.write(`floor (${ROUTING_CLIENTS} clients): ${floorMany.changes_per_s}/s; ${server(floorMany.in_server)}\n`);
      return;
    }
    const { value: messagesAlone, locks: locksMessages } = await sampled(raw, flatOut(MESSAGE_CLIENTS, SECONDS, message));
    holds.length = 0;
    calls.length = 0;
    await inServerHolds(raw);
    const routingOne = await flatOut(1, SECONDS, routing);
    // Each change is either a transaction (lock held → commit answered) or one call (never waiting, one client).
    const holdOne = summarize([...holds, ...calls]);
    const serverOne = await inServerHolds(raw);
    holds.length = 0;
    const aloneStarted = performance.now();
    const { value: routingAlone, locks: locksRouting } = await sampled(raw, flatOut(ROUTING_CLIENTS, SECONDS, routing));
    const aloneSeconds = (performance.now() - aloneStarted) / 1000;
    // Transactions that take the lock in this process (none since the routing functions: then n = 0 and no figure)
    const holdAlone = summarize(holds);
    const serverAlone = await inServerHolds(raw);
    const fullOne = await atCapacity(1);
    const fullMany = await atCapacity(ROUTING_CLIENTS);
    holds.length = 0;
    const {
      value: [messagesMixed, routingMixed],
      locks: locksMixed,
    } = await sampled(raw, Promise.all([flatOut(MESSAGE_CLIENTS, SECONDS, message), flatOut(ROUTING_CLIENTS, SECONDS, routing)]));
    const holdMixed = summarize(holds);
    const serverMixed = await inServerHolds(raw);

    const result = {
      at: new Date().toISOString(),
      seconds: SECONDS,
      clients: { messages: MESSAGE_CLIENTS, routing: ROUTING_CLIENTS },
      rtt_ms: summarize(rtt),
      empty_routing_tx_ms: empty,
      messages_alone: { ...messagesAlone, advisory_locks: locksMessages },
      routing_one_client: {
        changes_per_s: routingOne.rate * 2,
        pairs: routingOne,
        hold_bound_ms: holdOne,
        ceiling_p50: ceiling(holdOne.p50),
        ceiling_p99: ceiling(holdOne.p99),
        in_server: serverOne,
      },
      routing_alone: {
        changes_per_s: routingAlone.rate * 2,
        pairs: routingAlone,
        hold_ms: holdAlone,
        advisory_locks: locksRouting,
        mean_hold_sampled_ms: meanHold(locksRouting, routingAlone.rate * 2),
        mean_hold_by_mode_ms: meanHoldByMode(locksRouting, serverAlone, aloneSeconds),
        in_server: serverAlone,
      },
      at_capacity_one_client: fullOne,
      at_capacity: fullMany,
      mixed: {
        messages: messagesMixed,
        routing: { changes_per_s: routingMixed.rate * 2, pairs: routingMixed },
        hold_ms: holdMixed,
        advisory_locks: locksMixed,
        mean_hold_sampled_ms: meanHold(locksMixed, routingMixed.rate * 2),
        ceiling_p50: ceiling(holdMixed.p50),
        ceiling_p99: ceiling(holdMixed.p99),
        in_server: serverMixed,
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      [
        `round trip p50 ${result.rtt_ms.p50} ms; empty routing transaction p50 ${empty.p50} / p99 ${empty.p99} ms`,
        `messages alone: ${messagesAlone.rate}/s, p50 ${messagesAlone.latency.p50} ms, p99 ${messagesAlone.latency.p99} ms; advisory locks (mean sessions holding/waiting) ${JSON.stringify(locksMessages)}`,
        `routing, one client: ${routingOne.rate * 2} changes/s; call bound (round trip included) p50 ${holdOne.p50} ms, p99 ${holdOne.p99} ms; ${server(serverOne)}`,
        `routing alone (${ROUTING_CLIENTS} clients): ${routingAlone.rate * 2} changes/s; ${server(serverAlone)}; transactions' lock held ${shown(holdAlone)}; sampled mean hold ${result.routing_alone.mean_hold_sampled_ms} ms, by mode ${JSON.stringify(result.routing_alone.mean_hold_by_mode_ms)}; advisory locks ${JSON.stringify(locksRouting)}`,
        `routing at capacity, one client: ${full(fullOne)}`,
        `routing at capacity (${ROUTING_CLIENTS} clients): ${full(fullMany)}`,
        `both: messages ${messagesMixed.rate}/s (p99 ${messagesMixed.latency.p99} ms), routing ${routingMixed.rate * 2} changes/s; ${server(serverMixed)}; transactions' lock held ${shown(holdMixed)}; sampled mean hold ${result.mixed.mean_hold_sampled_ms} ms; advisory locks ${JSON.stringify(locksMixed)}`,
      ].join('\n') + '\n',
    );
  } finally {
    await raw.close();
    await scratch.drop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
