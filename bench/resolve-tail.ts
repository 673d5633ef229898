// `npx tsx bench/resolve-tail.ts` — where the tail of resolve → next assigned
// goes (issue #22: p50 2 ms, p99 8 ms one at a time). The server runs in this
// process on a store wrapped to note every statement (start, end, text), so
// each resolve's time splits into: its own SQL (the sb_close_conversation
// call), everything else the server sent to the store while it ran (the
// realtime publisher's refresh, the outbox feeds, ...), and the event loop's
// longest delay meanwhile (monitorEventLoopDelay, reset per request). The
// slowest resolves are then compared with the median ones.
//
// Store: 1,000 agents × 20, all full (preloaded), --queue conversations
// queued through the API behind them; --count resolves one at a time, each
// of a different agent, each handing the slot to the queue's head.
//
//   options: --count=500 --queue=800 --warm=100 --warm-concurrency=1 (a warm-up at 20,
//            the pool's size, has every connection plan sb_close_conversation first)
//            --warm-connections=0 (the pool is not warmed as the server warms its own)
//            --plan-probe=0 (N: a close's first and second run timed on N/2 new connections, half of them warmed)
//            --sync-commit=off (the server's connections commit without waiting for the WAL flush: what the
//            resolve's path costs besides the disk's fdatasync, whose own tail bench/fsync-tail.ts measures;
//            a session setting of this bench's connections only)
//            (PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL)
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import type { Db } from '../src/store/db.js';
import { openPostgres } from '../src/store/postgres.js';
import { WARM_UP, warmConnections } from '../src/store/warm-up.js';
import pg, { type Pool, type PoolClient } from 'pg';
import { HttpClient, runPool } from './http.js';
import { ADMIN, backendCpuSeconds, prepareStore } from './server.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const COUNT = Number(args.get('count') ?? 500);
const QUEUE = Number(args.get('queue') ?? 800);
const WARM = Number(args.get('warm') ?? 100);
const WARM_CONCURRENCY = Number(args.get('warm-concurrency') ?? 1);
/** fresh connections on which a close's first and second run are timed (each rolled back) */
const PLAN_PROBE = Number(args.get('plan-probe') ?? 0);
/** 0: the pool is not warmed as the server warms its own (src/store/warm-up.ts; the server here gets a wrapped store, which it cannot warm) */
const WARM_CONNECTIONS = args.get('warm-connections') !== '0';
/** false: the server's connections do not wait for the WAL flush at commit */
const SYNC_COMMIT = args.get('sync-commit') !== 'off';
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;

interface Call {
  start: number;
  end: number;
  text: string;
  /** the resolve's own call */
  own: boolean;
  /** the PostgreSQL backend that ran it */
  pid?: number;
  /** an own call on a connection that had not run sb_close_conversation before: its plans made by this call */
  cold?: boolean;
}

/** the call a pool checkout is made for */
const current = new AsyncLocalStorage<Call>();

/**
 * Notes on each call the connection it got, and on the resolve's own call
 * whether that connection ran sb_close_conversation before: PL/pgSQL plans
 * its statements on a connection's first run of them.
 */
function notingConnections(pool: Pool, closedOn: Set<number>) {
  const connect = pool.connect.bind(pool) as (cb?: (err: Error | undefined, client: PoolClient | undefined, done: unknown) => void) => Promise<PoolClient> | void;
  const note = (call: Call | undefined, client: PoolClient | undefined) => {
    const pid = (client as unknown as { processID?: number } | undefined)?.processID;
    if (!call || pid === undefined) return;
    call.pid = pid;
    if (call.own) {
      call.cold = !closedOn.has(pid);
      closedOn.add(pid);
    }
  };
  (pool as unknown as { connect: typeof connect }).connect = (cb) => {
    const call = current.getStore();
    if (cb) return connect((err, client, done) => (note(call, client), cb(err, client, done)));
    return (connect() as Promise<PoolClient>).then((client) => (note(call, client), client));
  };
}

/** Notes every top-level call to the store (a transaction is one call, its statements inside it). */
function notingDb(db: Db, calls: Call[]): Db {
  const noted = <T>(text: string, run: () => Promise<T>): Promise<T> => {
    const call: Call = { start: performance.now(), end: Number.NaN, text: text.replace(/\s+/g, ' ').trim().slice(0, 60), own: text.includes('sb_close_conversation') };
    calls.push(call);
    return current.run(call, run).finally(() => (call.end = performance.now()));
  };
  return {
    kind: db.kind,
    query: (text, params) => noted(text, () => db.query(text, params)),
    exec: (text) => noted(text, () => db.exec(text)),
    transactOne: (text, params) => noted(`call: ${text}`, () => db.transactOne(text, params)),
    transactOneThen: (text, params, after) => noted(`call: ${text}`, () => db.transactOneThen(text, params, after)),
    transaction: (fn, options) => {
      let first = '';
      return noted('transaction', () =>
        db.transaction((tx) => fn({ query: (text, params) => ((first ||= text.replace(/\s+/g, ' ').trim().slice(0, 50)), tx.query(text, params)), exec: (text) => tx.exec(text) }), options),
      ).finally(() => {
        const last = [...calls].reverse().find((c: Call) => c.text === 'transaction');
        if (last && first) last.text = `tx: ${first}`;
      });
    },
    listen: (channel, handlers) => db.listen(channel, handlers),
    close: () => db.close(),
  };
}

