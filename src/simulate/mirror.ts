import type { StoredEvent } from '../events/outbox.js';
import type { DepartmentRouting } from '../routing/department-settings.js';
import type { Arrival } from './arrivals.js';
import { eligible, ahead, type PolicyConversation, type PolicyAgent } from './eligibility.js';
import type { SimAgent } from './team.js';

// The simulator's own picture of the system, kept only from what the engine
// reports (returned rows and committed events) — never from what the
// simulator expects it to do. It answers "what is open, who holds what" for
// scheduling, records each customer's outcome, and checks the engine's
// promises as it goes: FIFO within a department and work conservation.
//
// With routing policies (--routing) both promises are those of the policy:
// the order is the queue's (effective priority with aging, then arrival)
// among the conversations the receiving agent is eligible for, and no
// conversation waits while an agent eligible for it under the policy
// (src/simulate/eligibility.ts, written from docs/routing.md, not from the
// SQL) has room. Eligibility gained by time alone (overflow, relaxed skills,
// a sticky wait's end) counts from the engine sweep at or after that time:
// the simulator runs one at each such instant, as a server's 1 s sweep would.

export interface ConversationRecord {
  index: number;
  /** virtual ms since the origin, from the engine's created_at */
  createdMs: number;
  department: string | null;
  priority: number;
  handleMs: number;
  patienceMs: number | null;
  /** the engine put it in the queue on arrival (no agent had room) */
  waited: boolean;
  /** from the engine's assigned_at; null if never answered */
  assignedMs: number | null;
  closedMs: number | null;
  outcome: 'answered' | 'abandoned' | 'open';
  agentId: string | null;
  /** the agent the customer returned to under sticky routing, when they did */
  stickyAgentId?: string | null;
  /** offers of this conversation that were declined or ran out */
  offersRefused?: number;
  /** the skills it required (the opener's merged with its department's), when policies are on */
  requiredSkills?: Readonly<Record<string, number>>;
}

interface Open extends PolicyConversation {
  id: string;
  rec: ConversationRecord;
  /** bumped when the conversation leaves an agent, so a stale completion is ignored */
  generation: number;
  /** 'new' between the created event and the queued or assigned one that follows it */
  state: 'new' | 'queued' | 'offered' | 'assigned';
  /** sticky routing: the customer's last agent with room at the open, who must get it */
  stickyDue: string | null;
  /** sticky routing: the last agent it may wait for, and how long (ms), if it ends up queued */
  stickyWait: { agentId: string; untilMs: number } | null;
  /** the last offer's timeout (ms): declines run out that long after the last one */
  offerTimeoutMs?: number;
}

export interface Offer {
  id: string;
  generation: number;
  agentId: string;
}

export interface Assignment {
  id: string;
  generation: number;
  /** when the agent will finish it, virtual ms */
  doneMs: number;
}

export interface Checks {
  /** assignments that skipped an older (or higher-priority) conversation of the same department */
  fifo_violations: number;
  /** moments after an engine call when a queued conversation had an eligible online agent with room */
  work_conservation_violations: number;
  /** conversations the periodic sweep assigned: a match the event-driven path missed */
  sweep_assignments: number;
  /** differences between the store and the simulator's view at the end of the run */
  store_mismatches: string[];
  /** sticky routing: a returning customer whose last agent had room went to someone else (only with policies) */
  sticky_violations?: number;
  examples: string[];
}

/** What the policies did, counted from the engine's events. */
export interface PolicyCounts {
  offered: number;
  offers_accepted: number;
  offers_declined: number;
  offers_expired: number;
  picks: number;
  pick_refusals: number;
  sticky_returns: number;
  sla_breaches: number;
  /** conversations served by an agent outside their department (overflow) */
  overflowed: number;
}

/** The mirror's view of the routing policies: each department's effective settings. */
export interface PolicyView {
  active: boolean;
  of(department: string | null): DepartmentRouting;
}

const key = (department: string | null) => department ?? '';
const customerKey = (department: string | null, customerId: string) => `${department ?? ''}\u0000${customerId}`;

interface EventConversation {
  created_at: string;
  queued_at: string | null;
  assigned_at: string | null;
  offer_expires_at: string | null;
  sla_due_at?: string | null;
  required_skills?: Record<string, number>;
}

