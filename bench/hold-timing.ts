// The in-server timing of the routing lock that bench/lock-hold.ts
// describes at its top (wrappers of sb_open_conversation,
// sb_close_conversation and the advisory lock functions, in schema
// bench_timing of a scratch database, ahead of public on the search path),
// shared with bench/hold-breakdown.ts.
import type { Db } from '../src/store/db.js';
import { summarize } from './stats.js';

/** A wrapper of advisory lock function `fn` that notes when the routing lock is granted. */
const noteLockWrapper = (fn: string) => `create function bench_timing.${fn}(k bigint) returns void language plpgsql as $$
begin
  perform pg_catalog.${fn}(k);
  if k = 7301001 then perform bench_timing.note_lock(); end if;
end
$$;`;

/**
 * A function bench_timing.`name` that runs `body` and records it in
 * bench_timing.holds as a change of `kind`: when it was called, when the lock
 * was granted, when it returned, and the lock's mode.
 */
const timedFunction = (name: string, params: string, returns: string, kind: string, body: string) =>
  `create function bench_timing.${name}(${params}) returns ${returns} language plpgsql as $$
declare
  t0 timestamptz;
  t1 timestamptz;
  v_mode text;
begin
  t0 := clock_timestamp();
  ${body}
  t1 := clock_timestamp();
  v_mode := bench_timing.mode();
  insert into bench_timing.holds (fn, mode, called_at, locked_at, returned_at, checked_at)
  values ('${kind}', v_mode, t0, bench_timing.locked_at(t0), t1, clock_timestamp());
end
$$;`;

/** timedFunction over the routing function public.`name`: same parameters, same result, the call timed. */
const timedRoutingFunction = (name: string, params: string, returns: string, kind: string) => {
  const args = params.split(',').map((p) => p.trim().split(/\s+/)[0]);
  return timedFunction(name, params, returns, kind, `return query select * from public.${name}(${args.join(', ')});`);
};

/**
 * The wrappers that time the routing lock inside the server (see the top of
 * this file), in schema bench_timing of the scratch database.
 */
export const TIMING_SQL = /* sql */ `
create schema bench_timing;
create unlogged table bench_timing.holds (
  id bigserial primary key, fn text not null, mode text not null,
  called_at timestamptz not null, locked_at timestamptz not null, returned_at timestamptz not null, checked_at timestamptz not null,
  committing_at timestamptz);
-- The routing lock's grant time (see the top of this file). Only the first
-- grant in a transaction counts: a caller holding the lock may take it again.
create function bench_timing.note_lock() returns void language plpgsql as $$
begin
  if coalesce(current_setting('bench.locked_at', true), '') = '' then
    perform set_config('bench.locked_at', clock_timestamp()::text, true);
  end if;
end
$$;
${noteLockWrapper('pg_advisory_xact_lock')}
${noteLockWrapper('pg_advisory_xact_lock_shared')}
-- When the lock was granted, or t0 when no wrapper saw it (a caller that
-- took it before: the call is then all under the lock).
create function bench_timing.locked_at(t0 timestamptz) returns timestamptz language sql as $$
  select coalesce(nullif(current_setting('bench.locked_at', true), '')::timestamptz, t0)
$$;
create function bench_timing.mark_commit() returns trigger language plpgsql as $$
begin
  update bench_timing.holds set committing_at = clock_timestamp() where id = new.id;
  return null;
end
$$;
-- The mode this transaction holds the routing lock in. Reading pg_locks is
-- not the change's work: returned_at → checked_at is left out of the hold.
create function bench_timing.mode() returns text language sql as $$
  select case when exists (select 1 from pg_locks where locktype = 'advisory' and objid = 7301001 and pid = pg_backend_pid()
                                                    and granted and mode = 'ExclusiveLock') then 'exclusive' else 'shared' end
$$;
-- The floor (issue #22, item 3): the least a routing change can hold the
-- lock exclusive for, timed as the wrappers time the real ones — a
-- PL/pgSQL function that takes the lock and inserts one event.
${timedFunction(
  'sb_floor',
  'p_now timestamptz',
  'void',
  'floor',
  `perform pg_advisory_xact_lock(7301001);
  insert into public.events (type, conversation_id, agent_id, data, created_at) values ('bench.floor', null, null, '{}'::jsonb, p_now);`,
)}
create constraint trigger holds_commit after insert on bench_timing.holds
  deferrable initially deferred for each row execute function bench_timing.mark_commit();
${timedRoutingFunction(
  'sb_open_conversation',
  `p_channel text, p_external_ref text, p_customer_id text, p_customer jsonb, p_department text,
  p_priority int, p_now timestamptz, p_verified boolean, p_required_skills jsonb`,
  'table (opened conversations, created boolean, logged jsonb)',
  'open',
)}
${timedRoutingFunction(
  'sb_close_conversation',
  'p_id uuid, p_state text, p_now timestamptz, p_reason text, p_note text, p_only_agent uuid, p_by text',
  'table (closed conversations, before_state text, before_agent_id uuid, logged jsonb)',
  'close',
)}
`;