async function main() {
  if (!pgUrl) throw new Error('set BENCH_DATABASE_URL or TEST_DATABASE_URL');
  const store = await prepareStore('postgres', { agents: 1000, capacity: 20, preloadPerAgent: 20 }, pgUrl);
  const calls: Call[] = [];
  const db = openPostgres({ connectionString: store.url!, max: 20 });
  const closedOn = new Set<number>();
  notingConnections(db.pool, closedOn);
  // before the warm-up opens them: pg-pool runs 'connect' listeners in order, and a client its queries in order
  if (!SYNC_COMMIT) db.pool.on('connect', (client) => void client.query('set synchronous_commit = off').catch(() => undefined));
  if (WARM_CONNECTIONS) await warmConnections(db);
  const server = await startServer(
    loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, ATTENDANT_KEEP_ALIVE_TIME: '86400000' }),
    { db: notingDb(db, calls) },
  );
  const client = new HttpClient(server.url, 16);
  try {
    const login = await client.request<{ token: string }>('POST', '/api/v1/auth/login', ADMIN);
    if (login.status !== 200) throw new Error(`login: ${login.status}`);
    client.token = login.body.token;
    const opened = await runPool(QUEUE, 16, (i) => client.request<{ id: string; state: string }>('POST', '/api/v1/conversations', { customer: { id: `q-${i}`, name: `Customer ${i}` } }));
    if (opened.some((r) => r.body.state !== 'queued')) throw new Error('agents were not full: a conversation was assigned at once');
    const targets = await db.query<{ id: string }>(
      `select distinct on (agent_id) id from conversations where state = 'assigned' order by agent_id, seq limit $1`,
      [COUNT + WARM + 2 * PLAN_PROBE],
    );
    // warm-up: JIT, the pool's connections
    await runPool(WARM, WARM_CONCURRENCY, (i) => client.request('POST', `/api/v1/conversations/${targets[i]!.id}/resolve`, {}));

    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const rows: { ms: number; own: number; afterOwn: number; others: Call[]; loopMax: number; start: number; end: number; cold: boolean }[] = [];
    const warmedConnections = closedOn.size;
    const load0 = loadavg()[0]!;
    const cpu0 = process.cpuUsage();
    const backend0 = await backendCpuSeconds(store.url!);
    const callsBefore = calls.length;
    const measured0 = performance.now();
    for (let i = WARM; i < WARM + COUNT; i++) {
      loop.reset();
      const from = calls.length;
      const start = performance.now();
      const res = await client.request<{ state: string }>('POST', `/api/v1/conversations/${targets[i]!.id}/resolve`, {});
      const end = performance.now();
      if (res.status !== 200 || res.body.state !== 'resolved') throw new Error(`resolve ${i}: ${res.status}`);
      const mine = calls.slice(from).filter((c) => c.own);
      // everything else that ran on the store while this resolve was in flight, begun before it or during it
      const others = calls.filter((c) => !c.own && c.start < end && (Number.isNaN(c.end) || c.end > start));
      const ownEnd = Math.max(...mine.map((c) => c.end));
      rows.push({ ms: res.ms, own: mine.reduce((s, c) => s + (c.end - c.start), 0), afterOwn: end - ownEnd, others, loopMax: loop.max / 1e6, start, end, cold: mine.some((c) => c.cold === true) });
    }
    loop.disable();
    // the realtime publisher's queue refreshes meanwhile: each begins with its walk of the queue (src/realtime/waiting-list.ts)
    const refreshes = calls.slice(callsBefore).filter((c) => c.text.startsWith('with flags as materialized')).length;
    const measuredS = (performance.now() - measured0) / 1000;
    // CPU a resolve: this process (server and client) and the database's backends (the server's pool)
    const cpu = process.cpuUsage(cpu0);
    const backend1 = await backendCpuSeconds(store.url!);
    const sorted = [...rows].sort((a, b) => a.ms - b.ms);
    const slice = (from: number, to: number) => sorted.slice(Math.floor(from * sorted.length), Math.ceil(to * sorted.length));
    const groups: [string, typeof rows][] = [['p0–p50', slice(0, 0.5)], ['p50–p90', slice(0.5, 0.9)], ['p90–p99', slice(0.9, 0.99)], ['slowest 1 %', slice(0.99, 1)]];
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
    const f = (x: number) => x.toFixed(2);
    const all = summarize(rows.map((r) => r.ms));
    process.stdout.write(`resolve → next assigned, one at a time, ${COUNT} resolves, ${QUEUE} queued, warm-up ${WARM} at ${WARM_CONCURRENCY}, pool ${WARM_CONNECTIONS ? 'warmed' : 'not warmed'}${SYNC_COMMIT ? '' : ', synchronous_commit off'}: p50 ${all.p50} ms, p99 ${all.p99} ms, max ${all.max} ms\n`);
    const backendMs = backend0 === null || backend1 === null ? 'n/a' : ((1000 * (backend1 - backend0)) / COUNT).toFixed(3);
    process.stdout.write(`  CPU a resolve: this process ${((cpu.user + cpu.system) / 1000 / COUNT).toFixed(3)} ms, PostgreSQL backends ${backendMs} ms; queue refreshes ${refreshes} in ${measuredS.toFixed(1)} s (${(refreshes / measuredS).toFixed(1)}/s)\n`);
    process.stdout.write(`  group        | resolve ms | own SQL ms | before it | after it | other store calls meanwhile (mean n, share with any) | loop delay max ms | on a cold connection\n`);
    for (const [name, g] of groups) {
      const withOthers = g.filter((r) => r.others.length > 0).length;
      process.stdout.write(
        `  ${name.padEnd(12)} | ${f(mean(g.map((r) => r.ms))).padStart(10)} | ${f(mean(g.map((r) => r.own))).padStart(10)} | ${f(mean(g.map((r) => r.ms - r.own - r.afterOwn))).padStart(9)} | ${f(mean(g.map((r) => r.afterOwn))).padStart(8)} | ${f(mean(g.map((r) => r.others.length))).padStart(6)}, ${Math.round((100 * withOthers) / Math.max(1, g.length))} % | ${f(mean(g.map((r) => r.loopMax))).padStart(17)} | ${g.filter((r) => r.cold).length}\n`,
      );
    }
    process.stdout.write(`  connections that ran sb_close_conversation: ${warmedConnections} after the warm-up, ${closedOn.size} at the end; resolves on a cold one: ${rows.filter((r) => r.cold).length}\n`);
    const cold = rows.filter((r) => r.cold);
    if (cold.length > 0) {
      const ranks = cold.map((r) => sorted.indexOf(r) / sorted.length);
      process.stdout.write(`    those: resolve ms ${cold.map((r) => f(r.ms)).join(', ')} (own SQL ${cold.map((r) => f(r.own)).join(', ')}; percentile ${ranks.map((q) => Math.round(100 * q)).join(', ')}); the others' own SQL mean ${f(mean(rows.filter((r) => !r.cold).map((r) => r.own)))} ms\n`);
    }
    const slow = slice(0.97, 1);
    const names = new Map<string, number>();
    for (const r of slow) for (const c of r.others) names.set(c.text, (names.get(c.text) ?? 0) + 1);
    process.stdout.write(`  store calls beside the slowest 3 % (${slow.length}):\n`);
    for (const [text, n] of [...names].sort((a, b) => b[1] - a[1]).slice(0, 8)) process.stdout.write(`    ${String(n).padStart(4)}  ${text}\n`);
    process.stdout.write(`  each of the slowest: resolve ms / own SQL ms / after it ms / loop max ms / cold / others (start relative to the request, duration)\n`);
    for (const r of sorted.slice(-6)) process.stdout.write(`    ${f(r.ms)} / ${f(r.own)} / ${f(r.afterOwn)} / ${f(r.loopMax)} / ${r.cold ? 'cold' : 'warm'} / ${r.others.map((c) => `${c.text.slice(0, 34)} (@${f(c.start - r.start)}, ${f(c.end - c.start)})`).join('; ') || '-'}\n`);
    if (PLAN_PROBE > 0) await probePlans(store.url!, targets.slice(WARM + COUNT).map((t) => t.id));
    process.stdout.write(`  load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`);
  } finally {
    client.close();
    await server.close();
    await store.dispose();
  }
}

