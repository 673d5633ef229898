// `npx tsx bench/create-pgbench.ts` — PostgreSQL's own share of a create,
// without Node.js, HTTP or the bench's client: pgbench runs the statements a
// POST /api/v1/conversations sends (src/conversations/lifecycle.ts,
// openConversationPlaced: the open in a transaction committed without waiting
// for the disk, then the place read and the durability flush) against a
// scratch store of 1,000 online agents with room, beside pgbench's TPC-B-like
// script on the same server, each for --seconds at --clients, alternated
// --rounds times, both in pgbench's default (simple) protocol, as bench/run.ts
// runs the TPC-B its figures are divided by. For each: transactions/s and the
// CPU PostgreSQL spent per transaction (every postgres process on this
// machine, the backends that exited counted through the postmaster), so the
// create's database work reads as a multiple of a TPC-B transaction whatever
// the host, and its rate as the ceiling of bench/run.ts's ratio were the
// server and the bench's client free. Both databases are vacuumed before each
// run (the bench's PostgreSQL runs without autovacuum: the agents' dead row
// versions would otherwise pile up run after run).
//
//   options: --clients=8 --seconds=8 --rounds=3 --functions
//
// --functions: the create's functions by their own time (track_functions,
// pg_stat_user_functions over every create round: calls and self time per
// create, top 15). The timing itself costs PostgreSQL CPU, shorter
// functions most: read it for where the time goes, not for the rate.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OPEN_CONVERSATION_ANSWERED, QUEUE_PLACE } from '../src/conversations/lifecycle.js';
import { DEFAULT_HANDLE_TIME_S } from '../src/routing/queue.js';
import { FLUSH_WAL } from '../src/store/postgres.js';
import { findPgbench, pgbenchConnection } from './pgbench.js';
import { adminQuery, prepareStore } from './server.js';

const run = promisify(execFile);
const args = new Map(process.argv.slice(2).map((a) => /^--([^=]+)=?(.*)$/s.exec(a)!.slice(1, 3) as [string, string]));
const CLIENTS = Number(args.get('clients') ?? 8);
const SECONDS = Number(args.get('seconds') ?? 8);
const ROUNDS = Number(args.get('rounds') ?? 3);
const FUNCTIONS = args.has('functions');
const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!adminUrl) throw new Error('bench/create-pgbench.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
const bin = findPgbench();
if (!bin) throw new Error('pgbench is not installed');

// As openConversationPlaced sends it: the open (OPEN_CONVERSATION_ANSWERED)
// in a transaction committed without waiting for the disk, then the place
// (QUEUE_PLACE) and the durability flush (FLUSH_WAL, src/store/postgres.ts),
// the statements' own text with each parameter written in as pgbench
// variables and SQL; one message (pgbench's `\;` joins the statements into
// one query), a new customer each time. The server EXECUTEs the open and the
// place prepared once a connection; here the outer statements are parsed
// every time (the routing functions keep their plans either way), a few per
// cent more for the create.
/** `sql` with $1, $2… replaced by the SQL expressions given, on one line (a pgbench script's command ends at the line's end). */
function inline(sql: string, values: readonly string[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => `(${values[Number(n) - 1]!})`).replace(/\s+/g, ' ');
}
const customer = `'c-' || :n`;
// openParams of an API create with nothing but the customer's id
const OPEN = inline(OPEN_CONVERSATION_ANSWERED, [`'api'`, 'null', customer, `jsonb_build_object('id', ${customer})`, 'null', '0', 'now()', 'false', `'{}'`]);
const PLACE = inline(QUEUE_PLACE, ['now()', String(DEFAULT_HANDLE_TIME_S)]);
const CREATE = `\\set n random(1, 2000000000)
${['begin', 'set local synchronous_commit = off', OPEN, 'commit', PLACE, inline(FLUSH_WAL, [])].join(' \\; ')}
`;
const SCRIPTS: Record<string, { db: 'tpcb' | 'store'; script?: string }> = {
  'tpcb-like': { db: 'tpcb' },
  create: { db: 'store', script: CREATE },
};

/** CPU seconds of every postgres process, exited backends included (the postmaster's reaped children). */
async function postgresCpuSeconds(): Promise<number> {
  let ticks = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (!stat.includes('(postgres)')) continue;
    // fields after the command's ")": ppid is 2nd, utime 12th, stime 13th, cutime 14th, cstime 15th
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
    const parent = await readFile(`/proc/${f[1]}/stat`, 'utf8').catch(() => '');
    if (!parent.includes('(postgres)')) ticks += Number(f[13]) + Number(f[14]);
  }
  return ticks / 100;
}

