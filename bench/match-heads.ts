// `npx tsx bench/match-heads.ts [--root=DIR] [--store=pglite|postgres|both] [--queued=10000] [--n=30]`
// (issue #22, P3): what a routing call costs with a long queue in a
// department the agent does not serve: sb_match_for_agent and sb_match_next
// (each in a transaction rolled back, so every call sees the same queue) and
// listQueue's position of one given conversation, at the end of that long
// queue and in the agent's short one. `--root` runs another checkout's
// functions and queue.ts (the before, for an alternating comparison), each
// on a fresh store: PGlite in memory, PostgreSQL in a scratch database
// (BENCH_DATABASE_URL or TEST_DATABASE_URL).
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import type { Ctx } from '../src/context.js';
import type { Db } from '../src/store/db.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const ROOT = resolve(args.get('root') ?? new URL('..', import.meta.url).pathname);
const QUEUED = Number(args.get('queued') ?? 10_000);
const N = Number(args.get('n') ?? 30);
const STORES = (args.get('store') ?? 'both') === 'both' ? ['pglite', 'postgres'] : [args.get('store')!];

const load = <T>(path: string): Promise<T> => import(`${ROOT}/src/${path}`) as Promise<T>;

class Rollback extends Error {}

async function main() {
  const { setPasswordCostForTests } = await load<typeof import('../src/agents/passwords.js')>('agents/passwords.ts');
  const { createAgent } = await load<typeof import('../src/agents/agents.js')>('agents/agents.ts');
  const { migrate } = await load<typeof import('../src/store/migrate.js')>('store/migrate.ts');
  const { openMemoryStore } = await load<typeof import('../src/store/memory.js')>('store/memory.ts');
  const { openPostgres } = await load<typeof import('../src/store/postgres.js')>('store/postgres.ts');
  const { defaultSettings, seedSettings } = await load<typeof import('../src/settings/settings.js')>('settings/settings.ts');
  const { listQueue } = await load<typeof import('../src/routing/queue.js')>('routing/queue.ts');
  const { createScratchDatabase } = await import('../test/helpers/scratch-database.js');
  setPasswordCostForTests({ N: 1024, r: 8, p: 1 });

  for (const kind of STORES) {
    let db: Db;
    let drop = async () => {};
    if (kind === 'pglite') db = await openMemoryStore();
    else {
      const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
      if (!url) throw new Error('postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
      const scratch = await createScratchDatabase(url, 'sb_p3bench');
      db = openPostgres({ connectionString: scratch.url, max: 2 });
      drop = scratch.drop;
      await migrate(db);
    }
    try {
      await seedSettings(db, defaultSettings({ maxCustomers: 100, attendantKeepAliveMs: 3_600_000, agentOfflineGraceMs: 3_600_000, offlinePolicy: 'requeue' } as never), new Date());
      const ctx: Ctx = { db, now: () => new Date() } as Ctx;
      const agent = await createAgent(ctx, { name: 'S', email: 's@bench.test', password: 'bench-password', role: 'agent', departments: ['sales'] });
      await db.query(`update agents set status = 'online', last_seen_at = now() where id = $1`, [agent.id]);
      // the long queue first (ahead in queue order), nobody serves billing; then a handful in sales
      const insert = (department: string, from: number, count: number) =>
        db.query(
          `insert into conversations (channel, customer_id, customer, department, priority, state, created_at, queued_at, updated_at)
           select 'api', 'c' || g, jsonb_build_object('id', 'c' || g), $1, 0, 'queued', now(), now(), now()
             from generate_series($2::int, $3::int) g`,
          [department, from, from + count - 1],
        );
      await insert('billing', 1, QUEUED);
      await insert('sales', QUEUED + 1, 5);
      await db.exec('analyze conversations');
      const [deep] = await db.query<{ id: string }>(`select id from conversations where department = 'billing' order by seq desc limit 1`);
      const [near] = await db.query<{ id: string }>(`select id from conversations where department = 'sales' order by seq desc limit 1`);

      const time = async (op: () => Promise<unknown>) => {
        const ms: number[] = [];
        for (let i = 0; i < N + 1; i++) {
          const t = performance.now();
          await op();
          ms.push(performance.now() - t);
        }
        return summarize(ms.slice(1));
      };
      const rolledBack = (sql: string, params: unknown[]) => async () => {
        try {
          await db.transaction(async (tx) => {
            const rows = await tx.query(sql, params);
            if (rows.length !== 1) throw new Error(`${sql}: ${rows.length} rows`);
            throw new Rollback();
          });
        } catch (e) {
          if (!(e instanceof Rollback)) throw e;
        }
      };
      const results = {
        match_for_agent: await time(rolledBack('select * from sb_match_for_agent(now(), $1::uuid)', [agent.id])),
        match_next: await time(rolledBack('select * from sb_match_next(now())', [])),
        list_given_deep: await time(() => listQueue(ctx, { conversationIds: [deep!.id] })),
        list_given_near: await time(() => listQueue(ctx, { conversationIds: [near!.id] })),
      };
      const [p] = await listQueue(ctx, { conversationIds: [deep!.id] });
      console.log(`${kind} root=${ROOT} queued=${QUEUED}+5 (deep position ${p?.queue.position})`);
      for (const [name, s] of Object.entries(results)) console.log(`  ${name.padEnd(18)} p50 ${s.p50.toFixed(2)} ms  p90 ${s.p90.toFixed(2)} ms`);
    } finally {
      await db.close();
      await drop();
    }
  }
}

await main();
