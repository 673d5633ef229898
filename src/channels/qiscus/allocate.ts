import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { Ctx } from '../../context.js';
import { toConversation, type ConversationRow } from '../../conversations/model.js';
import { withEvents } from '../../events/outbox.js';
import { DESTINATION, leaseParams, type ClaimedRow } from '../../events/outbound/outbox.js';
import type { HandOver } from '../../events/outbound/worker.js';
import type { Queryable } from '../../store/db.js';
import { QiscusError, QiscusLoginError, type AvailableAgent, type QiscusClient } from './client.js';
import { ASSIGN_AGENT, assignMessageId, PRODUCER, QISCUS_DEPARTMENT, QISCUS_SOURCE, roomOrderingKey } from './constants.js';
import { saysRoomResolved } from './error-body.js';
import { pickAgent, type MirrorLoad } from './pick.js';
import { ASSIGN_MAX_ATTEMPTS } from './producer.js';
import { AWAITS_REMOVAL } from './removals.js';
import { closeRoom, failWaitingRoomIn } from './rooms.js';

// One allocation pass: the oldest waiting rooms, each room's available agents
// fetched from Qiscus (outside any transaction: the routing lock is never held
// over a network call), then every decision in one routing transaction, in
// queue order, with the assign_agent calls enqueued in that same transaction.
// Several passes of one process may run at once (allocator.ts): each on its
// own rooms (Lane), none taking a slot an earlier one may still need.

/** a room whose agent list Qiscus refuses (4xx) this many times in a row is failed */
const FETCH_REFUSALS_BEFORE_FAILING = 3;

export interface PassOptions {
  batch: number;
  /** QISCUS_AGENT_ID: the account the allocator acts as, never given rooms */
  excludedAgent?: string;
  /** the longest a room waits between two failed fetches, ms */
  maxBackoffMs: number;
  /**
   * The running outbound worker's hand-over, if any: a pass inserts its
   * assign_agent calls leased to it and starts them once it has committed,
   * rather than leaving them to the worker's next claim.
   */
  handOver?: () => HandOver | undefined;
  /**
   * Read only the rooms behind this place in the queue: the allocator's next
   * page after a full batch nobody could take (allocator.ts).
   */
  after?: QueueSpot;
  /**
   * Read only these rooms (conversation ids), taking at most `limit`: the
   * rooms that arrived while the allocator found the queue blocked, whose
   * agents may not be among those it found full (allocator.ts).
   */
  only?: (limit: number) => readonly string[];
}

/** A room's place in the queue order the passes read in (priority desc, seq). */
export interface QueueSpot {
  priority: number;
  seq: string;
}

/**
 * What a pass shares with the other passes of its process running at once
 * (allocator.ts). Without one (a pass alone), it reads the oldest waiting
 * rooms and keeps nothing back.
 */
export interface Lane {
  /**
   * Reads this pass's rooms with `read`, given the rooms other passes hold
   * (to leave out), one pass at a time, and holds those read until the pass
   * ends: two passes never fetch one room's agents.
   */
  claim<T extends { id: string }>(read: (held: readonly string[]) => Promise<T[]>): Promise<T[]>;
  /**
   * Rooms of earlier passes not decided yet: inside the decision, every
   * agent keeps that many slots free for them, so a room read later never
   * takes a slot an older room, still being fetched, could have had.
   */
  reserve(): number;
  /**
   * Runs the decision when no other pass of the process is deciding: they
   * would only wait for each other's agent rows, each holding its rooms, a
   * connection and the routing lock (shared) meanwhile.
   */
  decision<T>(decide: () => Promise<T>): Promise<T>;
  /**
   * Before deciding, while another pass of the process decides: 'decide'
   * once none does (at once when none does now), or 'more' first when rooms
   * arrived meanwhile, for this pass to read (claim) and fetch while it
   * waits. A room that arrives during a decision is then decided right
   * after it, its agents fetched meanwhile, rather than waiting for that
   * pass to end and then for a whole pass of its own (issue #22).
   */
  turn(): Promise<'decide' | 'more'>;
  /** the decision committed (or the pass failed): later passes need keep nothing for its rooms */
  decided(): void;
  /**
   * Inside the decision: the rooms this process's earlier decisions left
   * waiting that no pass has read since, with the agent lists they were
   * decided on. A pass reads only rooms no other pass holds, so a room a
   * decision before it left waiting is not among its own; its decision
   * keeps, in queue order, the slot each of them would take now, so that a
   * slot freed since goes to that older room (its next pass assigns it, on
   * a fresh list), not to a newer one (issue #22).
   */
  waiting(): ReadonlyMap<string, Offer>;
  /** after the decision: the rooms it left waiting, and those it settled (assigned, closed or with nobody to offer) */
  settle(left: ReadonlyMap<string, Offer>, settled: readonly string[]): void;
}

