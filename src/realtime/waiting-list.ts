import { NO_HOURS } from '../business-hours/store.js';
import type { BusinessHours } from '../business-hours/rules.js';
import { waitEstimator } from '../business-hours/wait.js';
import type { Ctx } from '../context.js';
import type { QueueInfo } from '../conversations/model.js';
import { DEFAULT_HANDLE_TIME_S, expectedWait, type WaitingList, type WaitingRow } from '../routing/queue.js';

// The realtime publisher's waiting list, read again after every queue change
// (issue #22): what listWaiting (src/routing/queue.ts) gives, in the same
// order with the same places and expected waits, but without reading again
// what did not change. Read whole, 800 waiting cost 5–16 ms of PostgreSQL
// and 5–8 ms of Node a refresh (rows parsed, terms materialized, joined and
// sorted), every 25–40 ms beside resolves of 1–2 ms on the same two cores.
//
// A refresh here:
// 1. walks the queue's head in serving order, reading of each entry only its
//    id and its row version (xmin);
// 2. reads the columns the list shows, and what its wait terms need (skills
//    and overflow, when its skills are relaxed, until when it waits for one
//    agent), of the entries it has not seen in that version (a conversation
//    queued, or updated, since the last refresh): none when only the head
//    left; whether skills are relaxed and a sticky wait holds is then told
//    at `now` here, as sb_skills_relaxed and sb_sticky_wait_agent tell it;
// 3. sums the agents once per distinct set of terms (sb_queue_team), with
//    the recent handle time and the business hours, in one small statement.
// Places are counted here (each department's queue in walk order), waits
// reckoned as listQueue reckons them. An entry's row object stays the same
// while its version does, so callers may keep what they derive from it.
//
// Between the walk and the second read a conversation may leave the queue or
// change: it is then left out, or shown as it is now, until the refresh its
// change scheduled.

/** what is kept of an entry, per row version */
interface Known {
  v: string;
  row: WaitingRow;
  /** the start of its terms' JSON: [department, required skills, overflow, (relaxed, sticky agent at the time)], the jsonb as PostgreSQL prints it (equal terms print equal) */
  terms: string;
  /** the whole of it, skills not relaxed and no sticky wait */
  plain: string;
  /** when its required skills are dropped (sb_skills_relaxed), ms since the epoch; null: never */
  relax_at: number | null;
  /** until when it waits for one agent alone (sb_sticky_wait_agent), ms since the epoch, and that agent */
  sticky_until: number | null;
  sticky_agent_id: string | null;
}

type Fetched = Omit<WaitingRow, 'customer'> &
  Omit<Known, 'row' | 'terms' | 'plain'> & { customer_ref: string; customer_name: string | null; required_skills: string; overflow: string };

export interface WaitingListReader {
  /** The first `limit` of the queue with places and expected waits, its length, oldest entry and the widget conversations past it. */
  read(limit: number): Promise<WaitingList>;
}

