import { setFlagsFromString } from 'node:v8';
import { updateAgent } from '../agents/agents.js';
import { SYSTEM } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { closeConversation, openConversation } from '../conversations/lifecycle.js';
import type { StoredEvent } from '../events/outbox.js';
import { AppError } from '../errors.js';
import { changeDepartmentRouting, readDepartmentRouting, type DepartmentRouting } from '../routing/department-settings.js';
import { answerOffer } from '../routing/offers.js';
import { pickConversation } from '../routing/pick.js';
import { recordFirstResponse } from '../routing/sla.js';
import { sweep } from '../routing/sweep.js';
import { ATTACHMENT_DEFAULTS, CSAT_DEFAULTS, seedSettings } from '../settings/settings.js';
import type { Db } from '../store/db.js';
import { openMemoryStore } from '../store/memory.js';
import { arrivalCount, arrivals, type Arrival, type ArrivalSpec, type CustomerModel } from './arrivals.js';
import { badInput } from './errors.js';
import { EventQueue } from './event-queue.js';
import { HORIZON_MS, HORIZON_YEARS, LAST_INSTANT_MS, duration, years } from './horizon.js';
import { Mirror, type Assignment, type Checks, type ConversationRecord, type PolicyCounts } from './mirror.js';
import type { RoutingPolicies } from './policy.js';
import { createRng } from './rng.js';
import { createTeam, onShiftAt, type AgentGroup, type SimAgent } from './team.js';
import { DEFAULT_ORIGIN_MS } from './trace.js';

// The discrete-event loop. Time jumps from one scheduled event to the next;
// at each, the virtual clock is set and the real engine is called — the same
// functions and SQL the server runs — on an in-memory PGlite. Whatever the
// engine decides (who gets which conversation, when) comes back as rows and
// committed events, and only then does the simulator schedule what follows:
// the agent finishing, the customer giving up.

// A simulation spends most of its time inside PGlite's WebAssembly. By
// default V8 optimizes only the functions that turn hot, and some of
// PostgreSQL's never do; compiling all of it optimized up front costs about
// half a second once per process and runs a simulation some 7 % faster. Set
// here, when the simulator is loaded, so the server keeps its quick start.
setFlagsFromString('--no-wasm-dynamic-tiering');

export interface SimulationConfig {
  arrivals: ArrivalSpec;
  customers: CustomerModel;
  groups: readonly AgentGroup[];
  /** share of the first arrivals left out of the statistics while the system fills up */
  warmup: number;
  target: { seconds: number; share: number };
  /** virtual seconds between engine sweeps; 0 for none */
  sweepEveryS: number;
  /** per department, the settings of PUT /departments/:name/routing; none: the default policy */
  routing?: RoutingPolicies;
  /** how simulated agents answer offers and pick from manual queues */
  behaviour?: Behaviour;
}

export interface Behaviour {
  /** seconds an agent takes to answer an offer (accept or decline) */
  offerAcceptS: number;
  /** share of offers declined */
  offerDeclineShare: number;
  /** share of offers left unanswered, to run out */
  offerMissShare: number;
  /** seconds an agent with room takes to pick the next conversation of a manual queue */
  pickDelayS: number;
}

export const DEFAULT_BEHAVIOUR: Behaviour = { offerAcceptS: 5, offerDeclineShare: 0, offerMissShare: 0, pickDelayS: 5 };

export interface SimulationRun {
  config: SimulationConfig;
  originMs: number;
  agents: readonly SimAgent[];
  records: readonly ConversationRecord[];
  queueSteps: { t: number[]; q: number[] };
  slotSteps: { t: number[]; slots: number[] };
  /** virtual ms of the last event handled */
  endMs: number;
  checks: Checks;
  /** what the routing policies did (offers, picks, sticky returns, SLA breaches, overflow) */
  policy: PolicyCounts;
  engine: { calls: Record<EngineCall, number>; ms: Record<EngineCall, number>; setup_ms: number };
  wallMs: number;
}

export type EngineCall = 'open' | 'close' | 'abandon' | 'agent_status' | 'sweep' | 'offer_answer' | 'pick';

