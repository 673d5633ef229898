// `npx tsx bench/reports.ts` — how long GET /api/v1/reports takes on a big
// event log, on PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL).
//
// Fills a scratch database, in SQL, with a month of conversations the way
// the engine logs them: per conversation `conversation.created`,
// `conversation.assigned`, seven `message.created` (customer first, the
// agent's reply after 10–300 s, then turn by turn) and
// `conversation.resolved` 5–60 min after creation — 10 events each, so
// 100,000 conversations make 1,000,000 events, in time order as the engine
// writes them. Then times readReport (the route's query and the agents'
// names) per agent and per department over a day, a week and the month,
// with the indexes of migrations 0006 and 0013 and again without
// events_messages, and shows which indexes the month's plan used.
//
// --store=pglite runs the same on embedded PGlite (in memory) instead.
//
//   options: --store=postgres|pglite  --conversations=100000  --agents=50  --departments=10  --days=30  --runs=5
import { performance } from 'node:perf_hooks';
import { readReport, REPORT_SQL, type ReportGroup } from '../src/reports/query.js';
import { migrate } from '../src/store/migrate.js';
import { openMemoryStore } from '../src/store/memory.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { describeMachine } from './machine.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const num = (name: string, fallback: number) => Number(args.get(name) ?? fallback);
const CONVERSATIONS = num('conversations', 100_000);
const AGENTS = num('agents', 50);
const DEPARTMENTS = num('departments', 10);
const DAYS = num('days', 30);
const RUNS = num('runs', 5);
/** --keep: leave the filled database (its URL is printed) for a look with psql */
const KEEP = args.has('keep');
const STORE = args.get('store') ?? 'postgres';
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (STORE === 'postgres' && !pgUrl) throw new Error('set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server, or pass --store=pglite');

const START = new Date('2026-01-01T00:00:00Z');

/** Each statement takes all five: $1 start, $2 conversations, $3 agents, $4 departments, $5 days. */
const FILL = /* sql */ `
insert into agents (name, email, password_hash, role, departments, created_at, updated_at)
select 'Agent ' || i, 'agent' || i || '@bench.test', 'x', 'agent', array['dept' || (i % $4::int)], $1::timestamptz, $1::timestamptz
  from generate_series(1, $3::int) i
 where $2::int > 0 and $5::int > 0;

create temp table bench_c as
select gen_random_uuid() as id,
       i,
       $1::timestamptz + (i::float8 / $2::int) * make_interval(days => $5::int) as created_at,
       'dept' || (i % $4::int) as department,
       (array(select id from agents order by id))[1 + i % $3::int] as agent_id,
       make_interval(secs => 10 + (hashint4(i) & 1023) % 290) as first_reply,
       make_interval(secs => 300 + (hashint4(i + 7) & 4095) % 3300) as resolution
  from generate_series(0, $2::int - 1) i;

insert into events (type, conversation_id, agent_id, data, created_at)
select type, conversation_id, agent_id, data, created_at from (
  select 'conversation.created' as type, c.id as conversation_id, null::uuid as agent_id, c.created_at,
         jsonb_build_object('conversation', jsonb_build_object('id', c.id, 'channel', 'api', 'customer', jsonb_build_object('id', 'cust-' || c.i, 'name', 'Customer ' || c.i),
           'department', c.department, 'priority', 0, 'state', 'queued', 'agent_id', null, 'created_at', to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))) as data
    from bench_c c
  union all
  select 'conversation.assigned', c.id, c.agent_id, c.created_at + interval '1 second',
         jsonb_build_object('conversation', jsonb_build_object('id', c.id, 'channel', 'api', 'customer', jsonb_build_object('id', 'cust-' || c.i, 'name', 'Customer ' || c.i),
           'department', c.department, 'priority', 0, 'state', 'assigned', 'agent_id', c.agent_id, 'created_at', to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    from bench_c c
  union all
  -- k = 0: the customer's opening message; odd k: the agent, the first after first_reply; even k: the customer
  select 'message.created', c.id, c.agent_id, t.at,
         jsonb_build_object('message', jsonb_build_object('id', c.i * 7 + k, 'conversation_id', c.id, 'sender', case when k % 2 = 1 then 'agent' else 'customer' end,
           'sender_id', case when k % 2 = 1 then c.agent_id::text end, 'text', 'A message of about the length people write, number ' || k, 'attachments', '[]'::jsonb,
           'created_at', to_char(t.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'read_at', null))
    from bench_c c
    cross join generate_series(0, 6) k
    cross join lateral (select case when k = 0 then c.created_at else c.created_at + c.first_reply + (k - 1) * interval '20 seconds' end as at) t
  union all
  select 'conversation.resolved', c.id, c.agent_id, c.created_at + c.resolution,
         jsonb_build_object('conversation', jsonb_build_object('id', c.id, 'channel', 'api', 'customer', jsonb_build_object('id', 'cust-' || c.i, 'name', 'Customer ' || c.i),
           'department', c.department, 'priority', 0, 'state', 'resolved', 'agent_id', c.agent_id, 'created_at', to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'resolved_at', to_char((c.created_at + c.resolution) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')), 'by', c.agent_id)
    from bench_c c
) e
where $1::timestamptz is not null and $2::int > 0 and $3::int > 0 and $4::int > 0 and $5::int > 0
order by created_at;`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