async function backendsGone(url: string, database: string): Promise<void> {
  for (;;) {
    const r = await adminQuery(url, `select count(*)::int as n from pg_stat_activity where datname = '${database}' and backend_type = 'client backend'`);
    if ((r.rows[0] as { n: number }).n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}

const { conn, env } = pgbenchConnection(adminUrl);
const store = await prepareStore('postgres', { agents: 1000, capacity: 1_000_000 }, adminUrl);
const tpcb = `sb_pgbench_${process.pid}`;
const tpcbUrl = Object.assign(new URL(adminUrl), { pathname: `/${tpcb}` }).toString();
const dir = await mkdtemp(join(tmpdir(), 'sb-create-pgbench-'));
try {
  await adminQuery(adminUrl, `create database ${tpcb}`);
  await run(bin, [...conn, '-i', '-q', '-s', '10', tpcb], { env });
  const results = new Map<string, { tps: number; cpu_ms: number }[]>();
  let creates = 0;
  if (FUNCTIONS) {
    await adminQuery(adminUrl, `alter database ${store.name} set track_functions = 'all'`);
    await adminQuery(store.url!, 'select pg_stat_reset()');
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, { db, script }] of Object.entries(SCRIPTS)) {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.sql`);
      if (script) await writeFile(file, script);
      await adminQuery(db === 'tpcb' ? tpcbUrl : store.url!, 'vacuum');
      const cpu0 = await postgresCpuSeconds();
      const { stdout } = await run(
        bin,
        [...conn, '-n', '-c', String(CLIENTS), '-j', '2', '-T', String(SECONDS), ...(script ? ['-f', file] : []), db === 'tpcb' ? tpcb : store.name],
        { env, maxBuffer: 10 * 1024 * 1024 },
      );
      // pgbench's backends exit after it does: their time reaches the postmaster once it has reaped them
      await backendsGone(adminUrl, db === 'tpcb' ? tpcb : store.name);
      const cpu = (await postgresCpuSeconds()) - cpu0;
      const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1]);
      const row = { tps: Math.round(tps), cpu_ms: +((cpu / transactions) * 1000).toFixed(3) };
      if (name === 'create') creates += transactions;
      results.set(name, [...(results.get(name) ?? []), row]);
      process.stdout.write(`round ${round + 1} ${name}: ${row.tps}/s, PostgreSQL ${row.cpu_ms} ms CPU a transaction; load ${loadavg()[0]!.toFixed(1)}\n`);
    }
  }
  const tpcbCpu = results.get('tpcb-like')?.map((r) => r.cpu_ms);
  process.stdout.write(`\n${CLIENTS} clients, ${SECONDS} s a run, ${ROUNDS} rounds:\n`);
  for (const [name, rows] of results) {
    const each = rows.map((r, i) => `${r.tps}/s ${r.cpu_ms} ms${tpcbCpu ? ` (${(r.cpu_ms / tpcbCpu[i]!).toFixed(2)}× TPC-B)` : ''}`).join(' | ');
    process.stdout.write(`  ${name.padEnd(24)} ${each}\n`);
  }
  if (FUNCTIONS) {
    // pgbench's backends have exited (backendsGone): their counts reached the statistics as they did
    const functions = await adminQuery(
      store.url!,
      `select funcname as function, calls, self_time, total_time from pg_stat_user_functions where calls > 0 order by self_time desc limit 15`,
    );
    process.stdout.write(`\nfunctions, per create (${creates} creates): calls, self µs, total µs\n`);
    for (const f of functions.rows as { function: string; calls: string; self_time: number; total_time: number }[]) {
      const per = (x: number) => ((x * 1000) / creates).toFixed(1).padStart(7);
      process.stdout.write(`  ${f.function.padEnd(28)} ${(Number(f.calls) / creates).toFixed(2).padStart(5)} ${per(f.self_time)} ${per(f.total_time)}\n`);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
  await adminQuery(adminUrl, `drop database if exists ${tpcb} with (force)`);
  await store.dispose();
}
