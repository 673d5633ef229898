// `npm run bench` — end-to-end benchmark of Switchboard through its HTTP API.
//
// For each store (embedded PGlite; PostgreSQL when BENCH_DATABASE_URL or
// TEST_DATABASE_URL names a server) it starts `switchboard serve` as a child
// process on a fresh store seeded with online agents, then measures with a
// keep-alive client at a fixed concurrency:
//   1. new conversation → assigned: throughput and latency of POST /conversations
//   2. resolve → next queued conversation assigned by that same call: latency,
//      one at a time and under concurrency, verified through the API
//   3. the server process's RSS with 1,000 agents and 20,000 open conversations
//   4. pgbench on the same PostgreSQL server, for scale
// then bench/qiscus.ts (Qiscus allocation) and bench/realtime.ts (500 chats
// over the embedded MQTT broker), each in its own process.
// It prints a table and writes JSON to bench/out/.
//
//   npm run bench                       full run (about 3–4 minutes: each store warms up with 3,000 creates)
//   npm run bench -- --quick            smoke run (well under a minute)
//   options: --store=pglite|postgres|all  --concurrency=16  --no-pgbench  --profile
//            --engine-only: phases 1–4 alone, without bench/qiscus.ts and bench/realtime.ts
//            --warm-up=N: conversations opened and resolved before phase 1 (default 3,000, every free
//              slot: the server and this client measured once V8 has compiled their hot paths, as a
//              server runs; 200, as before 2026-11-26, measured them still warming: bench/RESULTS.md)
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { HttpClient, runPool } from './http.js';
import { describeMachine, type Machine } from './machine.js';
import { findPgbench, runPgbench, type PgbenchResult } from './pgbench.js';
import { summarizeProfiles, type ProfileSummary } from './profile.js';
import type { Db } from '../src/store/db.js';
import { ADMIN, adminQuery, prepareStore, REPO_ROOT, startServerProcess, type BenchStore, type StoreKind } from './server.js';
import { measured, processMemory, summarize, type Latency } from './stats.js';

// ---- options -----------------------------------------------------------------

interface Options {
  quick: boolean;
  stores: StoreKind[];
  concurrency: number;
  pgbench: boolean;
  profile: boolean;
  engineOnly: boolean;
  /** conversations opened and resolved before phase 1; default the plan's */
  warmup?: number;
}

