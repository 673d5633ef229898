// `npx tsx bench/webhooks.ts` — webhook delivery throughput and latency.
//
// Runs the real fan-out + outbox worker in this process against a fresh
// store (PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL names a
// server; PGlite with --store=pglite) and a receiver in a child process that
// answers 204 and notes when each request arrived. Three phases:
//   1. drain: a backlog of deliveries is written with the worker stopped, then
//      the worker empties it — deliveries/s of the outbox alone
//   2. paced: messages are added one transaction each at a steady rate with
//      the worker running, woken by onCommitted — event commit → request
//      arrival latency (p50/p99) at that rate
//   3. flat out: messages as fast as this process can write them — the
//      sustained end-to-end rate and its latency
//
//   options: --store=postgres|pglite  --endpoints=2  --conversations=200
//            --drain=10000  --rate=500 --seconds=10  --concurrency=64
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SYSTEM } from '../src/agents/model.js';
import type { Ctx } from '../src/context.js';
import { openConversation } from '../src/conversations/lifecycle.js';
import { addMessage } from '../src/conversations/messages.js';
import { createEndpoint } from '../src/events/webhooks/endpoints.js';
import { fanOut } from '../src/events/webhooks/fanout.js';
import { createWebhookWorker } from '../src/events/webhooks/worker.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import type { Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import type { Config } from '../src/config.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const num = (name: string, fallback: number) => Number(args.get(name) ?? fallback);
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const storeKind = args.get('store') ?? (pgUrl ? 'postgres' : 'pglite');
const ENDPOINTS = num('endpoints', 2);
const CONVERSATIONS = num('conversations', 200);
const DRAIN = num('drain', 10_000);
const RATE = num('rate', 500);
const SECONDS = num('seconds', 10);
const CONCURRENCY = num('concurrency', 64);

const epochNow = () => performance.timeOrigin + performance.now();

// ---- receiver (child process) -------------------------------------------------

const RECEIVER = `
const http = require('node:http');
let arrivals = [];
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    const body = JSON.stringify(arrivals);
    arrivals = [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  const at = performance.timeOrigin + performance.now();
  req.resume();
  req.on('end', () => {
    arrivals.push([req.headers['webhook-id'], at]);
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

async function startReceiver(): Promise<{ url: string; child: ChildProcess; take(): Promise<[string, number][]> }> {
  const child = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/hooks`,
    child,
    async take() {
      return (await (await fetch(`${base}/stats`)).json()) as [string, number][];
    },
  };
}

// ---- store ----------------------------------------------------------------------

async function openStore(): Promise<{ db: Db; drop(): Promise<void> }> {
  if (storeKind === 'pglite') {
    const db = await openPglite();
    return { db, drop: () => db.close() };
  }
  if (!pgUrl) throw new Error('set BENCH_DATABASE_URL or TEST_DATABASE_URL for --store=postgres');
  const scratch = await createScratchDatabase(pgUrl, 'sb_bench_webhooks');
  const db = openPostgres({ connectionString: scratch.url, max: 20 });
  return {
    db,
    async drop() {
      await db.close();
      await scratch.drop();
    },
  };
}

