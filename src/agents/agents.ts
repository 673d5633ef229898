import type { Ctx } from '../context.js';
import { conflict, invalid, notFound } from '../errors.js';
import { withEvents, type Emit } from '../events/outbox.js';
import { drain } from '../routing/match.js';
import type { AgentStatus } from '../routing/presence.js';
import { requeueAfterGrace } from '../routing/presence.js';
import { requeueConversations } from '../routing/requeue.js';
import { readSettings } from '../settings/settings.js';
import type { Queryable } from '../store/db.js';
import type { Actor, AgentRow, Role } from './model.js';
import { hashPassword, weakPasswordReason } from './passwords.js';
import { revokeAgentTokens } from './tokens.js';

export interface NewAgent {
  name: string;
  email: string;
  password: string;
  role: Role;
  capacity?: number | null;
  departments?: string[];
  external_ref?: string | null;
}

const UNIQUE_VIOLATION = '23505';

function emailTaken(email: string) {
  return conflict('SB_EMAIL_TAKEN', `an agent with email ${JSON.stringify(email)} already exists`);
}

async function assertEmailFree(tx: Queryable, email: string, exceptId: string | null): Promise<void> {
  const [row] = await tx.query('select id from agents where lower(email) = lower($1) and deleted_at is null and id is distinct from $2', [
    email,
    exceptId,
  ]);
  if (row) throw emailTaken(email);
}

/** Turns the unique-index race (two creates with one email) into the same 409 as the check. */
async function mapUnique<T>(email: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw emailTaken(email);
    throw error;
  }
}

function assertStrongPassword(password: string, email: string | undefined): void {
  const reason = weakPasswordReason(password, email);
  if (reason) throw invalid('password', reason);
}

export async function createAgent(ctx: Ctx, input: NewAgent): Promise<AgentRow> {
  assertStrongPassword(input.password, input.email);
  const passwordHash = await hashPassword(input.password);
  return mapUnique(
    input.email,
    withEvents(ctx, async (tx, emit) => {
      await assertEmailFree(tx, input.email, null);
      const now = ctx.now();
      const [row] = await tx.query<AgentRow>(
        `insert into agents (name, email, password_hash, role, capacity, departments, external_ref, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning *`,
        [input.name, input.email, passwordHash, input.role, input.capacity ?? null, input.departments ?? [], input.external_ref ?? null, now],
      );
      emit({ type: 'agent.created', agentId: row!.id, data: { agent_id: row!.id, name: row!.name, role: row!.role } });
      return row!;
    }),
  );
}

export async function getAgent(db: Queryable, id: string): Promise<AgentRow> {
  const [row] = await db.query<AgentRow>('select * from agents where id = $1 and deleted_at is null', [id]);
  if (!row) throw notFound('agent', id);
  return row;
}

export async function listAgents(db: Queryable, filter: { status?: AgentStatus; department?: string } = {}): Promise<AgentRow[]> {
  return db.query<AgentRow>(
    `select * from agents
      where deleted_at is null and ($1::text is null or status = $1) and ($2::text is null or $2 = any (departments))
      order by created_at, id`,
    [filter.status ?? null, filter.department ?? null],
  );
}

export interface AgentPatch {
  name?: string;
  email?: string;
  password?: string;
  role?: Role;
  status?: AgentStatus;
  capacity?: number | null;
  departments?: string[];
  external_ref?: string | null;
}

/**
 * Status, capacity and departments decide routing, so every update is a
 * routing transaction: an agent who comes online or gains room is filled from
 * the queue before the update is acknowledged.
 */
export async function updateAgent(ctx: Ctx, id: string, patch: AgentPatch, actor: Actor): Promise<AgentRow> {
  if (patch.password !== undefined) {
    const email = patch.email ?? (await ctx.db.query<{ email: string }>('select email from agents where id = $1', [id]))[0]?.email;
    assertStrongPassword(patch.password, email);
  }
  const passwordHash = patch.password === undefined ? undefined : await hashPassword(patch.password);
  const work = withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      const [before] = await tx.query<AgentRow>('select * from agents where id = $1 and deleted_at is null for update', [id]);
      if (!before) throw notFound('agent', id);
      if (patch.email !== undefined) await assertEmailFree(tx, patch.email, id);
      if (patch.role !== undefined && patch.role !== 'admin' && before.role === 'admin') await assertAnotherAdmin(tx, id);
      const [updated] = await tx.query<AgentRow>(
        `update agents set
            name = coalesce($2, name),
            email = coalesce($3, email),
            password_hash = coalesce($4, password_hash),
            role = coalesce($5, role),
            capacity = case when $6::boolean then $7::int else capacity end,
            departments = coalesce($8, departments),
            external_ref = case when $9::boolean then $10::text else external_ref end,
            updated_at = $11
          where id = $1 returning *`,
        [
          id,
          patch.name ?? null,
          patch.email ?? null,
          passwordHash ?? null,
          patch.role ?? null,
          patch.capacity !== undefined,
          patch.capacity ?? null,
          patch.departments ?? null,
          patch.external_ref !== undefined,
          patch.external_ref ?? null,
          now,
        ],
      );
      let row = updated!;
      // A new password ends every session opened with the old one.
      if (patch.password !== undefined) await revokeAgentTokens(tx, id, now);
      const changed = Object.keys(patch).filter((k) => k !== 'password' && k !== 'status');
      if (changed.length > 0 || patch.password !== undefined) {
        emit({ type: 'agent.updated', agentId: id, data: { agent_id: id, changed: patch.password ? [...changed, 'password'] : changed, by: actor.id } });
      }
      if (patch.status !== undefined && patch.status !== before.status) {
        row = await applyStatus(tx, emit, row, patch.status, now, patch.status === 'offline' ? 'set_offline' : 'set', actor);
      } else if (patch.status === 'offline') {
        // Choosing offline, even when a keep-alive timeout already set it, means a heartbeat must not bring the agent back.
        await tx.query('update agents set resume_status = null where id = $1', [id]);
      } else if (patch.status !== undefined) {
        // Re-asserting online or away counts as a sign of life.
        await tx.query('update agents set last_seen_at = $2 where id = $1', [id, now]);
      }
      if (row.status === 'online') await drain(tx, emit, now, { agentId: id });
      // With no grace period the conversations of an agent going offline move at once, to whoever has room.
      if (row.status === 'offline' && (await requeueAfterGrace(tx, emit, now, await readSettings(tx))) > 0) await drain(tx, emit, now);
      const [fresh] = await tx.query<AgentRow>('select * from agents where id = $1', [id]);
      return fresh!;
    },
    { routing: true },
  );
  return patch.email === undefined ? work : mapUnique(patch.email, work);
}

