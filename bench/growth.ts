// `npx tsx bench/growth.ts --store=postgres` — cost as work grows (issue #22):
// the same create and resolve figures as `bench/run.ts --engine-only`, on a
// store that already holds a history of closed conversations (5 messages and
// 2 events each) and, at the largest size, a long queue.
//
// Each row is one run of bench/run.ts's benchStore on a fresh store: 1,000
// agents × 20, 17 open each; 3,000 creates at concurrency 16 fill them; the
// backlog (queued by SQL) and 800 more queued through the API wait behind
// full capacity; 250 resolves one at a time and 500 at concurrency 16 each
// hand the freed slot to the head of the queue, verified through the API.
// Then, the server still up: GET /api/v1/queue and GET /api/v1/stats as an
// agent's desk and a supervisor's dashboard read them, and the sweep's step
// (sb_sweep_step) timed in-server with EXPLAIN ANALYZE (PostgreSQL only).
//
// The history is made inside the database with generate_series, so a million
// closed conversations take a minute or two, not a million API calls. It is
// written with session_replication_role = replica: no triggers (the message
// search index, message_search, stays empty for the history; the conversation
// terms trigger only matters for open conversations) and no foreign-key
// checks. Then VACUUM (visibility map, hint bits: what autovacuum leaves
// after a bulk load) but no ANALYZE unless --analyze: the local server runs
// with autovacuum off and plans must not depend on statistics.
//
//   options: --store=postgres|pglite  --sizes=0,100000,1000000  --backlog=10000
//            --messages=5 (per closed conversation)  --analyze  --quick
//   The backlog is queued at the largest size, and once more with no history
//   so its cost shows apart from the history's.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Db } from '../src/store/db.js';
import { runPool, type HttpClient } from './http.js';
import { describeMachine } from './machine.js';
import { adminQuery, REPO_ROOT, type BenchStore, type StoreKind } from './server.js';
import { benchStore, log, plan, table, type StoreResult } from './run.js';
import { summarize, type Latency } from './stats.js';

interface Options {
  store: StoreKind;
  sizes: number[];
  backlog: number;
  messages: number;
  analyze: boolean;
  quick: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const known = ['store', 'sizes', 'backlog', 'messages', 'analyze', 'quick'];
  for (const a of argv) {
    const name = a.replace(/^--/, '').split('=')[0]!;
    if (!a.startsWith('--') || !known.includes(name)) throw new Error(`unknown argument ${a}`);
  }
  const store = (value('store') ?? 'postgres') as StoreKind;
  if (store !== 'postgres' && store !== 'pglite') throw new Error('--store must be postgres or pglite');
  const quick = argv.includes('--quick');
  // PGlite is one process's memory and one core: a smaller history by default
  const defaultSizes = quick ? '0,20000' : store === 'pglite' ? '0,20000,100000' : '0,100000,1000000';
  const sizes = (value('sizes') ?? defaultSizes).split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--sizes: whole numbers, comma-separated');
  const backlog = Number(value('backlog') ?? (quick ? 1000 : 10_000));
  const messages = Number(value('messages') ?? 5);
  return { store, sizes: [...new Set(sizes)].sort((a, b) => a - b), backlog, messages, analyze: argv.includes('--analyze'), quick };
}

/**
 * `closed` conversations over the last year, resolved (one in ten abandoned
 * unanswered), each with `messages` messages, read, and its assigned and
 * resolved events. Customers return: the ids are those of the bench's own
 * creates ('assign-0'…), 5,000 of them, so a customer's look-ups (the sticky
 * agent's, the open per external reference) meet a long past.
 */
