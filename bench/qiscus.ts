// `npx tsx bench/qiscus.ts` (also run by `npm run bench`) — Qiscus allocation
// end to end: allocation webhooks over HTTP into a real Switchboard server
// (in this process), against a fake Qiscus in a child process that answers
// at once and notes when each assign_agent call arrives. Two phases:
//   1. paced: webhooks at a steady --rate for --seconds (open loop) — latency
//      from sending the webhook to Qiscus receiving assign_agent (p50/p99)
//   2. flat out: --count webhooks at --concurrency (closed loop) — webhooks/s
//      until the last assign_agent arrived
//   3. refill: every agent's capacity set to their load (all full), 40 rooms
//      queued behind them, then one room of each of 40 agents resolved at
//      once (mark_as_resolved webhooks) — time from the first resolve sent to
//      the 40th queued room's assign_agent received
// Agents never fill up in 1 and 2 (max_customers 10,000): this measures the pipeline.
//
// Each phase also reports the CPU time this process spent per room
// (process.cpuUsage: the server and the bench's own HTTP client, not the
// fake Qiscus nor the database): on a shared machine, where latencies follow
// the load, it is the figure to compare between versions.
//
// The paced phase is also split by stage, per room, from what the store
// noted (p50 / p99 of each): webhook sent → conversation created (the
// webhook's handler), created → assigned (the allocator: waiting for a pass,
// the agent lists fetched, the decision), assigned → first attempt started
// (the outbound worker's claim), attempt started → Qiscus received it; and
// the CPU used meanwhile by this process (server and client), by this run's
// PostgreSQL backends, and by the whole machine.
//
//   options: --store=postgres|pglite  --rate=500 --seconds=10  --count=5000 --concurrency=32
//            --only=paced (skip the flat-out and refill phases)
//            --list-ms=0 (the fake answers each agent list this much later: Qiscus' round trip)
//            --passes=N (QISCUS_PASSES_AT_ONCE; unset: the server's default)
//            --warm-up=100 (webhooks sent one at a time, and assigned, before the paced phase)
import { spawn, type ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import type { Db } from '../src/store/db.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { HttpClient } from './http.js';
import { describeMachine } from './machine.js';
import { machineCpu, processCpuSeconds, summarize, type Latency } from './stats.js';
// by type only, and the channel by name: the same bench runs on a tree whose allocator publishes no timeline (it reports 0 passes)
import type { PassTimeline } from '../src/channels/qiscus/allocate.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const num = (name: string, fallback: number) => Number(args.get(name) ?? fallback);
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const storeKind = args.get('store') ?? (pgUrl ? 'postgres' : 'pglite');
const RATE = num('rate', 500);
const SECONDS = num('seconds', 10);
const COUNT = num('count', 5_000);
const CONCURRENCY = num('concurrency', 32);
const AGENTS = 40;
/** the fake Qiscus answers each agent list this much later (Qiscus over the internet; 0: at once) */
const LIST_MS = num('list-ms', 0);
/** webhooks sent one at a time (and assigned) before the paced phase */
const WARM_UP = num('warm-up', 100);
const PASS_TIMELINE = 'switchboard:qiscus:pass';
const REFILL = 40;

const epochNow = () => performance.timeOrigin + performance.now();

/** CPU ms (user + system) this process spent since `from`, per room. */
function cpuPerRoom(from: NodeJS.CpuUsage, rooms: number): number {
  const used = process.cpuUsage(from);
  return Math.round(((used.user + used.system) / 1000 / rooms) * 1000) / 1000;
}

const FAKE_QISCUS = `
const http = require('node:http');
let arrivals = [];
const agents = Array.from({ length: ${AGENTS} }, (_, i) => ({ id: i + 1, name: 'Agent ' + (i + 1), email: 'a' + (i + 1) + '@x', current_customer_count: 0,
  force_offline: false, is_available: true, type: 2, type_as_string: 'agent', user_channels: [], user_roles: [] }));
const list = JSON.stringify({ data: { agents }, meta: { after: null, before: null, per_page: ${AGENTS}, total_count: null }, status: 200 });
const server = http.createServer((req, res) => {
  const at = performance.timeOrigin + performance.now();
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.url === '/stats') {
      const out = JSON.stringify(arrivals);
      arrivals = [];
      return res.writeHead(200, { 'content-type': 'application/json' }).end(out);
    }
    if (req.url.startsWith('/api/v2/admin/service/available_agents')) {
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(list);
      return ${LIST_MS} > 0 ? void setTimeout(answer, ${LIST_MS}) : answer();
    }
    if (req.url === '/api/v1/admin/service/assign_agent') {
      const room = new URLSearchParams(body).get('room_id');
      arrivals.push([room, at]);
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"added_agent":{"id":1},"service":{"room_id":"' + room + '"}}}');
    }
    res.writeHead(404).end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

async function startFake(): Promise<{ url: string; child: ChildProcess; take(): Promise<[string, number][]> }> {
  const child = spawn(process.execPath, ['-e', FAKE_QISCUS], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const url = `http://127.0.0.1:${port}`;
  return { url, child, take: async () => (await (await fetch(`${url}/stats`)).json()) as [string, number][] };
}

