// `npx tsx bench/realtime.ts` (also run by `npm run bench`) — the real-time
// chat over the embedded MQTT broker, end to end with real mqtt.js clients.
//
// The server is `switchboard serve` as a child process (bench/server.ts), on
// a fresh store with `--sessions / --capacity` agents online (default 250 ×
// capacity 2). This process plays everyone: the agents (their login tokens
// issued into the store before the server starts, see issueAgentTokens)
// connect to the broker and listen on their assign
// topic; then 500 customers open a session (POST /session), connect with
// their session token and subscribe to their session topic (`<topic>/#`, as
// the widget does); each agent subscribes to `<topic>/messages` of the chats
// it was assigned. Customers then publish `{"message":{"content":"…"}}` on
// `<topic>/messages` (QoS 1). The broker acknowledges a publish once the
// message is stored (PUBACK = committed) and relays it from the committed
// event, with its server id, to the agent (and back to the customer).
//   1. paced: messages at each fixed rate of --rates for --seconds,
//      round-robin over the customers (open loop) — latency from publish to
//      receipt at the agent's client (p50/p99), messages/s stored (PUBACKs)
//      and relayed. A rate the server cannot keep up with is cut short once
//      more than 2 s' worth of messages are unrelayed (else the queue, and
//      the run, would only grow): `cut_at_s` says when.
//   2. flat out: every customer publishes its next message as soon as the
//      previous one is acknowledged, for --flat-seconds (closed loop, 500 in
//      flight) — the sustained rate stored and relayed, and its latency
// The server's RSS (sampled every 250 ms) and CPU (server / this client /
// the rest of the machine, PostgreSQL included) are recorded per phase.
//
//   options: --store=postgres|pglite|all  --transport=ws|tcp|all
//            --sessions=500 --capacity=2  --rates=2000,250 --seconds=10
//            --flat-seconds=10  --quick  --profile  --rss-every=30 (a soak: RSS logged)
//   PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL names a server
//   (a scratch database, dropped afterwards); PGlite in a temp directory.
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { tokenDigest } from '../src/agents/tokens.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openPglite } from '../src/store/pglite.js';
import { HttpClient, runPool } from './http.js';
import { describeMachine } from './machine.js';
import { summarizeProfiles, type ProfileSummary } from './profile.js';
import { backendCpuSeconds, prepareStore, REPO_ROOT, startServerProcess, type BenchStore, type StoreKind } from './server.js';
import { measured, processMemory, summarize, type Latency } from './stats.js';

// ---- options -----------------------------------------------------------------