export class Mirror {
  readonly records: ConversationRecord[] = [];
  readonly queueSteps: { t: number[]; q: number[] } = { t: [], q: [] };
  readonly slotSteps: { t: number[]; slots: number[] } = { t: [], slots: [] };
  readonly checks: Checks = { fifo_violations: 0, work_conservation_violations: 0, sweep_assignments: 0, store_mismatches: [], examples: [] };
  readonly counts: PolicyCounts = { offered: 0, offers_accepted: 0, offers_declined: 0, offers_expired: 0, picks: 0, pick_refusals: 0, sticky_returns: 0, sla_breaches: 0, overflowed: 0 };
  /** offers made since the last call, for the simulator's agents to answer */
  readonly newOffers: Offer[] = [];
  /** instants (virtual ms) at which time alone changes who may serve something: the simulator sweeps then */
  readonly newTimers: number[] = [];
  /** agents with room while a manual-mode conversation they may pick waits */
  readonly wantPick = new Set<string>();
  private readonly open = new Map<string, Open>();
  /** per department, queued conversations in the engine's promised order: priority desc, then arrival */
  private readonly queues = new Map<string, Open[]>();
  private readonly agents = new Map<string, PolicyAgent & { agent: SimAgent; load: number; online: boolean; status: string }>();
  /** sticky routing: per department and customer, the agent of their last closed conversation */
  private readonly lastAgent = new Map<string, { agentId: string; closedMs: number }>();
  private queued = 0;
  private onlineSlots = 0;
  /** virtual ms of the last engine sweep: eligibility gained by time counts from then */
  private sweptMs = 0;

  constructor(
    team: readonly SimAgent[],
    private readonly originMs: number,
    private readonly policy: PolicyView = { active: false, of: () => { throw new Error('no policy view'); } },
  ) {
    if (policy.active) this.checks.sticky_violations = 0;
    for (const agent of team) this.agents.set(agent.id, { agent, id: agent.id, departments: agent.departments, skills: agent.skills, load: 0, online: false, status: 'offline' });
    this.slotSteps.t.push(0);
    this.slotSteps.slots.push(0);
    this.queueSteps.t.push(0);
    this.queueSteps.q.push(0);
  }

  get openCount(): number {
    return this.open.size;
  }

  isAssigned(id: string, generation: number): boolean {
    const c = this.open.get(id);
    return c !== undefined && c.state === 'assigned' && c.generation === generation;
  }

  isOffered(id: string, generation: number): boolean {
    const c = this.open.get(id);
    return c !== undefined && c.state === 'offered' && c.generation === generation;
  }

  departmentOf(id: string): string | null {
    return this.open.get(id)?.department ?? null;
  }

  isQueued(id: string): boolean {
    return this.open.get(id)?.state === 'queued';
  }

  /**
   * Whether an engine sweep could change anything now: under routing
   * policies always (time alone changes who may serve what), under the
   * default policy only while something is queued.
   */
  sweepMayAct(): boolean {
    return this.policy.active || this.queued > 0;
  }

  /** Marks an engine sweep at `nowMs`, before its events are applied. */
  swept(nowMs: number): void {
    this.sweptMs = nowMs;
  }

  /** The conversation the agent would pick now in a manual-mode department: the first eligible in queue order. */
  pickFor(agentId: string, nowMs: number): { id: string; generation: number } | null {
    const a = this.agents.get(agentId)!;
    if (!a.online || a.load >= a.agent.capacity) return null;
    let best: Open | null = null;
    for (const [dept, list] of this.queues) {
      if (this.policy.of(dept === '' ? null : dept).mode !== 'manual') continue;
      const first = list.find((c) => eligible(c, a, nowMs));
      if (first && (best === null || ahead(first, best, nowMs))) best = first;
    }
    return best === null ? null : { id: best.id, generation: best.generation };
  }