/** A room's agent list as a decision read it, kept while the room waits (Lane.waiting). */
export interface Offer {
  agents: readonly AvailableAgent[];
  /** the agent Qiscus last refused for this room */
  refused: string | null;
}

const ASSIGN_HEADERS = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };

const alone: Lane = {
  claim: (read) => read([]),
  reserve: () => 0,
  decision: (decide) => decide(),
  decided: () => {},
  turn: async () => 'decide',
  waiting: () => new Map(),
  settle: () => {},
};

export interface PassResult {
  /** rooms whose agent list was read */
  tried: number;
  assigned: number;
  /** rooms closed or failed during the pass (their slots, if any, are free) */
  closed: number;
  /** a full batch was read: more rooms may wait behind it */
  full: boolean;
  /**
   * rooms left waiting not for want of a free agent but for other passes'
   * work — the slots kept for earlier passes' rooms (Lane.reserve), or an
   * agent's mirror another pass was creating: worth a pass once those end
   */
  held: number;
  /**
   * the mirrors of the agents the rooms were offered (when something was
   * assigned: those of the rooms left waiting), with their loads as the
   * decision left them (locked), so the allocator can tell later, from the
   * store alone, whether one of them has had a slot freed since — by this
   * process or by another
   */
  fullAgents?: { id: string; load: number }[];
  /** the earliest time (epoch ms) a room this pass backed off may be tried again */
  retryAt?: number;
  /** offered agents (Qiscus ids) no mirror could be made for (see mirrorsOf): left out of every pass until mended */
  unmirrored?: string[];
  /** when `full`: the place of the last room of the batch, where a next page would begin */
  last?: QueueSpot;
}

/**
 * Each pass's timeline, for bench/qiscus.ts (published only while someone
 * subscribes): when it started reading the waiting rooms, had them, had
 * their agent lists and its turn to decide (Lane.turn), had committed its decisions, and had handed the calls
 * to the worker; epoch ms, and the rooms (Qiscus ids) it assigned.
 */
export const passTimeline = channel('switchboard:qiscus:pass');
export interface PassTimeline {
  started: number;
  read: number;
  fetched: number;
  committed: number;
  handed: number;
  assigned: string[];
}
const epochNow = () => performance.timeOrigin + performance.now();

interface Waiting {
  id: string;
  room_id: string;
  /** the agent Qiscus last refused for this room, until another assignment */
  refused_agent: string | null;
  /** Qiscus' refusals of the room's agent list in a row (a list it answers ends the row) */
  list_refusals: number;
  priority: number;
  seq: string;
}

export async function allocatePass(ctx: Ctx, client: QiscusClient, options: PassOptions, lane: Lane = alone): Promise<PassResult> {
  try {
    return await pass(ctx, client, options, lane);
  } finally {
    lane.decided();
  }
}

