import type { Ctx } from '../context.js';
import { conflict, forbidden, invalid, notFound, unauthorized } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { isBlank } from '../http/validation.js';
import { routingCall } from '../routing/calls.js';
import { assertNoChannelQueues } from '../routing/channel-queues.js';
import type { AgentStatus } from '../routing/presence.js';
import type { Queryable } from '../store/db.js';
import { SYSTEM, type Actor, type AgentRow, type Role } from './model.js';
import { hashPassword, weakPasswordReason } from './passwords.js';

export interface NewAgent {
  name: string;
  email: string;
  password: string;
  role: Role;
  capacity?: number | null;
  departments?: string[];
  skills?: Record<string, number>;
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

/** A name of spaces (or zero-width characters) alone shows as nothing in every list and conversation: refused, like an empty one. */
function assertNamed(name: string | undefined): void {
  if (name !== undefined && isBlank(name)) throw invalid('name', 'must not be blank');
}

/** Only admins manage agents: what an agent acting here must still be when the change is written. */
const ADMIN: readonly Role[] = ['admin'];

/**
 * The roles `actor` must still hold when the change is written
 * (sb_actor_refusal), for sb_update_agent's and sb_delete_agent's
 * p_by_roles: null for the system, which has no row.
 */
const byRoles = (actor: Actor, roles: readonly Role[]) => (actor.id === null ? null : roles);

/**
 * sb_actor_refusal's answer as the error an actor refused on arrival gets:
 * deleted, as for a revoked token; demoted, as for a role that may not.
 */
function actorRefused(refusal: string | null, roles: readonly Role[]): void {
  if (refusal === 'SB_UNAUTHORIZED') throw unauthorized('your account was deleted while this request ran; nothing was changed');
  if (refusal === 'SB_FORBIDDEN') throw forbidden(`this needs the role ${roles.join(' or ')}, which you no longer have; nothing was changed`);
}

/**
 * Refuses the change unless agent `actorId` is still, as it is written, a
 * live agent with one of `roles` (under a share lock on their row, so a
 * demotion or deletion waits for it or is seen by it): their request was let
 * in on arrival, and an admin demoted meanwhile must change nothing. Null:
 * Switchboard itself, which has no row.
 */
export async function assertActorStill(tx: Queryable, actorId: string | null, roles: readonly Role[]): Promise<void> {
  if (actorId === null) return;
  const [check] = await tx.query<{ refusal: string | null }>('select sb_actor_refusal($1::text, $2::text[]) as refusal', [actorId, roles]);
  actorRefused(check!.refusal, roles);
}

/**
 * Creates an agent. `actor`: who asks; an agent must still be a live admin
 * when the row is written (checked in the transaction, under a share lock on
 * their row), not only when their request arrived.
 */
export async function createAgent(ctx: Ctx, input: NewAgent, actor: Actor = SYSTEM): Promise<AgentRow> {
  assertNamed(input.name);
  assertNoChannelQueues('departments', input.departments);
  assertStrongPassword(input.password, input.email);
  const passwordHash = await hashPassword(input.password);
  return mapUnique(
    input.email,
    withEvents(ctx, async (tx, emit) => {
      await assertActorStill(tx, actor.id, ADMIN);
      await assertEmailFree(tx, input.email, null);
      const now = ctx.now();
      const [row] = await tx.query<AgentRow>(
        `insert into agents (name, email, password_hash, role, capacity, departments, external_ref, created_at, updated_at, skills)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9::jsonb) returning *`,
        [input.name, input.email, passwordHash, input.role, input.capacity ?? null, input.departments ?? [], input.external_ref ?? null, now, JSON.stringify(input.skills ?? {})],
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
  /** replaces the agent's skills as a whole */
  skills?: Record<string, number>;
  external_ref?: string | null;
}

export interface UpdateOptions {
  /**
   * Leave the agent untouched, the whole patch unapplied, when their status
   * already is the patch's: logging out of an agent already offline keeps
   * what a keep-alive timeout left (resume_status included). Decided by
   * sb_update_agent under the agent's row lock, not by a read before it.
   */
  unlessStatusAlready?: boolean;
  /**
   * The roles an agent acting must still hold when the update is written
   * (the route's; checked under a share lock on their row, so an admin
   * deleted or demoted while their request ran changes nothing): admin by
   * default; [] for any live agent (their own status). Not for the system.
   */
  actorRoles?: readonly Role[];
}

/**
 * Status, capacity, departments and skills decide routing, so every update is a
 * routing change, one call (sb_update_agent): an agent who comes online or
 * gains room is filled from the queue before the update is acknowledged.
 */
export async function updateAgent(ctx: Ctx, id: string, patch: AgentPatch, actor: Actor, options: UpdateOptions = {}): Promise<AgentRow> {
  assertNamed(patch.name);
  if (patch.password !== undefined) {
    const email = patch.email ?? (await ctx.db.query<{ email: string }>('select email from agents where id = $1', [id]))[0]?.email;
    assertStrongPassword(patch.password, email);
  }
  const passwordHash = patch.password === undefined ? undefined : await hashPassword(patch.password);
  const fields = Object.keys(patch).filter((k) => k !== 'password' && k !== 'status');
  const changed = fields.length > 0 || patch.password !== undefined ? (patch.password ? [...fields, 'password'] : fields) : null;
  const actorRoles = options.actorRoles ?? ADMIN;
  const now = ctx.now();
  const work = routingCall<AgentRow & { refusal: string | null }>(
    ctx,
    UPDATE_AGENT,
    [
      id,
      now,
      patch.name ?? null,
      patch.email ?? null,
      passwordHash ?? null,
      patch.role ?? null,
      patch.capacity !== undefined,
      patch.capacity ?? null,
      patch.departments ?? null,
      patch.external_ref !== undefined,
      patch.external_ref ?? null,
      patch.skills === undefined ? null : JSON.stringify(patch.skills),
      patch.status ?? null,
      changed,
      actor.id,
      options.unlessStatusAlready === true && patch.status !== undefined,
      byRoles(actor, actorRoles),
    ],
    now,
  ).then(([result]) => {
    if (!result) throw notFound('agent', id);
    const { refusal, ...row } = result;
    actorRefused(refusal, actorRoles);
    if (refusal === 'SB_EMAIL_TAKEN') throw emailTaken(patch.email!);
    if (refusal === 'SB_LAST_ADMIN') throw lastAdmin();
    if (refusal === 'SB_CHANNEL_AGENT') throw channelAgent(id, row.source!);
    // decided in the call: a channel's own agent may be set back to its channel's queue
    if (refusal === 'channel_queue') assertNoChannelQueues('departments', patch.departments);
    if (refusal !== null) throw new Error(`sb_update_agent: unknown refusal ${refusal}`);
    return row;
  });
  return patch.email === undefined ? work : mapUnique(patch.email, work);
}

const UPDATE_AGENT = /* sql */ `select (o.updated).*, o.refusal, o.logged
  from sb_update_agent($1::uuid, $2::timestamptz, $3::text, $4::text, $5::text, $6::text, $7::boolean, $8::int, $9::text[],
                       $10::boolean, $11::text, $12::jsonb, $13::text, $14::text[], $15::text, $16::boolean, $17::text[]) o`;

/**
 * A channel's agent (a Qiscus agent's mirror, source 'qiscus') is available
 * when the channel says so, and serves only the channel's queue: an engine
 * status or other departments would have the engine assign it rooms the
 * channel never hears of, or conversations nobody can answer; a password
 * or a role would let someone sign in as them, or count them as an admin.
 */
function channelAgent(id: string, source: string) {
  return conflict(
    'SB_CHANNEL_AGENT',
    `agent ${id} is a ${source} agent: its status, departments, password and role are decided by ${source}, and can only be set as ${source} made them ` +
      `(status offline, departments ["@${source}"], role agent); its name, email, capacity, skills and external_ref can change`,
  );
}

function lastAdmin() {
  return conflict('SB_LAST_ADMIN', 'this is the last admin; make another agent admin first');
}

/**
 * Removes an agent: their open conversations go back to the queue at once
 * (no grace: they are not coming back) and their tokens stop working. The row
 * stays, soft-deleted, so past conversations still name who handled them.
 * One call (sb_delete_agent), which refuses an agent `actor` no longer a
 * live admin.
 */
export async function deleteAgent(ctx: Ctx, id: string, actor: Actor): Promise<void> {
  if (actor.id === id) throw conflict('SB_DELETE_SELF', 'you cannot delete your own account');
  const now = ctx.now();
  const [result] = await routingCall<{ refusal: string | null }>(
    ctx,
    'select o.refusal, o.logged from sb_delete_agent($1::uuid, $2::timestamptz, $3::text, $4::text[]) o',
    [id, now, actor.id, byRoles(actor, ADMIN)],
    now,
  );
  if (!result) throw notFound('agent', id);
  actorRefused(result.refusal, ADMIN);
  if (result.refusal === 'SB_LAST_ADMIN') throw lastAdmin();
  if (result.refusal !== null) throw new Error(`sb_delete_agent: unknown refusal ${result.refusal}`);
}

/**
 * A sign of life. The common case touches one row without the routing lock;
 * only an agent whose keep-alive had expired is brought back (to the status
 * they had) by a routing call (sb_resume_agent), and filled from the queue.
 */
export async function heartbeat(ctx: Ctx, id: string): Promise<AgentRow> {
  const now = ctx.now();
  const [alive] = await ctx.db.query<AgentRow>(
    `update agents set last_seen_at = $2 where id = $1 and deleted_at is null and status <> 'offline' returning *`,
    [id, now],
  );
  if (alive) return alive;
  const [row] = await routingCall<AgentRow>(ctx, 'select (o.resumed).*, o.logged from sb_resume_agent($1::uuid, $2::timestamptz) o', [id, now], now);
  if (!row) throw notFound('agent', id);
  return row;
}