function parseArgs(argv: string[], pgUrl: string | undefined): Options {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const known = ['quick', 'store', 'concurrency', 'no-pgbench', 'profile', 'engine-only', 'warm-up', 'help'];
  for (const a of argv) {
    const name = a.replace(/^--/, '').split('=')[0]!;
    if (!a.startsWith('--') || !known.includes(name)) throw new Error(`unknown argument ${a}`);
  }
  if (flag('help')) {
    process.stdout.write('usage: npm run bench -- [--quick] [--store=pglite|postgres|all] [--concurrency=16] [--no-pgbench] [--profile] [--engine-only] [--warm-up=N]\n');
    process.exit(0);
  }
  const store = value('store') ?? 'all';
  let stores: StoreKind[] = store === 'all' ? ['pglite', 'postgres'] : [store as StoreKind];
  if (stores.some((s) => s !== 'pglite' && s !== 'postgres')) throw new Error(`--store must be pglite, postgres or all`);
  if (!pgUrl) {
    if (store === 'postgres') throw new Error('--store=postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
    stores = stores.filter((s) => s === 'pglite');
  }
  const concurrency = Number(value('concurrency') ?? 16);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency must be a positive integer');
  const warmup = value('warm-up') === undefined ? undefined : Number(value('warm-up'));
  if (warmup !== undefined && (!Number.isInteger(warmup) || warmup < 0)) throw new Error('--warm-up must be a whole number of conversations');
  return { quick: flag('quick'), stores, concurrency, pgbench: !flag('no-pgbench'), profile: flag('profile'), engineOnly: flag('engine-only'), warmup };
}

export interface Plan {
  agents: number;
  capacity: number;
  /** conversations already assigned to each agent when the server starts (inserted by SQL) */
  preloadPerAgent: number;
  warmup: number;
  /** conversations created through the API with room for all: agents × (capacity − preload), so afterwards every slot is taken */
  assign: number;
  queue: number;
  resolveSequential: number;
  resolveConcurrent: number;
  pgbench: { scale: number; seconds: number; clients: number; threads: number };
}

export function plan(quick: boolean): Plan {
  return quick
    ? { agents: 1000, capacity: 2, preloadPerAgent: 1, warmup: 100, assign: 1000, queue: 200, resolveSequential: 50, resolveConcurrent: 100, pgbench: { scale: 1, seconds: 3, clients: 8, threads: 2 } }
    : { agents: 1000, capacity: 20, preloadPerAgent: 17, warmup: 3000, assign: 3000, queue: 800, resolveSequential: 250, resolveConcurrent: 500, pgbench: { scale: 10, seconds: 12, clients: 8, threads: 2 } };
}

// ---- wire types --------------------------------------------------------------

interface Conversation {
  id: string;
  state: 'queued' | 'assigned' | 'resolved' | 'abandoned';
  agent_id: string | null;
  assigned_at: string | null;
  resolved_at: string | null;
  queue_position: number | null;
}

// ---- one store -----------------------------------------------------------------

interface PhaseCpu {
  server_cores: number;
  client_cores: number;
  other_cores: number;
  machine_busy_pct: number;
  cores: number;
}

export interface StoreResult {
  store: StoreKind;
  plan: Plan;
  concurrency: number;
  startup_s: number;
  assign: {
    requests: number;
    assigned: number;
    not_assigned: number;
    errors: number;
    seconds: number;
    per_second: number;
    latency_ms: Latency;
    /** assignments/s in ten consecutive slices of the run: does it slow down as tables grow? */
    per_second_by_decile: number[];
    cpu: PhaseCpu;
  };
  queue: {
    requests: number;
    queued: number;
    errors: number;
    seconds: number;
    per_second: number;
    latency_ms: Latency;
    cpu: PhaseCpu;
    /** create replies whose place fell short of the exact one read after the phase (opens side by side) */
    places_short: number;
    /** create replies that told a place before the backlog or behind their exact one: none, if docs/api.md holds */
    places_wrong: number;
  };
  resolve_sequential: ResolvePhase;
  resolve_concurrent: ResolvePhase;
  /** conversations queued by StoreHooks.backlog ahead of phase 2's */
  backlog: number;
  /** what StoreHooks.probe measured */
  probe?: unknown;
  memory: {
    idle_after_start: { rss_mb: number; hwm_mb: number };
    at_full: { open_conversations: number; agents: number; rss_mb: number; hwm_mb: number };
    at_end: { open_conversations: number; rss_mb: number; hwm_mb: number };
  };
  profile?: ProfileSummary[];
}

export interface ResolvePhase {
  requests: number;
  concurrency: number;
  errors: number;
  seconds: number;
  per_second: number;
  latency_ms: Latency;
  /** resolves for which the next queued conversation was verified assigned to the freed agent by that same transaction */
  verified_next_assigned: number;
  verification_failures: string[];
  cpu: PhaseCpu;
}

export const log = (msg: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${msg}\n`);

/** What a caller adds to a store's run (bench/growth.ts: a history, a backlog, more probes). */
export interface StoreHooks {
  /** rows seeded after the agents and the preload, before the server starts */
  seed?: (db: Db) => Promise<void>;
  /**
   * After phase 1 (every agent full): conversations queued by SQL, ahead of
   * phase 2's, so a long queue costs no API calls to build. Returns their ids
   * in queue order; the resolves then take them first. PostgreSQL only: a
   * PGlite store is the server's while it runs.
   */
  backlog?: (store: BenchStore) => Promise<string[]>;
  /** after the resolves, the server still up: more measurements, kept in the result's `probe` */
  probe?: (run: { store: BenchStore; client: HttpClient; serverPid: number }) => Promise<unknown>;
}

export async function benchStore(
  kind: StoreKind,
  p: Plan,
  opts: Pick<Options, 'concurrency' | 'profile'>,
  pgUrl: string | undefined,
  outDir: string,
  hooks: StoreHooks = {},
): Promise<StoreResult> {
  log(`[${kind}] preparing store: ${p.agents} agents online, capacity ${p.capacity} each, ${p.preloadPerAgent} conversations each already assigned`);
  const seedStarted = performance.now();
  const store = await prepareStore(kind, { agents: p.agents, capacity: p.capacity, preloadPerAgent: p.preloadPerAgent, ...(hooks.seed ? { extra: hooks.seed } : {}) }, pgUrl);
  log(`[${kind}]   seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);
  const profDir = opts.profile ? join(outDir, `prof-${kind}-${Date.now()}`) : undefined;
  if (profDir) await mkdir(profDir, { recursive: true });
  const t0 = performance.now();
  const server = await startServerProcess(store, profDir ? { cpuProfDir: profDir } : {}).catch(async (error: unknown) => {
    await store.dispose();
    throw error;
  });
  const startup = (performance.now() - t0) / 1000;
  log(`[${kind}] server pid ${server.pid} at ${server.url} (${startup.toFixed(1)} s to listen)`);
  const client = new HttpClient(server.url, opts.concurrency);
  const c = opts.concurrency;
  try {
    const login = await client.request<{ token: string }>('POST', '/api/v1/auth/login', ADMIN);
    if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
    client.token = login.body.token;
    const idle = processMemory(server.pid);

    const open = (tag: string, i: number) =>
      client.request<Conversation>('POST', '/api/v1/conversations', { customer: { id: `${tag}-${i}`, name: `Bench customer ${i}` } });
    const resolve = (id: string) => client.request<Conversation>('POST', `/api/v1/conversations/${id}/resolve`, {});

    // Warm-up: JIT, connection pool, caches. Everything it opens is resolved again.
    log(`[${kind}] warm-up: ${p.warmup} conversations opened and resolved`);
    const warm = await runPool(p.warmup, c, (i) => open('warm', i));
    await runPool(warm.length, c, (i) => resolve(warm[i]!.body.id));
    // its dead row versions (two updates of an agent's row a conversation) cleaned, as autovacuum would (off on the bench's server)
    if (store.url) await adminQuery(store.url, 'vacuum');

    // 1. new conversation → assigned
    log(`[${kind}] phase 1: ${p.assign} conversations at concurrency ${c}, all fit`);
    const finishedAt: number[] = [];
    const phase1Start = performance.now();
    const a = await measured(server.pid, () =>
      runPool(p.assign, c, async (i) => {
        const r = await open('assign', i);
        finishedAt.push(performance.now() - phase1Start);
        return r;
      }),
    );
    const created = a.value;
    const assignedOk = created.filter((r) => r.status === 201 && r.body.state === 'assigned');
    const assignErrors = created.filter((r) => r.status !== 201);
    const deciles: number[] = [];
    finishedAt.sort((x, y) => x - y);
    for (let d = 0; d < 10; d++) {
      const from = Math.floor((d * finishedAt.length) / 10);
      const to = Math.floor(((d + 1) * finishedAt.length) / 10) - 1;
      const span = ((finishedAt[to] ?? 0) - (d === 0 ? 0 : finishedAt[from - 1] ?? 0)) / 1000;
      deciles.push(Math.round((to - from + 1) / Math.max(span, 1e-6)));
    }
    if (assignErrors.length > 0) log(`[${kind}]   ${assignErrors.length} errors, first: ${assignErrors[0]!.status} ${JSON.stringify(assignErrors[0]!.body)}`);
    const openCount = p.agents * p.preloadPerAgent + assignedOk.length + created.filter((r) => r.status === 201 && r.body.state === 'queued').length;
    // A Prometheus scrape counts conversations by state: every row is read once, as in production.
    const scrape = await client.request('GET', '/metrics');
    if (scrape.status !== 200) log(`[${kind}]   /metrics answered ${scrape.status}`);
    const atFull = { open_conversations: openCount, agents: p.agents, ...processMemory(server.pid) };
    log(`[${kind}]   ${assignedOk.length} assigned in ${a.seconds} s = ${Math.round(assignedOk.length / a.seconds)}/s; RSS ${atFull.rss_mb} MB with ${openCount} open`);

    // 2. queue behind full capacity (after the backlog, if any)
    const backlog = hooks.backlog ? await hooks.backlog(store) : [];
    if (backlog.length > 0) log(`[${kind}]   backlog: ${backlog.length} conversations queued by SQL`);
    log(`[${kind}] phase 2: ${p.queue} conversations queued behind full capacity`);
    const q = await measured(server.pid, () => runPool(p.queue, c, (i) => open('queue', i)));
    const queuedOk = q.value.filter((r) => r.status === 201 && r.body.state === 'queued').map((r) => r.body);
    // The FIFO order behind the backlog, as read once every open has
    // committed (no resolves ran meanwhile): the places are then exact.
    // Each reply's own place was read inside its open, alongside the other
    // opens, so it may repeat or skip but never lies behind that exact one
    // (docs/api.md, "Queue position at creation").
    const placed = await runPool(queuedOk.length, c, (i) => client.request<Conversation>('GET', `/api/v1/conversations/${queuedOk[i]!.id}`));
    const exact = new Map(placed.map((r) => [r.body.id, r.body.queue_position ?? 0]));
    const apiFifo = [...queuedOk].sort((x, y) => exact.get(x.id)! - exact.get(y.id)!);
    const fifoSound = apiFifo.every((row, i) => exact.get(row.id) === backlog.length + i + 1);
    if (!fifoSound) log(`[${kind}]   warning: queue places read after phase 2 are not ${backlog.length + 1}..${backlog.length + apiFifo.length}; verification will report failures`);
    const beyond = queuedOk.filter((row) => (row.queue_position ?? 0) < backlog.length + 1 || (row.queue_position ?? 0) > exact.get(row.id)!);
    if (beyond.length > 0) log(`[${kind}]   warning: ${beyond.length} create replies told a place before the backlog or behind their own`);
    const repeated = queuedOk.filter((row) => row.queue_position !== exact.get(row.id)).length;
    log(`[${kind}]   ${repeated} of ${queuedOk.length} create replies told a place short of the exact one (opens side by side)`);
    const fifo = [...backlog.map((id) => ({ id }) as Conversation), ...apiFifo];

    // Candidates to resolve: assigned conversations of distinct agents, so each resolve frees a different agent.
    const byAgent = new Map<string, Conversation>();
    for (const r of assignedOk) if (!byAgent.has(r.body.agent_id!)) byAgent.set(r.body.agent_id!, r.body);
    const candidates = [...byAgent.values()];
    const chosen = new Set(candidates.map((x) => x.id));
    for (const r of assignedOk) {
      if (candidates.length >= p.resolveSequential + p.resolveConcurrent) break;
      if (!chosen.has(r.body.id)) candidates.push(r.body);
    }
    const seqTargets = candidates.slice(0, p.resolveSequential);
    const concTargets = candidates.slice(p.resolveSequential, p.resolveSequential + p.resolveConcurrent);

    const fetch = (id: string) => client.request<Conversation>('GET', `/api/v1/conversations/${id}`);

    // 3a. resolve one at a time; resolve i must hand its agent's slot to fifo[i], in the same transaction
    log(`[${kind}] phase 3a: ${seqTargets.length} resolves one at a time`);
    const rs = await measured(server.pid, () => runPool(seqTargets.length, 1, (i) => resolve(seqTargets[i]!.id)));
    const seqFailures: string[] = [];
    const seqNext = await runPool(seqTargets.length, c, (i) => fetch(fifo[i]!.id));
    let seqVerified = 0;
    rs.value.forEach((res, i) => {
      const next = seqNext[i]!.body;
      if (res.status !== 200) seqFailures.push(`resolve ${i}: HTTP ${res.status}`);
      else if (next.state !== 'assigned') seqFailures.push(`resolve ${i}: next queued ${next.id} is ${next.state}`);
      else if (next.agent_id !== res.body.agent_id) seqFailures.push(`resolve ${i}: next went to ${next.agent_id}, freed agent was ${res.body.agent_id}`);
      else if (next.assigned_at !== res.body.resolved_at) seqFailures.push(`resolve ${i}: assigned_at ${next.assigned_at} ≠ resolved_at ${res.body.resolved_at}`);
      else seqVerified++;
    });

    // 3b. resolves under concurrency; each must pair with exactly one of the next queued (same agent, same instant)
    log(`[${kind}] phase 3b: ${concTargets.length} resolves at concurrency ${c}`);
    const rc = await measured(server.pid, () => runPool(concTargets.length, c, (i) => resolve(concTargets[i]!.id)));
    const concFailures: string[] = [];
    const expectedNext = fifo.slice(seqTargets.length, seqTargets.length + concTargets.length);
    // the next thousand are those a wrong match would take first
    const stillQueued = fifo.slice(seqTargets.length + concTargets.length, seqTargets.length + concTargets.length + 1000);
    const afterNext = await runPool(expectedNext.length, c, (i) => fetch(expectedNext[i]!.id));
    const afterRest = await runPool(stillQueued.length, c, (i) => fetch(stillQueued[i]!.id));
    const pairs = new Map<string, number>();
    for (const r of afterNext) {
      if (r.body.state !== 'assigned') concFailures.push(`next queued ${r.body.id} is ${r.body.state}`);
      else {
        const key = `${r.body.agent_id}@${r.body.assigned_at}`;
        pairs.set(key, (pairs.get(key) ?? 0) + 1);
      }
    }
    let concVerified = 0;
    rc.value.forEach((res, i) => {
      if (res.status !== 200) return void concFailures.push(`resolve ${i}: HTTP ${res.status}`);
      const key = `${res.body.agent_id}@${res.body.resolved_at}`;
      const left = pairs.get(key) ?? 0;
      if (left > 0) {
        pairs.set(key, left - 1);
        concVerified++;
      } else concFailures.push(`resolve ${i}: no next-queued conversation assigned to ${res.body.agent_id} at ${res.body.resolved_at}`);
    });
    for (const r of afterRest) if (r.body.state !== 'queued') concFailures.push(`${r.body.id} should still be queued, is ${r.body.state}`);

    const probe = hooks.probe ? await hooks.probe({ store, client, serverPid: server.pid }) : undefined;
    const atEnd = { open_conversations: openCount + backlog.length + queuedOk.length - seqTargets.length - concTargets.length, ...processMemory(server.pid) };
    const resolvePhase = (m: typeof rs, conc: number, verified: number, failures: string[]): ResolvePhase => ({
      requests: m.value.length,
      concurrency: conc,
      errors: m.value.filter((r) => r.status !== 200).length,
      seconds: m.seconds,
      per_second: Math.round(m.value.length / m.seconds),
      latency_ms: summarize(m.value.filter((r) => r.status === 200).map((r) => r.ms)),
      verified_next_assigned: verified,
      verification_failures: failures.slice(0, 20),
      cpu: m.cpu,
    });

    const result: StoreResult = {
      store: kind,
      plan: p,
      concurrency: c,
      startup_s: Math.round(startup * 10) / 10,
      assign: {
        requests: created.length,
        assigned: assignedOk.length,
        not_assigned: created.length - assignedOk.length - assignErrors.length,
        errors: assignErrors.length,
        seconds: a.seconds,
        per_second: Math.round(assignedOk.length / a.seconds),
        latency_ms: summarize(assignedOk.map((r) => r.ms)),
        per_second_by_decile: deciles,
        cpu: a.cpu,
      },
      queue: {
        requests: q.value.length,
        queued: queuedOk.length,
        errors: q.value.filter((r) => r.status !== 201).length,
        seconds: q.seconds,
        per_second: Math.round(queuedOk.length / q.seconds),
        latency_ms: summarize(q.value.filter((r) => r.status === 201).map((r) => r.ms)),
        cpu: q.cpu,
        places_short: repeated,
        places_wrong: beyond.length,
      },
      resolve_sequential: resolvePhase(rs, 1, seqVerified, seqFailures),
      resolve_concurrent: resolvePhase(rc, c, concVerified, concFailures),
      backlog: backlog.length,
      ...(probe === undefined ? {} : { probe }),
      memory: { idle_after_start: idle, at_full: atFull, at_end: atEnd },
    };
    log(
      `[${kind}]   resolve p99 ${result.resolve_sequential.latency_ms.p99} ms (1 at a time), ${result.resolve_concurrent.latency_ms.p99} ms (at ${c}); verified ${seqVerified + concVerified}/${seqTargets.length + concTargets.length}`,
    );
    client.close();
    const code = await server.stop();
    if (code !== 0) log(`[${kind}] server exited with ${code}`);
    if (profDir) result.profile = summarizeProfiles(profDir);
    return result;
  } finally {
    client.close();
    await server.stop();
    await store.dispose();
  }
}