/** Changes an agent's presence and records it; callers hold the routing lock. */
export async function applyStatus(
  tx: Queryable,
  emit: Emit,
  agent: AgentRow,
  status: AgentStatus,
  now: Date,
  reason: string,
  actor: Actor,
): Promise<AgentRow> {
  const [row] = await tx.query<AgentRow>(
    `update agents set
        status = $2::text,
        offline_since = case when $2::text = 'offline' then $3::timestamptz else null end,
        last_seen_at = case when $2::text = 'offline' then last_seen_at else $3::timestamptz end,
        resume_status = null,
        updated_at = $3
      where id = $1 returning *`,
    [agent.id, status, now],
  );
  emit({ type: 'agent.status_changed', agentId: agent.id, data: { agent_id: agent.id, from: agent.status, to: status, reason, by: actor.id } });
  return row!;
}

async function assertAnotherAdmin(tx: Queryable, id: string): Promise<void> {
  const [row] = await tx.query("select id from agents where role = 'admin' and deleted_at is null and id <> $1 limit 1", [id]);
  if (!row) throw conflict('SB_LAST_ADMIN', 'this is the last admin; make another agent admin first');
}

/**
 * Removes an agent: their open conversations go back to the queue at once
 * (no grace: they are not coming back) and their tokens stop working. The row
 * stays, soft-deleted, so past conversations still name who handled them.
 */
export async function deleteAgent(ctx: Ctx, id: string, actor: Actor): Promise<void> {
  if (actor.id === id) throw conflict('SB_DELETE_SELF', 'you cannot delete your own account');
  await withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      const [before] = await tx.query<AgentRow>('select * from agents where id = $1 and deleted_at is null for update', [id]);
      if (!before) throw notFound('agent', id);
      if (before.role === 'admin') await assertAnotherAdmin(tx, id);
      if (before.status !== 'offline') await applyStatus(tx, emit, before, 'offline', now, 'deleted', actor);
      await tx.query(`update agents set status = 'offline', offline_since = $2, deleted_at = $2, updated_at = $2 where id = $1`, [id, now]);
      await requeueConversations(tx, emit, now, { agentIds: [id] }, 'agent_deleted');
      await revokeAgentTokens(tx, id, now);
      emit({ type: 'agent.deleted', agentId: id, data: { agent_id: id, by: actor.id } });
      await drain(tx, emit, now);
    },
    { routing: true },
  );
}

/**
 * A sign of life. The common case touches one row without the routing lock;
 * only an agent whose keep-alive had expired is brought back (to the status
 * they had) in a routing transaction, and filled from the queue.
 */
export async function heartbeat(ctx: Ctx, id: string): Promise<AgentRow> {
  const now = ctx.now();
  const [alive] = await ctx.db.query<AgentRow>(
    `update agents set last_seen_at = $2 where id = $1 and deleted_at is null and status <> 'offline' returning *`,
    [id, now],
  );
  if (alive) return alive;
  return withEvents(
    ctx,
    async (tx, emit) => {
      const [agent] = await tx.query<AgentRow>('select * from agents where id = $1 and deleted_at is null for update', [id]);
      if (!agent) throw notFound('agent', id);
      if (agent.status !== 'offline' || agent.resume_status === null) {
        // Offline by choice stays offline: a heartbeat is not a login.
        const [row] = await tx.query<AgentRow>('update agents set last_seen_at = $2 where id = $1 returning *', [id, now]);
        return row!;
      }
      const row = await applyStatus(tx, emit, agent, agent.resume_status, now, 'heartbeat_resumed', { id, role: agent.role });
      if (row.status === 'online') await drain(tx, emit, now, { agentId: id });
      return row;
    },
    { routing: true },
  );
}
