import type { Emit } from '../events/outbox.js';
import type { Settings } from '../settings/settings.js';
import type { Queryable } from '../store/db.js';
import { requeueConversations } from './requeue.js';

export type AgentStatus = 'online' | 'away' | 'offline';

/** Agents whose last heartbeat is older than the keep-alive time go offline. */
export async function expireSilentAgents(tx: Queryable, emit: Emit, now: Date, settings: Settings): Promise<string[]> {
  const rows = await tx.query<{ id: string; previous: AgentStatus }>(
    `update agents
        set resume_status = status, status = 'offline', offline_since = $1, updated_at = $1
      where deleted_at is null and status <> 'offline'
        and (last_seen_at is null or last_seen_at < $1::timestamptz - make_interval(secs => $2::double precision / 1000))
      returning id, resume_status as previous`,
    [now, settings.attendant_keep_alive_ms],
  );
  for (const row of rows) {
    emit({
      type: 'agent.status_changed',
      agentId: row.id,
      data: { agent_id: row.id, from: row.previous, to: 'offline', reason: 'keep_alive_timeout', by: null },
    });
  }
  return rows.map((r) => r.id);
}

/**
 * With the `requeue` policy, conversations of agents offline for longer than
 * the grace period go back to the queue at their original position.
 */
export async function requeueAfterGrace(tx: Queryable, emit: Emit, now: Date, settings: Settings): Promise<number> {
  if (settings.offline_policy !== 'requeue') return 0;
  const agents = await tx.query<{ id: string }>(
    `select id from agents
      where status = 'offline' and load > 0
        and offline_since <= $1::timestamptz - make_interval(secs => $2::double precision / 1000)`,
    [now, settings.agent_offline_grace_ms],
  );
  if (agents.length === 0) return 0;
  const moved = await requeueConversations(tx, emit, now, { agentIds: agents.map((a) => a.id) }, 'agent_offline');
  return moved.length;
}
