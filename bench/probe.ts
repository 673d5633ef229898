// Where does the time of one routing transaction go? Runs the engine's own
// functions in-process (no HTTP), one at a time, with every statement timed.
//
//   npx tsx bench/probe.ts [pglite|postgres] [count]
//
// PostgreSQL needs BENCH_DATABASE_URL or TEST_DATABASE_URL; a scratch
// database is created and dropped.
import { performance } from 'node:perf_hooks';
import { agentForToken, issueToken } from '../src/agents/tokens.js';
import type { Ctx } from '../src/context.js';
import { closeConversation, openConversation } from '../src/conversations/lifecycle.js';
import { queueInfoOf } from '../src/routing/queue.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import { loadConfig } from '../src/config.js';
import type { Db, Queryable, Statement, TransactionOptions } from '../src/store/db.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import { prepareStore, type StoreKind } from './server.js';
import { summarize } from './stats.js';

const timings = new Map<string, number[]>();
const record = (key: string, ms: number) => {
  let list = timings.get(key);
  if (!list) timings.set(key, (list = []));
  list.push(ms);
};
const label = (sql: string) => {
  const s = sql.replace(/\s+/g, ' ').trim();
  if (s.includes('sb_match')) return 'match (sb_match_*)';
  if (s.startsWith('insert into events')) return 'insert events';
  if (s.startsWith('insert into conversations')) return 'insert conversation';
  if (s.startsWith('select a.* from auth_tokens')) return 'auth: token → agent';
  if (s.startsWith('with q as')) return 'queue position (listQueue)';
  return s.slice(0, 48);
};

function timed(db: Db): Db {
  const wrap = (q: Queryable): Queryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      const t = performance.now();
      const rows = await q.query<Row>(text, params);
      record(label(text), performance.now() - t);
      return rows;
    },
    exec: (text: string) => q.exec(text),
  });
  return {
    kind: db.kind,
    ...wrap(db),
    listen: (channel, handlers) => db.listen(channel, handlers),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
      const t = performance.now();
      let inside = 0;
      const value = await db.transaction(async (tx) => {
        inside = performance.now();
        record('begin + advisory locks', inside - t);
        const v = await fn(wrap(tx));
        inside = performance.now();
        return v;
      }, options);
      record('commit', performance.now() - inside);
      record('= whole transaction', performance.now() - t);
      return value;
    },
    async transactOne<Row>(text: string, params: readonly unknown[]): Promise<Row[]> {
      const t = performance.now();
      const rows = await db.transactOne<Row>(text, params);
      record(`routing function: ${/from (sb_\w+)/.exec(text)?.[1] ?? label(text)}`, performance.now() - t);
      return rows;
    },
    async transactOneThen<Row, After>(text: string, params: readonly unknown[], after: Statement) {
      const t = performance.now();
      const result = await db.transactOneThen<Row, After>(text, params, after);
      record(`routing function: ${/from (sb_\w+)/.exec(text)?.[1] ?? label(text)}, then ${/from (sb_\w+)/.exec(after.text)?.[1] ?? label(after.text)}`, performance.now() - t);
      return result;
    },
    close: () => db.close(),
  };
}

async function main() {
  const kind = (process.argv[2] ?? 'postgres') as StoreKind;
  const count = Number(process.argv[3] ?? 500);
  const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  const store = await prepareStore(kind, { agents: 1000, capacity: Math.ceil((count * 2) / 1000) + 1 }, pgUrl);
  const raw = kind === 'pglite' ? await openPglite(store.env.DATA_DIR) : openPostgres({ connectionString: store.url! });
  const db = timed(raw);
  try {
    await seedSettings(db, defaultSettings(loadConfig({})), new Date());
    const ctx: Ctx = { db, now: () => new Date() };
    const [admin] = await db.query<{ id: string }>(`select id from agents limit 1`);
    const { token } = await issueToken(db, admin!.id, new Date(), 3600);
    const actor = { id: admin!.id, role: 'admin' as const };
    // warm-up
    for (let i = 0; i < 50; i++) {
      const { conversation } = await openConversation(ctx, { customer: { id: `w${i}` } });
      await closeConversation(ctx, conversation.id, {}, actor);
    }
    timings.clear();
    const t = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      await agentForToken(db, token, new Date());
      const { conversation } = await openConversation(ctx, { customer: { id: `c${i}` } });
      await queueInfoOf(ctx, conversation);
      ids.push(conversation.id);
    }
    const perOpen = (performance.now() - t) / count;
    const opens = new Map(timings);
    timings.clear();
    for (const id of ids.slice(0, Math.min(200, ids.length))) await closeConversation(ctx, id, {}, actor);
    const closes = new Map(timings);
    const print = (title: string, m: Map<string, number[]>) => {
      process.stdout.write(`\n${title}\n`);
      for (const [k, v] of m) {
        const s = summarize(v);
        process.stdout.write(`  ${k.padEnd(52)} n=${String(s.n).padStart(5)}  mean ${s.mean.toFixed(2).padStart(7)} ms  p50 ${s.p50.toFixed(2).padStart(7)}  p99 ${s.p99.toFixed(2).padStart(7)}\n`);
      }
    };
    process.stdout.write(`${kind}: ${count} opens one at a time in-process (auth lookup + open transaction + queue info): ${perOpen.toFixed(2)} ms each, ${Math.round(1000 / perOpen)}/s\n`);
    print('open (per statement)', opens);
    print('close (per statement)', closes);
  } finally {
    await raw.close();
    await store.dispose();
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
