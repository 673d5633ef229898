// `npx tsx bench/queue-listing.ts --store=postgres` — where GET /api/v1/queue
// spends its time with a long queue (issue #22, "cost as work grows"): the
// SQL of listQueue, its per-row JavaScript (positions, expected waits), the
// route's toConversation and the JSON reply, and the whole request over a
// socket, p50 of --samples calls each.
//
// The store is made by SQL as bench/growth.ts leaves it at its largest size:
// --agents online agents at full capacity (so every wait is estimated) and
// --queued conversations waiting, one in five of them in department "sales",
// queued a second apart; 100 resolved ones give the handle time.
//
//   options: --store=postgres|pglite  --queued=10000  --agents=1000  --samples=20
//            --pages=/api/v1/queue,/api/v1/queue?limit=500  (the requests timed)
import { performance } from 'node:perf_hooks';
import { toConversation } from '../src/conversations/model.js';
import type { Db } from '../src/store/db.js';
import * as queue from '../src/routing/queue.js';
import { openTestStore, type StoreKind } from '../test/helpers/stores.js';
import { testApp } from '../test/helpers/app.js';
import { queueBacklog, seedFullAgents, timedStatements } from './backlog-seed.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const store = arg('store', 'postgres') as StoreKind;
const queued = Number(arg('queued', '10000'));
const agents = Number(arg('agents', '1000'));
const samples = Number(arg('samples', '20'));
const pages = arg('pages', '/api/v1/queue').split(',');

const p50 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor((s.length - 1) / 2)]! * 10) / 10;
};

async function timed(n: number, f: () => Promise<unknown>): Promise<number[]> {
  await f(); // warm: plans, JIT
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  return times;
}

async function seed(db: Db): Promise<void> {
  await seedFullAgents(db, agents);
  await queueBacklog(db, 0, queued, { lastNumber: queued });
  if (store === 'postgres') await db.exec('vacuum analyze');
}

async function main(): Promise<void> {
  const s = await openTestStore(store);
  try {
    await seed(s.db);
    // the SQL alone: listQueue's statement, timed where it is sent
    const statements = timedStatements(s.db);
    const ctx = { db: statements.db, now: () => new Date() };
    const sql: number[] = [];
    const js: number[] = [];
    const list = await timed(samples, async () => {
      statements.reset();
      const t0 = performance.now();
      await queue.listQueue(ctx);
      const total = performance.now() - t0;
      sql.push(statements.ms());
      js.push(total - statements.ms());
    });
    const entries = await queue.listQueue(ctx);
    const view = await timed(samples, async () => entries.map(({ row, queue }) => ({ conversation: toConversation(row, queue), position: queue.position })));
    const body = entries.map(({ row, queue }) => ({ conversation: toConversation(row, queue), position: queue.position, waiting_seconds: 0, expected_wait_seconds: queue.expected_wait_seconds }));
    const json = await timed(samples, async () => JSON.stringify(body));
    console.log(`[${store}] ${queued} queued, ${agents} agents; p50 of ${samples} calls, ms`);
    console.log(`  listQueue (all ${entries.length} rows): ${p50(list)}  = SQL ${p50(sql.slice(1))} + rows in JS (positions, expected waits) ${p50(js.slice(1))}`);
    console.log(`  toConversation for those rows: ${p50(view)}; JSON.stringify of the reply: ${p50(json)}`);

    // (absent before the listing paged: the script also measures the code before)
    const listQueuePage = (queue as Partial<typeof queue>).listQueuePage;
    for (const [offset, limit] of listQueuePage ? ([[0, 100], [9900, 100], [0, 500]] as const) : []) {
      const sqlPage: number[] = [];
      const page = await timed(samples, async () => {
        statements.reset();
        await listQueuePage!(ctx, { offset, limit });
        sqlPage.push(statements.ms());
      });
      console.log(`  listQueuePage offset ${offset} limit ${limit}: ${p50(page)} (its statements: ${p50(sqlPage.slice(1))}; the total is counted apart)`);
    }
    const t = await testApp(s);
    try {
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const { token } = await t.user('agent');
      for (const page of pages) {
        let rows = 0;
        let total: string | null = null;
        const http = await timed(samples, async () => {
          const res = await fetch(`${address}${page}`, { headers: { authorization: `Bearer ${token}` } });
          if (res.status !== 200) throw new Error(`${page}: HTTP ${res.status} ${await res.text()}`);
          rows = ((await res.json()) as unknown[]).length;
          total = res.headers.get('x-total-count');
        });
        console.log(`  GET ${page} over HTTP: ${p50(http)} (${rows} rows${total === null ? '' : `, X-Total-Count ${total}`})`);
      }
    } finally {
      await t.close();
    }
  } finally {
    await s.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