async function openStore(): Promise<{ db: Db; url?: string; drop(): Promise<void> }> {
  if (storeKind === 'pglite') {
    const db = await openPglite();
    return { db, drop: async () => {} };
  }
  if (!pgUrl) throw new Error('set BENCH_DATABASE_URL or TEST_DATABASE_URL for --store=postgres');
  const scratch = await createScratchDatabase(pgUrl, 'sb_bench_qiscus');
  return { db: openPostgres({ connectionString: scratch.url, max: 20 }), url: scratch.url, drop: scratch.drop };
}

/**
 * --count-queries: every message the server sends to the store, by its
 * statement's first words, printed per assign_agent at the end — the round
 * trips the pipeline costs per room.
 */
function countingDb(db: Db, counts: Map<string, number>): Db {
  const note = (text: string) => {
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 70);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return key;
  };
  /** each statement's wall time, sent → answered (its round trip, its wait for locks, its work) */
  const timed = <T>(key: string, run: Promise<T>): Promise<T> => {
    const start = performance.now();
    const add = () => queryMs.set(key, (queryMs.get(key) ?? 0) + performance.now() - start);
    return run.finally(add);
  };
  return {
    kind: db.kind,
    query: (text, params) => timed(note(text), db.query(text, params)),
    exec: (text) => timed(note(text), db.exec(text)),
    transactOne: (text, params) => timed(note(`call: ${text}`), db.transactOne(text, params)),
    transactOneThen: (text, params, after) => (note(`call: ${text} then ${after.text}`), db.transactOneThen(text, params, after)),
    transaction: (fn, options) => (
      note(`BEGIN${options?.locks?.length ? ' + lock' : ''}`),
      db.transaction((tx) => fn({ query: (text, params) => timed(note(text), tx.query(text, params)), exec: (text) => timed(note(text), tx.exec(text)) }), {
        ...options,
        final: options?.final && (() => {
          const final = options.final!();
          note(final ? `COMMIT with ${final.text}` : 'COMMIT');
          return final;
        }),
      })
    ),
    listen: (channel, handlers) => db.listen(channel, handlers),
    close: () => db.close(),
  };
}

async function collect(fake: { take(): Promise<[string, number][]> }, expected: number, into: Map<string, number>, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (into.size < expected) {
    for (const [room, at] of await fake.take()) if (!into.has(room)) into.set(room, at);
    if (performance.now() - start > timeoutMs) throw new Error(`only ${into.size} of ${expected} assign_agent calls arrived`);
    if (into.size < expected) await new Promise((r) => setTimeout(r, 20));
  }
}

const countQueries = args.has('count-queries');
const onlyPaced = args.get('only') === 'paced';

function printCounts(rooms: number): void {
  const all = [...queryCounts.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`store messages: ${all} for ${rooms} rooms assigned (${(all / rooms).toFixed(2)} per room)\n`);
  process.stdout.write(`  per room, and ms each (mean wall time in a transaction's or the pool's statement; a call's with its BEGIN and COMMIT, a transaction's BEGIN and COMMIT not):\n`);
  for (const [text, n] of [...queryCounts].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    const ms = queryMs.get(text);
    process.stdout.write(`  ${(n / rooms).toFixed(2).padStart(6)}  ${ms === undefined ? '      ' : (ms / n).toFixed(2).padStart(6)}  ${text}\n`);
  }
}

