// A reference model of the allocation policy (DESIGN.md, "Allocation policy")
// for the property test: snapshots of the store before and after one engine
// call, and a replay of the events that call wrote, checked move by move.
//
// Every engine call is one routing transaction. In each of them the changes
// to agents (status, capacity, departments, deletion), to settings and to a
// conversation's department happen before any matching, so the attributes
// read after the call are the ones the matcher saw; only loads, queue
// membership and last assignment times move while the events are replayed.

import type { StoredEvent } from '../../src/events/outbox.js';
import type { Queryable } from '../../src/store/db.js';

export interface AgentSnap {
  id: string;
  status: 'online' | 'away' | 'offline';
  capacity: number | null;
  departments: string[];
  skills: Record<string, number>;
  load: number;
  lastAssignedAt: number | null;
  deleted: boolean;
}

export interface ConvSnap {
  id: string;
  seq: number;
  state: 'queued' | 'assigned' | 'resolved' | 'abandoned';
  agentId: string | null;
  department: string | null;
  priority: number;
  /** what the opener asked for */
  requestedSkills: Record<string, number>;
  /** the stored effective requirement, checked against requiredSkills(...) by stateViolations */
  requiredSkills: Record<string, number>;
  queuedAt: number | null;
}

/** A department's skills and overflow settings (docs/routing.md); a department not named has none. */
export interface DeptPolicy {
  required_skills: Record<string, number>;
  skills_relax_after_s: number | null;
  overflow: { after_s: number; to: string }[];
}
export type Policy = Readonly<Record<string, DeptPolicy>>;

const NO_POLICY: DeptPolicy = { required_skills: {}, skills_relax_after_s: null, overflow: [] };
const policyOf = (policy: Policy, department: string | null) => (department === null ? NO_POLICY : (policy[department] ?? NO_POLICY));

/** The conversation's requirement: its own merged with its department's, the higher level per skill. */
export function requiredSkills(conv: Pick<ConvSnap, 'department' | 'requestedSkills'>, policy: Policy): Record<string, number> {
  const merged = { ...conv.requestedSkills };
  for (const [skill, level] of Object.entries(policyOf(policy, conv.department).required_skills)) merged[skill] = Math.max(merged[skill] ?? 0, level);
  return merged;
}

/** The sum of the agent's levels in the skills the conversation requires: the pick's first key, higher first. */
export function skillScore(agent: Pick<AgentSnap, 'skills'>, conv: Pick<ConvSnap, 'department' | 'requestedSkills'>, policy: Policy): number {
  return Object.keys(requiredSkills(conv, policy)).reduce((sum, skill) => sum + (agent.skills[skill] ?? 0), 0);
}

export interface Snapshot {
  maxCustomers: number;
  agents: Map<string, AgentSnap>;
  convs: Map<string, ConvSnap>;
  /** id of the newest event */
  lastEventId: number;
}

const ms = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());

/** The whole routing state in one round trip. */
export async function snapshot(db: Queryable): Promise<Snapshot> {
  const [row] = await db.query<{
    max_customers: unknown;
    agents: {
      id: string;
      status: AgentSnap['status'];
      capacity: number | null;
      departments: string[];
      skills: Record<string, number>;
      load: number;
      last_assigned_at: string | null;
      deleted_at: string | null;
    }[];
    convs: {
      id: string;
      seq: number | string;
      state: ConvSnap['state'];
      agent_id: string | null;
      department: string | null;
      priority: number;
      requested_skills: Record<string, number>;
      required_skills: Record<string, number>;
      queued_at: string | null;
    }[];
    last_event_id: number | string | null;
  }>(
    `select (select value from settings where key = 'max_customers') as max_customers,
            (select coalesce(json_agg(json_build_object('id', id, 'status', status, 'capacity', capacity, 'departments', departments,
                        'skills', skills, 'load', load, 'last_assigned_at', last_assigned_at, 'deleted_at', deleted_at) order by created_at, id), '[]')
               from agents) as agents,
            (select coalesce(json_agg(json_build_object('id', id, 'seq', seq, 'state', state, 'agent_id', agent_id,
                        'department', department, 'priority', priority, 'requested_skills', requested_skills,
                        'required_skills', required_skills, 'queued_at', queued_at) order by seq), '[]')
               from conversations) as convs,
            (select max(id) from events) as last_event_id`,
  );
  const r = row!;
  return {
    maxCustomers: Number(r.max_customers),
    agents: new Map(
      r.agents.map((a) => [
        a.id,
        {
          id: a.id,
          status: a.status,
          capacity: a.capacity,
          departments: a.departments,
          skills: a.skills,
          load: a.load,
          lastAssignedAt: ms(a.last_assigned_at),
          deleted: a.deleted_at !== null,
        },
      ]),
    ),
    convs: new Map(
      r.convs.map((c) => [
        c.id,
        {
          id: c.id,
          seq: Number(c.seq),
          state: c.state,
          agentId: c.agent_id,
          department: c.department,
          priority: c.priority,
          requestedSkills: c.requested_skills,
          requiredSkills: c.required_skills,
          queuedAt: ms(c.queued_at),
        },
      ]),
    ),
    lastEventId: Number(r.last_event_id ?? 0),
  };
}