export async function seedHistory(db: Db, closed: number, messages: number): Promise<void> {
  if (closed === 0) return;
  // one transaction: `set local` holds for every statement, on one connection of the pool
  await db.transaction(async (tx) => {
    await tx.exec('set local session_replication_role = replica');
    // A bulk load into tables without their secondary indexes, built once
    // afterwards (sorted), is several times faster than maintaining them
    // row by row. Constraints' indexes (keys, unique) stay.
    const indexes = await tx.query<{ name: string; def: string }>(
      `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def
         from pg_index i
        where i.indrelid in ('conversations'::regclass, 'messages'::regclass, 'events'::regclass)
          and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
          and not i.indisunique`,
    );
    for (const ix of indexes) await tx.exec(`drop index ${ix.name}`);
    await tx.query(
      `insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, assigned_at, resolved_at,
                                  resolve_reason, first_response_at, updated_at)
       select 'api', 'assign-' || (i % 5000), jsonb_build_object('id', 'assign-' || (i % 5000), 'name', 'Returning customer ' || (i % 5000)),
              case when abandoned then 'abandoned' else 'resolved' end,
              case when abandoned then null else ids[1 + i % array_length(ids, 1)] end,
              t, t, case when abandoned then null else t + interval '1 minute' end, t + interval '20 minutes',
              case when abandoned then 'customer_left' else 'agent' end,
              case when abandoned then null else t + interval '2 minutes' end, t + interval '20 minutes'
         from generate_series(1, $1::int) as i,
              (select array_agg(id order by id) as ids from agents) a,
              lateral (select now() - interval '1 hour' - interval '365 days' * (1 - i::float8 / $1::int), i % 10 = 0) as h(t, abandoned)`,
      [closed],
    );
    await tx.query(
      `insert into messages (conversation_id, sender, sender_id, text, created_at, read_at)
       select c.id, case when k % 2 = 1 or c.agent_id is null then 'customer' else 'agent' end,
              case when k % 2 = 1 or c.agent_id is null then null else c.agent_id::text end,
              'history message ' || k || ' of conversation ' || c.seq, c.created_at + make_interval(secs => k * 30), c.resolved_at
         from conversations c, generate_series(1, $1::int) as k
        where c.state in ('resolved', 'abandoned')`,
      [messages],
    );
    await tx.exec(
      `insert into events (type, conversation_id, agent_id, data, created_at)
       select e.type, c.id, c.agent_id, '{}', case when e.type = 'conversation.assigned' then c.assigned_at else c.resolved_at end
         from conversations c,
              lateral (values ('conversation.assigned'), ('conversation.resolved')) as e(type)
        where c.state in ('resolved', 'abandoned') and (e.type = 'conversation.resolved' or c.assigned_at is not null)`,
    );
    await tx.exec(`set local maintenance_work_mem = '256MB'`);
    for (const ix of indexes) await tx.exec(ix.def);
  });
}

/** `count` conversations queued by SQL, as an open that found no room leaves them; their ids in queue order. */
async function queueBacklog(store: BenchStore, count: number): Promise<string[]> {
  const rows = await adminQuery(
    store.url!,
    `with added as (
       insert into conversations (channel, customer_id, customer, state, created_at, queued_at, updated_at)
       select 'api', 'backlog-' || i, jsonb_build_object('id', 'backlog-' || i, 'name', 'Waiting customer ' || i), 'queued', now(), now(), now()
         from generate_series(1, ${count}) as i
       returning id, priority, seq)
     select id from added order by priority desc, seq`,
  );
  return rows.rows.map((r: { id: string }) => r.id);
}

interface Probe {
  queue_listing_ms: Latency;
  queue_listing_rows: number;
  stats_ms: Latency;
  /** sb_sweep_step's execution time inside PostgreSQL (EXPLAIN ANALYZE), nothing left to do */
  sweep_in_server_ms?: Latency;
}

