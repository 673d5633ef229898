// The routing functions of two checkouts side by side in one process: a
// PGlite store migrated from each (its migrations and routing/functions.sql),
// the same open/close cycle run on both in alternating chunks, so the load
// of a shared machine falls on both alike. The CPU time per cycle (one
// open, and one close once 11 are open over 10 slots: the close hands its
// slot to the queued one, the open queues or takes a slot) is what differs.
//
//   npx tsx bench/ab-routing.ts <checkoutA> <checkoutB> [chunks=1000] [cycles per chunk=10]
//
// B_over_A: B's CPU per cycle over A's, summed over every chunk (and the
// median of the chunk pairs' ratios, with its quartiles for the scatter).
// AB_EXTRA_B=<sql> runs on B's store after its seeding (an index dropped,
// to see what its entries cost).
import type { PGlite } from '@electric-sql/pglite';

const [dirA, dirB, chunksArg = '1000', perArg = '10'] = process.argv.slice(2);
if (dirA === undefined || dirB === undefined) {
  console.error('usage: npx tsx bench/ab-routing.ts <checkoutA> <checkoutB> [chunks] [cycles per chunk]');
  process.exit(2);
}
const chunks = Number(chunksArg);
const per = Number(perArg);

interface Store {
  pg: PGlite;
  open: string[];
  t: number;
  n: number;
}

async function store(dir: string, extra: string): Promise<Store> {
  const { openPglite } = (await import(`${dir}/src/store/pglite.ts`)) as { openPglite: () => Promise<{ pglite: PGlite }> };
  const { migrate } = (await import(`${dir}/src/store/migrate.ts`)) as { migrate: (db: unknown) => Promise<unknown> };
  const db = await openPglite();
  await migrate(db);
  const pg = db.pglite;
  await pg.exec(`insert into settings (key, value, updated_at) values ('max_customers', '2', now()) on conflict (key) do update set value = '2';
    insert into agents (email, name, role, status, capacity, load, password_hash, created_at, updated_at)
    select 'a' || i || '@x', 'a' || i, 'agent', 'online', 2, 0, 'x', now(), now() from generate_series(1, 5) i;`);
  if (extra !== '') await pg.exec(extra);
  return { pg, open: [], t: Date.parse('2026-01-01T00:00:00Z'), n: 0 };
}

async function cycle(s: Store): Promise<void> {
  s.t += 1000;
  const now = new Date(s.t).toISOString();
  const customer = `c${s.n++}`;
  const { rows } = await s.pg.query<{ id: string }>(
    `select (o.opened).id, o.logged from sb_open_conversation('api', null, $1, $2::jsonb, null, 0, $3::timestamptz, false, '{}'::jsonb) o`,
    [customer, JSON.stringify({ id: customer, name: 'N' }), now],
  );
  s.open.push(rows[0]!.id);
  if (s.open.length > 11) {
    // one of the seven oldest, assigned or (rarely) the queued one
    const [id] = s.open.splice(s.n % 7, 1);
    await s.pg.query(`select (o.closed).id, o.logged from sb_close_conversation($1::uuid, 'resolved', $2::timestamptz, 'agent', null, null, 'x') o`, [id, now]);
  }
}

const a = await store(dirA, '');
const b = await store(dirB, process.env.AB_EXTRA_B ?? '');
for (let i = 0; i < 300; i++) {
  await cycle(a);
  await cycle(b);
}
const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const ta: number[] = [];
const tb: number[] = [];
for (let c = 0; c < chunks; c++) {
  const order: [Store, number[]][] = c % 2 === 0 ? [[a, ta], [b, tb]] : [[b, tb], [a, ta]];
  for (const [s, out] of order) {
    const t0 = cpu();
    for (let i = 0; i < per; i++) await cycle(s);
    out.push((cpu() - t0) / per);
  }
}
const sorted = (x: number[]): number[] => [...x].sort((p, q) => p - q);
const at = (x: number[], q: number): number => sorted(x)[Math.floor(q * (x.length - 1))]!;
const mean = (x: number[]): number => x.reduce((p, q) => p + q, 0) / x.length;
const ratios = ta.map((v, i) => tb[i]! / v);
console.log(
  JSON.stringify({
    A: dirA,
    B: dirB,
    chunks,
    cycles_per_chunk: per,
    us_per_cycle: { A_mean: +mean(ta).toFixed(1), B_mean: +mean(tb).toFixed(1), A_median: +at(ta, 0.5).toFixed(1), B_median: +at(tb, 0.5).toFixed(1) },
    B_over_A: +(mean(tb) / mean(ta)).toFixed(3),
    chunk_ratio: { median: +at(ratios, 0.5).toFixed(3), q1: +at(ratios, 0.25).toFixed(3), q3: +at(ratios, 0.75).toFixed(3) },
  }),
);
await a.pg.close();
await b.pg.close();