  /** Folds one engine call's committed events in; returns the new assignments to schedule. */
  apply(events: readonly StoredEvent[], nowMs: number, arrival?: Arrival): Assignment[] {
    const assigned: Assignment[] = [];
    for (const event of events) {
      const conversation = (event.data as { conversation?: EventConversation }).conversation;
      switch (event.type) {
        case 'conversation.created': {
          if (!arrival) throw new Error('the engine created a conversation the simulator did not open');
          const rec: ConversationRecord = {
            index: arrival.index,
            createdMs: this.ms(conversation!.created_at),
            department: arrival.department,
            priority: arrival.priority,
            handleMs: arrival.handleMs,
            patienceMs: arrival.patienceMs,
            waited: false,
            assignedMs: null,
            closedMs: null,
            outcome: 'open',
            agentId: null,
          };
          this.records.push(rec);
          const c: Open = {
            id: event.conversation_id!,
            rec,
            generation: 0,
            state: 'new',
            index: arrival.index,
            priority: arrival.priority,
            department: arrival.department,
            queuedMs: rec.createdMs,
            required: conversation!.required_skills ?? {},
            overflow: [],
            relaxAfterS: null,
            agingPerMin: 0,
            stickyAgentId: null,
            stickyUntilMs: null,
            declined: new Set(),
            stickyDue: null,
            stickyWait: null,
          };
          if (this.policy.active) {
            rec.requiredSkills = c.required;
            this.termsOf(c, arrival.customerId, nowMs);
            if (conversation!.sla_due_at) this.newTimers.push(this.ms(conversation!.sla_due_at));
          }
          this.open.set(c.id, c);
          break;
        }
        case 'conversation.queued': {
          const c = this.open.get(event.conversation_id!)!;
          const reason = (event.data as { reason?: string }).reason;
          if (reason === 'declines_cleared') {
            // Still queued, at its place: only who may be offered it again changes.
            c.declined.clear();
            break;
          }
          if (reason === 'new') {
            c.rec.waited = true;
            if (c.stickyDue !== null) this.stickyMissed(c, nowMs, null);
            if (c.stickyWait !== null) {
              c.stickyAgentId = c.stickyWait.agentId;
              c.stickyUntilMs = c.stickyWait.untilMs;
              this.newTimers.push(c.stickyUntilMs);
            }
          }
          if (c.state === 'assigned' || c.state === 'offered') this.release(c);
          if (conversation?.queued_at) c.queuedMs = this.ms(conversation.queued_at);
          this.enqueue(c, nowMs);
          break;
        }
        case 'conversation.offered':
        case 'conversation.assigned': {
          const c = this.open.get(event.conversation_id!)!;
          const offered = event.type === 'conversation.offered';
          const accepting = !offered && c.state === 'offered' && c.rec.agentId === event.agent_id;
          if (c.stickyDue !== null) this.stickyMissed(c, nowMs, event.agent_id);
          if (c.state === 'queued') this.dequeue(c, nowMs, true, event.agent_id!);
          if (accepting) {
            this.counts.offers_accepted++;
          } else {
            if (c.state === 'assigned' || c.state === 'offered') this.release(c);
            c.generation++;
            c.rec.agentId = event.agent_id;
            const a = this.agents.get(event.agent_id!)!;
            a.load++;
            if (c.department !== null && !a.agent.departments.includes(c.department)) this.counts.overflowed++;
            if (c.stickyAgentId === event.agent_id || (c.rec.stickyAgentId === undefined && c.stickyWait?.agentId === event.agent_id)) c.rec.stickyAgentId = event.agent_id;
          }
          if (offered) {
            c.state = 'offered';
            this.counts.offered++;
            this.newOffers.push({ id: c.id, generation: c.generation, agentId: event.agent_id! });
            if (conversation?.offer_expires_at) {
              this.newTimers.push(this.ms(conversation.offer_expires_at));
              c.offerTimeoutMs = this.ms(conversation.offer_expires_at) - nowMs;
            }
            break;
          }
          if ((event.data as { picked?: boolean }).picked) this.counts.picks++;
          c.state = 'assigned';
          c.declined.clear();
          c.rec.assignedMs = this.ms(conversation!.assigned_at!);
          assigned.push({ id: c.id, generation: c.generation, doneMs: c.rec.assignedMs + c.rec.handleMs });
          break;
        }
        case 'conversation.offer_declined':
        case 'conversation.offer_expired': {
          const c = this.open.get(event.conversation_id!)!;
          if (event.type === 'conversation.offer_declined') this.counts.offers_declined++;
          else this.counts.offers_expired++;
          c.rec.offersRefused = (c.rec.offersRefused ?? 0) + 1;
          c.declined.add(event.agent_id!);
          // The sweep clears the declines offer_timeout_s after the last one (docs/routing.md#offer-and-accept).
          if (c.offerTimeoutMs !== undefined) this.newTimers.push(nowMs + c.offerTimeoutMs);
          this.release(c);
          c.rec.agentId = null;
          this.enqueue(c, nowMs);
          break;
        }
        case 'conversation.sla_breached':
          this.counts.sla_breaches++;
          break;
        case 'conversation.resolved':
        case 'conversation.abandoned': {
          const c = this.open.get(event.conversation_id!)!;
          if (c.state === 'queued') this.dequeue(c, nowMs, false, null);
          else if (c.state === 'assigned' || c.state === 'offered') {
            this.release(c);
            if (this.policy.active) this.lastAgent.set(customerKey(c.department, c.customerId!), { agentId: c.rec.agentId!, closedMs: nowMs });
          }
          c.rec.closedMs = nowMs;
          c.rec.outcome = c.rec.assignedMs === null ? 'abandoned' : 'answered';
          this.open.delete(c.id);
          break;
        }
        case 'agent.status_changed': {
          const a = this.agents.get(event.agent_id!);
          if (!a) break;
          a.status = (event.data as { to: string }).to;
          const online = a.status === 'online';
          if (online !== a.online) {
            a.online = online;
            this.onlineSlots += online ? a.agent.capacity : -a.agent.capacity;
            this.step(this.slotSteps.t, this.slotSteps.slots, nowMs, this.onlineSlots);
            if (online && this.policy.active) this.wantPick.add(a.id);
          }
          break;
        }
      }
    }
    if (this.policy.active) this.checkPolicyWorkConserving(nowMs);
    else this.checkWorkConserving(nowMs);
    return assigned;
  }