const argv = process.argv.slice(2);
const known = ['store', 'transport', 'sessions', 'capacity', 'rates', 'seconds', 'flat-seconds', 'quick', 'profile', 'rss-every', 'help'];
for (const a of argv) {
  const name = a.replace(/^--/, '').split('=')[0]!;
  if (!a.startsWith('--') || !known.includes(name)) throw new Error(`unknown argument ${a}`);
}
if (argv.includes('--help')) {
  process.stdout.write('usage: npx tsx bench/realtime.ts [--store=postgres|pglite|all] [--transport=ws|tcp|all] [--sessions=500] [--capacity=2] [--rates=2000,250] [--seconds=10] [--flat-seconds=10] [--quick] [--profile] [--rss-every=SECONDS]\n');
  process.exit(0);
}
const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const num = (name: string, full: number, quick: number) => {
  const n = Number(value(name) ?? (QUICK ? quick : full));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
};
const SESSIONS = num('sessions', 500, 500);
const CAPACITY = num('capacity', 2, 2);
const RATES = (value('rates') ?? '2000,250').split(',').map(Number);
if (RATES.some((r) => !Number.isFinite(r) || r <= 0)) throw new Error('--rates must be positive numbers, comma-separated');
const SECONDS = num('seconds', 10, 4);
const FLAT_SECONDS = num('flat-seconds', 10, 3);
const AGENTS = Math.ceil(SESSIONS / CAPACITY);
const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || undefined;
const storeArg = value('store') ?? 'all';
let STORES: StoreKind[] = storeArg === 'all' ? ['postgres', 'pglite'] : [storeArg as StoreKind];
if (STORES.some((s) => s !== 'postgres' && s !== 'pglite')) throw new Error('--store must be postgres, pglite or all');
if (!pgUrl) {
  if (storeArg === 'postgres') throw new Error('--store=postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
  STORES = STORES.filter((s) => s === 'pglite');
}
const transportArg = value('transport') ?? 'ws';
const TRANSPORTS = (transportArg === 'all' ? ['ws', 'tcp'] : [transportArg]) as ('ws' | 'tcp')[];
if (TRANSPORTS.some((t) => t !== 'ws' && t !== 'tcp')) throw new Error('--transport must be ws, tcp or all');

const BASE = 'switchboard';
/** payloads carry their sequence number first, so the agent side can read it without parsing the JSON */
const MARK = /"content":"m(\d+) /;
const MAX_MESSAGES = 400_000;

const log = (msg: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${msg}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const load = () => loadavg().map((x) => round(x, 2));

// ---- results -------------------------------------------------------------------

interface Cpu {
  server_cores: number;
  client_cores: number;
  other_cores: number;
  machine_busy_pct: number;
  /** CPU ms a stored message: the server process, this client, PostgreSQL's backends of the scratch database (null on PGlite) */
  server_ms_per_message: number;
  client_ms_per_message: number;
  postgres_ms_per_message: number | null;
}

interface Phase {
  seconds: number;
  sent: number;
  /** PUBACKs: the message was committed */
  stored: number;
  /** receipts at the agent's client */
  relayed: number;
  lost: number;
  errors: number;
  send_per_s: number;
  stored_per_s: number;
  relayed_per_s: number;
  latency_ms: Latency;
  rss_max_mb: number;
  cpu: Cpu;
}

interface Result {
  store: StoreKind;
  transport: 'ws' | 'tcp';
  sessions: number;
  agents: number;
  capacity: number;
  setup_s: { sessions: number; connected_and_subscribed: number };
  paced: (Phase & { rate: number; cut_at_s: number | null })[];
  flat_out: Phase & { in_flight: number };
  memory: { idle_after_start_mb: number; connected_mb: number; end_mb: number; peak_mb: number };
  stored_in_db: number | null;
  loadavg: { before: number[]; after: number[] };
  profile?: ProfileSummary[];
}

// ---- helpers -------------------------------------------------------------------

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * Each seeded agent's login token, issued straight into auth_tokens as
 * POST /api/v1/auth/login would: a login verifies the password and then makes
 * the hash again at today's full scrypt cost (N = 2^17, 128 MiB), so 250
 * logins took 50-70 s of the two cores before anything here was measured.
 * Login is not what this bench measures; the tokens are the same kind.
 */
async function issueAgentTokens(store: BenchStore): Promise<{ token: string; agent: { id: string } }[]> {
  const sql = `select id from agents where email like 'agent%@bench.invalid' order by created_at, email`;
  const insert = 'insert into auth_tokens (token_hash, agent_id, created_at, expires_at) select * from unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::timestamptz[])';
  const issue = async (query: (text: string, params?: unknown[]) => Promise<{ id: string }[]>) => {
    const agents = await query(sql);
    const now = new Date();
    const expires = new Date(now.getTime() + 86_400_000);
    const tokens = agents.map((a) => ({ token: `sbt_${randomBytes(32).toString('base64url')}`, agent: { id: a.id } }));
    await query(insert, [tokens.map((t) => tokenDigest(t.token)), tokens.map((t) => t.agent.id), tokens.map(() => now), tokens.map(() => expires)]);
    return tokens;
  };
  if (store.url) {
    const client = new pg.Client({ connectionString: store.url });
    await client.connect();
    try {
      return await issue(async (text, params) => (await client.query<{ id: string }>(text, params)).rows);
    } finally {
      await client.end();
    }
  }
  const db = await openPglite(store.env.DATA_DIR!);
  try {
    return await issue((text, params) => db.query<{ id: string }>(text, params));
  } finally {
    await db.close();
  }
}

async function countMessages(store: BenchStore): Promise<number | null> {
  if (!store.url) return null; // PGlite belongs to the server while it runs
  const client = new pg.Client({ connectionString: store.url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('select count(*)::int as n from messages')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

function connect(url: string, password: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username: 'switchboard', password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 120 });
}

/** --rss-every=N: a soak also logs the server's RSS every N seconds, to show it stays flat. */
const RSS_EVERY_S = Number(value('rss-every') ?? 0);

/** Max RSS of the server while `fn` runs, sampled every 250 ms. */
async function sampledRss<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; rss_max_mb: number }> {
  let max = processMemory(pid).rss_mb;
  const started = Date.now();
  let logged = 0;
  const timer = setInterval(() => {
    const rss = processMemory(pid).rss_mb;
    max = Math.max(max, rss);
    const elapsed = Math.floor((Date.now() - started) / 1000);
    if (RSS_EVERY_S > 0 && elapsed >= (logged + 1) * RSS_EVERY_S) {
      logged = Math.floor(elapsed / RSS_EVERY_S);
      log(`  rss ${round(rss)} MB at ${elapsed} s`);
    }
  }, 250);
  try {
    const value = await fn();
    return { value, rss_max_mb: Math.max(max, processMemory(pid).rss_mb) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * `measured`, plus CPU ms a message stored during the phase: the server's,
 * this client's and (PostgreSQL) the scratch database's backends'.
 */
async function measuredPerMessage<T>(serverPid: number, url: string | undefined, storedSoFar: () => number, fn: () => Promise<T>) {
  const pg0 = url ? await backendCpuSeconds(url) : null;
  const stored0 = storedSoFar();
  const m = await measured(serverPid, fn);
  const pg1 = url ? await backendCpuSeconds(url) : null;
  const n = Math.max(1, storedSoFar() - stored0);
  const perMessage = (cores: number) => round((cores * m.seconds * 1000) / n, 3);
  const cpu: Cpu = {
    ...m.cpu,
    server_ms_per_message: perMessage(m.cpu.server_cores),
    client_ms_per_message: perMessage(m.cpu.client_cores),
    postgres_ms_per_message: pg0 !== null && pg1 !== null ? round(((pg1 - pg0) * 1000) / n, 3) : null,
  };
  return { ...m, cpu };
}

// ---- one store × transport ---------------------------------------------------------

async function benchOne(kind: StoreKind, transport: 'ws' | 'tcp', outDir: string): Promise<Result> {
  const loadBefore = load();
  log(`[${kind}/${transport}] store: ${AGENTS} agents online × capacity ${CAPACITY}; load average ${loadBefore.join(' ')}`);
  const store = await prepareStore(kind, { agents: AGENTS, capacity: CAPACITY }, pgUrl);
  const logins = await issueAgentTokens(store);
  if (logins.length !== AGENTS) throw new Error(`expected ${AGENTS} agents, found ${logins.length}`);
  const tcpPort = transport === 'tcp' ? await freePort() : undefined;
  const profDir = PROFILE ? join(outDir, `prof-realtime-${kind}-${transport}-${Date.now()}`) : undefined;
  if (profDir) await mkdir(profDir, { recursive: true });
  const server = await startServerProcess(store, {
    ...(profDir ? { cpuProfDir: profDir } : {}),
    extraEnv: {
      // nobody is abandoned for silence during the run; messages count as keep-alives anyway
      SESSION_KEEP_ALIVE_TIME: '3600000',
      // hundreds of chats from one address, as no real widget starts them
      SESSION_RATE_LIMIT: '0',
      SESSION_MAX_OPEN_PER_ADDRESS: '0',
      // the flat-out phase sends each chat's messages as fast as they are acknowledged, far past a person's pace
      MQTT_MESSAGE_RATE: '0',
      ...(tcpPort ? { MQTT_TCP_PORT: String(tcpPort) } : {}),
    },
  });
  const mqttUrl = tcpPort ? `mqtt://127.0.0.1:${tcpPort}` : `${server.url.replace(/^http/, 'ws')}/mqtt`;
  log(`[${kind}/${transport}] server pid ${server.pid}, MQTT at ${mqttUrl}`);
  const http = new HttpClient(server.url, 16);
  const clients: MqttClient[] = [];
  const sentAt = new Float64Array(MAX_MESSAGES);
  const recvAt = new Float64Array(MAX_MESSAGES);
  let seq = 0;
  let received = 0;
  try {
    const idleMb = processMemory(server.pid).rss_mb;

    // agents: connect with their login token, listen on the assign topic
    let t = performance.now();
    const holder = new Map<string, { agentId: string; client: MqttClient }>(); // conversation → agent
    const agentClients = await runPool(AGENTS, 25, async (i) => {
      const { token, agent } = logins[i]!;
      const client = await connect(mqttUrl, token);
      clients.push(client);
      const assignTopic = `${BASE}/client/attendants/assign/${agent.id}`;
      client.on('message', (topic, payload) => {
        if (topic === assignTopic) {
          const body = JSON.parse(payload.toString('utf8')) as { conversation: { id: string } };
          holder.set(body.conversation.id, { agentId: agent.id, client });
          return;
        }
        const m = MARK.exec(payload.toString('latin1'));
        if (m) {
          const n = Number(m[1]);
          if (recvAt[n] === 0) {
            recvAt[n] = performance.now();
            received++;
          }
        }
      });
      const [granted] = await client.subscribeAsync(assignTopic, { qos: 1 });
      if (granted!.qos === 128) throw new Error(`agent ${agent.id} may not subscribe to its assign topic`);
      return client;
    });
    void agentClients;

    // customers: open a session, connect, subscribe to the session topic, say hello
    t = performance.now();
    const sessions = await runPool(SESSIONS, 16, (i) =>
      http.request<{ sessionId: string; token: string; sessionTopic: string; state: string }>('POST', '/session', {
        customer: { id: `bench-customer-${i}`, name: `Bench customer ${i}`, email: `customer${i}@bench.invalid` },
      }),
    );
    const failedSession = sessions.find((r) => r.status !== 201);
    if (failedSession) throw new Error(`POST /session failed: ${failedSession.status} ${JSON.stringify(failedSession.body)}`);
    const queued = sessions.filter((s) => s.body.state !== 'assigned').length;
    if (queued > 0) log(`[${kind}/${transport}]   warning: ${queued} sessions not assigned at once`);
    const sessionSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const customers = await runPool(SESSIONS, 25, async (i) => {
      const s = sessions[i]!.body;
      const client = await connect(mqttUrl, s.token);
      clients.push(client);
      const [granted] = await client.subscribeAsync(`${s.sessionTopic}/#`, { qos: 1 });
      if (granted!.qos === 128) throw new Error(`customer ${i} may not subscribe to its session topic`);
      await client.publishAsync(`${BASE}/server/sessions/request`, JSON.stringify({ sessionId: s.sessionId, sessionTopic: s.sessionTopic, customerId: `bench-customer-${i}` }), { qos: 1 });
      return { client, topic: `${s.sessionTopic}/messages`, sessionId: s.sessionId };
    });
    // every chat's agent follows it
    const deadline = performance.now() + 30_000;
    while (customers.some((c) => !holder.has(c.sessionId))) {
      if (performance.now() > deadline) throw new Error(`only ${customers.filter((c) => holder.has(c.sessionId)).length} of ${SESSIONS} assignments reached an agent`);
      await sleep(20);
    }
    await runPool(SESSIONS, 50, async (i) => {
      const c = customers[i]!;
      const [granted] = await holder.get(c.sessionId)!.client.subscribeAsync(c.topic, { qos: 1 });
      if (granted!.qos === 128) throw new Error(`the agent holding ${c.sessionId} may not subscribe to its messages`);
    });
    const connectSeconds = (performance.now() - t) / 1000;
    const connectedMb = processMemory(server.pid).rss_mb;
    log(
      `[${kind}/${transport}]   ${SESSIONS} sessions opened (${round(sessionSeconds)} s), ${clients.length} clients connected and subscribed (${round(connectSeconds)} s); RSS ${connectedMb} MB`,
    );

    const text = (n: number) => `{"message":{"content":"m${n} Hello, my order #${100_000 + (n % 900_000)} has not arrived yet, can you check?"}}`;
    let acked = 0;
    let lastAck = 0;
    let pubErrors = 0;
    const send = (i: number) => {
      const n = seq++;
      const c = customers[i % SESSIONS]!;
      sentAt[n] = performance.now();
      return new Promise<void>((resolve) => {
        c.client.publish(c.topic, text(n), { qos: 1 }, (error) => {
          if (error) pubErrors++;
          else {
            acked++;
            lastAck = performance.now();
          }
          resolve();
        });
      });
    };
    /** Waits (up to `timeoutMs` after the last send) for the receipts of [from, to). */
    const settle = async (from: number, to: number, timeoutMs: number) => {
      const until = performance.now() + timeoutMs;
      for (;;) {
        let missing = 0;
        for (let n = from; n < to; n++) if (recvAt[n] === 0) missing++;
        if (missing === 0 || performance.now() > until) return;
        await sleep(50);
      }
    };
    const phaseFigures = (from: number, to: number, t0: number, sendEnd: number, ackedBefore: number, errorsBefore: number) => {
      const lat: number[] = [];
      let lastRecv = t0;
      for (let n = from; n < to; n++) {
        if (recvAt[n] === 0) continue;
        lat.push(recvAt[n]! - sentAt[n]!);
        if (recvAt[n]! > lastRecv) lastRecv = recvAt[n]!;
      }
      const sent = to - from;
      const stored = acked - ackedBefore;
      return {
        seconds: round((sendEnd - t0) / 1000, 2),
        sent,
        stored,
        relayed: lat.length,
        lost: sent - lat.length,
        errors: pubErrors - errorsBefore,
        send_per_s: Math.round(sent / ((sendEnd - t0) / 1000)),
        stored_per_s: Math.round(stored / ((Math.max(lastAck, t0 + 1) - t0) / 1000)),
        relayed_per_s: Math.round(lat.length / ((Math.max(lastRecv, t0 + 1) - t0) / 1000)),
        latency_ms: summarize(lat),
      };
    };

    // warm-up: one message per chat
    const warmFrom = seq;
    await runPool(SESSIONS, 64, (i) => send(i));
    await settle(warmFrom, seq, 30_000);
    const warmLost = [...recvAt.subarray(warmFrom, seq)].filter((x) => x === 0).length;
    log(`[${kind}/${transport}]   warm-up: ${SESSIONS} messages, ${warmLost} not relayed`);

    // 1. paced, one rate after the other
    const pacedResults: Result['paced'] = [];
    for (const rate of RATES) {
      log(`[${kind}/${transport}] paced: ${rate} messages/s for ${SECONDS} s over ${SESSIONS} chats`);
      const from = seq;
      const ackedBefore = acked;
      const errorsBefore = pubErrors;
      const receivedBefore = received;
      const t0 = performance.now();
      let sendEnd = t0;
      let cutAt: number | null = null;
      const paced = await sampledRss(server.pid, () =>
        measuredPerMessage(server.pid, store.url, () => acked, async () => {
          const total = Math.round(rate * SECONDS);
          const inflight: Promise<void>[] = [];
          for (let i = 0; i < total; i++) {
            const wait = t0 + (i * 1000) / rate - performance.now();
            if (wait > 1) await sleep(wait);
            if (i - (received - receivedBefore) > 2 * rate) {
              cutAt = round((performance.now() - t0) / 1000, 2);
              break;
            }
            inflight.push(send(i));
          }
          sendEnd = performance.now();
          await Promise.race([Promise.all(inflight), sleep(60_000)]);
          await settle(from, seq, 30_000);
        }),
      );
      const r = { rate, cut_at_s: cutAt, ...phaseFigures(from, seq, t0, sendEnd, ackedBefore, errorsBefore), rss_max_mb: paced.rss_max_mb, cpu: paced.value.cpu };
      pacedResults.push(r);
      log(
        `[${kind}/${transport}]   sent ${r.sent} at ${r.send_per_s}/s${cutAt !== null ? ` (cut at ${cutAt} s: over 2 s behind)` : ''}; stored ${r.stored_per_s}/s, relayed ${r.relayed_per_s}/s; latency p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms; lost ${r.lost}`,
      );
    }

    // 2. flat out: each customer keeps one message in flight
    log(`[${kind}/${transport}] flat out: ${SESSIONS} customers, one message each in flight, ${FLAT_SECONDS} s`);
    const from = seq;
    const ackedBefore = acked;
    const errorsBefore = pubErrors;
    const t0 = performance.now();
    let sendEnd = t0;
    const stopAt = t0 + FLAT_SECONDS * 1000;
    const flat = await sampledRss(server.pid, () =>
      measuredPerMessage(server.pid, store.url, () => acked, async () => {
        await Promise.all(
          customers.map(async (_, i) => {
            while (performance.now() < stopAt && seq < MAX_MESSAGES - SESSIONS) await send(i);
          }),
        );
        sendEnd = performance.now();
        await settle(from, seq, 30_000);
      }),
    );
    const flatResult = { in_flight: SESSIONS, ...phaseFigures(from, seq, t0, sendEnd, ackedBefore, errorsBefore), rss_max_mb: flat.rss_max_mb, cpu: flat.value.cpu };
    log(
      `[${kind}/${transport}]   stored ${flatResult.stored_per_s}/s, relayed ${flatResult.relayed_per_s}/s; latency p50 ${flatResult.latency_ms.p50} ms, p99 ${flatResult.latency_ms.p99} ms; lost ${flatResult.lost}`,
    );

    const endMem = processMemory(server.pid);
    const storedInDb = await countMessages(store);
    const result: Result = {
      store: kind,
      transport,
      sessions: SESSIONS,
      agents: AGENTS,
      capacity: CAPACITY,
      setup_s: { sessions: round(sessionSeconds), connected_and_subscribed: round(connectSeconds) },
      paced: pacedResults,
      flat_out: flatResult,
      memory: { idle_after_start_mb: idleMb, connected_mb: connectedMb, end_mb: endMem.rss_mb, peak_mb: endMem.hwm_mb },
      stored_in_db: storedInDb,
      loadavg: { before: loadBefore, after: load() },
    };
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    http.close();
    const code = await server.stop();
    if (code !== 0) log(`[${kind}/${transport}] server exited with ${code}`);
    if (profDir) result.profile = summarizeProfiles(profDir);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    http.close();
    await server.stop();
    await store.dispose();
  }
}

// ---- report --------------------------------------------------------------------

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!))).join('  ')).join('\n');
}