export interface InServerHold {
  changes: number;
  /** changes per kind and lock mode, e.g. open/shared */
  paths: Record<string, number>;
  /** lock granted → pre-commit of the changes that held the lock exclusive, per kind (ms) */
  exclusive_hold_ms: Record<string, ReturnType<typeof summarize>>;
  /** the same for the changes that held it shared */
  shared_hold_ms: Record<string, ReturnType<typeof summarize>>;
  /** lock granted → pre-commit (ms) */
  hold_ms: ReturnType<typeof summarize>;
  /** call → pre-commit (ms): the hold plus the guesses, a failed fast attempt and any wait */
  call_ms: ReturnType<typeof summarize>;
  /** lock granted → the routing function returned (ms) */
  function_ms: ReturnType<typeof summarize>;
  /** 1000 / hold p50 and p99: changes/s one lock allows */
  ceiling_p50: number;
  ceiling_p99: number;
}

/** The holds recorded by the wrappers since the last call, which clears them. */
export async function inServerHolds(db: Db): Promise<InServerHold> {
  const rows = await db.query<{ hold: number; call: number; fn: number; kind: string; mode: string }>(
    `delete from bench_timing.holds returning fn as kind, mode,
       extract(epoch from (committing_at - checked_at) + (returned_at - locked_at)) * 1000 as hold,
       extract(epoch from (committing_at - checked_at) + (returned_at - called_at)) * 1000 as call,
       extract(epoch from returned_at - locked_at) * 1000 as fn`,
  );
  const hold = summarize(rows.map((r) => Number(r.hold)));
  const paths: Record<string, number> = {};
  const byMode: Record<string, Record<string, number[]>> = { exclusive: {}, shared: {} };
  for (const r of rows) {
    paths[`${r.kind}/${r.mode}`] = (paths[`${r.kind}/${r.mode}`] ?? 0) + 1;
    ((byMode[r.mode] ??= {})[r.kind] ??= []).push(Number(r.hold));
  }
  const perKind = (m: Record<string, number[]> | undefined) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, summarize(v)]));
  return {
    changes: rows.length,
    paths,
    exclusive_hold_ms: perKind(byMode.exclusive),
    shared_hold_ms: perKind(byMode.shared),
    hold_ms: hold,
    call_ms: summarize(rows.map((r) => Number(r.call))),
    function_ms: summarize(rows.map((r) => Number(r.fn))),
    ceiling_p50: Math.round(1000 / hold.p50),
    ceiling_p99: Math.round(1000 / hold.p99),
  };
}

/** A latency summary for the report, or a dash when there were no samples (a shape not used in that phase). */
export const shown = (l: ReturnType<typeof summarize>) => (l.n === 0 ? '—' : `p50 ${l.p50} ms, p99 ${l.p99} ms`);