export async function eventsSince(db: Queryable, afterId: number): Promise<StoredEvent[]> {
  return db.query<StoredEvent>('select id, type, conversation_id, agent_id, data from events where id > $1 order by id', [afterId]);
}

export const capacityOf = (agent: Pick<AgentSnap, 'capacity'>, maxCustomers: number) => agent.capacity ?? maxCustomers;

/**
 * The agent may receive the conversation at time t: it has no department, the
 * agent is in it or in one it has overflowed to by t; and the agent has every
 * skill it requires at its level, unless the requirement was relaxed by t.
 */
export function serves(
  agent: Pick<AgentSnap, 'departments' | 'skills'>,
  conv: Pick<ConvSnap, 'department' | 'requestedSkills' | 'queuedAt'>,
  t: number,
  policy: Policy,
): boolean {
  const terms = policyOf(policy, conv.department);
  const waited = conv.queuedAt === null ? -Infinity : (t - conv.queuedAt) / 1000;
  const inDepartment =
    conv.department === null ||
    agent.departments.includes(conv.department) ||
    terms.overflow.some((step) => waited >= step.after_s && agent.departments.includes(step.to));
  if (!inDepartment) return false;
  if (terms.skills_relax_after_s !== null && waited >= terms.skills_relax_after_s) return true;
  return Object.entries(requiredSkills(conv, policy)).every(([skill, level]) => (agent.skills[skill] ?? 0) >= level);
}

/**
 * Eligibility changes with time alone (relaxation, overflow) are matched by
 * the sweep, not by the next event: the pair is "stale" when the agent serves
 * the conversation at `now` but did not at the last sweep, and until the next
 * sweep its agent may have room while it waits (docs/routing.md).
 */
export const staleAt = (lastSweep: number, now: number, policy: Policy) =>
  (agent: Pick<AgentSnap, 'departments' | 'skills'>, conv: Pick<ConvSnap, 'department' | 'requestedSkills' | 'queuedAt'>) =>
    serves(agent, conv, now, policy) && !serves(agent, conv, lastSweep, policy);

/** Queue order: higher priority first, then older arrival. Negative when `a` comes before `b`. */
export const queueOrder = (a: Pick<ConvSnap, 'priority' | 'seq'>, b: Pick<ConvSnap, 'priority' | 'seq'>) =>
  b.priority - a.priority || a.seq - b.seq;

/**
 * The conversations left open, in queue order; operations pick "a random open
 * conversation" by index into this list.
 */
export function openConversations(s: Snapshot): ConvSnap[] {
  return [...s.convs.values()].filter((c) => c.state === 'queued' || c.state === 'assigned').sort(queueOrder);
}

/**
 * Invariant (1)'s bookkeeping: after an agent's capacity (own, or the global
 * max_customers it follows) drops below what they hold, they may keep it. The
 * allowance is their load at that moment and only shrinks with their load.
 */
export class Allowances {
  private readonly allowance = new Map<string, number>();

  /** Call after every step with the snapshots around it; returns the agents over their limit. */
  update(pre: Snapshot, post: Snapshot): string[] {
    const problems: string[] = [];
    for (const after of post.agents.values()) {
      const before = pre.agents.get(after.id);
      const capBefore = before ? capacityOf(before, pre.maxCustomers) : Infinity;
      const capAfter = capacityOf(after, post.maxCustomers);
      if (before && capAfter < capBefore) {
        this.allowance.set(after.id, Math.max(this.allowance.get(after.id) ?? 0, before.load));
      }
      const allowance = this.allowance.get(after.id) ?? 0;
      if (after.load > Math.max(capAfter, allowance)) {
        problems.push(`(1) agent ${after.id} holds ${after.load} with capacity ${capAfter} and allowance ${allowance}`);
      }
      this.allowance.set(after.id, Math.min(allowance, after.load));
    }
    return problems;
  }
}

