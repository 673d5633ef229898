import { IS_OPEN } from '../../conversations/model.js';
import type { Queryable } from '../../store/db.js';

export type RoomStatus = 'waiting' | 'assigning' | 'assigned' | 'failed' | 'unsynced';

export interface RoomEntry {
  room_id: string;
  conversation_id: string;
  status: RoomStatus;
  /** 1 = next to be allocated; null unless waiting */
  position: number | null;
  customer: { id: string; name: string | null; email: string | null };
  qiscus_agent_id: string | null;
  agent_name: string | null;
  /** why it waits, is retried or failed; null when all is well */
  reason: string | null;
  assign_attempts: number | null;
  created_at: string;
  assigned_at: string | null;
  failed_at: string | null;
  /** when Qiscus refused (or never took) the call closing a room Switchboard closed; null otherwise */
  unsynced_at: string | null;
}

/**
 * Rooms as the allocator sees them: waiting in the queue, assigning (the
 * assign_agent call is not confirmed yet), assigned, failed (given up, with
 * the reason), or unsynced (closed in Switchboard, but Qiscus refused the
 * call closing it there: the reason is Qiscus' answer). Other closed rooms
 * are history and not listed.
 */
export async function listRooms(db: Queryable, filter: { status?: RoomStatus; limit: number }): Promise<RoomEntry[]> {
  const rows = await db.query<Omit<RoomEntry, 'created_at' | 'assigned_at' | 'failed_at' | 'unsynced_at'> & { created_at: Date; assigned_at: Date | null; failed_at: Date | null; unsynced_at: Date | null }>(
    `with r as (
       select c.id as conversation_id, c.external_ref as room_id, c.seq, c.priority, c.customer, c.created_at, c.assigned_at,
              case when c.state = 'abandoned' and c.resolve_reason = 'qiscus_failed' then c.resolved_at end as failed_at,
              a.external_ref as qiscus_agent_id, a.name as agent_name,
              case when c.state in ('resolved', 'abandoned') and q.sync_failed_at is not null then q.sync_error
                   else coalesce(q.reason, case when c.state = 'abandoned' then c.note end) end as reason,
              o.attempts as assign_attempts,
              case when c.state in ('resolved', 'abandoned') then q.sync_failed_at end as unsynced_at,
              case when c.state = 'queued' then 'waiting'
                   when c.state = 'assigned' and q.confirmed_at is null and o.state = 'pending' then 'assigning'
                   when c.state = 'assigned' then 'assigned'
                   when q.sync_failed_at is not null then 'unsynced'
                   else 'failed' end as status
         from conversations c
         left join qiscus_rooms q on q.conversation_id = c.id
         left join agents a on a.id = c.agent_id
         left join outbound_requests o on o.id = q.outbound_id
        where c.channel = 'qiscus'
          and (${IS_OPEN('c')} or (c.state = 'abandoned' and c.resolve_reason = 'qiscus_failed') or q.sync_failed_at is not null)
     )
     select r.*, case when r.status = 'waiting'
                      then row_number() over (partition by r.status = 'waiting' order by r.priority desc, r.seq)::int end as position
       from r
      where $1::text is null or r.status = $1
      order by r.seq
      limit $2`,
    [filter.status ?? null, filter.limit],
  );
  const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
  return rows.map((r) => ({
    room_id: r.room_id,
    conversation_id: r.conversation_id,
    status: r.status,
    position: r.position,
    customer: { id: r.customer.id, name: r.customer.name ?? null, email: r.customer.email ?? null },
    qiscus_agent_id: r.qiscus_agent_id,
    agent_name: r.agent_name,
    reason: r.reason,
    assign_attempts: r.assign_attempts,
    created_at: iso(r.created_at)!,
    assigned_at: iso(r.assigned_at),
    failed_at: iso(r.failed_at),
    unsynced_at: iso(r.unsynced_at),
  }));
}
