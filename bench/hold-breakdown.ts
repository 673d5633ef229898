// `npx tsx bench/hold-breakdown.ts` — what an at-capacity routing change is
// made of, statement by statement, in PostgreSQL (BENCH_DATABASE_URL or
// TEST_DATABASE_URL; scratch databases, dropped afterwards). Issue #22,
// item 3: at capacity every open queues and every close matches the freed
// agent to the queue head, both under the routing lock exclusive
// (bench/lock-hold.ts --only=capacity times that hold); this says where it
// goes, and compares two versions of the routing functions side by side.
//
// The state is lock-hold's at-capacity phase: --agents agents online, each
// full, a queue behind them. One client opens a conversation (it queues)
// and closes a random open one (an assigned one's slot goes to the queue),
// calling sb_open_conversation / sb_close_conversation directly.
//   1. hold: the in-server hold (bench/hold-timing.ts: lock granted →
//      pre-commit) of each kind, and of the floor (a function that takes
//      the lock and inserts one event). With --against=<git rev> a second
//      database runs that revision's src/store/migrations/routing/functions.sql
//      (laid over this tree's migrations), and the two are called in turn,
//      pair by pair: both see the same machine at the same moments, which a
//      run after a run on a shared machine does not (figures scatter 2×).
//   2. statements (the first database, or each with --against): auto_explain
//      (loaded in this session, log_analyze off: each statement's own
//      duration, no per-node timing) with nested statements, its lines sent
//      to this client (client_min_messages = log). Per kind of change: every
//      statement the call ran, its mean duration in µs per change (a nested
//      statement's time is also in the statement that called it) and how
//      many times a change runs it.
//   3. functions: track_functions = 'all', pg_stat_user_functions — each
//      function's self and total time per open+close pair.
// auto_explain and the statistics cost time themselves (each statement's
// plan is printed): read 2 and 3 for the shares, 1 for the hold.
//
//   options: --pairs=300 --agents=20 --against=<git rev> --keep (leave the
//            scratch databases behind, their names printed, until the next
//            run: it drops every sb_holdbreak_* database whose process is
//            gone, and a killed run drops its own on SIGINT, SIGTERM, EPIPE)
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { createAgent, updateAgent } from '../src/agents/agents.js';
import { SYSTEM } from '../src/agents/model.js';
import { setPasswordCostForTests } from '../src/agents/passwords.js';
import type { Config } from '../src/config.js';
import type { Ctx } from '../src/context.js';
import { openConversation } from '../src/conversations/lifecycle.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import type { Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase, type ScratchDatabase } from '../test/helpers/scratch-database.js';
import { inServerHolds, shown, TIMING_SQL } from './hold-timing.js';
import { dropLeftovers, dropOnInterrupt } from './scratch-cleanup.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const PAIRS = Number(args.get('pairs') ?? 300);
const AGENTS = Number(args.get('agents') ?? 20);
const AGAINST = args.get('against');
const KEEP = args.has('keep');
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/hold-breakdown.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

const OPEN = `select (o.opened).id, (o.opened).state from sb_open_conversation('api', null, $1, '{}'::jsonb, null, 0, now(), false, '{}'::jsonb) o`;
const CLOSE = `select (o.closed).id from sb_close_conversation($1::uuid, 'resolved', now(), 'bench', null, null, 'system') o`;

interface Variant {
  label: string;
  scratch: ScratchDatabase;
  db: Db;
  /** on the timed search path (bench_timing first): every call is timed */
  client: pg.Client;
  pair(note?: (kind: string) => void): Promise<void>;
}

const PREFIX = 'sb_holdbreak';
/** every scratch database made, from its creation on: what an interrupted run drops */
const scratches: ScratchDatabase[] = [];

async function variant(label: string, functionsSql: string | null): Promise<Variant> {
  const scratch = await createScratchDatabase(pgUrl!, PREFIX);
  scratches.push(scratch);
  const db = openPostgres({ connectionString: scratch.url, max: 2 });
  await migrate(db);
  if (functionsSql) await db.exec(functionsSql);
  await db.exec(TIMING_SQL);
  await seedSettings(db, defaultSettings({ maxCustomers: 1_000_000, attendantKeepAliveMs: 3_600_000, agentOfflineGraceMs: 3_600_000, offlinePolicy: 'requeue' } as Config), new Date());
  const ctx: Ctx = { db, now: () => new Date() };
  for (let i = 0; i < AGENTS; i++) {
    const agent = await createAgent(ctx, { name: `A${i}`, email: `a${i}@bench.test`, password: 'bench-password', role: 'agent', capacity: 1, departments: [] });
    await updateAgent(ctx, agent.id, { status: 'online' }, SYSTEM);
  }
  const pool: string[] = [];
  for (let i = 0; i < AGENTS + 10; i++) pool.push((await openConversation(ctx, { customer: { id: `full-${i}` } })).conversation.id);
  const timedUrl = new URL(scratch.url);
  // pg_catalog last: the lock wrappers come before the built-in functions
  timedUrl.searchParams.set('options', '-c search_path=bench_timing,public,pg_catalog');
  const client = new pg.Client({ connectionString: timedUrl.toString() });
  // its connection ends when an interrupted run drops the database under it
  client.on('error', (error) => {
    if (!interrupted()) throw error;
  });
  await client.connect();
  let seq = 0;
  const pair = async (note?: (kind: string) => void) => {
    note?.('open');
    pool.push((await client.query<{ id: string }>(OPEN, [`c-${seq++}`])).rows[0]!.id);
    note?.('close');
    const id = pool.splice(Math.floor(Math.random() * pool.length), 1)[0]!;
    await client.query(CLOSE, [id]);
  };
  return { label, scratch, db, client, pair };
}

