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
// of its scratch database ahead of public on the search path. Each takes the
// routing lock, notes clock_timestamp() (the lock is held: what came before
// was waiting), calls the real function (taking the lock again is free) and
// records the time; a deferred trigger notes clock_timestamp() again at
// pre-commit. Lock → pre-commit is the hold, without network or waiting;
// only the commit record (synchronous_commit off: no flush under the lock)
// and the release follow. Lock → return is the function's share.
// The ceiling is 1 / hold: routing changes/s that one lock allows, whatever
// the cores.
//
//   options: --seconds=10 --message-clients=32 --routing-clients=16 --agents=20
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
import { LOCKS, type Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const num = (name: string, fallback: number) => Number(args.get(name) ?? fallback);
const SECONDS = num('seconds', 10);
const MESSAGE_CLIENTS = num('message-clients', 32);
const ROUTING_CLIENTS = num('routing-clients', 16);
const AGENTS = num('agents', 20);
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
  let done = false;
  const totals = new Map<string, { held: number; waiting: number }>();
  let samples = 0;
  const sampler = (async () => {
    while (!done) {
      const rows = await db.query<{ key: string; granted: boolean; n: number }>(
        `select objid::text as key, granted, count(*)::int as n from pg_locks
          where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
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

/**
 * The wrappers that time the routing lock inside the server (see the top of
 * this file), in schema bench_timing of the scratch database.
 */
const TIMING_SQL = /* sql */ `
create schema bench_timing;
create unlogged table bench_timing.holds (
  id bigserial primary key, fn text not null,
  locked_at timestamptz not null, returned_at timestamptz not null, committing_at timestamptz);
create function bench_timing.mark_commit() returns trigger language plpgsql as $$
begin
  update bench_timing.holds set committing_at = clock_timestamp() where id = new.id;
  return null;
end
$$;
create constraint trigger holds_commit after insert on bench_timing.holds
  deferrable initially deferred for each row execute function bench_timing.mark_commit();
create function bench_timing.sb_open_conversation(
  p_channel text, p_external_ref text, p_customer_id text, p_customer jsonb, p_department text,
  p_priority int, p_now timestamptz, p_verified boolean, p_required_skills jsonb
) returns table (opened conversations, created boolean, logged jsonb) language plpgsql as $$
declare
  t0 timestamptz;
begin
  perform pg_advisory_xact_lock(7301001);
  t0 := clock_timestamp();
  return query select * from public.sb_open_conversation(p_channel, p_external_ref, p_customer_id, p_customer, p_department,
                                                         p_priority, p_now, p_verified, p_required_skills);
  insert into bench_timing.holds (fn, locked_at, returned_at) values ('open', t0, clock_timestamp());
end
$$;
create function bench_timing.sb_close_conversation(
  p_id uuid, p_state text, p_now timestamptz, p_reason text, p_note text, p_only_agent uuid, p_by text
) returns table (closed conversations, before_state text, before_agent_id uuid, logged jsonb) language plpgsql as $$
declare
  t0 timestamptz;
begin
  perform pg_advisory_xact_lock(7301001);
  t0 := clock_timestamp();
  return query select * from public.sb_close_conversation(p_id, p_state, p_now, p_reason, p_note, p_only_agent, p_by);
  insert into bench_timing.holds (fn, locked_at, returned_at) values ('close', t0, clock_timestamp());
end
$$;
`;

interface InServerHold {
  changes: number;
  /** lock taken → pre-commit (ms) */
  hold_ms: ReturnType<typeof summarize>;
  /** lock taken → the routing function returned (ms) */
  function_ms: ReturnType<typeof summarize>;
  /** 1000 / hold p50 and p99: changes/s one lock allows */
  ceiling_p50: number;
  ceiling_p99: number;
}

/** The holds recorded by the wrappers since the last call, which clears them. */
async function inServerHolds(db: Db): Promise<InServerHold> {
  const rows = await db.query<{ hold: number; fn: number }>(
    `delete from bench_timing.holds returning
       extract(epoch from committing_at - locked_at) * 1000 as hold,
       extract(epoch from returned_at - locked_at) * 1000 as fn`,
  );
  const hold = summarize(rows.map((r) => Number(r.hold)));
  return {
    changes: rows.length,
    hold_ms: hold,
    function_ms: summarize(rows.map((r) => Number(r.fn))),
    ceiling_p50: Math.round(1000 / hold.p50),
    ceiling_p99: Math.round(1000 / hold.p99),
  };
}

/** A latency summary for the report, or a dash when there were no samples (a shape not used in that phase). */
const shown = (l: ReturnType<typeof summarize>) => (l.n === 0 ? '—' : `p50 ${l.p50} ms, p99 ${l.p99} ms`);

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
  timedUrl.searchParams.set('options', '-c search_path=bench_timing,public');
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

    const { value: messagesAlone, locks: locksMessages } = await sampled(raw, flatOut(MESSAGE_CLIENTS, SECONDS, message));
    holds.length = 0;
    calls.length = 0;
    await inServerHolds(raw);
    const routingOne = await flatOut(1, SECONDS, routing);
    // Each change is either a transaction (lock held → commit answered) or one call (never waiting, one client).
    const holdOne = summarize([...holds, ...calls]);
    const serverOne = await inServerHolds(raw);
    holds.length = 0;
    const { value: routingAlone, locks: locksRouting } = await sampled(raw, flatOut(ROUTING_CLIENTS, SECONDS, routing));
    // Transactions that take the lock in this process (none since the routing functions: then n = 0 and no figure)
    const holdAlone = summarize(holds);
    const serverAlone = await inServerHolds(raw);
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
        in_server: serverAlone,
      },
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
    const server = (h: InServerHold) =>
      `in-server hold (lock → pre-commit, ${h.changes} changes) p50 ${h.hold_ms.p50} ms, p99 ${h.hold_ms.p99} ms (function alone p50 ${h.function_ms.p50}, p99 ${h.function_ms.p99}) → ceiling ${h.ceiling_p50}/s (p50), ${h.ceiling_p99}/s (p99)`;
    process.stdout.write(
      [
        `round trip p50 ${result.rtt_ms.p50} ms; empty routing transaction p50 ${empty.p50} / p99 ${empty.p99} ms`,
        `messages alone: ${messagesAlone.rate}/s, p50 ${messagesAlone.latency.p50} ms, p99 ${messagesAlone.latency.p99} ms; advisory locks (mean sessions holding/waiting) ${JSON.stringify(locksMessages)}`,
        `routing, one client: ${routingOne.rate * 2} changes/s; call bound (round trip included) p50 ${holdOne.p50} ms, p99 ${holdOne.p99} ms; ${server(serverOne)}`,
        `routing alone (${ROUTING_CLIENTS} clients): ${routingAlone.rate * 2} changes/s; ${server(serverAlone)}; transactions' lock held ${shown(holdAlone)}; sampled mean hold ${result.routing_alone.mean_hold_sampled_ms} ms; advisory locks ${JSON.stringify(locksRouting)}`,
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
