// `npx tsx bench/channel-opens.ts` — RapidPro's room open and the widget
// session's end (issue #22, item 3), which held the routing lock exclusive
// from BEGIN until they left it to their functions: throughput and latency
// at a given concurrency against PostgreSQL (BENCH_DATABASE_URL or
// TEST_DATABASE_URL; a scratch database, dropped afterwards), with room for
// every conversation (the common case: an agent has room, no stale room).
// Each worker opens rooms for tickets of its own contacts; then each ends
// widget sessions that were started (and assigned) beforehand.
//
//   options: --count=2000 --concurrency=16 --agents=20
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createAgent, updateAgent } from '../src/agents/agents.js';
import { SYSTEM } from '../src/agents/model.js';
import { setPasswordCostForTests } from '../src/agents/passwords.js';
import { openRoom } from '../src/channels/rapidpro/tickets.js';
import type { Config } from '../src/config.js';
import type { Ctx } from '../src/context.js';
import { endSession, startSession } from '../src/realtime/sessions.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const COUNT = Number(args.get('count') ?? 2000);
const CONCURRENCY = Number(args.get('concurrency') ?? 16);
const AGENTS = Number(args.get('agents') ?? 20);
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/channel-opens.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

/** Runs op(0..COUNT-1) on CONCURRENCY workers; throughput and latency. */
async function flatOut(op: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < COUNT; i = next++) {
        const t = performance.now();
        await op(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { n: COUNT, per_s: Math.round(COUNT / seconds), ms: summarize(latencies) };
}

async function main() {
  setPasswordCostForTests({ N: 1024, r: 8, p: 1 });
  const scratch = await createScratchDatabase(pgUrl!, 'sb_p2_chanbench');
  const db = openPostgres({ connectionString: scratch.url, max: CONCURRENCY });
  try {
    await migrate(db);
    await seedSettings(db, defaultSettings({ maxCustomers: 1_000_000, attendantKeepAliveMs: 3_600_000, agentOfflineGraceMs: 3_600_000, offlinePolicy: 'requeue' } as Config), new Date());
    const ctx: Ctx = { db, now: () => new Date() };
    for (let i = 0; i < AGENTS; i++) {
      const agent = await createAgent(ctx, { name: `A${i}`, email: `a${i}@bench.test`, password: 'bench-password', role: 'agent' });
      await updateAgent(ctx, agent.id, { status: 'online' }, SYSTEM);
    }
    const ticketer = randomUUID();
    await db.query(`insert into rapidpro_ticketers (uuid, secret, created_at, updated_at) values ($1, 'bench', now(), now())`, [ticketer]);
    const sessions: string[] = [];
    for (let i = 0; i < COUNT; i++) sessions.push((await startSession(ctx, { customer: { id: `w-${i}` } }, 3600)).conversation.id);
    const results = {
      rapidpro_open: await flatOut((i) => openRoom(ctx, ticketer, { ticketId: `t-${i}`, token: `c-${i}`, department: null, priority: 0, customFields: {} })),
      session_end: await flatOut((i) => endSession(ctx, sessions[i]!)),
    };
    console.log(JSON.stringify({ concurrency: CONCURRENCY, load_average: loadavg().map((x) => Math.round(x * 100) / 100), ...results }));
  } finally {
    await db.close();
    await scratch.drop();
  }
}

await main();