async function pass(ctx: Ctx, client: QiscusClient, options: PassOptions, lane: Lane): Promise<PassResult> {
  const timed = passTimeline.hasSubscribers;
  const started = timed ? epochNow() : 0;
  const readWaiting = (limit: number) => async (held: readonly string[]) => {
    const only = options.only?.(limit);
    if (only?.length === 0) return [];
    return ctx.db.query<Waiting>(
      `select c.id, c.external_ref as room_id, q.refused_agent_id as refused_agent, coalesce(q.list_refusals, 0) as list_refusals,
              c.priority, c.seq::text as seq
         from conversations c left join qiscus_rooms q on q.conversation_id = c.id
        where c.state = 'queued' and c.channel = 'qiscus' and c.department = $3
          and (q.retry_at is null or q.retry_at <= $1)
          and not ${AWAITS_REMOVAL}
          and c.id <> all ($4::uuid[])
          and ($5::int is null or c.priority < $5 or (c.priority = $5 and c.seq > $6::bigint))
          and ($7::uuid[] is null or c.id = any ($7::uuid[]))
        order by c.priority desc, c.seq
        limit $2`,
      [ctx.now(), limit, QISCUS_DEPARTMENT, held, options.after?.priority ?? null, options.after?.seq ?? null, only ?? null],
    );
  };
  const waiting = await lane.claim(readWaiting(options.batch));
  const result: PassResult = { tried: 0, assigned: 0, closed: 0, full: waiting.length === options.batch, held: 0 };
  if (result.full) result.last = { priority: waiting.at(-1)!.priority, seq: waiting.at(-1)!.seq };
  if (waiting.length === 0) return result;
  const read = timed ? epochNow() : 0;

  const offered = new Map<string, readonly AvailableAgent[]>();
  const avoid = new Map<string, string>();
  const fetch = async (rooms: readonly Waiting[]) => {
    const fetched = await Promise.all(
      rooms.map((room) =>
        client.availableAgents(room.room_id).then(
          (agents) => ({ room, agents, error: null }),
          (error: unknown) => ({ room, agents: null, error }),
        ),
      ),
    );
    const listed: string[] = [];
    for (const { room, agents, error } of fetched) {
      if (agents) {
        offered.set(room.id, agents);
        if (room.refused_agent !== null) avoid.set(room.id, room.refused_agent);
        if (room.list_refusals > 0) listed.push(room.id);
      } else {
        const failed = await fetchFailed(ctx, room, error, options);
        if (failed.closed) result.closed += 1;
        if (failed.retryAt !== undefined) result.retryAt = Math.min(result.retryAt ?? Infinity, failed.retryAt);
      }
    }
    // Qiscus listed a room it had refused: the refusals in a row start again (a write only then, rare). A
    // statement a room, so none holds one room's record while waiting for another's (a decision's upsert).
    await Promise.all(listed.map((id) => ctx.db.query(LISTED, [id])));
  };
  await fetch(waiting);
  // While another pass decides, the rooms that arrive are this pass's too, up to a batch (Lane.turn).
  let taken = waiting.length;
  while (taken < options.batch && (await lane.turn()) === 'more') {
    const more = await lane.claim(readWaiting(options.batch - taken));
    if (more.length === options.batch - taken) {
      result.full = true;
      // the page ends at the room furthest back in queue order of all this pass read
      result.last = [...waiting, ...more].map((r) => ({ priority: r.priority, seq: r.seq })).reduce((a, b) => (laterInQueue(b, a) ? b : a));
    }
    taken += more.length;
    await fetch(more);
  }
  result.tried = offered.size;
  if (offered.size === 0) return result;
  const fetchedAt = timed ? epochNow() : 0;
  const handOver = options.handOver?.();
  const decided = await lane.decision(async () => {
    const earlier = lane.waiting();
    const rooms = withEarlier(offered, avoid, earlier);
    const made = await decide(ctx, client, rooms.offered, rooms.avoid, earlier, options.excludedAgent, handOver, lane);
    lane.decided();
    const left = new Map<string, Offer>();
    for (const id of made.left) left.set(id, { agents: rooms.offered.get(id)!, refused: rooms.avoid.get(id) ?? null });
    lane.settle(left, [...rooms.offered.keys()].filter((id) => !left.has(id)));
    return made;
  });
  result.assigned = decided.rooms.length;
  result.held = decided.held;
  if (decided.unmirrored.length > 0) result.unmirrored = decided.unmirrored;
  if (decided.fullAgents) result.fullAgents = decided.fullAgents;
  const committed = timed ? epochNow() : 0;
  // committed: the calls may go (a room with an earlier call pending, a remove_agent, had its call left unleased)
  if (handOver && decided.claimed.length > 0) await handOver.send(decided.claimed);
  if (timed) passTimeline.publish({ started, read, fetched: fetchedAt, committed, handed: epochNow(), assigned: decided.rooms } satisfies PassTimeline);
  return result;
}

/** Whether `a` comes after `b` in the order passes read the queue in (priority desc, then seq). */
function laterInQueue(a: QueueSpot, b: QueueSpot): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  return BigInt(a.seq) > BigInt(b.seq);
}

/**
 * This pass's rooms and those earlier decisions left waiting (Lane.waiting).
 * An earlier room's list keeps who was offered; what Qiscus says of an agent
 * (available, forced offline, customer count) is taken from this pass's
 * lists where they name the agent too, being fresher.
 */
function withEarlier(
  offered: ReadonlyMap<string, readonly AvailableAgent[]>,
  avoid: ReadonlyMap<string, string>,
  earlier: ReadonlyMap<string, Offer>,
): { offered: Map<string, readonly AvailableAgent[]>; avoid: Map<string, string>; earlier: ReadonlyMap<string, Offer> } {
  const all = new Map(offered);
  const avoiding = new Map(avoid);
  if (earlier.size === 0) return { offered: all, avoid: avoiding, earlier };
  const fresh = new Map<string, AvailableAgent>();
  for (const agents of offered.values()) for (const a of agents) fresh.set(a.id, a);
  for (const [id, offer] of earlier) {
    if (all.has(id)) continue;
    all.set(id, offer.agents.map((a) => fresh.get(a.id) ?? a));
    if (offer.refused !== null) avoiding.set(id, offer.refused);
  }
  return { offered: all, avoid: avoiding, earlier };
}

/**
 * Backs the room off: `closed` when it was closed instead (resolved in Qiscus,
 * or refused too often), else when it may be tried again (epoch ms). Nothing
 * changes for a room no longer waiting: the pass read it queued, but another
 * process's pass, a webhook or a supervisor may have moved it since.
 */