/**
 * Invariants (1)-(3) on one snapshot at time `now`, computed in TypeScript
 * (the SQL helper checks them too); (3) excuses pairs made eligible by time
 * since the last sweep (staleAt). (7): every open conversation's stored
 * requirement is its own merged with its department's.
 */
export function stateViolations(s: Snapshot, now: number, policy: Policy, lastSweep: number): string[] {
  const stale = staleAt(lastSweep, now, policy);
  const problems: string[] = [];
  const held = new Map<string, number>();
  for (const c of s.convs.values()) {
    if (c.state === 'assigned') {
      if (c.agentId === null) {
        problems.push(`(2) conversation ${c.seq} is assigned to nobody`);
        continue;
      }
      held.set(c.agentId, (held.get(c.agentId) ?? 0) + 1);
      const agent = s.agents.get(c.agentId);
      if (!agent || agent.deleted) problems.push(`(2) conversation ${c.seq} is held by deleted agent ${c.agentId}`);
    } else if (c.state === 'queued' && c.agentId !== null) {
      problems.push(`(2) queued conversation ${c.seq} names agent ${c.agentId}`);
    }
  }
  for (const a of s.agents.values()) {
    if (a.load !== (held.get(a.id) ?? 0)) problems.push(`(2) agent ${a.id} load ${a.load} but holds ${held.get(a.id) ?? 0}`);
  }
  for (const c of s.convs.values()) {
    const expected = requiredSkills(c, policy);
    // a closed conversation keeps the terms it had
    if ((c.state === 'queued' || c.state === 'assigned') && JSON.stringify(Object.entries(c.requiredSkills).sort()) !== JSON.stringify(Object.entries(expected).sort())) {
      problems.push(`(7) conversation ${c.seq} requires ${JSON.stringify(c.requiredSkills)}, expected ${JSON.stringify(expected)}`);
    }
    if (c.state !== 'queued') continue;
    for (const a of s.agents.values()) {
      if (a.status === 'online' && !a.deleted && serves(a, c, now, policy) && !stale(a, c) && a.load < capacityOf(a, s.maxCustomers)) {
        problems.push(
          `(3) conversation ${c.seq} (dept ${c.department}, prio ${c.priority}) waits while agent ${a.id} ` +
            `(${a.departments.join('+') || 'no dept'}) holds ${a.load} of ${capacityOf(a, s.maxCustomers)}`,
        );
      }
    }
  }
  return problems;
}

interface MomentConv {
  state: ConvSnap['state'];
  agentId: string | null;
}

/**
 * Replays the events one engine call wrote, from the snapshot before it, and
 * checks every move against the policy:
 *  (1) no assignment or transfer to an agent at or above capacity;
 *  (2) only a queued conversation is assigned;
 *  (4) the assigned conversation is the first, by priority then arrival, of
 *      the queued ones the chosen agent could serve;
 *  (5) the chosen agent is eligible and first by (load, last assignment
 *      oldest, id) among the eligible agents at that moment;
 *  (6) the replay ends in exactly the state read after the call: every change
 *      of a conversation, a load, a status, a capacity, departments or a
 *      setting has its event.
 */