async function statements(v: Variant) {
  const { client } = v;
  await client.query(`load 'auto_explain'`);
  await client.query(`set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = off; set client_min_messages = log`);
  let kind = 'open';
  const stats = new Map<string, { total: number; n: number }>();
  const changes = new Map<string, number>();
  const listener = (msg: { message?: string }) => {
    const m = /^duration: ([\d.]+) ms\s+plan:\s*\nQuery Text: ([\s\S]*?)(\n[A-Z][a-z]+ |\n {2}->|$)/.exec(msg.message ?? '');
    if (!m) return;
    const text = m[2]!.replace(/\s+/g, ' ').trim().slice(0, 140);
    const key = `${kind}\t${text}`;
    const s = stats.get(key) ?? { total: 0, n: 0 };
    s.total += Number(m[1]);
    s.n += 1;
    stats.set(key, s);
  };
  client.on('notice', listener);
  for (let i = 0; i < PAIRS; i++) await v.pair((k) => ((kind = k), changes.set(k, (changes.get(k) ?? 0) + 1)));
  client.off('notice', listener);
  await client.query(`set auto_explain.log_min_duration = -1; set client_min_messages = notice`);
  const rows = [...stats].map(([key, s]) => {
    const [k, text] = key.split('\t') as [string, string];
    const per = changes.get(k) ?? 1;
    return { kind: k, us: Math.round((s.total / per) * 1000), runs: Math.round((s.n / per) * 100) / 100, text };
  });
  rows.sort((a, b) => (a.kind === b.kind ? b.us - a.us : a.kind.localeCompare(b.kind)));
  process.stdout.write(`\n# ${v.label}: statements (auto_explain durations, µs per change; a nested statement's time is in its callers' too; wrapper statements included)\n`);
  for (const r of rows) process.stdout.write(`${r.kind}\t${String(r.us).padStart(6)} µs\t×${r.runs}\t${r.text}\n`);
}

async function functions(v: Variant) {
  const { client } = v;
  await client.query(`set track_functions = 'all'`);
  await client.query('select pg_stat_reset()');
  for (let i = 0; i < PAIRS; i++) await v.pair();
  await client.query('select pg_stat_force_next_flush()');
  await client.query(`set track_functions = 'none'`);
  const fns = await client.query<{ funcname: string; calls: number; total: number; self: number }>(
    `select funcname, calls::int, total_time::float8 as total, self_time::float8 as self from pg_stat_user_functions
      where schemaname = 'public' order by self_time desc`,
  );
  process.stdout.write(`\n# ${v.label}: functions (track_functions = all; µs per open+close pair, ${PAIRS} pairs)\n`);
  for (const f of fns.rows) {
    process.stdout.write(`${f.funcname.padEnd(28)} calls/pair ${(f.calls / PAIRS).toFixed(2).padStart(5)}  self ${String(Math.round((f.self / PAIRS) * 1000)).padStart(5)} µs  total ${String(Math.round((f.total / PAIRS) * 1000)).padStart(5)} µs\n`);
  }
}

let interrupted = () => false;

async function main() {
  setPasswordCostForTests({ N: 1024, r: 8, p: 1 });
  interrupted = dropOnInterrupt(() => scratches, KEEP);
  for (const name of await dropLeftovers(pgUrl!, PREFIX)) process.stderr.write(`dropped ${name}, left by an earlier run\n`);
  const variants: Variant[] = [];
  try {
    variants.push(await variant('this tree', null));
    if (AGAINST) {
      const sql = execFileSync('git', ['show', `${AGAINST}:src/store/migrations/routing/functions.sql`], { encoding: 'utf8', maxBuffer: 16 << 20 });
      variants.push(await variant(AGAINST, sql));
    }
    for (let i = 0; i < 200; i++) for (const v of variants) await v.pair(); // warm: plans cached
    for (const v of variants) await inServerHolds(v.db);
    // 1. the hold, the variants in turn, pair by pair; then the floor the same way
    for (let i = 0; i < PAIRS; i++) for (const v of i % 2 ? [...variants].reverse() : variants) await v.pair();
    for (let i = 0; i < PAIRS; i++) for (const v of variants) await v.client.query('select bench_timing.sb_floor(now())');
    const loads = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ');
    process.stdout.write(`# in-server hold, lock granted → pre-commit, one client, ${PAIRS} pairs each, in turn (load average ${loads})\n`);
    for (const v of variants) {
      const h = await inServerHolds(v.db);
      const per = (k: string) => h.exclusive_hold_ms[k];
      const ceiling = (k: string) => (per(k)?.p50 ? Math.round(1000 / per(k)!.p50) : '—');
      process.stdout.write(
        `${v.label}: ${JSON.stringify(h.paths)}; exclusive open ${shown(per('open')!)}, close ${shown(per('close')!)}, floor ${shown(per('floor')!)}; ceiling at p50: open ${ceiling('open')}/s, close ${ceiling('close')}/s, floor ${ceiling('floor')}/s\n`,
      );
    }
    // 2 and 3
    for (const v of variants) await statements(v);
    for (const v of variants) await functions(v);
  } finally {
    for (const v of variants) {
      await v.client.end().catch(() => undefined);
      await v.db.close();
    }
    // a variant that failed half made has its database here too
    for (const scratch of scratches) {
      if (KEEP) process.stdout.write(`kept ${scratch.url}\n`);
      else await scratch.drop();
    }
  }
}

main().catch((error) => {
  // being dropped on the way out: dropOnInterrupt exits when it is done
  if (interrupted()) return;
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
