// `npx tsx bench/open-probe.ts` — what one open costs PostgreSQL, one at a
// time, on a store of --agents online agents never analysed (as the bench's
// server is): the index entries it reads on agents and conversations, the
// backend CPU per open (and per place read, sb_queue_place, which a queued
// create's answer adds), and with --explain the plans of every statement it
// runs (auto_explain, nested, analyze) for one open. --mode=queued: every
// agent full (the queued phase of bench/creates-http.ts); assigned: room.
//
//   options: --agents=1000 --count=300 --mode=queued|assigned [--explain] [--default-capacity] [--skills]
import pg from 'pg';
import type { Config } from '../src/config.js';
import { defaultSettings, seedSettings } from '../src/settings/settings.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { processCpuSeconds } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => /^--([^=]+)=?(.*)$/s.exec(a)!.slice(1, 3) as [string, string]));
const AGENTS = Number(args.get('agents') ?? 1000);
const COUNT = Number(args.get('count') ?? 300);
const MODE = args.get('mode') ?? 'queued';
const EXPLAIN = args.has('explain');
// the agents have no capacity of their own: the max_customers setting's (3)
const DEFAULT_CAPACITY = args.has('default-capacity');
// every agent has skill es at 2, every open requires es at 1
const SKILLS = args.has('skills');
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/open-probe.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

const scratch = await createScratchDatabase(pgUrl, 'sb_openprobe');
try {
  const db = openPostgres({ connectionString: scratch.url, max: 1 });
  await migrate(db);
  await seedSettings(db, defaultSettings({ maxCustomers: 3, attendantKeepAliveMs: 86_400_000, agentOfflineGraceMs: 86_400_000, offlinePolicy: 'requeue' } as Config), new Date());
  const capacity = 3;
  if (DEFAULT_CAPACITY && MODE !== 'queued') throw new Error('--default-capacity is for --mode=queued');
  const load = MODE === 'queued' ? capacity : 0;
  await db.query(
    `insert into agents (name, email, password_hash, role, status, capacity, load, last_seen_at, last_assigned_at, created_at, updated_at)
     select 'A' || i, 'a' || i || '@bench.invalid', 'x', 'agent', 'online', $1::int, $2::int, now(), now() - make_interval(secs => i), now(), now()
       from generate_series(1, $3::int) as i`,
    [DEFAULT_CAPACITY ? null : MODE === 'queued' ? capacity : 1_000_000, load, AGENTS],
  );
  if (SKILLS) await db.query(`update agents set skills = '{"es": 2}'::jsonb`);
  if (load > 0) {
    await db.query(
      `insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, assigned_at, updated_at)
       select 'api', 'pre-' || a.id || '-' || k, jsonb_build_object('id', 'pre'), 'assigned', a.id, now(), now(), now(), now()
         from agents a cross join generate_series(1, $1::int) as k`,
      [load],
    );
  }
  await db.close();

  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  const [{ pid }] = (await client.query('select pg_backend_pid() as pid')).rows;
  let n = 0;
  const open = async () => {
    const r = await client.query(
      `select (o.opened).id, (o.opened).state from sb_open_conversation('api', null, $1, $2, null, 0, now(), false, $3) o`,
      [`c-${n}`, { id: `c-${n++}` }, SKILLS ? { es: 1 } : null],
    );
    return r.rows[0] as { id: string; state: string };
  };
  const place = (id: string) => client.query('select * from sb_queue_place($1, now(), 300)', [id]);
  // warm: the session plans its statements
  for (let i = 0; i < 20; i++) await place((await open()).id);

  const readSoFar = async (table: string) =>
    new Map(
      (
        await client.query(
          `select i.indexrelid::regclass::text as name, pg_stat_get_xact_tuples_returned(i.indexrelid)::int as n,
                  pg_stat_get_xact_blocks_fetched(i.indexrelid)::int as b
             from pg_index i where i.indrelid = $1::regclass`,
          [table],
        )
      ).rows.map((r) => [r.name as string, Number(r.n)]),
    );
  const reads: Record<string, unknown> = {};
  for (const [what, step] of [
    ['open', async () => void (await open())],
    ['open+place', async () => void (await place((await open()).id))],
  ] as const) {
    await client.query('begin');
    const a0 = await readSoFar('agents');
    const c0 = await readSoFar('conversations');
    await step();
    const a1 = await readSoFar('agents');
    const c1 = await readSoFar('conversations');
    await client.query('commit');
    const diff = (x: Map<string, number>, y: Map<string, number>) =>
      Object.fromEntries([...y].map(([k, v]) => [k, v - (x.get(k) ?? 0)]).filter(([, v]) => (v as number) > 0));
    reads[what] = { agents: diff(a0, a1), conversations: diff(c0, c1) };
  }

  const cpu = async (step: () => Promise<unknown>) => {
    const t0 = processCpuSeconds(pid);
    for (let i = 0; i < COUNT; i++) await step();
    return Math.round(((processCpuSeconds(pid) - t0) * 1e6) / COUNT) / 1000;
  };
  const openMs = await cpu(open);
  const opens: string[] = [];
  for (let i = 0; i < COUNT; i++) opens.push((await open()).id);
  let k = 0;
  const placeMs = await cpu(() => place(opens[k++]!));
  const state = (await open()).state;
  const teamMs = await cpu(() => client.query(`select sb_queue_team(null, '{}'::jsonb, '[]'::jsonb, false, null)`));
  k = 0;
  const positionMs = await cpu(() => client.query('select sb_queue_position(c, now(), false) from conversations c where id = $1', [opens[k++]!]));
  const handleMs = await cpu(() => client.query('select sb_recent_handle_s(300)'));
  const queued = (await client.query(`select count(*)::int as n from conversations where state = 'queued'`)).rows[0].n;
  console.log(JSON.stringify({ mode: MODE, state, agents: AGENTS, queued, load: (await import('node:os')).loadavg()[0], backend_cpu_ms: { open: openMs, place: placeMs, team: teamMs, position: positionMs, handle: handleMs }, index_entries: reads }, null, 1));

  if (EXPLAIN) {
    client.on('notice', (m) => console.log(m.message));
    await client.query(`load 'auto_explain'`);
    await client.query(`set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = on;
                        set auto_explain.log_buffers = on; set auto_explain.log_timing = off; set client_min_messages = log`);
    const { id } = await open();
    console.log('---- place ----');
    await place(id);
  }
  await client.end();
} finally {
  await scratch.drop();
}