function report(results: Result[]): string {
  const row = (label: string, f: (r: Result) => string | number) => [label, ...results.map(f)];
  const cpu = (c: Cpu) => `${c.server_cores}/${c.client_cores}/${c.other_cores}`;
  const perMessage = (c: Cpu) => `${c.server_ms_per_message}/${c.client_ms_per_message}/${c.postgres_ms_per_message ?? '—'}`;
  const lines = [
    table([
      ['', ...results.map((r) => `${r.store}/${r.transport}`)],
      row('sessions (agents × capacity)', (r) => `${r.sessions} (${r.agents} × ${r.capacity})`),
      ...RATES.flatMap((rate, k) => [
        row(`paced ${rate}/s: sent (cut at s)`, (r) => `${r.paced[k]!.sent} (${r.paced[k]!.cut_at_s ?? '—'})`),
        row('  stored /s / relayed /s', (r) => `${r.paced[k]!.stored_per_s} / ${r.paced[k]!.relayed_per_s}`),
        row('  latency p50 / p99 / max ms', (r) => `${r.paced[k]!.latency_ms.p50} / ${r.paced[k]!.latency_ms.p99} / ${r.paced[k]!.latency_ms.max}`),
        row('  lost / errors', (r) => `${r.paced[k]!.lost} / ${r.paced[k]!.errors}`),
        row('  cores server/client/other', (r) => cpu(r.paced[k]!.cpu)),
        row('  CPU ms a message server/client/PostgreSQL', (r) => perMessage(r.paced[k]!.cpu)),
      ]),
      row('flat out: stored /s / relayed /s', (r) => `${r.flat_out.stored_per_s} / ${r.flat_out.relayed_per_s}`),
      row('  latency p50 / p99 / max ms', (r) => `${r.flat_out.latency_ms.p50} / ${r.flat_out.latency_ms.p99} / ${r.flat_out.latency_ms.max}`),
      row('  messages / lost / errors', (r) => `${r.flat_out.sent} / ${r.flat_out.lost} / ${r.flat_out.errors}`),
      row('  cores server/client/other', (r) => cpu(r.flat_out.cpu)),
      row('  CPU ms a message server/client/PostgreSQL', (r) => perMessage(r.flat_out.cpu)),
      row('RSS idle / connected MB', (r) => `${r.memory.idle_after_start_mb} / ${r.memory.connected_mb}`),
      row('RSS max paced / flat / peak MB', (r) => `${Math.max(...r.paced.map((p) => p.rss_max_mb))} / ${r.flat_out.rss_max_mb} / ${r.memory.peak_mb}`),
      row('messages in the database', (r) => r.stored_in_db ?? '—'),
      row('load average before → after', (r) => `${r.loadavg.before[0]} → ${r.loadavg.after[0]}`),
    ]),
    '',
    'target ≥ 2,000 messages/s with p99 ≤ 50 ms (customer publish → agent receipt):',
  ];
  for (const r of results) {
    const rate = Math.min(r.flat_out.stored_per_s, r.flat_out.relayed_per_s);
    const atTarget = r.paced.find((p) => p.rate >= 2000);
    const pacedOk = atTarget !== undefined && atTarget.cut_at_s === null && atTarget.lost === 0 && atTarget.latency_ms.p99 <= 50;
    const met = rate >= 2000 && pacedOk;
    const paced = r.paced.map((p) => `${p.rate}/s → p99 ${p.latency_ms.p99} ms${p.cut_at_s !== null ? ` (not sustained, cut at ${p.cut_at_s} s)` : ''}`).join('; ');
    lines.push(`  ${met ? 'MET ' : 'MISS'}  ${r.store}/${r.transport}: flat out ${rate} messages/s stored and relayed; paced ${paced}`);
  }
  return lines.join('\n');
}