export function replayViolations(pre: Snapshot, post: Snapshot, events: readonly StoredEvent[], now: number, policy: Policy, lastSweep: number): string[] {
  const problems: string[] = [];
  const stale = staleAt(lastSweep, now, policy);
  const loads = new Map<string, number>();
  const lastAssigned = new Map<string, number | null>();
  for (const a of post.agents.values()) {
    const before = pre.agents.get(a.id);
    loads.set(a.id, before?.load ?? 0);
    lastAssigned.set(a.id, before?.lastAssignedAt ?? null);
  }
  const convs = new Map<string, MomentConv>();
  for (const c of pre.convs.values()) convs.set(c.id, { state: c.state, agentId: c.agentId });
  const seqOf = (id: string | null) => (id ? (post.convs.get(id)?.seq ?? id) : null);
  const cap = (id: string) => capacityOf(post.agents.get(id)!, post.maxCustomers);
  const take = (agentId: string) => {
    loads.set(agentId, (loads.get(agentId) ?? 0) + 1);
    lastAssigned.set(agentId, now);
  };
  const release = (agentId: string | null) => {
    if (agentId !== null) loads.set(agentId, (loads.get(agentId) ?? 0) - 1);
  };
  const statusEvents = new Map<string, string>();
  const updated = new Map<string, Set<string>>();
  let settingsChanged = false;

  for (const ev of events) {
    const cid = ev.conversation_id;
    const conv = cid ? convs.get(cid) : undefined;
    const data = ev.data as Record<string, unknown>;
    const where = `event ${ev.id} ${ev.type} (conversation ${seqOf(cid)})`;
    switch (ev.type) {
      case 'conversation.created': {
        if (conv || !cid || !post.convs.has(cid)) problems.push(`(6) ${where}: not a new conversation`);
        else convs.set(cid, { state: 'queued', agentId: null });
        break;
      }
      case 'conversation.queued': {
        if (!conv) {
          problems.push(`(6) ${where}: unknown conversation`);
        } else if (data.reason === 'new') {
          if (conv.state !== 'queued') problems.push(`(6) ${where}: reason new, but it is ${conv.state}`);
        } else if (conv.state !== 'assigned' || conv.agentId !== data.previous_agent_id) {
          problems.push(`(6) ${where}: re-queued from ${String(data.previous_agent_id)} but it was ${conv.state} with ${conv.agentId}`);
        } else {
          release(conv.agentId);
          conv.state = 'queued';
          conv.agentId = null;
        }
        break;
      }
      case 'conversation.assigned': {
        const agentId = ev.agent_id;
        const c = cid ? post.convs.get(cid) : undefined;
        const agent = agentId ? post.agents.get(agentId) : undefined;
        if (!conv || !c || !agent || !agentId) {
          problems.push(`(6) ${where}: unknown conversation or agent`);
          break;
        }
        if (data.transferred === true) {
          // a waiting conversation transferred to an agent: someone decided, and the
          // conversation.transferred just before it gave it (checked there)
          if (conv.state !== 'assigned' || conv.agentId !== agentId) problems.push(`(6) ${where}: a transfer's assignment to ${agentId}, but it is ${conv.state} with ${conv.agentId}`);
          break;
        }
        if (conv.state !== 'queued') problems.push(`(2) ${where}: assigned to ${agentId} while ${conv.state} with ${conv.agentId}`);
        const load = loads.get(agentId) ?? 0;
        if (load >= cap(agentId)) problems.push(`(1) ${where}: agent ${agentId} already held ${load} of ${cap(agentId)}`);
        if (agent.status !== 'online' || agent.deleted || !serves(agent, c, now, policy)) {
          problems.push(`(5) ${where}: agent ${agentId} is not eligible (${agent.status}, deleted ${agent.deleted}, depts ${agent.departments})`);
        }
        // (4) FIFO within what this agent can serve
        for (const [otherId, other] of convs) {
          if (otherId === cid || other.state !== 'queued') continue;
          const o = post.convs.get(otherId)!;
          if (serves(agent, o, now, policy) && !stale(agent, o) && queueOrder(o, c) < 0) {
            problems.push(
              `(4) ${where}: conversation ${c.seq} (prio ${c.priority}, dept ${c.department}) went to ${agentId} ` +
                `while conversation ${o.seq} (prio ${o.priority}, dept ${o.department}) waited ahead of it`,
            );
          }
        }
        // (5) best skill match, then least loaded, then idle longest, then id
        const key = (id: string) => [-skillScore(post.agents.get(id)!, c, policy), loads.get(id) ?? 0, lastAssigned.get(id) ?? -Infinity] as const;
        const better = (x: string, y: string) => {
          const [sx, lx, tx] = key(x);
          const [sy, ly, ty] = key(y);
          return sx !== sy ? sx < sy : lx !== ly ? lx < ly : tx !== ty ? tx < ty : x < y;
        };
        for (const other of post.agents.values()) {
          if (other.id === agentId || other.status !== 'online' || other.deleted || !serves(other, c, now, policy)) continue;
          if ((loads.get(other.id) ?? 0) >= cap(other.id)) continue;
          if (better(other.id, agentId)) {
            problems.push(
              `(5) ${where}: went to ${agentId} (score ${-key(agentId)[0]}, load ${load}, last ${lastAssigned.get(agentId)}) ` +
                `but ${other.id} (load ${loads.get(other.id)}, last ${lastAssigned.get(other.id)}) comes first`,
            );
          }
        }
        take(agentId);
        conv.state = 'assigned';
        conv.agentId = agentId;
        break;
      }
      case 'conversation.resolved':
      case 'conversation.abandoned': {
        if (!conv || (conv.state !== 'queued' && conv.state !== 'assigned')) {
          problems.push(`(6) ${where}: closing a conversation that is not open`);
          break;
        }
        if (ev.agent_id !== conv.agentId) problems.push(`(6) ${where}: names agent ${ev.agent_id}, held by ${conv.agentId}`);
        if (conv.state === 'assigned') release(conv.agentId);
        conv.state = ev.type === 'conversation.resolved' ? 'resolved' : 'abandoned';
        break;
      }
      case 'conversation.transferred': {
        if (!conv || (conv.state !== 'queued' && conv.state !== 'assigned')) {
          problems.push(`(6) ${where}: transferring a conversation that is not open`);
          break;
        }
        const to = data.to_agent_id as string | null | undefined;
        if (to) {
          const target = post.agents.get(to);
          const load = loads.get(to) ?? 0;
          if (!target || target.deleted || target.status !== 'online') problems.push(`(1) ${where}: target ${to} cannot take it`);
          else if (load >= cap(to)) problems.push(`(1) ${where}: target ${to} already held ${load} of ${cap(to)}`);
          if (conv.state === 'assigned') release(conv.agentId);
          take(to);
          conv.state = 'assigned';
          conv.agentId = to;
        } else if (conv.state !== 'queued') {
          // to a department: the conversation.queued event before it released the slot
          problems.push(`(6) ${where}: transferred to a department but still ${conv.state}`);
        }
        break;
      }
      case 'agent.status_changed':
        if (ev.agent_id) statusEvents.set(ev.agent_id, String(data.to));
        break;
      case 'agent.deleted':
        if (ev.agent_id) statusEvents.set(ev.agent_id, 'offline');
        break;
      case 'agent.updated':
        if (ev.agent_id) {
          const set = updated.get(ev.agent_id) ?? new Set<string>();
          for (const k of (data.changed as string[] | undefined) ?? []) set.add(k);
          updated.set(ev.agent_id, set);
        }
        break;
      case 'settings.changed':
        settingsChanged = true;
        break;
      case 'agent.created':
        break;
      default:
        problems.push(`(6) event ${ev.id}: unexpected type ${ev.type}`);
    }
  }

  // (6) the replay explains the state after the call
  for (const [id, c] of post.convs) {
    const replayed = convs.get(id);
    if (!replayed) problems.push(`(6) conversation ${c.seq} exists without a conversation.created event`);
    else if (replayed.state !== c.state || replayed.agentId !== c.agentId) {
      problems.push(`(6) conversation ${c.seq} is ${c.state}/${c.agentId}, events say ${replayed.state}/${replayed.agentId}`);
    }
  }
  for (const a of post.agents.values()) {
    const before = pre.agents.get(a.id);
    if (loads.get(a.id) !== a.load) problems.push(`(6) agent ${a.id} load ${a.load}, events say ${loads.get(a.id)}`);
    if (!before) continue;
    const expectedStatus = statusEvents.get(a.id) ?? before.status;
    if (expectedStatus !== a.status) problems.push(`(6) agent ${a.id} is ${a.status}, events say ${expectedStatus}`);
    if (a.deleted !== before.deleted && !events.some((e) => e.type === 'agent.deleted' && e.agent_id === a.id)) {
      problems.push(`(6) agent ${a.id} was deleted without an agent.deleted event`);
    }
    const changed = updated.get(a.id) ?? new Set<string>();
    if (a.capacity !== before.capacity && !changed.has('capacity')) problems.push(`(6) agent ${a.id} capacity changed without an event`);
    if (a.departments.join() !== before.departments.join() && !changed.has('departments')) {
      problems.push(`(6) agent ${a.id} departments changed without an event`);
    }
    if (JSON.stringify(a.skills) !== JSON.stringify(before.skills) && !changed.has('skills')) problems.push(`(6) agent ${a.id} skills changed without an event`);
  }
  if (post.maxCustomers !== pre.maxCustomers && !settingsChanged) problems.push('(6) max_customers changed without settings.changed');
  return problems;
}

/** (6) over the whole log: one conversation.created per conversation, one agent.created per agent. */
export async function eventCountViolations(db: Queryable): Promise<string[]> {
  const [row] = await db.query<{ convs: number; created: number; agents: number; agents_created: number; deleted: number; deleted_events: number }>(
    `select (select count(*)::int from conversations) as convs,
            (select count(*)::int from events where type = 'conversation.created') as created,
            (select count(*)::int from agents) as agents,
            (select count(*)::int from events where type = 'agent.created') as agents_created,
            (select count(*)::int from agents where deleted_at is not null) as deleted,
            (select count(*)::int from events where type = 'agent.deleted') as deleted_events`,
  );
  const problems: string[] = [];
  if (row!.convs !== row!.created) problems.push(`(6) ${row!.convs} conversations but ${row!.created} conversation.created events`);
  if (row!.agents !== row!.agents_created) problems.push(`(6) ${row!.agents} agents but ${row!.agents_created} agent.created events`);
  if (row!.deleted !== row!.deleted_events) problems.push(`(6) ${row!.deleted} deleted agents but ${row!.deleted_events} agent.deleted events`);
  return problems;
}
