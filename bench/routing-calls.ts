// `npx tsx bench/routing-calls.ts` — what the routing changes cost (issue
// #22 item 1): an open that finds an agent with room (the create →
// assigned target's call, sb_open_conversation), transfer to an agent, transfer
// to a department, requeue, an agent's status change and the sweep — and a
// chat message, a customer's and an agent's (not routing, but one call the
// same way: sb_add_message) — each
// timed one at a time (no contention) against PostgreSQL (BENCH_DATABASE_URL
// or TEST_DATABASE_URL; a scratch database, dropped afterwards), with the
// round trips each makes to the server counted and the CPU the scratch
// database's backends spent on each (/proc, when the server is on this
// machine), which on a loaded machine says more than the latency.
//
//   options: --count=500 --agents=4
import { performance } from 'node:perf_hooks';
import { createAgent, updateAgent } from '../src/agents/agents.js';
import { SYSTEM } from '../src/agents/model.js';
import { setPasswordCostForTests } from '../src/agents/passwords.js';
import type { Config } from '../src/config.js';
import type { Ctx } from '../src/context.js';
import { openConversation, requeueConversation, transferConversation } from '../src/conversations/lifecycle.js';
import { addMessage } from '../src/conversations/messages.js';
import { sweep } from '../src/routing/sweep.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import type { Db, Queryable } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { backendCpuSeconds } from './server.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const COUNT = Number(args.get('count') ?? 500);
const AGENTS = Number(args.get('agents') ?? 4);
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/routing-calls.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

/**
 * Counts messages sent to the server: a statement, a routing call (one
 * message), a transaction (BEGIN with its locks, each statement, then the
 * final statement with COMMIT and the flush: statements + 2).
 */
function countingDb(db: Db, counter: { trips: number }): Db {
  const counted = (q: Queryable): Queryable => ({
    query: (text, params) => ((counter.trips += 1), q.query(text, params)),
    exec: (text) => ((counter.trips += 1), q.exec(text)),
  });
  return {
    ...counted(db),
    kind: db.kind,
    close: () => db.close(),
    listen: (channel, handlers) => db.listen(channel, handlers),
    transactOne: (text, params) => ((counter.trips += 1), db.transactOne(text, params)),
    transactOneThen: (text, params, after) => ((counter.trips += 1), db.transactOneThen(text, params, after)),
    transaction: (fn, options) => ((counter.trips += 2), db.transaction((tx) => fn(counted(tx)), options)),
  };
}

let scratchUrl = '';

async function timed(counter: { trips: number }, n: number, op: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  const before = counter.trips;
  const cpu0 = await backendCpuSeconds(scratchUrl);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    latencies.push(performance.now() - t);
  }
  const cpu1 = await backendCpuSeconds(scratchUrl);
  return {
    n,
    round_trips_each: Math.round(((counter.trips - before) / n) * 100) / 100,
    backend_cpu_ms_each: cpu0 === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0) * 1000 * 1000) / n) / 1000,
    ms: summarize(latencies),
  };
}

async function main() {
  setPasswordCostForTests({ N: 1024, r: 8, p: 1 });
  const scratch = await createScratchDatabase(pgUrl!, 'sb_callsbench');
  scratchUrl = scratch.url;
  const raw = openPostgres({ connectionString: scratch.url, max: 4 });
  const counter = { trips: 0 };
  const db = countingDb(raw, counter);
  try {
    await migrate(raw);
    await seedSettings(raw, defaultSettings({ maxCustomers: 1_000_000, attendantKeepAliveMs: 3_600_000, agentOfflineGraceMs: 3_600_000, offlinePolicy: 'requeue' } as Config), new Date());
    const ctx: Ctx = { db, now: () => new Date() };
    const agents: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const agent = await createAgent(ctx, { name: `A${i}`, email: `a${i}@bench.test`, password: 'bench-password', role: 'agent', departments: ['sales'] });
      await updateAgent(ctx, agent.id, { status: 'online' }, SYSTEM);
      agents.push(agent.id);
    }
    const chats: string[] = [];
    for (let i = 0; i < 100; i++) chats.push((await openConversation(ctx, { customer: { id: `c-${i}` }, department: 'sales' })).conversation.id);
    // 20 waiting conversations nobody serves: the drains walk past them
    for (let i = 0; i < 20; i++) await openConversation(ctx, { customer: { id: `w-${i}` }, department: 'nobody' });
    const results = {
      // a new customer each, assigned at once (the agents' capacity is the 1,000,000 setting)
      open_assigned: await timed(counter, COUNT, (i) => openConversation(ctx, { customer: { id: `n-${i}` }, department: 'sales' })),
      message_customer: await timed(counter, COUNT, (i) => addMessage(ctx, chats[i % chats.length]!, { sender: 'customer', sender_id: null, text: `hello ${i}` }, SYSTEM)),
      message_agent: await timed(counter, COUNT, (i) => addMessage(ctx, chats[i % chats.length]!, { sender: 'agent', sender_id: null, text: `reply ${i}` }, SYSTEM)),
      transfer_to_agent: await timed(counter, COUNT, async (i) => {
        const id = chats[i % chats.length]!;
        const [row] = await raw.query<{ agent_id: string }>('select agent_id from conversations where id = $1', [id]);
        const to = agents.find((a) => a !== row!.agent_id)!;
        await transferConversation(ctx, id, { agent_id: to }, SYSTEM);
      }),
      transfer_to_department: await timed(counter, COUNT, (i) => transferConversation(ctx, chats[i % chats.length]!, { department: 'sales' }, SYSTEM)),
      requeue: await timed(counter, COUNT, (i) => requeueConversation(ctx, chats[i % chats.length]!, SYSTEM)),
      agent_status: await timed(counter, COUNT, (i) => updateAgent(ctx, agents[i % agents.length]!, { status: Math.floor(i / agents.length) % 2 === 0 ? 'away' : 'online' }, SYSTEM)),
      sweep: await timed(counter, COUNT, () => sweep(ctx)),
    };
    console.log(JSON.stringify({ load_average: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100), ...results }, null, 2));
  } finally {
    await raw.close();
    await scratch.drop();
  }
}

await main();
