// `npx tsx bench/event-writes.ts` — what logging a routing change's events
// costs (sb_log_events), on both stores: a loop of one-transaction calls
// logging the events a close that gives the next conversation logs (resolved,
// assigned: both partial indexes of routing events take an entry) and an
// open's (created, queued), each carrying a conversation's JSON as the
// routing functions build it. CPU each: the scratch database's backends
// (/proc) for PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL; a scratch
// database, dropped afterwards), this process for PGlite (in memory).
// An empty call (no events) is timed too: the difference is the insert.
//
//   options: --count=3000 --store=both|postgres|pglite --drop=index[,index]
//   (--drop drops indexes on the scratch store first: what each one costs)
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import type { Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { backendCpuSeconds } from './server.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const COUNT = Number(args.get('count') ?? 3000);
const STORE = args.get('store') ?? 'both';
const DROP = (args.get('drop') ?? '').split(',').filter((s) => s !== '');
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;

function conversationJson(id: string, agent: string | null, state: string) {
  const at = new Date().toISOString();
  return {
    id, state, agent_id: agent, department: 'sales', channel: 'web', priority: 0, labels: [], requested_skills: {},
    customer: { id: `c-${id.slice(0, 8)}`, name: 'Customer Name', email: 'customer@example.test', phone: null, extra: { plan: 'gold' } },
    subject: 'A question about my order', created_at: at, updated_at: at, queued_at: at, assigned_at: agent ? at : null,
    first_response_at: null, resolved_at: state === 'resolved' ? at : null, sticky_agent_id: null, metadata: { source: 'bench' },
  };
}

function events(kind: 'close' | 'open') {
  const a = randomUUID();
  const b = randomUUID();
  const agent = randomUUID();
  const e = (type: string, conversation: string, agentId: string | null, data: unknown) => ({ type, conversation_id: conversation, agent_id: agentId, data });
  return kind === 'close'
    ? [e('conversation.resolved', a, agent, { conversation: conversationJson(a, agent, 'resolved') }),
       e('conversation.assigned', b, agent, { conversation: conversationJson(b, agent, 'assigned') })]
    : [e('conversation.created', a, null, { conversation: conversationJson(a, null, 'queued') }),
       e('conversation.queued', a, null, { conversation: conversationJson(a, null, 'queued'), reason: 'new' })];
}

async function run(db: Db, cpuSeconds: () => Promise<number | null>) {
  for (const index of DROP) await db.exec(`drop index ${index}`);
  const call = (payload: unknown) => db.transactOne('select sb_log_events($1, $2::jsonb) as logged', [new Date(), JSON.stringify(payload)]);
  const timed = async (make: () => unknown) => {
    for (let i = 0; i < 200; i++) await call(make()); // warm: plans settle
    const payloads = Array.from({ length: COUNT }, make);
    const c0 = await cpuSeconds();
    const t0 = performance.now();
    for (const p of payloads) await call(p);
    const t1 = performance.now();
    const c1 = await cpuSeconds();
    return { cpu_us_each: c0 === null || c1 === null ? null : Math.round(((c1 - c0) * 1e6) / COUNT), wall_us_each: Math.round(((t1 - t0) * 1000) / COUNT) };
  };
  await timed(() => []); // the first timed loop runs slower on PostgreSQL (a cold backend): not reported
  const close = await timed(() => events('close'));
  const open = await timed(() => events('open'));
  const eight = await timed(() => [...events('close'), ...events('open'), ...events('close'), ...events('open')]);
  const empty = await timed(() => []);
  // The same inside one SQL loop (no client, no JSON parsing: the events
  // built in SQL as the routing functions build them), µs a call by the
  // server's clock, the empty call's loop subtracted.
  await db.exec(`create or replace function sb_bench_log(n int, kind text, j jsonb) returns float8 language plpgsql as $f$
    declare t0 timestamptz := clock_timestamp(); a uuid; b uuid; ag uuid := gen_random_uuid(); r jsonb;
    begin
      for i in 1 .. n loop
        a := gen_random_uuid(); b := gen_random_uuid();
        r := sb_log_events(now(), case kind
          when 'close' then jsonb_build_array(sb_event('conversation.resolved', a, ag, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.assigned', b, ag, jsonb_build_object('conversation', j)))
          when 'open' then jsonb_build_array(sb_event('conversation.created', a, null, jsonb_build_object('conversation', j)),
                                             sb_event('conversation.queued', a, null, jsonb_build_object('conversation', j, 'reason', 'new')))
          when 'eight' then jsonb_build_array(sb_event('conversation.resolved', a, ag, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.assigned', b, ag, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.created', a, null, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.queued', a, null, jsonb_build_object('conversation', j, 'reason', 'new')),
                                              sb_event('conversation.resolved', a, ag, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.assigned', b, ag, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.created', a, null, jsonb_build_object('conversation', j)),
                                              sb_event('conversation.queued', a, null, jsonb_build_object('conversation', j, 'reason', 'new')))
          else case when a is null then jsonb_build_array(1) else '[]'::jsonb end end);
      end loop;
      return extract(epoch from clock_timestamp() - t0) * 1e6 / n;
    end $f$`);
  const j = JSON.stringify(conversationJson(randomUUID(), randomUUID(), 'assigned'));
  const loop = async (kind: string) => {
    const us: number[] = [];
    for (let k = 0; k < 5; k++) {
      const [row] = await db.transactOne<{ us: number }>('select sb_bench_log($1, $2, $3::jsonb) as us', [Math.ceil(COUNT / 5), kind, j]);
      us.push(Number(row!.us));
    }
    return Math.round(Math.min(...us.slice(1)));
  };
  const base = await loop('empty');
  const sql_loop_us_each = { empty: base, close_2: (await loop('close')) - base, open_2: (await loop('open')) - base, eight: (await loop('eight')) - base };
  // A write transaction with and without a close's two events (built in
  // SQL, one parameter either way): what the events add to a transaction
  // that commits anyway (xid, commit record and its WAL flush included).
  await db.exec(`create table if not exists bench_row (id int primary key, n int not null);
    insert into bench_row values (1, 0) on conflict do nothing;
    create table if not exists bench_events (like events including defaults including identity);
    create or replace function sb_bench_tx(mode text, j jsonb) returns jsonb language plpgsql as $f$
    declare a uuid := gen_random_uuid(); b uuid := gen_random_uuid();
    begin
      update bench_row set n = n + 1 where id = 1;
      if mode = 'update_only' then return '[]'; end if;
      if mode = 'update_and_2_events_to_an_unindexed_copy' then
        insert into bench_events (type, conversation_id, agent_id, data, created_at)
        values ('conversation.resolved', a, b, jsonb_build_object('conversation', j), now()), ('conversation.assigned', b, b, jsonb_build_object('conversation', j), now());
        return '[]';
      end if;
      if mode = 'update_and_2_small_events' then j := '{}'; end if;
      return sb_log_events(now(), jsonb_build_array(sb_event('conversation.resolved', a, b, jsonb_build_object('conversation', j)),
                                                    sb_event('conversation.assigned', b, b, jsonb_build_object('conversation', j))));
    end $f$`);
  const tx = (mode: string) => async () => {
    const c0 = await cpuSeconds();
    for (let i = 0; i < COUNT; i++) await db.transactOne('select sb_bench_tx($1, $2::jsonb) as logged', [mode, j]);
    const c1 = await cpuSeconds();
    return c0 === null || c1 === null ? null : Math.round(((c1 - c0) * 1e6) / COUNT);
  };
  const modes = ['update_only', 'update_and_2_events', 'update_and_2_small_events', 'update_and_2_events_to_an_unindexed_copy'];
  const tx_cpu_us_each: Record<string, (number | null)[]> = {};
  for (const m of modes) await tx(m)(); // warm
  for (let r = 0; r < 3; r++) for (const m of modes) (tx_cpu_us_each[m] ??= []).push(await tx(m)());
  return { empty, close_2: close, open_2: open, eight, sql_loop_us_each, tx_cpu_us_each };
}

const out: Record<string, unknown> = { load: loadavg()[0]!.toFixed(2), count: COUNT, dropped: DROP };
if (STORE !== 'postgres') {
  const db = await openPglite();
  try {
    await migrate(db);
    out.pglite = await run(db, async () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; });
  } finally {
    await db.close();
  }
}
if (STORE !== 'pglite') {
  if (!pgUrl) throw new Error('bench/event-writes.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL for PostgreSQL');
  const scratch = await createScratchDatabase(pgUrl, 'sb_evbench');
  const db = openPostgres({ connectionString: scratch.url, max: 1 });
  try {
    await migrate(db);
    out.postgres = await run(db, () => backendCpuSeconds(scratch.url));
  } finally {
    await db.close();
    await scratch.drop();
  }
}
out.load_after = loadavg()[0]!.toFixed(2);
console.log(JSON.stringify(out));