export function waitingListReader(ctx: Pick<Ctx, 'db' | 'now'>): WaitingListReader {
  let known = new Map<string, Known>();

  return {
    async read(limit) {
      const now = ctx.now();
      const [{ walked: list }] = (await ctx.db.query<{ walked: string }>(WALK, [now, limit])) as [{ walked: string }];
      // each entry "<id> <xmin>", a uuid's text 36 characters
      const walked = list === '' ? [] : list.split(',');
      const entries: (Known | undefined)[] = walked.map((e) => known.get(e));
      const missing: string[] = [];
      for (let i = 0; i < walked.length; i++) if (entries[i] === undefined) missing.push(walked[i]!.slice(0, 36));
      if (missing.length > 0) {
        const fetched = new Map<string, Known>();
        for (const f of await ctx.db.query<Fetched>(FETCH, [missing])) {
          const terms = JSON.stringify([f.department, f.required_skills, f.overflow]).slice(0, -1);
          fetched.set(f.id, {
            v: f.v,
            terms,
            plain: `${terms},false,null]`,
            relax_at: f.relax_at,
            sticky_until: f.sticky_until,
            sticky_agent_id: f.sticky_agent_id,
            row: {
              id: f.id,
              channel: f.channel,
              department: f.department,
              priority: f.priority,
              state: f.state,
              agent_id: f.agent_id,
              resolve_reason: f.resolve_reason,
              customer: { id: f.customer_ref, name: f.customer_name },
              queued_at: f.queued_at,
              sla_due_at: f.sla_due_at,
              first_response_at: f.first_response_at,
              sla_breached_at: f.sla_breached_at,
            },
          });
        }
        for (let i = 0; i < walked.length; i++) if (entries[i] === undefined) entries[i] = fetched.get(walked[i]!.slice(0, 36));
      }
      // A conversation that left the queue between the walk and the read is
      // not in this list; one that changed is shown as read, in its walked place.
      const shown: Known[] = [];
      known = new Map();
      for (let i = 0; i < walked.length; i++) {
        const k = entries[i];
        if (k === undefined) continue;
        shown.push(k);
        known.set(k.v === walked[i]!.slice(37) ? walked[i]! : `${k.row.id} ${k.v}`, k);
      }

      // sb_skills_relaxed and sb_sticky_wait_agent at now
      const at = now.getTime();
      const terms = new Map<string, number>();
      const termOf = shown.map((k) => {
        const relaxed = k.relax_at !== null && Math.max(at, k.row.queued_at?.getTime() ?? at) >= k.relax_at;
        const sticky = k.sticky_until !== null && at < k.sticky_until ? k.sticky_agent_id : null;
        const key = !relaxed && sticky === null ? k.plain : `${k.terms},${relaxed},${JSON.stringify(sticky)}]`;
        let i = terms.get(key);
        if (i === undefined) terms.set(key, (i = terms.size));
        return i;
      });
      let head: { row: WaitingRow; queue: QueueInfo }[] = [];
      if (shown.length > 0) {
        const [sums] = await ctx.db.query<{ teams: { slots: number; free: number; team_slots: number }[]; handle_s: number; hours: BusinessHours | null }>(TEAMS, [
          `[${[...terms.keys()].join(',')}]`,
        ]);
        const estimate = waitEstimator(sums!.hours ?? NO_HOURS, now);
        const places = new Map<string | null, number>();
        head = shown.map((k, i) => {
          const department = k.row.department;
          const position = (places.get(department) ?? 0) + 1;
          places.set(department, position);
          const team = sums!.teams[termOf[i]!]!;
          return { row: k.row, queue: { position, expected_wait_seconds: expectedWait(estimate, department, { position, team, handle_s: sums!.handle_s }) } };
        });
      }
      if (walked.length < limit) {
        const oldest = head.reduce<Date | null>((min, { row }) => (row.queued_at && (min === null || row.queued_at < min) ? row.queued_at : min), null);
        return { length: head.length, oldest, head, widgetsPastHead: [] };
      }
      const [summary] = await ctx.db.query<{ length: number; oldest: Date | null; widgets: string[] }>(SUMMARY, [walked.map((e) => e.slice(0, 36))]);
      return { length: summary!.length, oldest: summary!.oldest, head, widgetsPastHead: summary!.widgets };
    },
  };
}

// listWaiting's walk (listQueuePage's at offset 0): without aging the
// index's order (priority, seq), with it the effective priority at $1.
const WALK = /* sql */ `
  with flags as materialized (
    select sb_queue_ages() as ages
  ), walk as (
    (select c.id, c.xmin::text as v, row_number() over (order by c.priority desc, c.seq) as n
       from conversations c
      where c.state = 'queued' and not (select ages from flags)
      order by c.priority desc, c.seq
      limit $2)
    union all
    (select c.id, c.xmin::text, row_number() over (order by sb_effective_priority(c, $1::timestamptz) desc, c.seq)
       from conversations c
      where c.state = 'queued' and (select ages from flags)
      order by sb_effective_priority(c, $1::timestamptz) desc, c.seq
      limit $2)
  )
  -- one value, not a row an entry: the client's cost is per row
  select coalesce(string_agg(id::text || ' ' || v, ',' order by n), '') as walked from walk`;

const FETCH = /* sql */ `
  select c.id, c.xmin::text as v, c.channel, c.department, c.priority, c.state, c.agent_id, c.resolve_reason,
         c.customer ->> 'id' as customer_ref, c.customer ->> 'name' as customer_name,
         c.queued_at, c.sla_due_at, c.first_response_at, c.sla_breached_at,
         c.required_skills::text as required_skills, c.overflow::text as overflow,
         -- sb_skills_relaxed's and sb_sticky_wait_agent's moments, ms since the epoch
         (extract(epoch from c.queued_at + make_interval(secs => c.skills_relax_after_s)) * 1000)::float8 as relax_at,
         (extract(epoch from c.sticky_until) * 1000)::float8 as sticky_until, c.sticky_agent_id
    from conversations c
   where c.id = any ($1::uuid[]) and c.state = 'queued'`;

// $1: a JSON array of [department, required skills, overflow, relaxed, sticky agent], the skills and overflow as jsonb text
const TEAMS = /* sql */ `
  select coalesce((select jsonb_agg(sb_queue_team(t.e ->> 0, (t.e ->> 1)::jsonb, (t.e ->> 2)::jsonb, (t.e ->> 3)::boolean, (t.e ->> 4)::uuid) order by t.i)
                     from jsonb_array_elements($1::jsonb) with ordinality t(e, i)), '[]'::jsonb) as teams,
         sb_recent_handle_s(${DEFAULT_HANDLE_TIME_S}) as handle_s, (select hours from business_hours) as hours`;

// listWaiting's, from indexes (migration 0044)
const SUMMARY = /* sql */ `
  select (select count(*)::int from conversations where state = 'queued') as length,
         (select min(queued_at) from conversations where state = 'queued') as oldest,
         array(select id from conversations where state = 'queued' and channel = 'widget' and id <> all ($1::uuid[])) as widgets`;