async function fetchFailed(ctx: Ctx, room: Waiting, error: unknown, options: PassOptions): Promise<{ closed: boolean; retryAt?: number }> {
  if (!(error instanceof QiscusError)) throw error;
  const now = ctx.now();
  const params = [room.id, room.room_id, error.message, now, options.maxBackoffMs, QISCUS_DEPARTMENT];
  const waits = (row: BackedOff | undefined) => ({ closed: false, ...(row ? { retryAt: new Date(row.retry_at).getTime() } : {}) });
  // Transient trouble (Qiscus down, a timeout) never fails a room: it waits, backing off up to the poll interval.
  // Nor does a login Qiscus refuses, or a 401 to the credentials: no room's fault, every room's list would
  // fail alike, and the rooms wait for an operator to mend the credentials (the channel logs it).
  // Before the resolved check: a 5xx page or a login error may say "resolved" too, and closes nothing.
  if (error.transient || error instanceof QiscusLoginError || error.status === 401) return waits((await ctx.db.query<BackedOff>(BACK_OFF, params))[0]);
  if (saysRoomResolved(error.message)) return { closed: await closeRoom(ctx, room.id, { state: 'resolved', reason: 'qiscus_resolved', note: null }) };
  // A refusal may be the one that fails the room: counted and acted on in one transaction, the room's row
  // locked while it waits, so the count is this one's and the room given up is one nobody has taken. The lock
  // exclusive from BEGIN, as closeAssignment's (rooms.ts), since the close may ask for it so: a refusal is rare.
  return withEvents(
    ctx,
    async (tx, emit) => {
      const [counted] = await tx.query<BackedOff>(REFUSED, params);
      if (!counted || counted.list_refusals < FETCH_REFUSALS_BEFORE_FAILING) return waits(counted);
      await failWaitingRoomIn(tx, emit, now, room.id, room.room_id, `Qiscus refused to list the room's agents ${counted.list_refusals} times in a row: ${error.message}`);
      return { closed: true };
    },
    { routing: true },
  );
}

interface BackedOff {
  fetch_failures: number;
  list_refusals: number;
  retry_at: Date | string;
}

/**
 * One more failed list of a room still queued (none for a room moved since:
 * no row), counted by the statement, so that two processes failing the room
 * at once count two; its back-off 1 s, 2 s, 4 s, … up to $5 ms. Every
 * failure counts toward the back-off (fetch_failures); a refusal also
 * toward the give-up (list_refusals, migration 0077). BACK_OFF, for the
 * failures that are no refusal, takes the room's state as its snapshot saw
 * it, without a lock (exported for tests): a decision assigning the room
 * meanwhile may still find the note on its record, which its settle
 * replaces. REFUSED locks the room as a decision does: agent rows (a queued
 * room has none) before conversation rows before the rows a change writes
 * besides (the lock order at the top of
 * src/store/migrations/routing/functions.sql), and no key update, so the
 * foreign key's key share of another process's back-off does not wait for
 * it (see LOCK_MIRRORS_THEN_ROOMS).
 */
const backOff = (lock: string, refusal: 0 | 1) => /* sql */ `
  with room as (
    select c.id from conversations c where c.id = $1 and c.state = 'queued' and c.department = $6 ${lock}
  )
  insert into qiscus_rooms (conversation_id, room_id, reason, fetch_failures, list_refusals, retry_at, updated_at)
  select room.id, $2, $3, 1, ${refusal}, $4::timestamptz + least(1000, $5::int) * interval '1 millisecond', $4 from room
  on conflict (conversation_id) do update
    set reason = excluded.reason, fetch_failures = qiscus_rooms.fetch_failures + 1,
        list_refusals = qiscus_rooms.list_refusals + ${refusal},
        retry_at = excluded.updated_at + least(1000 * power(2, least(qiscus_rooms.fetch_failures, 30)), $5::int) * interval '1 millisecond',
        updated_at = excluded.updated_at
  returning fetch_failures, list_refusals, retry_at`;
export const BACK_OFF = backOff('', 0);
const REFUSED = backOff('for no key update of c', 1);
/** Qiscus answered the room's list: its refusals in a row end. */
const LISTED = `update qiscus_rooms set list_refusals = 0 where conversation_id = $1 and list_refusals > 0`;