async function probe(run: { store: BenchStore; client: HttpClient }, samples: number): Promise<Probe> {
  const { client, store } = run;
  const listing = await runPool(samples, 1, () => client.request<unknown[]>('GET', '/api/v1/queue'));
  const stats = await runPool(samples, 1, () => client.request('GET', '/api/v1/stats'));
  const bad = [...listing, ...stats].find((r) => r.status !== 200);
  if (bad) log(`  probe: HTTP ${bad.status} ${JSON.stringify(bad.body).slice(0, 200)}`);
  const result: Probe = {
    queue_listing_ms: summarize(listing.map((r) => r.ms)),
    queue_listing_rows: Array.isArray(listing[0]?.body) ? listing[0].body.length : -1,
    stats_ms: summarize(stats.map((r) => r.ms)),
  };
  if (store.url) {
    // one session, its first call left out: a new session plans every
    // PL/pgSQL statement again (tens of ms), the server's pooled ones do not
    const pgc = new pg.Client({ connectionString: store.url });
    await pgc.connect();
    try {
      const times: number[] = [];
      for (let i = 0; i <= samples; i++) {
        const res = await pgc.query(`explain (analyze, timing off, format json) select * from sb_sweep_step(now(), 100)`);
        const plan = (res.rows[0] as { 'QUERY PLAN': { 'Execution Time': number }[] })['QUERY PLAN'][0]!;
        if (i > 0) times.push(plan['Execution Time']);
      }
      result.sweep_in_server_ms = summarize(times);
    } finally {
      await pgc.end();
    }
  }
  return result;
}