  /** A conversation's routing terms as its department sets them at the open, and its sticky agent if any. */
  private termsOf(c: Open, customerId: string, nowMs: number): void {
    const settings = this.policy.of(c.department);
    c.customerId = customerId;
    c.overflow = settings.overflow;
    c.relaxAfterS = settings.skills_relax_after_s;
    c.agingPerMin = settings.aging_per_min;
    if (settings.sticky_window_s <= 0 || settings.mode === 'manual') return;
    const last = this.lastAgent.get(customerKey(c.department, customerId));
    if (!last || last.closedMs < nowMs - settings.sticky_window_s * 1000) return;
    const a = this.agents.get(last.agentId)!;
    if (!eligible(c, a, nowMs)) return;
    if (a.online && a.load < a.agent.capacity) c.stickyDue = a.id;
    else if (settings.sticky_wait_s > 0 && (a.status === 'online' || a.status === 'away')) c.stickyWait = { agentId: a.id, untilMs: nowMs + settings.sticky_wait_s * 1000 };
  }

  private stickyMissed(c: Open, nowMs: number, agentId: string | null): void {
    if (agentId === c.stickyDue) this.counts.sticky_returns++;
    else {
      this.checks.sticky_violations = (this.checks.sticky_violations ?? 0) + 1;
      this.example(`t=${nowMs}ms: returning customer's conversation #${c.rec.index} went to ${agentId ?? 'the queue'} while their last agent ${c.stickyDue} had room`);
    }
    if (agentId === c.stickyDue) c.rec.stickyAgentId = agentId;
    c.stickyDue = null;
  }

  /** Compares the store with this view: loads per agent and the number queued and assigned. */
  async verifyStore(query: <R>(sql: string) => Promise<R[]>): Promise<void> {
    const counts = await query<{ state: string; n: number }>(`select state, count(*)::int as n from conversations group by state`);
    const n = (state: string) => counts.find((c) => c.state === state)?.n ?? 0;
    const mine = { queued: this.queued, assigned: this.open.size - this.queued };
    if (n('queued') !== mine.queued) this.checks.store_mismatches.push(`store has ${n('queued')} queued, simulator saw ${mine.queued}`);
    if (n('assigned') !== mine.assigned) this.checks.store_mismatches.push(`store has ${n('assigned')} assigned, simulator saw ${mine.assigned}`);
    const loads = await query<{ id: string; load: number }>(`select id::text, load from agents order by id`);
    for (const row of loads) {
      const a = this.agents.get(row.id);
      if (a && a.load !== row.load) this.checks.store_mismatches.push(`agent ${row.id} has load ${row.load} in the store, simulator saw ${a.load}`);
    }
  }

  private ms(iso: string): number {
    return Date.parse(iso) - this.originMs;
  }