// The existing mirrors of the offered agents, locked before the rooms (in id
// order, as every pass locks them, so two passes cannot wait on each other):
// agent rows before conversation rows, the lock order at the top of
// src/store/migrations/routing/functions.sql (see decide). Then the rooms
// still queued, locked in queue order; a room taken back from an agent again
// while its agents were fetched is left out (its removal must be enqueued
// first). The rooms FOR NO KEY UPDATE, as the decision changes no key of
// theirs: a foreign key's key share (another process's pass writing a room's
// back-off, a message) then does not wait for the decision while holding a
// row the decision goes on to write (under FOR UPDATE, a deadlock). One statement, one round trip fewer on the pass's critical path
// (issue #22): the rooms' scan is a lateral subquery reading `held` (every
// mirror locked, aggregated), so it runs only once `held` has its one row,
// that is, once every mirror is locked. Each room row carries the locked
// mirrors (`mirrors`: ids, Qiscus ids, loads, capacities, as MIRRORS reads
// them): when every agent offered the rooms still queued has one, which is
// the rule once Qiscus' agents were seen, MIRRORS is not sent (issue #22:
// one round trip of three fewer while the pass holds its locks). No room
// still queued, no row, and nothing to decide.
const LOCK_MIRRORS_THEN_ROOMS = /* sql */ `
  with locked as materialized (
    select id, external_ref, load, capacity, last_assigned_at from agents
     where source = $2 and external_ref = any ($1::text[]) and deleted_at is null
     order by id
       for update
  ), held as (
    select count(*) as n,
           jsonb_build_object(
             'ids', coalesce(jsonb_agg(id order by id), '[]'), 'refs', coalesce(jsonb_agg(external_ref order by id), '[]'),
             'loads', coalesce(jsonb_agg(load order by id), '[]'),
             'capacities', coalesce(jsonb_agg(coalesce(capacity, (select (value #>> '{}')::int from settings where key = 'max_customers')) order by id), '[]'),
             'last', coalesce(jsonb_agg(last_assigned_at order by id), '[]')) as mirrors
      from locked
  )
  select r.*, held.mirrors
    from held cross join lateral (
      select c.* from conversations c
       where c.id = any ($3::uuid[]) and c.state = 'queued' and not ${AWAITS_REMOVAL} and held.n >= 0
       order by c.priority desc, c.seq
         for no key update of c
    ) r`;

// The mirrors of the agents offered the rooms still queued: new ones are
// inserted (after the rooms: a new row is nobody's to wait for, and two
// passes offering one room wait on the room, so only one creates its
// mirrors), the existing ones read again on the rows LOCK_MIRRORS_THEN_ROOMS locked
// ($6). Their loads are read for the capacity decision and raised by
// ASSIGN_ROOMS, under the routing lock only shared (see decide). A mirror
// another pass inserted meanwhile is not used: locking it now would lock an
// agent after a room; its rooms wait for the next pass.
// Two passes (of two processes) inserting one new agent wait on each other's
// row: they insert in Qiscus id order, so two lists in opposite orders
// cannot deadlock, and with every unique index an arbiter (no conflict
// target), the one that waited skips the row whichever index (the Qiscus id
// or the e-mail derived from it) met the other's first, where a target
// naming one index raised a unique violation on the other.
const MIRRORS = /* sql */ `
  with offered as (
    select * from unnest($1::text[], $2::text[]) as o(ref, name)
  ), ins as (
    insert into agents (name, email, password_hash, role, status, departments, source, external_ref, created_at, updated_at)
    select o.name, 'qiscus-' || md5(o.ref) || '@agents.qiscus.invalid', '!', 'agent', 'offline', array[$4::text], $5, o.ref, $3, $3
      from offered o
     order by o.ref
    on conflict do nothing
    returning id, external_ref, load, capacity, last_assigned_at
  ), locked as (
    select id, external_ref, load, capacity, last_assigned_at from agents
     where source = $5 and external_ref = any ($1::text[]) and deleted_at is null and id = any ($6::uuid[])
     order by id
       for update
  ), mirrors as (
    select id, external_ref, load, capacity, last_assigned_at from ins
    union all
    select id, external_ref, load, capacity, last_assigned_at from locked
  )
  select m.*, coalesce(m.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers')) as capacity_now
    from mirrors m`;

/** The mirrors LOCK_MIRRORS_THEN_ROOMS locked, as it aggregated them (jsonb: timestamps as text). */
interface LockedMirrors {
  ids: string[];
  refs: string[];
  loads: number[];
  capacities: number[];
  last: (string | null)[];
}

function lockedMirrors(m: LockedMirrors): Map<string, MirrorLoad> {
  return new Map(
    m.refs.map((ref, i) => [ref, { id: m.ids[i]!, qiscusId: ref, load: m.loads[i]!, readLoad: m.loads[i]!, capacity: m.capacities[i]!, lastAssignedAt: m.last[i] ? new Date(m.last[i]!).getTime() : null }]),
  );
}

/** The mirrors as the decision's own picks load them: without the slots kept for earlier rooms. */
function withoutKept(mirrors: ReadonlyMap<string, MirrorLoad>, keptFor: ReadonlyMap<string, number>): Map<string, MirrorLoad> {
  return new Map([...mirrors].map(([ref, m]) => [ref, keptFor.has(m.id) ? { ...m, load: m.load - keptFor.get(m.id)! } : m]));
}