async function main() {
  const machine = await describeMachine(pgUrl);
  const scratch = STORE === 'postgres' ? await createScratchDatabase(pgUrl!, 'sb_bench_reports') : undefined;
  const db = scratch ? openPostgres({ connectionString: scratch.url, max: 2 }) : await openMemoryStore();
  try {
    if (scratch) await migrate(db);
    const t0 = performance.now();
    // one transaction: the temporary table lives in its session
    await db.transaction(async (tx) => {
      for (const sql of FILL.split(/;\n\n/)) await tx.query(sql, [START, CONVERSATIONS, AGENTS, DEPARTMENTS, DAYS]);
    });
    const fillSeconds = (performance.now() - t0) / 1000;
    // as autovacuum would after a fill like this: statistics, and the visibility map that lets a count be read from the index alone
    await db.query('vacuum analyze events');
    await db.query('vacuum analyze agents');
    const [size] = await db.query<{ events: number; table: string; indexes: string; events_messages: string }>(
      `select (select count(*)::int from events) as events,
              pg_size_pretty(pg_table_size('events')) as table,
              pg_size_pretty(pg_indexes_size('events')) as indexes,
              pg_size_pretty(pg_relation_size('events_messages')) as events_messages`,
    );

    const periods = [
      { name: 'day', from: new Date(START.getTime() + 14 * 86_400_000), days: 1 },
      { name: 'week', from: new Date(START.getTime() + 7 * 86_400_000), days: 7 },
      { name: 'month', from: START, days: DAYS + 1 },
    ];
    const time = async (label: string) => {
      const out: Record<string, unknown>[] = [];
      for (const p of periods) {
        for (const group of ['agent', 'department'] as ReportGroup[]) {
          const period = { from: p.from, to: new Date(p.from.getTime() + p.days * 86_400_000) };
          const samples: number[] = [];
          let conversations = 0;
          let rows = 0;
          for (let i = 0; i < RUNS + 1; i += 1) {
            const s = performance.now();
            const report = await readReport(db, group, period);
            if (i > 0) samples.push(performance.now() - s); // the first run warms the cache
            conversations = report.total.conversations;
            rows = report.rows.length;
          }
          out.push({ indexes: label, period: p.name, group, conversations, rows, median_ms: round(median(samples)), min_ms: round(Math.min(...samples)), max_ms: round(Math.max(...samples)) });
        }
      }
      return out;
    };
    // as readReport runs it: JIT off
    const plan = async () =>
      db.transaction(async (tx) => {
        await tx.query('set local jit = off');
        const rows = await tx.query<Record<string, string>>(`explain (analyze, buffers) ${REPORT_SQL}`, [START, new Date(START.getTime() + (DAYS + 1) * 86_400_000), 'agent']);
        return rows.map((r) => Object.values(r)[0]).join('\n');
      });

    const withIndex = await time('0006 + 0013');
    const planWith = await plan();
    await db.query('drop index events_messages');
    await db.query('analyze events');
    const without = await time('0006 only');
    const planWithout = await plan();
    // what migration 0013 costs on a log this size: the build blocks event writes meanwhile
    const b0 = performance.now();
    await db.query(`create index events_messages on events (conversation_id, (data #>> '{message,sender}'), created_at) where type = 'message.created'`);
    const indexBuildSeconds = round((performance.now() - b0) / 1000);

    console.log(JSON.stringify({ store: STORE, machine, conversations: CONVERSATIONS, agents: AGENTS, departments: DEPARTMENTS, days: DAYS, fill_seconds: round(fillSeconds), index_build_seconds: indexBuildSeconds, size, timings: [...withIndex, ...without] }, null, 2));
    console.log('\n-- plan of the month per agent, with events_messages:\n' + planWith);
    console.log('\n-- the same without it:\n' + planWithout);
  } finally {
    await db.close();
    if (scratch && KEEP) console.log(`\nkept: ${scratch.url}`);
    else await scratch?.drop();
  }
}

await main();