type SimEvent =
  | { kind: 'arrival'; arrival: Arrival }
  | { kind: 'complete'; id: string; generation: number }
  | { kind: 'patience'; id: string }
  | { kind: 'shift'; agent: SimAgent; on: boolean }
  | { kind: 'sweep' }
  /** a sweep at an instant when time alone changes routing (a server sweeps every second) */
  | { kind: 'timer' }
  | { kind: 'answer'; id: string; generation: number; agentId: string; accept: boolean }
  | { kind: 'pick'; agentId: string };

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Agents in a simulation send no heartbeats; a ten-year keep-alive keeps the sweep from timing them out. */
const NO_KEEP_ALIVE_MS = 10 * 365 * DAY_MS;
/** Stop waiting for agents to come back this long after the last arrival, when nothing else can happen. */
const STRANDED_AFTER_MS = 2 * DAY_MS;

export interface RunOptions {
  onProgress?: (arrived: number, total: number) => void;
  /** Called with the simulation's store once it is open, before anything is written (session settings for a profile). */
  prepare?: (db: Db) => Promise<void>;
  /** Called with the simulation's store before it is closed (export its history, check invariants). */
  inspect?: (db: Db) => Promise<void>;
}

export async function runSimulation(config: SimulationConfig, options: RunOptions = {}): Promise<SimulationRun> {
  const wallStart = performance.now();
  const originMs = config.arrivals.kind === 'trace' ? config.arrivals.trace.originMs : DEFAULT_ORIGIN_MS;
  let clockMs = 0;
  // a trace late in 9999 reaches the last time the store holds before the horizon
  const endMs = Math.min(HORIZON_MS, LAST_INSTANT_MS - originMs);
  const pastEnd = endMs < HORIZON_MS ? 'the end of 9999 (UTC), the last time the store holds' : `the ${HORIZON_YEARS} years of virtual time one run covers`;
  const committed: StoredEvent[] = [];
  const db = await openMemoryStore();
  try {
    await options.prepare?.(db);
    await seedSettings(
      db,
      {
        max_customers: config.groups[0]?.capacity ?? 1,
        attendant_keep_alive_ms: NO_KEEP_ALIVE_MS,
        agent_offline_grace_ms: 60_000,
        // shift ends set agents away, never offline; nothing to requeue
        offline_policy: 'keep',
        offline_email_to: null,
        ...CSAT_DEFAULTS,
        offline_when: ['outside_hours'],
        ...ATTACHMENT_DEFAULTS,
      },
      new Date(originMs),
    );
    const ctx: Ctx = {
      db,
      now: () => new Date(originMs + clockMs),
      // one by one: push(...events) passes each on the stack, too many for a big drain
      onCommitted: (events) => {
        for (const event of events) committed.push(event);
      },
    };
    // The policies are set as an admin sets them, through the engine's own
    // function; the mirror reads back the effective settings (defaults filled in).
    const routing = config.routing ?? {};
    const settings = new Map<string | null, DepartmentRouting>([[null, await readDepartmentRouting(db, null)]]);
    for (const [department, change] of Object.entries(routing)) settings.set(department, await changeDepartmentRouting(ctx, department, change, null));
    const policyOf = (department: string | null) => settings.get(department) ?? settings.get(null)!;
    // Sticky routing only sees verified customers; other runs leave them
    // unverified, as before, so the default policy's runs index nothing more.
    const verified = [...settings.values()].some((s) => s.sticky_window_s > 0);
    const team = await createTeam(ctx, config.groups);
    committed.length = 0;
    // The default policy keeps the plain FIFO checks (and their speed); a
    // routing policy, or skills asked by arrivals, needs the policy's checks.
    const spec = config.arrivals;
    const asksSkills = spec.kind === 'poisson' ? (spec.skills ?? []).length > 0 : spec.trace.arrivals.some((a) => a.skills !== null);
    const mirror = new Mirror(team, originMs, { active: Object.keys(routing).length > 0 || asksSkills, of: policyOf });
    const behaviour = config.behaviour ?? DEFAULT_BEHAVIOUR;
    const offerRng = createRng(config.customers.seed, 'offers');
    const engine = {
      calls: { open: 0, close: 0, abandon: 0, agent_status: 0, sweep: 0, offer_answer: 0, pick: 0 },
      ms: { open: 0, close: 0, abandon: 0, agent_status: 0, sweep: 0, offer_answer: 0, pick: 0 },
      setup_ms: performance.now() - wallStart,
    };
    const timers = new Set<number>();
    const picking = new Set<string>();
    const future = new EventQueue<SimEvent>();
    let pendingWork = 0;
    let lastProgressMs = 0;

    const call = async <T>(kind: EngineCall, fn: () => Promise<T>, arrival?: Arrival): Promise<T> => {
      const t0 = performance.now();
      const value = await fn();
      engine.ms[kind] += performance.now() - t0;
      engine.calls[kind]++;
      const events = committed.splice(0);
      if (kind === 'sweep') mirror.swept(clockMs);
      for (const a of mirror.apply(events, clockMs, arrival)) schedule(a);
      if (mirror.newTimers.length > 0) {
        for (const at of mirror.newTimers.splice(0)) {
          if (at > clockMs && !timers.has(at)) {
            timers.add(at);
            future.push(at, { kind: 'timer' });
          }
        }
      }
      for (const offer of mirror.newOffers.splice(0)) {
        const u = offerRng.next();
        if (u < behaviour.offerDeclineShare + behaviour.offerMissShare && u >= behaviour.offerDeclineShare) continue; // left to run out
        future.push(clockMs + behaviour.offerAcceptS * 1000, { kind: 'answer', ...offer, accept: u >= behaviour.offerDeclineShare });
      }
      if (mirror.wantPick.size > 0) {
        for (const agentId of mirror.wantPick) {
          if (!picking.has(agentId) && mirror.pickFor(agentId, clockMs) !== null) {
            picking.add(agentId);
            future.push(clockMs + behaviour.pickDelayS * 1000, { kind: 'pick', agentId });
          }
        }
        mirror.wantPick.clear();
      }
      return value;
    };
    /** A refusal the engine answers with a 409 (an offer that ran out first, a pick someone else won) is part of the model. */
    const refused = async (fn: () => Promise<unknown>): Promise<boolean> => {
      try {
        await fn();
        return false;
      } catch (error) {
        if (error instanceof AppError && error.status === 409) return true;
        throw error;
      }
    };
    const schedule = (a: Assignment) => {
      // refused now, not when the clock gets there: the way there is ticks without end
      if (a.doneMs > endMs) {
        throw badInput(
          `a conversation's handle time (${duration(a.doneMs - clockMs)}) would keep it open past ${pastEnd}: shorten --handle-time-s or --handle-cv, or the trace's handle_s`,
        );
      }
      future.push(a.doneMs, { kind: 'complete', id: a.id, generation: a.generation });
      pendingWork++;
      // the agent's first reply, at once: it stops the SLA clock (first_response_at)
      if (policyOf(mirror.departmentOf(a.id)).sla_first_response_s !== null) void firstResponses.push(a.id);
    };
    const firstResponses: string[] = [];

    const source = arrivals(config.arrivals, config.customers);
    const total = arrivalCount(config.arrivals);
    let arrived = 0;
    const nextArrival = () => {
      const next = source.next();
      // a trace's rows are checked when it is read; a Poisson run's span when its flags are
      if (!next.done && next.value.atMs > endMs) {
        throw badInput(`arrival ${next.value.index + 1} comes ${years(next.value.atMs)} into the run, beyond ${pastEnd}: raise --arrivals-per-hour (or --load) or lower --arrivals`);
      }
      if (!next.done) future.push(next.value.atMs, { kind: 'arrival', arrival: next.value });
      return !next.done;
    };
    let arrivalsLeft = nextArrival();

    for (const agent of team) {
      if (onShiftAt(agent.shift, 0)) await call('agent_status', () => updateAgent(ctx, agent.id, { status: 'online' }, SYSTEM));
      if (agent.shift !== null) scheduleShift(future, agent, 0);
    }
    if (config.sweepEveryS > 0) future.push(config.sweepEveryS * 1000, { kind: 'sweep' });

    for (;;) {
      if (!arrivalsLeft && mirror.openCount === 0) break;
      const next = future.pop();
      if (!next) break;
      const { at, item } = next;
      if (item.kind === 'complete' || item.kind === 'patience') pendingWork--;
      if (!arrivalsLeft && pendingWork === 0 && at - lastProgressMs > STRANDED_AFTER_MS) break;
      if (at > endMs) throw badInput(`the run went on past ${pastEnd}`);
      clockMs = at;
      switch (item.kind) {
        case 'arrival': {
          const a = item.arrival;
          const { conversation } = await call(
            'open',
            () =>
              openConversation(ctx, {
                customer: { id: a.customerId },
                customer_verified: verified,
                department: a.department,
                priority: a.priority,
                channel: 'api',
                ...(a.requiredSkills !== null ? { required_skills: { ...a.requiredSkills } } : {}),
              }),
            a,
          );
          if (conversation.state === 'queued' && a.patienceMs !== null) {
            future.push(at + a.patienceMs, { kind: 'patience', id: conversation.id });
            pendingWork++;
          }
          arrived++;
          lastProgressMs = at;
          if (arrived % 1000 === 0) options.onProgress?.(arrived, total);
          arrivalsLeft = nextArrival();
          break;
        }
        case 'complete':
          if (mirror.isAssigned(item.id, item.generation)) {
            await call('close', () => closeConversation(ctx, item.id, { state: 'resolved', reason: 'agent' }, SYSTEM));
            lastProgressMs = at;
          }
          break;
        case 'patience':
          if (mirror.isQueued(item.id)) {
            await call('abandon', () => closeConversation(ctx, item.id, { state: 'abandoned', reason: 'customer' }, SYSTEM));
            lastProgressMs = at;
          }
          break;
        case 'shift':
          // Off shift means away: no new conversations, the open ones are finished.
          await call('agent_status', () => updateAgent(ctx, item.agent.id, { status: item.on ? 'online' : 'away' }, SYSTEM));
          scheduleShift(future, item.agent, at);
          break;
        case 'sweep': {
          // The periodic sweep is the check that events missed no match, and
          // where time alone changes routing. Under the default policy time
          // changes nothing (no offers, SLA, sticky waits, overflow or skills
          // to relax; agents never time out), so with nothing queued, as the
          // engine's events tell and verifyStore checks at the end, there is
          // nothing a sweep could do: it is not called (some 3 % of a run).
          if (mirror.sweepMayAct()) {
            const result = await call('sweep', () => sweep(ctx));
            mirror.checks.sweep_assignments += result.assigned;
          }
          future.push(at + config.sweepEveryS * 1000, { kind: 'sweep' });
          break;
        }
        case 'timer':
          timers.delete(at);
          await call('sweep', () => sweep(ctx));
          break;
        case 'answer':
          if (mirror.isOffered(item.id, item.generation)) {
            const actor = { id: item.agentId, role: 'agent' as const };
            await call('offer_answer', () => refused(() => answerOffer(ctx, item.id, item.accept, actor)));
          }
          break;
        case 'pick': {
          picking.delete(item.agentId);
          const choice = mirror.pickFor(item.agentId, at);
          if (choice !== null) {
            const actor = { id: item.agentId, role: 'agent' as const };
            mirror.wantPick.add(item.agentId); // with room left after this pick, the agent picks again
            if (await call('pick', () => refused(() => pickConversation(ctx, choice.id, actor)))) mirror.counts.pick_refusals++;
          }
          break;
        }
      }
      for (const id of firstResponses.splice(0)) await recordFirstResponse(db, id, ctx.now());
    }
    await mirror.verifyStore((sql) => db.query(sql));
    await options.inspect?.(db);
    return {
      config,
      originMs,
      agents: team,
      records: mirror.records,
      queueSteps: mirror.queueSteps,
      slotSteps: mirror.slotSteps,
      endMs: clockMs,
      checks: mirror.checks,
      policy: mirror.counts,
      engine,
      wallMs: performance.now() - wallStart,
    };
  } finally {
    await db.close();
  }
}

/** Schedules the agent's next shift boundary strictly after `afterMs` (the virtual clock starts at midnight). */
function scheduleShift(future: EventQueue<SimEvent>, agent: SimAgent, afterMs: number): void {
  const shift = agent.shift!;
  const dayStart = Math.floor(afterMs / DAY_MS) * DAY_MS;
  const candidates = [0, 1]
    .flatMap((d) => [
      { at: dayStart + d * DAY_MS + shift.startMin * MINUTE_MS, on: true },
      { at: dayStart + d * DAY_MS + shift.endMin * MINUTE_MS, on: false },
    ])
    .filter((c) => c.at > afterMs)
    .sort((a, b) => a.at - b.at);
  const next = candidates[0]!;
  future.push(next.at, { kind: 'shift', agent, on: next.on });
}