/**
 * What a connection's first run of sb_close_conversation costs against its
 * second: on each new connection two closes that hand the slot to the
 * queue's head, each in a transaction rolled back, timed at the client (the
 * call only, no COMMIT or WAL flush). Every other connection runs the
 * server's warm-up (src/store/warm-up.ts) first, untimed.
 */
async function probePlans(url: string, ids: string[]) {
  const close = `select (o.closed).id from sb_close_conversation($1::uuid, 'resolved', now(), 'agent', null, null, 'probe') o`;
  const runs = { cold: { first: [] as number[], second: [] as number[] }, warmed: { first: [] as number[], second: [] as number[] } };
  for (let i = 0; i + 1 < ids.length; i += 2) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const into = (i / 2) % 2 === 0 ? runs.cold : runs.warmed;
    try {
      if (into === runs.warmed) await client.query(WARM_UP);
      for (const [id, times] of [[ids[i]!, into.first], [ids[i + 1]!, into.second]] as const) {
        await client.query('begin');
        const t0 = performance.now();
        await client.query(close, [id]);
        times.push(performance.now() - t0);
        await client.query('rollback');
      }
    } finally {
      await client.end();
    }
  }
  for (const [name, { first, second }] of Object.entries(runs)) {
    const a = summarize(first);
    const b = summarize(second);
    process.stdout.write(`  a close on a new connection, ${name} (${first.length}): first run p50 ${a.p50} ms, max ${a.max} ms; second run p50 ${b.p50} ms, max ${b.max} ms\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