// ---- report --------------------------------------------------------------------

interface Target {
  name: string;
  store: StoreKind | 'both';
  goal: string;
  value: string;
  met: boolean | null;
  shortfall?: string;
}

// Issue #22's targets: create at concurrency 16 ≥ 0.5× pgbench's TPC-B TPS on the
// same server in the same run with p99 ≤ 25 ms; resolve → next assigned p99 ≤ 5 ms
// one at a time and ≤ 25 ms at concurrency 16.
function targets(results: StoreResult[], pgbench: PgbenchResult | undefined, full: boolean): Target[] {
  const out: Target[] = [];
  const pg = results.find((r) => r.store === 'postgres');
  const lite = results.find((r) => r.store === 'pglite');
  if (pg) {
    const rate = pg.assign.per_second;
    const p99 = pg.assign.latency_ms.p99;
    const tpcb = pgbench?.runs.find((r) => r.script === 'tpcb-like')?.tps;
    const floor = tpcb === undefined ? undefined : Math.round(tpcb / 2);
    out.push({
      name: 'PostgreSQL: new conversation → assigned, end to end',
      store: 'postgres',
      goal: `≥ 0.5 × pgbench TPC-B TPS (${floor === undefined ? 'pgbench not run' : `${floor}/s`}) with p99 ≤ 25 ms`,
      value: `${rate}/s, p99 ${p99} ms`,
      met: floor !== undefined && rate >= floor && p99 <= 25,
      shortfall: [
        floor === undefined ? 'not judged without pgbench' : rate < floor ? `throughput ${Math.round((100 * (floor - rate)) / floor)}% short` : '',
        p99 > 25 ? `p99 ${(p99 / 25).toFixed(1)}× the limit` : '',
      ]
        .filter(Boolean)
        .join('; '),
    });
  }
  for (const r of results) {
    const one = r.resolve_sequential.latency_ms.p99;
    const many = r.resolve_concurrent.latency_ms.p99;
    out.push({
      name: `${r.store}: resolve → next queued assigned`,
      store: r.store,
      goal: `p99 ≤ 5 ms one at a time, ≤ 25 ms at concurrency ${r.concurrency}`,
      value: `p99 ${one} ms one at a time, ${many} ms at concurrency ${r.concurrency}`,
      met: one <= 5 && many <= 25,
      shortfall: [one > 5 ? `one at a time ${(one / 5).toFixed(1)}× the limit` : '', many > 25 ? `concurrent ${(many / 25).toFixed(1)}× the limit` : '']
        .filter(Boolean)
        .join('; '),
    });
  }
  if (lite) {
    out.push({
      name: 'PGlite: new conversation → assigned, end to end',
      store: 'pglite',
      goal: '≥ 300/s',
      value: `${lite.assign.per_second}/s (p99 ${lite.assign.latency_ms.p99} ms)`,
      met: lite.assign.per_second >= 300,
      shortfall: lite.assign.per_second < 300 ? `${Math.round((100 * (300 - lite.assign.per_second)) / 300)}% short` : '',
    });
  }
  for (const r of results) {
    const m = r.memory.at_full;
    out.push({
      name: `${r.store}: server RSS with ${m.agents} agents and ${m.open_conversations} open conversations`,
      store: r.store,
      goal: '≤ 250 MB (1,000 agents, 20,000 open)',
      value: `${m.rss_mb} MB (peak ${m.hwm_mb} MB)`,
      met: full ? m.rss_mb <= 250 : null,
      shortfall: m.rss_mb > 250 ? `${Math.round(m.rss_mb - 250)} MB over` : full ? '' : 'not judged: --quick has fewer open conversations',
    });
  }
  return out;
}

