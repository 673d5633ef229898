import type { StoredEvent } from '../events/outbox.js';
import type { Arrival } from './arrivals.js';
import type { SimAgent } from './team.js';

// The simulator's own picture of the system, kept only from what the engine
// reports (returned rows and committed events) — never from what the
// simulator expects it to do. It answers "what is open, who holds what" for
// scheduling, records each customer's outcome, and checks the engine's
// promises as it goes: FIFO within a department and work conservation.

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
}

interface Open {
  id: string;
  rec: ConversationRecord;
  /** bumped when the conversation leaves an agent, so a stale completion is ignored */
  generation: number;
  /** 'new' between the created event and the queued or assigned one that follows it */
  state: 'new' | 'queued' | 'assigned';
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
  examples: string[];
}

const key = (department: string | null) => department ?? '';

export class Mirror {
  readonly records: ConversationRecord[] = [];
  readonly queueSteps: { t: number[]; q: number[] } = { t: [], q: [] };
  readonly slotSteps: { t: number[]; slots: number[] } = { t: [], slots: [] };
  readonly checks: Checks = { fifo_violations: 0, work_conservation_violations: 0, sweep_assignments: 0, store_mismatches: [], examples: [] };
  private readonly open = new Map<string, Open>();
  /** per department, queued conversations in the engine's promised order: priority desc, then arrival */
  private readonly queues = new Map<string, Open[]>();
  private readonly agents = new Map<string, { agent: SimAgent; load: number; online: boolean }>();
  private queued = 0;
  private onlineSlots = 0;

  constructor(
    team: readonly SimAgent[],
    private readonly originMs: number,
  ) {
    for (const agent of team) this.agents.set(agent.id, { agent, load: 0, online: false });
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

  isQueued(id: string): boolean {
    return this.open.get(id)?.state === 'queued';
  }

  /** Folds one engine call's committed events in; returns the new assignments to schedule. */
  apply(events: readonly StoredEvent[], nowMs: number, arrival?: Arrival): Assignment[] {
    const assigned: Assignment[] = [];
    for (const event of events) {
      const conversation = (event.data as { conversation?: { created_at: string; assigned_at: string | null } }).conversation;
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
          this.open.set(event.conversation_id!, { id: event.conversation_id!, rec, generation: 0, state: 'new' });
          break;
        }
        case 'conversation.queued': {
          const c = this.open.get(event.conversation_id!)!;
          const reason = (event.data as { reason?: string }).reason;
          if (reason === 'new') c.rec.waited = true;
          if (c.state === 'assigned') this.release(c);
          this.enqueue(c, nowMs);
          break;
        }
        case 'conversation.assigned': {
          const c = this.open.get(event.conversation_id!)!;
          if (c.state === 'queued') this.dequeue(c, nowMs, true);
          if (c.state === 'assigned') this.release(c);
          c.state = 'assigned';
          c.generation++;
          c.rec.assignedMs = this.ms(conversation!.assigned_at!);
          c.rec.agentId = event.agent_id;
          this.agents.get(event.agent_id!)!.load++;
          assigned.push({ id: c.id, generation: c.generation, doneMs: c.rec.assignedMs + c.rec.handleMs });
          break;
        }
        case 'conversation.resolved':
        case 'conversation.abandoned': {
          const c = this.open.get(event.conversation_id!)!;
          if (c.state === 'queued') this.dequeue(c, nowMs, false);
          else if (c.state === 'assigned') this.release(c);
          c.rec.closedMs = nowMs;
          c.rec.outcome = c.rec.assignedMs === null ? 'abandoned' : 'answered';
          this.open.delete(c.id);
          break;
        }
        case 'agent.status_changed': {
          const a = this.agents.get(event.agent_id!);
          if (!a) break;
          const online = (event.data as { to: string }).to === 'online';
          if (online !== a.online) {
            a.online = online;
            this.onlineSlots += online ? a.agent.capacity : -a.agent.capacity;
            this.step(this.slotSteps.t, this.slotSteps.slots, nowMs, this.onlineSlots);
          }
          break;
        }
      }
    }
    this.checkWorkConserving(nowMs);
    return assigned;
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
    this.step(this.queueSteps.t, this.queueSteps.q, nowMs, this.queued);
  }

  private dequeue(c: Open, nowMs: number, byAssignment: boolean): void {
    const list = this.queues.get(key(c.rec.department))!;
    const at = list.indexOf(c);
    if (byAssignment && at !== 0) {
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