/**
 * Mirrors the offered Qiscus agents as engine agents (new ones are created)
 * and reads their loads (exported for tests). An agent whose mirror was
 * neither made nor locked: another pass made it meanwhile (it is used by the
 * next pass), or its insert met another agent's row (an agent given that
 * e-mail, or a mirror whose Qiscus id an admin changed): `unmirrored`, left
 * out and reported, rather than waited for pass after pass.
 */
export async function mirrorsOf(
  tx: Queryable,
  agents: readonly AvailableAgent[],
  held: readonly string[],
  now: Date,
): Promise<{ mirrors: Map<string, MirrorLoad>; unmirrored: Set<string> }> {
  const rows = await tx.query<{ id: string; external_ref: string; load: number; capacity_now: number; last_assigned_at: Date | null }>(MIRRORS, [
    agents.map((a) => a.id),
    agents.map((a) => a.name),
    now,
    QISCUS_DEPARTMENT,
    QISCUS_SOURCE,
    held,
  ]);
  const mirrors = new Map(
    rows.map((r) => [
      r.external_ref,
      { id: r.id, qiscusId: r.external_ref, load: r.load, readLoad: r.load, capacity: r.capacity_now, lastAssignedAt: r.last_assigned_at ? new Date(r.last_assigned_at).getTime() : null },
    ]),
  );
  const missing = agents.filter((a) => !mirrors.has(a.id)).map((a) => a.id);
  if (missing.length === 0) return { mirrors, unmirrored: new Set() };
  // A new statement sees the rows the insert waited for and skipped.
  const made = await tx.query<{ external_ref: string }>(
    `select external_ref from agents where source = $1 and external_ref = any ($2::text[]) and deleted_at is null`,
    [QISCUS_SOURCE, missing],
  );
  const found = new Set(made.map((r) => r.external_ref));
  return { mirrors, unmirrored: new Set(missing.filter((ref) => !found.has(ref))) };
}

// The assign_agent calls are enqueued in the same statement (issue #22: one
// round trip less a pass, while its row locks are held): as enqueue() writes
// them, one per room in queue order; a room's conversation row comes back
// with its call's id. With a worker to hand them to, the calls a claim would
// take are inserted already leased to it (next_attempt_at = the lease's end,
// $15): no claim statement follows. A claim's rules, as CLAIM_NEW applies
// them to fresh rows: in queue order, a room with an earlier call still
// pending (a remove_agent) is left due for the worker's claims, which send
// it after that call, and no more than the hand-over's free slots ($14) and
// its destination's cap less the calls in flight there ($16-$18). Leased
// rows wake no worker (migration 0063); a call left due wakes them all.
// The pending check sees what the claim that followed the insert saw: a
// room's removal is enqueued before the room can be decided again
// (AWAITS_REMOVAL, in LOCK_MIRRORS_THEN_ROOMS).
const ASSIGN_ROOMS = /* sql */ `
  with p as (
    select * from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) with ordinality
           as p(conversation_id, agent_id, room_id, qiscus_agent_id, message_id, ordering_key, body, n)
  ), dest as (
    select ${DESTINATION} as destination from (select null::uuid as endpoint_id, $11::text as url, $9::text as producer) o
  ), room as (
    select least($14::int, $16::int - coalesce((select sum(b.n) from unnest($17::text[], $18::int[]) as b(destination, n)
                                                  where b.destination = dest.destination), 0)) as n
      from dest
  ), free as (
    select p.n, row_number() over (order by p.n) as k from p
     where not exists (select 1 from outbound_requests x where x.ordering_key = p.ordering_key and x.state = 'pending')
  ), req as (
    insert into outbound_requests (producer, message_id, name, ordering_key, url, method, headers, body, verify_tls, max_attempts, next_attempt_at, leased_until, created_at)
    select $9, p.message_id, $10, p.ordering_key, $11, 'POST', $12::jsonb, convert_to(p.body, 'UTF8'), true, $13,
           case when f.k <= (select n from room) then $15::timestamptz else $1 end, case when f.k <= (select n from room) then $15::timestamptz end, $1
      from p left join free f on f.n = p.n
     order by p.n
    returning id, message_id, next_attempt_at > created_at as leased
  ), pr as (
    select p.*, req.id as outbound_id, req.leased from p join req on req.message_id = p.message_id
  ), took as (
    update agents a set load = a.load + n.n, last_assigned_at = $1, updated_at = $1
      from (select agent_id, count(*)::int as n from p group by agent_id) n
     where a.id = n.agent_id
  ), noted as (
    insert into qiscus_rooms (conversation_id, room_id, qiscus_agent_id, outbound_id, reason, fetch_failures, retry_at, updated_at)
    select conversation_id, room_id, qiscus_agent_id, outbound_id, null, 0, null, $1 from pr
    on conflict (conversation_id) do update
      set qiscus_agent_id = excluded.qiscus_agent_id, outbound_id = excluded.outbound_id, confirmed_at = null,
          reason = null, fetch_failures = 0, list_refusals = 0, retry_at = null, updated_at = excluded.updated_at,
          -- the new agent supersedes the refusal; the count stays: the room's third refusal fails it
          refused_agent_id = null
  )
  update conversations c
     set state = 'assigned', agent_id = pr.agent_id, assigned_at = $1, updated_at = $1
    from pr
   where c.id = pr.conversation_id
  returning c.*, pr.outbound_id, pr.leased, (select destination from dest) as outbound_destination`;