export function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!))).join('  ')).join('\n');
}

function report(results: StoreResult[], pgbench: PgbenchResult | undefined, checks: Target[]): string {
  const lines: string[] = [];
  const cols = ['', ...results.map((r) => r.store)];
  const row = (label: string, f: (r: StoreResult) => string | number) => [label, ...results.map(f)];
  lines.push(
    table([
      cols,
      row('agents × capacity', (r) => `${r.plan.agents} × ${r.plan.capacity}`),
      row('client concurrency', (r) => r.concurrency),
      row('create→assigned /s', (r) => r.assign.per_second),
      row('  latency p50 / p99 ms', (r) => `${r.assign.latency_ms.p50} / ${r.assign.latency_ms.p99}`),
      row('  /s by decile (first→last)', (r) => `${r.assign.per_second_by_decile[0]}→${r.assign.per_second_by_decile[9]}`),
      row('  not assigned / errors', (r) => `${r.assign.not_assigned} / ${r.assign.errors}`),
      row('  cores: server/client/other', (r) => `${r.assign.cpu.server_cores}/${r.assign.cpu.client_cores}/${r.assign.cpu.other_cores}`),
      row('create→queued /s', (r) => r.queue.per_second),
      row('  latency p50 / p99 ms', (r) => `${r.queue.latency_ms.p50} / ${r.queue.latency_ms.p99}`),
      row('resolve→next, 1 at a time p50/p99', (r) => `${r.resolve_sequential.latency_ms.p50} / ${r.resolve_sequential.latency_ms.p99}`),
      row('resolve→next, concurrent p50/p99', (r) => `${r.resolve_concurrent.latency_ms.p50} / ${r.resolve_concurrent.latency_ms.p99}`),
      row('  concurrent resolves /s', (r) => r.resolve_concurrent.per_second),
      row('  next assigned, verified', (r) => {
        const n = r.resolve_sequential.requests + r.resolve_concurrent.requests;
        return `${r.resolve_sequential.verified_next_assigned + r.resolve_concurrent.verified_next_assigned}/${n}`;
      }),
      row('RSS idle MB', (r) => r.memory.idle_after_start.rss_mb),
      row('RSS full MB (open convs)', (r) => `${r.memory.at_full.rss_mb} (${r.memory.at_full.open_conversations})`),
      row('RSS peak MB', (r) => r.memory.at_end.hwm_mb),
    ]),
  );
  if (pgbench) {
    lines.push('', `pgbench (scale ${pgbench.scale}, same server):`);
    lines.push(table([['script', 'clients', 'TPS', 'latency ms'], ...pgbench.runs.map((r) => [r.script, r.clients, r.tps, r.latency_avg_ms])]));
    const pg = results.find((r) => r.store === 'postgres');
    const tpcb = pgbench.runs.find((r) => r.script === 'tpcb-like');
    if (pg && tpcb) lines.push(`Switchboard assignments/s ÷ pgbench TPC-B TPS = ${(pg.assign.per_second / tpcb.tps).toFixed(2)}`);
  }
  lines.push('', 'targets:');
  for (const t of checks) lines.push(`  ${t.met === null ? '—   ' : t.met ? 'MET ' : 'MISS'}  ${t.name}: ${t.value} (goal ${t.goal})${t.shortfall ? ` — ${t.shortfall}` : ''}`);
  return lines.join('\n');
}

