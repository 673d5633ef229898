// `npx tsx bench/receipts.ts` — read receipts (markRead, what an agent's or
// a customer's `messages/viewed` publish does) against PostgreSQL
// (BENCH_DATABASE_URL or TEST_DATABASE_URL; a scratch database), in this
// process, with --clients at once: --chats chats of 10 customer messages each,
// then each message read by the agent's side in its own receipt, as a live
// chat reads them. Prints receipts/s, latency, the database backends' CPU a
// receipt, this process's CPU a receipt (the store call and the driver:
// there is no server process here), and transactions a receipt.
//
// The tree's own src/ is what runs, so the same file measures another tree
// when copied into it (an A/B against a tree without it).
//
//   options: --clients=16 --chats=1000
import { performance } from 'node:perf_hooks';
import { SYSTEM } from '../src/agents/model.js';
import type { Ctx } from '../src/context.js';
import { openConversation } from '../src/conversations/lifecycle.js';
import { addMessage, markRead } from '../src/conversations/messages.js';
import { openPostgres } from '../src/store/postgres.js';
import { backendCpuSeconds, commits, prepareStore } from './server.js';
import { processCpuSeconds, summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => /^--([^=]+)=?(.*)$/s.exec(a)!.slice(1, 3) as [string, string]));
const CLIENTS = Number(args.get('clients') ?? 16);
const CHATS = Number(args.get('chats') ?? 1000);
const PER_CHAT = 10;
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/receipts.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

/**
 * Every pooled connection's pending statistics into pg_stat_database now
 * (a backend flushes them at most once a second, or after 10 s idle), so the
 * commit counts before and after the phase are the phase's own.
 */
async function flushStats(pool: import('pg').Pool, connections: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  try {
    await Promise.all(clients.map(async (c) => {
      await c.query('select pg_stat_force_next_flush()');
      await c.query('select 1');
    }));
  } finally {
    for (const c of clients) c.release();
  }
}

const store = await prepareStore('postgres', { agents: 50, capacity: 20 }, pgUrl);
const db = openPostgres({ connectionString: store.url!, max: CLIENTS });
try {
  const ctx: Ctx = { db, now: () => new Date(), onCommitted: () => undefined };
  const unread: { conversation: string; message: number }[] = [];
  for (let i = 0; i < CHATS; i++) {
    const { conversation } = await openConversation(ctx, { customer: { id: `reader-${i}` } });
    for (let m = 0; m < PER_CHAT; m++) {
      const message = await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: `reader-${i}`, text: `m${m}` }, SYSTEM);
      unread.push({ conversation: conversation.id, message: message.id });
    }
  }
  // Each client reads its own chats, message by message, in order.
  const byClient = Array.from({ length: CLIENTS }, (_, c) => unread.filter((_, i) => Math.floor(i / PER_CHAT) % CLIENTS === c));
  const warm = byClient.map((receipts) => receipts.splice(0, PER_CHAT));
  await Promise.all(warm.map(async (receipts) => {
    for (const r of receipts) await markRead(ctx, r.conversation, [r.message], 'agent', SYSTEM);
  }));
  await flushStats(db.pool, CLIENTS);
  const latencies: number[] = [];
  const cpu0 = processCpuSeconds(process.pid);
  const commits0 = await commits(store.url!);
  const backends0 = await backendCpuSeconds(store.url!);
  const started = performance.now();
  await Promise.all(byClient.map(async (receipts) => {
    for (const r of receipts) {
      const t0 = performance.now();
      const read = await markRead(ctx, r.conversation, [r.message], 'agent', SYSTEM);
      latencies.push(performance.now() - t0);
      if (read.length !== 1) throw new Error(`message ${r.message} was not marked read once: ${JSON.stringify(read)}`);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const cpu = processCpuSeconds(process.pid) - cpu0;
  await flushStats(db.pool, CLIENTS);
  const committed = (await commits(store.url!)) - commits0;
  const backends1 = await backendCpuSeconds(store.url!);
  const backends = backends0 === null || backends1 === null ? null : backends1 - backends0;
  const each = (s: number) => ((s * 1000) / latencies.length).toFixed(3);
  const l = summarize(latencies);
  process.stdout.write(
    `read receipts, ${CLIENTS} clients, ${latencies.length} in ${seconds.toFixed(1)} s: ${Math.round(latencies.length / seconds)}/s, p50 ${l.p50} ms, p99 ${l.p99} ms; ` +
      `this process ${each(cpu)} ms CPU/receipt; ${(committed / latencies.length).toFixed(2)} transactions a receipt` +
      (backends === null ? '' : `; PostgreSQL backends ${each(backends)} ms CPU/receipt`) +
      '\n',
  );
} finally {
  await db.close();
  await store.dispose();
}