/** CPU seconds used so far by the PostgreSQL backends serving `database` (the server's pool: other helpers' load is not counted). */
async function backendsCpu(db: Db, database: string | undefined): Promise<number> {
  if (!database) return Number.NaN;
  const rows = await db.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1`, [database]);
  return rows.reduce((sum, r) => sum + processCpuSeconds(r.pid), 0);
}

interface Stages {
  received: Latency;
  allocated: Latency;
  claimed: Latency;
  sent: Latency;
  /** the allocated and claimed stages split by the pass that assigned the room (its timeline) */
  pass: PassStages;
}

interface PassStages {
  /** conversation created → the pass that assigned it started (below 0: a room the pass took while waiting for its turn to decide) */
  waited: Latency;
  /** the waiting rooms read */
  read: Latency;
  /** their agent lists fetched, and the pass's turn to decide come (meanwhile it takes the rooms that arrive: Lane.turn) */
  fetched: Latency;
  /** decided and committed */
  decided: Latency;
  /** committed → the calls handed to the worker */
  handed: Latency;
  passes: number;
  /** rooms assigned per pass, and each pass's length (started → handed) */
  rooms_per_pass: Latency;
  pass_ms: Latency;
  /** passes running at once, sampled at each pass's start (1 = no overlap) */
  overlapping: Latency;
}

function passStagesOf(timelines: readonly PassTimeline[], createdAt: ReadonlyMap<string, number>): PassStages {
  const waited: number[] = [], read: number[] = [], fetched: number[] = [], decided: number[] = [], handed: number[] = [];
  const overlapping: number[] = [];
  for (const t of timelines) {
    overlapping.push(timelines.filter((o) => o.started <= t.started && o.handed >= t.started).length);
    for (const room of t.assigned) {
      const created = createdAt.get(room);
      if (created === undefined) continue;
      waited.push(t.started - created);
      read.push(t.read - t.started);
      fetched.push(t.fetched - t.read);
      decided.push(t.committed - t.fetched);
      handed.push(t.handed - t.committed);
    }
  }
  return {
    waited: summarize(waited), read: summarize(read), fetched: summarize(fetched), decided: summarize(decided), handed: summarize(handed),
    passes: timelines.length,
    rooms_per_pass: summarize(timelines.map((t) => t.assigned.length)),
    pass_ms: summarize(timelines.map((t) => t.handed - t.started)),
    overlapping: summarize(overlapping),
  };
}

/** Each room's time in each stage, from the times the store noted (ctx.now(), the same clock as epochNow to the ms). */
async function stagesOf(db: Db, sentAt: ReadonlyMap<string, number>, arrived: ReadonlyMap<string, number>, timelines: readonly PassTimeline[]): Promise<Stages> {
  const rows = await db.query<{ room: string; created_at: Date; assigned_at: Date; started_at: Date }>(
    `select c.external_ref as room, c.created_at, c.assigned_at, a.started_at
       from conversations c join qiscus_rooms q on q.conversation_id = c.id
       join outbound_attempts a on a.request_id = q.outbound_id and a.attempt = 1
      where c.channel = 'qiscus' and c.external_ref like 'paced-%'`,
  );
  const at = (d: Date) => new Date(d).getTime();
  const received: number[] = [], allocated: number[] = [], claimed: number[] = [], sent: number[] = [];
  const createdAt = new Map<string, number>();
  for (const r of rows) {
    createdAt.set(r.room, at(r.created_at));
    const s = sentAt.get(r.room), a = arrived.get(r.room);
    if (s === undefined || a === undefined) continue;
    received.push(at(r.created_at) - s);
    allocated.push(at(r.assigned_at) - at(r.created_at));
    claimed.push(at(r.started_at) - at(r.assigned_at));
    sent.push(a - at(r.started_at));
  }
  return { received: summarize(received), allocated: summarize(allocated), claimed: summarize(claimed), sent: summarize(sent), pass: passStagesOf(timelines, createdAt) };
}
const queryCounts = new Map<string, number>();
const queryMs = new Map<string, number>();

async function main() {
  const fake = await startFake();
  const store = await openStore();
  const server = await startServer(
    loadConfig({
      PORT: '0',
      MAX_CUSTOMERS: '10000',
      LOG_LEVEL: 'warn',
      QISCUS_BASE_URL: fake.url,
      QISCUS_APP_ID: 'bench-app',
      QISCUS_SECRET: 'bench-secret',
      QISCUS_WEBHOOK_SECRET: 'bench-webhook-secret',
      ...(args.has('passes') ? { QISCUS_PASSES_AT_ONCE: args.get('passes')! } : {}),
    }),
    { db: countQueries ? countingDb(store.db, queryCounts) : store.db },
  );
  const client = new HttpClient(server.url, 64);
  const webhook = (room: string) =>
    // in the URL, as Qiscus sends it
    client.request('POST', '/api/v1/webhook/agent_allocation?secret=bench-webhook-secret', { app_id: 'bench-app', source: 'qiscus', room_id: room, name: room, email: `${room}@example.test`, extras: '{"notes":null}', is_new_session: true });
  try {
    // warm-up: connections, JIT, the agents mirrored
    for (let i = 0; i < WARM_UP; i++) await webhook(`warm-${i}`);
    await collect(fake, WARM_UP, new Map(), 60_000);

    // 1. paced
    const sentAt = new Map<string, number>();
    const answers: number[] = [];
    const total = RATE * SECONDS;
    const pacedCpu = process.cpuUsage();
    const database = store.url ? new URL(store.url).pathname.slice(1) : undefined;
    const pg0 = await backendsCpu(store.db, database);
    const m0 = machineCpu();
    // the server runs in this process: a stalled event loop delays every stage at once
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const timelines: PassTimeline[] = [];
    const onPass = (message: unknown) => void timelines.push(message as PassTimeline);
    subscribe(PASS_TIMELINE, onPass);
    const t0 = performance.now();
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const room = `paced-${i}`;
      sentAt.set(room, epochNow());
      inflight.push(webhook(room).then((r) => answers.push(r.ms)));
    }
    await Promise.all(inflight);
    const arrived = new Map<string, number>();
    await collect(fake, total, arrived, 60_000);
    unsubscribe(PASS_TIMELINE, onPass);
    const paced = summarize([...arrived].map(([room, at]) => at - sentAt.get(room)!));
    const pacedAnswer = summarize(answers);
    const pacedSeconds = (performance.now() - t0) / 1000;
    loopDelay.disable();
    const loop = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    const pacedCpuPerRoom = cpuPerRoom(pacedCpu, total);
    const processCores = (() => {
      const u = process.cpuUsage(pacedCpu);
      return (u.user + u.system) / 1e6 / pacedSeconds;
    })();
    const pgCores = ((await backendsCpu(store.db, database)) - pg0) / pacedSeconds;
    const m1 = machineCpu();
    const machineBusyPct = Math.round((1000 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total)) / 10;
    const stages = await stagesOf(store.db, sentAt, arrived, timelines);
    const pacedCores = { process: Math.round(processCores * 100) / 100, postgres_backends: Math.round(pgCores * 100) / 100, machine_busy_pct: machineBusyPct };
    if (onlyPaced) {
      const f = (l: { p50: number; p99: number }) => `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)}`;
      process.stdout.write(
        `Qiscus allocation [${storeKind}] paced ${RATE}/s for ${SECONDS} s, agent lists answered after ${LIST_MS} ms (took ${pacedSeconds.toFixed(1)} s)\n` +
          `  webhook → assign_agent p50 / p99 ${f(paced)} ms; webhook answered ${f(pacedAnswer)} ms\n` +
          `  stages p50 / p99 ms: received ${f(stages.received)}, allocated ${f(stages.allocated)}, claimed ${f(stages.claimed)}, sent ${f(stages.sent)}\n` +
          `  by pass p50 / p99 ms: waited ${f(stages.pass.waited)}, read ${f(stages.pass.read)}, fetched ${f(stages.pass.fetched)}, decided ${f(stages.pass.decided)}, handed ${f(stages.pass.handed)}\n` +
          `  ${stages.pass.passes} passes: rooms ${f(stages.pass.rooms_per_pass)}, length ${f(stages.pass.pass_ms)} ms, running at once ${f(stages.pass.overlapping)}\n` +
          `  event loop delay p50 / p99 / max ${loop.p50.toFixed(1)} / ${loop.p99.toFixed(1)} / ${loop.max.toFixed(1)} ms\n` +
          `  CPU: this process ${pacedCores.process} cores (${pacedCpuPerRoom} ms/room), its PostgreSQL backends ${pacedCores.postgres_backends} cores, machine ${machineBusyPct} % busy\n` +
          `  load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
      );
      if (countQueries) printCounts(100 + total);
      return;
    }

    // 2. flat out
    const flatSent = new Map<string, number>();
    const flatStart = epochNow();
    const flatCpu = process.cpuUsage();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < COUNT) {
          const room = `flat-${next++}`;
          flatSent.set(room, epochNow());
          await webhook(room);
        }
      }),
    );
    const flatArrived = new Map<string, number>();
    await collect(fake, COUNT, flatArrived, 120_000);
    const last = Math.max(...flatArrived.values());
    const flat = summarize([...flatArrived].map(([room, at]) => at - flatSent.get(room)!));
    const rate = COUNT / ((last - flatStart) / 1000);
    const flatCpuPerRoom = cpuPerRoom(flatCpu, COUNT);

    // 3. 40 resolves refilled
    await store.db.query(`update agents set capacity = load where source = 'qiscus' and deleted_at is null`);
    const refillRooms = Array.from({ length: REFILL }, (_, i) => `refill-${i}`);
    for (const room of refillRooms) await webhook(room);
    const [counted] = await store.db.query<{ queued: number }>(
      `select count(*)::int as queued from conversations where channel = 'qiscus' and state = 'queued' and external_ref like 'refill-%'`,
    );
    const queued = counted?.queued ?? 0;
    if (queued !== REFILL) throw new Error(`refill: ${queued} of ${REFILL} rooms are queued; agents were not full`);
    const toResolve = await store.db.query<{ room: string }>(
      `select room from (select distinct on (agent_id) external_ref as room, seq from conversations
                          where channel = 'qiscus' and state = 'assigned' order by agent_id, seq) r
        order by seq limit $1`,
      [REFILL],
    );
    if (toResolve.length !== REFILL) throw new Error(`refill: only ${toResolve.length} agents hold a room`);
    await fake.take();
    const refillStart = epochNow();
    const refillCpu = process.cpuUsage();
    await Promise.all(
      toResolve.map(({ room }) =>
        client.request('POST', '/api/v1/webhook/mark_as_resolved?secret=bench-webhook-secret', { service: { room_id: room, notes: null } }),
      ),
    );
    const refilled = new Map<string, number>();
    await collect(fake, REFILL, refilled, 60_000);
    if (![...refilled.keys()].every((room) => room.startsWith('refill-'))) throw new Error('refill: an assign_agent for a room other than the queued ones arrived');
    const refillMs = Math.round((Math.max(...refilled.values()) - refillStart) * 10) / 10;
    const refillCpuPerRoom = cpuPerRoom(refillCpu, REFILL);

    const machine = await describeMachine(pgUrl);
    const result = {
      store: storeKind,
      machine,
      paced: { rate: RATE, seconds: SECONDS, list_ms: LIST_MS, sent: total, took_s: Number(pacedSeconds.toFixed(1)), webhook_to_assign_ms: paced, webhook_answer_ms: pacedAnswer, cpu_ms_per_room: pacedCpuPerRoom, stages_ms: stages, cores: pacedCores, event_loop_delay_ms: loop },
      flat_out: { count: COUNT, concurrency: CONCURRENCY, webhooks_per_s: Math.round(rate), webhook_to_assign_ms: flat, cpu_ms_per_room: flatCpuPerRoom },
      refill: { resolved: REFILL, first_resolve_to_last_assign_ms: refillMs, cpu_ms_per_room: refillCpuPerRoom },
    };
    if (countQueries) printCounts(100 + total + COUNT + REFILL);
    const out = join('bench', 'out');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, `qiscus-${storeKind}.json`), JSON.stringify(result, null, 2));
    const f = (l: { p50: number; p99: number }) => `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`;
    process.stdout.write(
      `Qiscus allocation [${storeKind}]\n` +
        `  paced ${RATE}/s for ${SECONDS} s: webhook → assign_agent ${f(paced)}; webhook answered ${f(pacedAnswer)}; CPU ${pacedCpuPerRoom} ms/room\n` +
        `    stages p50 / p99: received ${f(stages.received)}; allocated ${f(stages.allocated)}; claimed ${f(stages.claimed)}; sent ${f(stages.sent)}\n` +
        `    by pass p50 / p99: waited ${f(stages.pass.waited)}; read ${f(stages.pass.read)}; fetched ${f(stages.pass.fetched)}; decided ${f(stages.pass.decided)}; handed ${f(stages.pass.handed)}\n` +
        `    ${stages.pass.passes} passes: rooms p50 / p99 ${stages.pass.rooms_per_pass.p50} / ${stages.pass.rooms_per_pass.p99}; length ${f(stages.pass.pass_ms)}; running at once p50 / p99 ${stages.pass.overlapping.p50} / ${stages.pass.overlapping.p99}\n` +
        `    event loop delay p50 / p99 / max ${loop.p50.toFixed(1)} / ${loop.p99.toFixed(1)} / ${loop.max.toFixed(1)} ms\n` +
        `    CPU: this process ${pacedCores.process} cores, its PostgreSQL backends ${pacedCores.postgres_backends} cores, machine ${pacedCores.machine_busy_pct} % busy\n` +
        `  flat out (${COUNT} at concurrency ${CONCURRENCY}): ${Math.round(rate)} webhooks/s end to end; webhook → assign_agent ${f(flat)}; CPU ${flatCpuPerRoom} ms/room\n` +
        `  ${REFILL} resolves refilled: first resolve sent → ${REFILL}th assign_agent received in ${refillMs} ms; CPU ${refillCpuPerRoom} ms/room\n` +
        `  load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
    );
  } finally {
    client.close();
    await server.close();
    await store.drop();
    fake.child.kill();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
