// `npx tsx bench/event-insert-parts.ts pglite|postgres` — where a routing
// change's events insert (sb_log_events) spends its time: the function as it
// is against variants of it, each a copy of today's sb_log_events (read from
// functions.sql) with one thing changed, called 1,000 times inside one SQL
// loop per sample, the variants interleaved, CPU by the thread's schedstat
// (ns; this process's main thread for PGlite, the backend for PostgreSQL, a
// scratch database from BENCH_DATABASE_URL or TEST_DATABASE_URL): robust to
// the load, unlike wall time. µs a call, median of the samples after the
// first, the empty loop subtracted.
//   as_is       sb_log_events
//   one_stmt    one statement (insert CTE, then e.value || {id} and jsonb_agg),
//               no jsonb_set loop
//   xid_once    xid_bound from an InitPlan, not the column default per row
//   xid_const   xid_bound = 0 (what the default costs at all)
//   small_data  data = '{}' (what carrying the conversation's JSON costs)
//   inline_none t_none's insert statement run in the loop itself (no call)
//   t_all / t_np / t_pk / t_none  a copy of events with all its indexes /
//               without the partial ones / the primary key only / none
//   env: K=1,2,4 (events a call), V=variants, REPS=5, TX=1 (see PER_TX)
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import type { Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';

const sql = readFileSync(new URL('../src/store/migrations/routing/functions.sql', import.meta.url), 'utf8');
const asIs = sql.slice(sql.indexOf('create or replace function sb_log_events('), sql.indexOf('-- Skills (docs/routing.md#skills).'));
function variant(name: string, edit: (s: string) => string): string {
  const text = edit(asIs.replace('function sb_log_events(', `function v_${name}(`));
  if (text === asIs.replace('function sb_log_events(', `function v_${name}(`) && name !== 'as_is') throw new Error(`variant ${name} changed nothing`);
  return text;
}
const insertCols = 'insert into events (type, conversation_id, agent_id, data, created_at)';
const defs: Record<string, string> = {
  as_is: variant('as_is', (s) => s),
  xid_once: variant('xid_once', (s) => s.replaceAll(insertCols, `${insertCols.slice(0, -1)}, xid_bound)`).replaceAll("e.value -> 'data', p_now\n", "e.value -> 'data', p_now, (select event_xid_bound())\n")),
  xid_const: variant('xid_const', (s) => s.replaceAll(insertCols, `${insertCols.slice(0, -1)}, xid_bound)`).replaceAll("e.value -> 'data', p_now\n", "e.value -> 'data', p_now, 0::bigint\n")),
  small_data: variant('small_data', (s) => s.replaceAll("e.value -> 'data', p_now", "'{}'::jsonb, p_now")),
  t_all: variant('t_all', (s) => s.replaceAll('insert into events', 'insert into ev_all')),
  t_np: variant('t_np', (s) => s.replaceAll('insert into events', 'insert into ev_np')),
  t_pk: variant('t_pk', (s) => s.replaceAll('insert into events', 'insert into ev_pk')),
  t_none: variant('t_none', (s) => s.replaceAll('insert into events', 'insert into ev_none')),
  one_stmt: `create or replace function v_one_stmt(p_now timestamptz, p_events jsonb) returns jsonb language plpgsql as $$
declare logged jsonb;
begin
  if jsonb_array_length(p_events) = 0 then return p_events; end if;
  with added as (
    insert into events (type, conversation_id, agent_id, data, created_at)
    select e.value ->> 'type', (e.value ->> 'conversation_id')::uuid, (e.value ->> 'agent_id')::uuid, e.value -> 'data', p_now
      from jsonb_array_elements(p_events) with ordinality as e(value, n) order by e.n
    returning id)
  select jsonb_agg(e.value || jsonb_build_object('id', a.ids[e.n]) order by e.n) into logged
    from (select array_agg(added.id order by added.id) as ids from added) a, jsonb_array_elements(p_events) with ordinality as e(value, n);
  return logged;
end $$;`,
};
const tables = `
create table ev_all (like events including all);
create table ev_np (like events including defaults including identity);
alter table ev_np add primary key (id);
create index on ev_np (conversation_id, id);
create index on ev_np (xid_bound, id);
create table ev_pk (like events including defaults including identity);
alter table ev_pk add primary key (id);
create table ev_none (like events including defaults including identity);`;
const VARIANTS = (process.env.V ?? Object.keys(defs).join(',')).split(',');
const KS = (process.env.K ?? '2').split(',').map(Number);
const REPS = Number(process.env.REPS ?? 5);
// TX=1: one call a transaction (300 a sample), each after an UPDATE (a
// write transaction, as a routing change is): what the events add to a
// transaction, first touches and commit included. The CPU then includes the
// client's statements' parse and execution on the server side for all
// variants alike (this process's too, for PGlite).
const PER_TX = process.env.TX === '1';

async function run(db: Db, store: string) {
  await migrate(db);
  await db.exec(tables);
  await db.exec(`create table bench_row (id int primary key, n int not null); insert into bench_row values (1, 0);
    create function bench_touch() returns int language sql as 'update bench_row set n = n + 1 where id = 1 returning n';`);
  for (const v of VARIANTS) if (defs[v] !== undefined) await db.exec(defs[v]!);
  const calls = VARIANTS.filter((v) => defs[v] !== undefined).map((v) => `when '${v}' then r := v_${v}(now(), arr);`).join(' ');
  await db.exec(`create or replace function bench_log(fn text, n int, k int, j jsonb) returns void language plpgsql as $f$
    declare a uuid; r jsonb; arr jsonb := '[]';
    begin
      for i in 1 .. k loop
        a := gen_random_uuid();
        arr := arr || jsonb_build_array(sb_event(case when i % 2 = 1 then 'conversation.resolved' else 'conversation.assigned' end, a, a, jsonb_build_object('conversation', j)));
      end loop;
      for i in 1 .. n loop
        case fn ${calls}
          when 'inline_none' then -- t_none's insert without the function call around it
            with added as (insert into ev_none (type, conversation_id, agent_id, data, created_at)
              select e.value ->> 'type', (e.value ->> 'conversation_id')::uuid, (e.value ->> 'agent_id')::uuid, e.value -> 'data', now()
                from jsonb_array_elements(arr) with ordinality as e(value, n) order by e.n returning id)
            select jsonb_agg(added.id) into r from added;
          else r := arr; end case;
      end loop;
    end $f$`);
  const [row] = await db.query<{ pid: number }>('select pg_backend_pid() as pid');
  const pid = row!.pid;
  const file = store === 'pglite' ? '/proc/self/schedstat' : `/proc/${pid}/schedstat`;
  const cpu = () => Number(readFileSync(file, 'utf8').split(' ')[0]);
  const at = new Date().toISOString();
  const j = JSON.stringify({ id: randomUUID(), state: 'assigned', agent_id: randomUUID(), department: 'sales', channel: 'web', priority: 0, labels: [], requested_skills: {},
    customer: { id: 'c-1', name: 'Customer Name', email: 'c@example.test', extra: { plan: 'gold' } }, subject: 'A question about my order',
    created_at: at, updated_at: at, queued_at: at, assigned_at: at, resolved_at: null, first_response_at: null, metadata: { source: 'bench' } });
  const median = (xs: number[]) => { const s = xs.slice(1).sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
  const out: Record<string, Record<string, number>> = {};
  for (const k of KS) {
    const samples: Record<string, number[]> = {};
    for (let rep = 0; rep < REPS; rep++) {
      for (const v of ['empty', ...VARIANTS]) {
        const c0 = cpu();
        if (PER_TX) for (let i = 0; i < 300; i++) await db.transactOne('select bench_log($1, 1, $2, $3::jsonb), bench_touch()', [v, k, j]);
        else await db.transactOne('select bench_log($1, 1000, $2, $3::jsonb)', [v, k, j]);
        (samples[v] ??= []).push((cpu() - c0) / (PER_TX ? 300 : 1000) / 1000);
      }
    }
    const empty = median(samples.empty!);
    out[`events_${k}`] = Object.fromEntries(VARIANTS.map((v) => [v, Math.round(median(samples[v]!) - empty)]));
  }
  return out;
}

const store = process.argv[2] ?? 'pglite';
const load = loadavg()[0]!.toFixed(2);
if (store === 'pglite') {
  const db = await openPglite();
  try { console.log(JSON.stringify({ store, load, us_each: await run(db, store) })); } finally { await db.close(); }
} else {
  const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('bench/event-insert-parts.ts postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
  const scratch = await createScratchDatabase(url, 'sb_evparts');
  const db = openPostgres({ connectionString: scratch.url, max: 1 });
  try { console.log(JSON.stringify({ store, load, us_each: await run(db, store) })); } finally { await db.close(); await scratch.drop(); }
}