async function main() {
  const outDir = join(REPO_ROOT, 'bench', 'out');
  await mkdir(outDir, { recursive: true });
  const machine = await describeMachine(pgUrl);
  log(
    `Switchboard real-time bench${QUICK ? ' (--quick)' : ''}: ${SESSIONS} chats, stores ${STORES.join(', ')}, transports ${TRANSPORTS.join(', ')}; ${machine.nproc} × ${machine.cpu_model}, Node ${machine.node}, load ${machine.loadavg_at_start.join(' ')}`,
  );
  const started = new Date();
  const results: Result[] = [];
  for (const kind of STORES) for (const transport of TRANSPORTS) results.push(await benchOne(kind, transport, outDir));
  process.stdout.write(`\n${report(results)}\n`);
  for (const r of results) {
    // the busiest profile is the main thread; the others are tsx's loader worker, idle after start-up
    const busy = (p: ProfileSummary) => p.total_ms - (p.by_area.find((a) => a.area === 'idle')?.ms ?? 0);
    const busiest = [...(r.profile ?? [])].sort((x, y) => busy(y) - busy(x)).slice(0, 1);
    for (const prof of busiest) {
      process.stdout.write(`\n[${r.store}/${r.transport}] CPU profile ${prof.file} (${prof.total_ms} ms)\n`);
      process.stdout.write(table([['area', 'ms', '%'], ...prof.by_area.slice(0, 15).map((x) => [x.area, x.ms, x.pct])]) + '\n\n');
      process.stdout.write(table([['function (self time)', 'ms', '%'], ...prof.top_functions.map((x) => [x.fn, x.ms, x.pct])]) + '\n');
    }
  }
  const json = {
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    command: `npx tsx bench/realtime.ts ${argv.join(' ')}`.trim(),
    machine: { ...machine, loadavg_at_end: load() },
    options: { sessions: SESSIONS, capacity: CAPACITY, rates: RATES, seconds: SECONDS, flat_seconds: FLAT_SECONDS, quick: QUICK },
    results,
  };
  const file = join(outDir, `realtime${QUICK ? '-quick' : ''}.json`);
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nwritten ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`realtime bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