// ---- phases ---------------------------------------------------------------------

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (!(await predicate())) {
    if (performance.now() - start > timeoutMs) throw new Error('timed out waiting for deliveries');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main() {
  const { db, drop } = await openStore();
  const receiver = await startReceiver();
  try {
    await migrate(db);
    await seedSettings(db, defaultSettings({ maxCustomers: 10_000, attendantKeepAliveMs: 3_600_000, agentOfflineGraceMs: 3_600_000, offlinePolicy: 'keep' } as Config), new Date());
    const commits = new Map<number, number>();
    let worker: ReturnType<typeof createWebhookWorker> | undefined;
    const ctx: Ctx = {
      db,
      now: () => new Date(),
      onCommitted: (events) => {
        const at = epochNow();
        for (const e of events) commits.set(e.id, at);
        worker?.wake();
      },
    };
    for (let i = 0; i < ENDPOINTS; i++) {
      await createEndpoint(ctx, { url: receiver.url, events: ['message.created'], app_code: `bench-${i}` }, null, { allowPrivate: true });
    }
    const conversations: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) conversations.push((await openConversation(ctx, { customer: { id: `bench-${i}` } })).conversation.id);
    await fanOut(ctx); // the conversation.created events: nobody subscribes; move the cursor past them
    // pending deliveries, plus events the fan-out has not read yet
    const pending = async () =>
      Number(
        (
          await db.query<{ n: number }>(
            `select (select count(*)::int from outbound_requests where state = 'pending')
                  + (select count(*)::int from events e, outbox_cursors c
                      where c.name = 'webhooks' and (e.xid_bound, e.id) > (c.last_xid_bound, c.last_event_id)) as n`,
          )
        )[0]!.n,
      );
    const delivered = async () => Number((await db.query<{ n: number }>(`select count(*)::int as n from outbound_requests where state = 'delivered'`))[0]!.n);
    let seq = 0;
    const message = (i: number) => addMessage(ctx, conversations[i % conversations.length]!, { sender: 'customer', sender_id: null, text: `m${seq++}` }, SYSTEM);
    const makeWorker = () =>
      createWebhookWorker(ctx, { allowPrivate: true, concurrency: CONCURRENCY, timeoutMs: 15_000, pollMs: 1_000, onError: (e) => console.error('worker:', e) });

    // 1. drain a backlog
    const messages = Math.ceil(DRAIN / ENDPOINTS);
    for (let i = 0; i < messages; i += 50) await Promise.all(Array.from({ length: Math.min(50, messages - i) }, (_, k) => message(i + k)));
    while ((await fanOut(ctx)).events > 0);
    const backlog = await pending();
    await receiver.take();
    const before = await delivered();
    worker = makeWorker();
    let t0 = performance.now();
    worker.start();
    await waitFor(async () => (await pending()) === 0, 600_000);
    const drainSeconds = (performance.now() - t0) / 1000;
    const drainCount = (await delivered()) - before;
    await receiver.take();
    const drain = { deliveries: drainCount, backlog, seconds: Math.round(drainSeconds * 100) / 100, per_second: Math.round(drainCount / drainSeconds) };
    console.log('drain', drain);

    // 2. paced, and 3. flat out
    async function live(label: string, rate: number | null) {
      commits.clear();
      const start = performance.now();
      const deadline = start + SECONDS * 1000;
      let sent = 0;
      const writers = rate === null ? 16 : 8;
      await Promise.all(
        Array.from({ length: writers }, async () => {
          while (performance.now() < deadline) {
            if (rate !== null) {
              const due = start + (sent / rate) * 1000;
              const wait = due - performance.now();
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            }
            sent += 1;
            await message(sent);
          }
        }),
      );
      const writeSeconds = (performance.now() - start) / 1000;
      await waitFor(async () => (await pending()) === 0, 600_000);
      const totalSeconds = (performance.now() - start) / 1000;
      const arrivals = await receiver.take();
      const latencies: number[] = [];
      for (const [id, at] of arrivals) {
        const eventId = Number(/^evt_(\d+)_/.exec(id)?.[1]);
        const committed = commits.get(eventId);
        if (committed !== undefined) latencies.push(at - committed);
      }
      // where the time goes: commit → row written by the fan-out → claimed → request arrived
      const rows = await db.query<{ message_id: string; event_id: number; created_at: Date; last_attempt_at: Date }>(
        `select message_id, event_id, created_at, last_attempt_at from outbound_requests where event_id = any($1::bigint[])`,
        [[...commits.keys()]],
      );
      const arrivedAt = new Map(arrivals);
      const fanout: number[] = [];
      const claimWait: number[] = [];
      const send: number[] = [];
      for (const r of rows) {
        const committed = commits.get(Number(r.event_id));
        const arrived = arrivedAt.get(r.message_id);
        if (committed === undefined || arrived === undefined) continue;
        fanout.push(new Date(r.created_at).getTime() - committed);
        claimWait.push(new Date(r.last_attempt_at).getTime() - new Date(r.created_at).getTime());
        send.push(arrived - new Date(r.last_attempt_at).getTime());
      }
      const result = {
        breakdown_p50_p99_ms: {
          commit_to_fanout: [summarize(fanout).p50, summarize(fanout).p99],
          fanout_to_claim: [summarize(claimWait).p50, summarize(claimWait).p99],
          claim_to_arrival: [summarize(send).p50, summarize(send).p99],
        },
        messages: sent,
        events_per_second: Math.round(sent / writeSeconds),
        deliveries: arrivals.length,
        deliveries_per_second: Math.round(arrivals.length / totalSeconds),
        commit_to_request_ms: summarize(latencies),
      };
      console.log(label, result);
      return result;
    }
    const paced = await live(`paced ${RATE} events/s × ${ENDPOINTS} endpoints`, RATE);
    t0 = performance.now();
    const flat = await live('flat out', null);
    await worker.stop();

    const out = { at: new Date().toISOString(), store: storeKind, endpoints: ENDPOINTS, conversations: CONVERSATIONS, concurrency: CONCURRENCY, drain, paced: { rate: RATE, ...paced }, flat_out: flat };
    await mkdir(join('bench', 'out'), { recursive: true });
    const file = join('bench', 'out', `webhooks-${storeKind}-${out.at.replace(/[:.]/g, '-')}.json`);
    await writeFile(file, JSON.stringify(out, null, 2));
    console.log(`wrote ${file}`);
  } finally {
    receiver.child.kill();
    await drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