/**
 * Decides every fetched room in queue order under the routing lock: a room
 * nobody can take keeps waiting, and since every agent it was offered is
 * full, the rooms behind it that are assigned take no slot it could use.
 *
 * The lock is held SHARED (issue #22): every decision here is made on rows
 * this transaction has locked — the rooms (FOR NO KEY UPDATE, in queue order: a
 * room another pass assigned meanwhile is read again, no longer queued, and
 * left out) and their offered agents' mirrors (MIRRORS, in id order) — so
 * "once" rests on the room's row lock and capacity on the mirror's, as on
 * the fast paths of sb_open_conversation and sb_close_conversation, which
 * run beside it. The exclusive changes (requeues, agent edits, the
 * exclusive paths, which read without row locks) still wait for it. It
 * calls no routing function, so it never asks for the lock exclusive while
 * holding it shared; its row waits go mirror → room → commit, the order of
 * a fast close (agent → conversation), so no cycle.
 */
async function decide(
  ctx: Ctx,
  client: QiscusClient,
  offered: ReadonlyMap<string, readonly AvailableAgent[]>,
  avoid: ReadonlyMap<string, string>,
  earlier: ReadonlyMap<string, Offer>,
  excluded: string | undefined,
  handOver: HandOver | undefined,
  lane: Lane,
): Promise<{ rooms: string[]; claimed: ClaimedRow[]; held: number; fullAgents?: { id: string; load: number }[]; left: string[]; unmirrored: string[] }> {
  const assignUrl = `${client.api.baseUrl}/api/v1/admin/service/assign_agent`;
  const none = { rooms: [], claimed: [], held: 0, left: [], unmirrored: [] };
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      // The mirrors before the rooms: agent rows before conversation rows, the lock order
      // (src/store/migrations/routing/functions.sql, at its top). A close locks its agent's
      // row, then its conversation's; a pass holding a room while it waited for a mirror
      // could wait on such a close that waits for that room. So the existing mirrors of
      // every offered room are locked, those of rooms found taken just below included.
      const offeredRefs = new Set<string>();
      for (const agents of offered.values()) for (const a of agents) if (a.is_available && !a.force_offline) offeredRefs.add(a.id);
      if (offeredRefs.size === 0) return none;
      const still = await tx.query<ConversationRow & { mirrors: LockedMirrors }>(LOCK_MIRRORS_THEN_ROOMS, [[...offeredRefs], QISCUS_SOURCE, [...offered.keys()]]);
      const unique = new Map<string, AvailableAgent>();
      for (const row of still) for (const a of offered.get(row.id) ?? []) if (a.is_available && !a.force_offline) unique.set(a.id, a);
      if (unique.size === 0) return none;
      const locked = lockedMirrors(still[0]!.mirrors);
      // An agent without a mirror yet: MIRRORS creates it (and reads the locked ones again).
      const { mirrors, unmirrored } = [...unique.keys()].every((ref) => locked.has(ref))
        ? { mirrors: locked, unmirrored: new Set<string>() }
        : await mirrorsOf(tx, [...unique.values()], still[0]!.mirrors.ids, now);
      // Read with the mirrors locked: a pass that decided meanwhile on these agents has committed.
      const reserve = lane.reserve();
      const picks: { row: ConversationRow; mirror: MirrorLoad }[] = [];
      /** rooms still queued, with somebody to offer, that wait on: for the next decisions (Lane.waiting) */
      const left: string[] = [];
      /** by mirror: slots kept for rooms earlier decisions left waiting (counted in its load here, never written) */
      const keptFor = new Map<string, number>();
      /** an agent a room may be given to, given room (and a mirror, for one who has none yet) */
      const offerable = (a: AvailableAgent) => a.is_available && !a.force_offline && a.id !== excluded && !unmirrored.has(a.id);
      const someone = (agents: readonly AvailableAgent[]) => agents.some(offerable);
      let kept = 0;
      for (const row of still) {
        const agents = offered.get(row.id) ?? [];
        const mirror = pickAgent(agents, mirrors, excluded, avoid.get(row.id), reserve);
        if (earlier.has(row.id)) {
          // An older room read by no pass since it was left waiting: the slot it would take now is kept
          // from the rooms behind it; the pass that reads it next assigns it, on a list of its own.
          if (mirror) {
            // not given in Qiscus yet either: on top of Qiscus' count too (pickAgent: load − readLoad)
            mirror.load += 1;
            keptFor.set(mirror.id, (keptFor.get(mirror.id) ?? 0) + 1);
          }
          if (someone(agents)) left.push(row.id);
          continue;
        }
        if (!mirror) {
          if (someone(agents)) left.push(row.id);
          // Worth another pass once the earlier ones end: it waits for their rooms' slots (earlier passes' or
          // earlier decisions'), or for an agent's mirror a pass running beside this one created (not used
          // here: see MIRRORS), not for a full agent.
          if ((reserve > 0 || keptFor.size > 0) && pickAgent(agents, withoutKept(mirrors, keptFor), excluded, avoid.get(row.id))) kept += 1;
          else if (agents.some((a) => offerable(a) && !mirrors.has(a.id))) kept += 1;
          continue;
        }
        mirror.load += 1;
        mirror.lastAssignedAt = now.getTime();
        picks.push({ row, mirror });
      }
      const unmirroredRefs = [...unmirrored];
      if (picks.length === 0) {
        const fullAgents = [...withoutKept(mirrors, keptFor).values()].map((m) => ({ id: m.id, load: m.load }));
        return { ...none, held: kept, left, fullAgents, unmirrored: unmirroredRefs };
      }
      const calls = picks.map((p) => ({
        conversationId: p.row.id,
        messageId: assignMessageId(p.row.id),
        orderingKey: roomOrderingKey(p.row.external_ref!),
        body: new URLSearchParams({ room_id: p.row.external_ref!, agent_id: p.mirror.qiscusId, max_agent: '1', replace_latest_agent: 'false' }).toString(),
      }));
      // no hand-over, no lease: every call is due at once, for the workers' claims
      const slots = handOver?.slots(now) ?? { limit: 0, leaseUntil: now };
      const assigned = await tx.query<ConversationRow & { outbound_id: number | string; leased: boolean; outbound_destination: string }>(ASSIGN_ROOMS, [
        now,
        picks.map((p) => p.row.id),
        picks.map((p) => p.mirror.id),
        picks.map((p) => p.row.external_ref),
        picks.map((p) => p.mirror.qiscusId),
        calls.map((c) => c.messageId),
        calls.map((c) => c.orderingKey),
        calls.map((c) => c.body),
        PRODUCER,
        ASSIGN_AGENT,
        assignUrl,
        JSON.stringify(ASSIGN_HEADERS),
        ASSIGN_MAX_ATTEMPTS,
        ...leaseParams(slots),
      ]);
      for (const row of assigned) {
        emit({ type: 'conversation.assigned', conversationId: row.id, agentId: row.agent_id, data: { conversation: toConversation(row) } });
      }
      // The leased calls as a claim would have returned them, for the worker to send once this commits.
      const byRoom = new Map(calls.map((c) => [c.conversationId, c]));
      const claimed: ClaimedRow[] = assigned
        .filter((row) => row.leased)
        .map((row): ClaimedRow => {
          const call = byRoom.get(row.id)!;
          return {
            id: Number(row.outbound_id),
            producer: PRODUCER,
            endpoint_id: null,
            event_id: null,
            message_id: call.messageId,
            name: ASSIGN_AGENT,
            ordering_key: call.orderingKey,
            url: assignUrl,
            method: 'POST',
            headers: ASSIGN_HEADERS,
            body: Buffer.from(call.body, 'utf8'),
            verify_tls: true,
            state: 'pending',
            attempts: 0,
            max_attempts: ASSIGN_MAX_ATTEMPTS,
            next_attempt_at: slots.leaseUntil,
            last_attempt_at: null,
            last_status: null,
            last_error: null,
            delivered_at: null,
            redelivery_of: null,
            created_at: now,
            destination: row.outbound_destination,
          };
        })
        .sort((a, b) => a.id - b.id);
      // A pass of new rooms alone leaves the queue blocked however many it assigned: the agents the rooms it
      // left were offered join those the allocator watches for a slot freed elsewhere (allocator.ts).
      const leftOn = new Set<string>();
      for (const id of left) for (const a of offered.get(id) ?? []) if (offerable(a)) leftOn.add(a.id);
      const fullAgents = [...withoutKept(mirrors, keptFor)].filter(([ref]) => leftOn.has(ref)).map(([, m]) => ({ id: m.id, load: m.load }));
      return { rooms: assigned.map((row) => row.external_ref!), claimed, held: kept, left, fullAgents, unmirrored: unmirroredRefs };
    },
    // Shared, taken with BEGIN: no round trip of its own while the pass holds its connection.
    { routing: 'shared' },
  );
}