interface Row {
  history: number;
  messages: number;
  backlog: number;
  seed_s: number;
  result: StoreResult;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || undefined;
  if (opts.store === 'postgres' && !pgUrl) throw new Error('--store=postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
  const outDir = join(REPO_ROOT, 'bench', 'out');
  await mkdir(outDir, { recursive: true });
  const machine = await describeMachine(pgUrl);
  const started = new Date();
  log(`growth bench [${opts.store}]: history ${opts.sizes.join(', ')}; backlog ${opts.backlog}; ${machine.nproc} × ${machine.cpu_model}, load ${machine.loadavg_at_start.join(' ')}`);

  // The warm-up it was measured with before run.ts's became 3,000: its figures are ratios within a run
  // (a history against the empty store), and each run's store is warmed alike.
  const p = { ...plan(opts.quick), warmup: opts.quick ? 100 : 200 };
  const largest = Math.max(...opts.sizes);
  // (history, backlog): every size without a backlog, the largest with it, and the backlog alone
  // (the empty store and the largest with its backlog first: the figures the target compares)
  const runs: { history: number; backlog: number }[] = opts.sizes.map((h) => ({ history: h, backlog: 0 }));
  if (opts.backlog > 0 && opts.store === 'postgres') {
    if (largest > 0) runs.splice(1, 0, { history: largest, backlog: opts.backlog });
    runs.push({ history: 0, backlog: opts.backlog });
  } else if (opts.backlog > 0) log('the backlog is queued by SQL while the server runs: PostgreSQL only, skipped on PGlite');

  const rows: Row[] = [];
  const partial = join(outDir, `growth-${opts.store}-partial.json`);
  for (const r of runs) {
    log(`--- history ${r.history} closed conversations (${r.history * opts.messages} messages), backlog ${r.backlog}`);
    let seedSeconds = 0;
    // a run that fails (a server that did not start) is reported and the others still run
    const result = await benchStore(opts.store, p, { concurrency: 16, profile: false }, pgUrl, outDir, {
      seed: async (db) => {
        const t0 = performance.now();
        await seedHistory(db, r.history, opts.messages);
        if (r.history > 0) {
          if (opts.store === 'postgres') await db.exec(opts.analyze ? 'vacuum analyze' : 'vacuum');
          else if (opts.analyze) await db.exec('analyze');
        } else if (opts.analyze) await db.exec('analyze');
        seedSeconds = (performance.now() - t0) / 1000;
        log(`  history seeded in ${seedSeconds.toFixed(1)} s`);
      },
      ...(r.backlog > 0 ? { backlog: (store: BenchStore) => queueBacklog(store, r.backlog) } : {}),
      probe: (run) => probe(run, opts.quick ? 5 : 20),
    }).catch((error: unknown) => {
      log(`  run failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      return undefined;
    });
    if (!result) continue;
    rows.push({ history: r.history, messages: r.history * opts.messages, backlog: r.backlog, seed_s: Math.round(seedSeconds * 10) / 10, result });
    // after every run, so a long bench stopped early still leaves its figures
    await writeFile(partial, `${JSON.stringify({ started_at: started.toISOString(), options: opts, machine, rows }, null, 2)}\n`);
    const failures = result.resolve_sequential.verification_failures.length + result.resolve_concurrent.verification_failures.length;
    if (failures > 0) log(`  verification failures: ${[...result.resolve_sequential.verification_failures, ...result.resolve_concurrent.verification_failures].slice(0, 5).join('; ')}`);
  }

  const text = report(rows, opts.store);
  process.stdout.write(`\n${text}\n`);
  const json = { started_at: started.toISOString(), finished_at: new Date().toISOString(), options: opts, machine, rows };
  const file = join(outDir, `growth-${opts.store}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nwritten ${file}\n`);
}

const ms = (l: Latency | undefined) => (l ? `${l.p50} / ${l.p99}` : '—');

/** The curve as a markdown table, each figure also as a ratio of the empty store's. */
function report(rows: Row[], store: StoreKind): string {
  const base = rows.find((r) => r.history === 0 && r.backlog === 0)?.result;
  const ratio = (v: number, b: number | undefined) => (b ? ` (${(v / b).toFixed(2)}×)` : '');
  const head = [
    'closed conversations (messages)',
    'queued at resolve',
    'seed s',
    'create→assigned /s (c16)',
    'create p50 / p99 ms',
    'create→queued p99 ms',
    'resolve→next 1 at a time p50 / p99 ms',
    'resolve→next c16 p99 ms',
    'GET /queue p50 / p99 ms',
    'GET /stats p50 / p99 ms',
    'sweep in-server p50 / p99 ms',
    'verified',
  ];
  const body = [...rows].sort((a, b) => a.backlog - b.backlog || a.history - b.history).map((r) => {
    const x = r.result;
    const pr = x.probe as Probe | undefined;
    const verified = x.resolve_sequential.verified_next_assigned + x.resolve_concurrent.verified_next_assigned;
    return [
      `${r.history.toLocaleString('en')} (${r.messages.toLocaleString('en')})`,
      String(r.backlog + x.queue.queued),
      String(r.seed_s),
      `${x.assign.per_second}${ratio(x.assign.per_second, base?.assign.per_second)}`,
      `${x.assign.latency_ms.p50} / ${x.assign.latency_ms.p99}${ratio(x.assign.latency_ms.p99, base?.assign.latency_ms.p99)}`,
      String(x.queue.latency_ms.p99),
      `${x.resolve_sequential.latency_ms.p50} / ${x.resolve_sequential.latency_ms.p99}${ratio(x.resolve_sequential.latency_ms.p99, base?.resolve_sequential.latency_ms.p99)}`,
      `${x.resolve_concurrent.latency_ms.p99}${ratio(x.resolve_concurrent.latency_ms.p99, base?.resolve_concurrent.latency_ms.p99)}`,
      pr ? `${ms(pr.queue_listing_ms)} (${pr.queue_listing_rows} rows)` : '—',
      ms(pr?.stats_ms),
      ms(pr?.sweep_in_server_ms),
      `${verified}/${x.resolve_sequential.requests + x.resolve_concurrent.requests}`,
    ];
  });
  const md = [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  return [`store ${store}; ratios against the empty store (no history, no backlog)`, md, '', table([['run', 'server RSS at end MB'], ...rows.map((r) => [`${r.history}+${r.backlog}`, r.result.memory.at_end.rss_mb])])].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    process.stderr.write(`growth bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