const busy = (p: ProfileSummary) => p.total_ms - (p.by_area.find((a) => a.area === 'idle')?.ms ?? 0);

// ---- main ------------------------------------------------------------------------

async function main(): Promise<void> {
  const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || undefined;
  const opts = parseArgs(process.argv.slice(2), pgUrl);
  // A longer warm-up measures the server as it runs once the JIT has compiled the hot paths (steady state);
  // at most the free slots (agents × (capacity − preloaded)), or the warm-up queues.
  const p = { ...plan(opts.quick), ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}) };
  const outDir = join(REPO_ROOT, 'bench', 'out');
  await mkdir(outDir, { recursive: true });
  const machine: Machine = await describeMachine(pgUrl);
  const started = new Date();
  log(
    `Switchboard bench${opts.quick ? ' (--quick)' : ''}: stores ${opts.stores.join(', ')}; ${machine.nproc} × ${machine.cpu_model}, Node ${machine.node}, load ${machine.loadavg_at_start.join(' ')}`,
  );
  if (!pgUrl) log('no BENCH_DATABASE_URL / TEST_DATABASE_URL: PostgreSQL and pgbench are skipped');

  const results: StoreResult[] = [];
  for (const kind of opts.stores) results.push(await benchStore(kind, p, opts, pgUrl, outDir));

  let pgbench: PgbenchResult | undefined;
  if (pgUrl && opts.pgbench && findPgbench()) {
    log(`pgbench: scale ${p.pgbench.scale}, ${p.pgbench.clients} clients, ${p.pgbench.threads} threads, ${p.pgbench.seconds} s per script`);
    try {
      pgbench = await runPgbench(pgUrl, p.pgbench);
    } catch (error) {
      log(`pgbench failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // Qiscus allocation end to end (bench/qiscus.ts), in its own process per store: it prints its own figures
  for (const kind of opts.engineOnly ? [] : opts.stores) {
    log(`qiscus: allocation webhook → assign_agent [${kind}]`);
    spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'qiscus.ts'), `--store=${kind}`, ...(opts.quick ? ['--seconds=3', '--count=1000'] : [])], { stdio: 'inherit' });
  }

  // real-time chat over the embedded MQTT broker (bench/realtime.ts), in its own process: it prints its own figures
  if (!opts.engineOnly) {
    log(`realtime: 500 chat sessions over MQTT/WebSocket [${opts.stores.join(', ')}]`);
    spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'realtime.ts'), `--store=${opts.stores.length > 1 ? 'all' : opts.stores[0]}`, ...(opts.quick ? ['--quick'] : [])], {
      stdio: 'inherit',
    });
  }

  const checks = targets(results, pgbench, !opts.quick);
  const text = report(results, pgbench, checks);
  process.stdout.write(`\n${text}\n`);
  for (const r of results) {
    // the busiest profile is the main thread; the others are tsx's loader worker, idle after start-up
    const busiest = [...(r.profile ?? [])].sort((x, y) => busy(y) - busy(x)).slice(0, 1);
    for (const prof of busiest) {
      process.stdout.write(`\n[${r.store}] CPU profile ${prof.file} (${prof.total_ms} ms)\n`);
      process.stdout.write(table([['area', 'ms', '%'], ...prof.by_area.slice(0, 15).map((x) => [x.area, x.ms, x.pct])]) + '\n\n');
      process.stdout.write(table([['function (self time)', 'ms', '%'], ...prof.top_functions.map((x) => [x.fn, x.ms, x.pct])]) + '\n');
    }
  }

  const json = {
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick: opts.quick,
    machine: { ...machine, loadavg_at_end: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100) },
    results,
    pgbench: pgbench ?? null,
    targets: checks,
  };
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const file = join(outDir, `bench-${stamp}${opts.quick ? '-quick' : ''}.json`);
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(outDir, opts.quick ? 'latest-quick.json' : 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nwritten ${file}\n`);
}

// bench/growth.ts imports this module for benchStore: run only as the script
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