  private release(c: Open): void {
    const a = this.agents.get(c.rec.agentId!)!;
    a.load--;
    c.generation++;
    if (this.policy.active) this.wantPick.add(a.id);
  }

  private enqueue(c: Open, nowMs: number): void {
    c.state = 'queued';
    const list = this.queues.get(key(c.rec.department)) ?? [];
    this.queues.set(key(c.rec.department), list);
    // binary search for the first entry that comes after c
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = list[mid]!;
      if (m.rec.priority > c.rec.priority || (m.rec.priority === c.rec.priority && m.rec.index < c.rec.index)) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, c);
    this.queued++;
    if (this.policy.active) this.timersOf(c);
    this.step(this.queueSteps.t, this.queueSteps.q, nowMs, this.queued);
  }

  /** The instants at which waiting alone widens who may serve c: overflow steps, skills relaxing, a sticky wait's end. */
  private timersOf(c: Open): void {
    for (const step of c.overflow) this.newTimers.push(c.queuedMs + step.after_s * 1000);
    if (c.relaxAfterS !== null && Object.keys(c.required).length > 0) this.newTimers.push(c.queuedMs + c.relaxAfterS * 1000);
    if (c.stickyUntilMs !== null) this.newTimers.push(c.stickyUntilMs);
    const settings = this.policy.of(c.department);
    if (settings.mode === 'manual') for (const a of this.agents.values()) if (eligible(c, a, Infinity)) this.wantPick.add(a.id);
  }

  private dequeue(c: Open, nowMs: number, byAssignment: boolean, agentId: string | null): void {
    const list = this.queues.get(key(c.rec.department))!;
    const at = list.indexOf(c);
    if (this.policy.active) {
      if (byAssignment && this.policy.of(c.department).manual_order !== 'any') {
        const a = this.agents.get(agentId!)!;
        const skipped = list.find((o) => o !== c && ahead(o, c, nowMs) && eligible(o, a, nowMs));
        if (skipped) {
          this.checks.fifo_violations++;
          this.example(`t=${nowMs}ms: conversation #${c.rec.index} given to agent ${a.agent.index + 1} while #${skipped.rec.index}, ahead of it and theirs to take, still waited`);
        }
      }
    } else if (byAssignment && at !== 0) {
      this.checks.fifo_violations++;
      this.example(`t=${nowMs}ms: conversation #${c.rec.index} assigned while #${list[0]!.rec.index} (same department, ahead of it) still waited`);
    }
    list.splice(at, 1);
    this.queued--;
    this.step(this.queueSteps.t, this.queueSteps.q, nowMs, this.queued);
  }

  private checkWorkConserving(nowMs: number): void {
    if (this.queued === 0) return;
    for (const [dept, list] of this.queues) {
      if (list.length === 0) continue;
      for (const a of this.agents.values()) {
        if (a.online && a.load < a.agent.capacity && (dept === '' || a.agent.departments.includes(dept))) {
          this.checks.work_conservation_violations++;
          this.example(`t=${nowMs}ms: conversation #${list[0]!.rec.index} waited while agent ${a.agent.index + 1} had ${a.agent.capacity - a.load} free slot(s)`);
          return;
        }
      }
    }
  }

  private checkPolicyWorkConserving(nowMs: number): void {
    if (this.queued === 0) return;
    for (const [dept, list] of this.queues) {
      // manual mode: no agent is eligible for automatic assignment (docs/routing.md)
      if (list.length === 0 || this.policy.of(dept === '' ? null : dept).mode === 'manual') continue;
      for (const c of list) {
        for (const a of this.agents.values()) {
          if (a.online && a.load < a.agent.capacity && eligible(c, a, this.sweptMs)) {
            this.checks.work_conservation_violations++;
            this.example(`t=${nowMs}ms: conversation #${c.rec.index} waited while agent ${a.agent.index + 1}, eligible under the policy, had ${a.agent.capacity - a.load} free slot(s)`);
            return;
          }
        }
      }
    }
  }

  private example(text: string): void {
    if (this.checks.examples.length < 10) this.checks.examples.push(text);
  }

  /** Appends to a step function; several changes at one instant keep only the last value. */
  private step(ts: number[], vs: number[], t: number, v: number): void {
    if (ts[ts.length - 1] === t) vs[vs.length - 1] = v;
    else {
      ts.push(t);
      vs.push(v);
    }
  }
}
