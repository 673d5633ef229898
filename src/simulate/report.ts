import { erlangSummary, type ErlangSummary } from './erlang.js';
import type { ConversationRecord } from './mirror.js';
import type { SimulationConfig, SimulationRun } from './run.js';
import { mean, overlap, percentile, stepStats } from './stats.js';
import { describePolicies } from './policy.js';
import { formatShift } from './team.js';

// What a run means: waits, service level, abandonment, utilisation and the
// queue over time, from the engine's own timestamps.

export interface Report {
  inputs: ReturnType<typeof describeInputs>;
  results: {
    arrivals: number;
    /** arrivals after the warm-up, which the figures below are about */
    counted: number;
    answered: number;
    abandoned: number;
    /** still waiting when the run stopped (no agent could ever take them) */
    unanswered: number;
    /** waits of answered conversations: assigned_at − created_at */
    wait_s: { mean: number; p50: number; p90: number; p99: number; max: number };
    /** share of arrivals the engine had to queue */
    p_wait: number;
    /** answered within target ÷ (answered + abandoned); an abandonment counts as a miss */
    service_level: number;
    service_level_met: boolean;
    abandonment: number;
    /** busy slot-time ÷ online slot-time, from the first counted arrival to the last arrival */
    utilisation: number;
    queue_length: { mean: number; max: number };
    virtual_hours: number;
  };
  /** Erlang C for the same inputs, when they describe an M/M/c queue (else null) */
  erlang: ErlangSummary | null;
  checks: SimulationRun['checks'];
  /** the routing policy the run assumed, and what it did */
  policy: {
    routing: string[];
    counts: SimulationRun['policy'];
  };
  /** the same figures per department and per priority: where a policy moves waits */
  breakdown: { departments: Breakdown[]; priorities: Breakdown[] };
  timeline: TimelineBin[];
  performance: {
    wall_s: number;
    setup_s: number;
    /** simulated conversations per second of wall time, set-up excluded */
    conversations_per_s: number;
    engine_calls: SimulationRun['engine']['calls'];
    engine_ms: SimulationRun['engine']['ms'];
  };
}

export interface Breakdown {
  /** department (null: none) or priority */
  key: string | number | null;
  counted: number;
  answered: number;
  wait_s: { mean: number; p90: number; max: number };
  service_level: number;
}

export interface TimelineBin {
  from_h: number;
  to_h: number;
  arrivals: number;
  queue_mean: number;
  queue_max: number;
  /** mean wait of the conversations that arrived in this bin and were answered; null if none */
  wait_mean_s: number | null;
  online_slots: number;
}

const HOUR_MS = 3_600_000;

export function describeInputs(config: SimulationConfig) {
  const a = config.arrivals;
  return {
    arrivals:
      a.kind === 'poisson'
        ? { kind: 'poisson' as const, per_hour: a.perHour, count: a.count, day_profile: a.dayProfile, departments: a.departments }
        : { kind: 'trace' as const, count: Math.min(a.count ?? Infinity, a.trace.arrivals.length) },
    handle: config.customers.handle,
    patience_mean_s: config.customers.patienceMeanS,
    agents: config.groups.map((g) => ({ count: g.count, capacity: g.capacity, departments: g.departments, shift: formatShift(g.shift) })),
    slots: config.groups.reduce((s, g) => s + g.count * g.capacity, 0),
    seed: config.customers.seed,
    warmup: config.warmup,
    target: { seconds: config.target.seconds, share: config.target.share },
    sweep_every_s: config.sweepEveryS,
    routing: config.routing ?? {},
  };
}

/** Erlang C applies: Poisson at a constant rate, exponential handle times, no abandonment, one pool of always-on agents. */
export function erlangApplies(config: SimulationConfig): string | null {
  const a = config.arrivals;
  if (a.kind !== 'poisson') return 'arrivals come from a trace, not a Poisson process';
  if (a.dayProfile !== null) return 'the arrival rate follows a day profile';
  if (a.departments.some((d) => d.value !== null)) return 'arrivals have departments';
  if (config.customers.handle.kind !== 'exponential') return 'handle times are not exponential';
  if (config.customers.patienceMeanS !== null) return 'customers abandon (--patience-s)';
  if (config.groups.some((g) => g.shift !== null || g.departments.length > 0)) return 'agents have shifts or departments';
  if (Object.keys(config.routing ?? {}).length > 0) return 'departments have routing policies (--routing)';
  if ((a.priorities ?? []).length > 0) return 'arrivals have priorities';
  if ((a.skills ?? []).length > 0) return 'arrivals require skills';
  return null;
}

export function summarise(run: SimulationRun): Report {
  const { config, records } = run;
  const skip = Math.floor(records.length * config.warmup);
  const counted = records.filter((r) => r.index >= skip);
  const answered = counted.filter((r) => r.outcome === 'answered');
  const abandoned = counted.filter((r) => r.outcome === 'abandoned').length;
  const waits = answered.map((r) => (r.assignedMs! - r.createdMs) / 1000).sort((x, y) => x - y);
  const targetMs = config.target.seconds * 1000;
  const within = answered.filter((r) => r.assignedMs! - r.createdMs <= targetMs).length;
  const decided = answered.length + abandoned;
  const serviceLevel = decided === 0 ? 0 : within / decided;
  const breakdown = (keyOf: (r: ConversationRecord) => string | number | null): Breakdown[] => {
    const by = new Map<string | number | null, ConversationRecord[]>();
    for (const r of counted) by.set(keyOf(r), [...(by.get(keyOf(r)) ?? []), r]);
    return [...by.entries()]
      .sort(([a], [b]) => String(a).localeCompare(String(b), 'en', { numeric: true }))
      .map(([key, rs]) => {
        const ans = rs.filter((r) => r.outcome === 'answered');
        const ws = ans.map((r) => (r.assignedMs! - r.createdMs) / 1000).sort((x, y) => x - y);
        const dec = ans.length + rs.filter((r) => r.outcome === 'abandoned').length;
        return {
          key,
          counted: rs.length,
          answered: ans.length,
          wait_s: { mean: mean(ws), p90: percentile(ws, 90), max: ws[ws.length - 1] ?? 0 },
          service_level: dec === 0 ? 0 : ws.filter((w) => w * 1000 <= targetMs).length / dec,
        };
      });
  };

  const from = counted[0]?.createdMs ?? 0;
  const to = records[records.length - 1]?.createdMs ?? 0;
  let busy = 0;
  for (const r of records) if (r.assignedMs !== null) busy += overlap(r.assignedMs, r.closedMs ?? run.endMs, from, to);
  const slotTime = stepStats(run.slotSteps.t, run.slotSteps.slots, from, to).mean * (to - from);
  const queue = stepStats(run.queueSteps.t, run.queueSteps.q, from, to);

  const poissonCfg = config.arrivals.kind === 'poisson' ? config.arrivals : null;
  const erlang =
    erlangApplies(config) === null && poissonCfg !== null
      ? erlangSummary({
          arrivalsPerHour: poissonCfg.perHour,
          handleS: config.customers.handle.meanS,
          slots: config.groups.reduce((s, g) => s + g.count * g.capacity, 0),
          targetS: config.target.seconds,
        })
      : null;
  return {
    inputs: describeInputs(config),
    results: {
      arrivals: records.length,
      counted: counted.length,
      answered: answered.length,
      abandoned,
      unanswered: counted.filter((r) => r.outcome === 'open').length,
      wait_s: {
        mean: mean(waits),
        p50: percentile(waits, 50),
        p90: percentile(waits, 90),
        p99: percentile(waits, 99),
        max: waits[waits.length - 1] ?? 0,
      },
      p_wait: counted.length === 0 ? 0 : counted.filter((r) => r.waited).length / counted.length,
      service_level: serviceLevel,
      service_level_met: serviceLevel >= config.target.share,
      abandonment: counted.length === 0 ? 0 : abandoned / counted.length,
      utilisation: slotTime === 0 ? 0 : busy / slotTime,
      queue_length: queue,
      virtual_hours: run.endMs / HOUR_MS,
    },
    erlang,
    checks: run.checks,
    policy: { routing: describePolicies(config.routing ?? {}), counts: run.policy },
    breakdown: { departments: breakdown((r) => r.department), priorities: breakdown((r) => r.priority) },
    timeline: timeline(run, 120),
    performance: {
      wall_s: run.wallMs / 1000,
      setup_s: run.engine.setup_ms / 1000,
      conversations_per_s: records.length / Math.max(1e-9, (run.wallMs - run.engine.setup_ms) / 1000),
      engine_calls: run.engine.calls,
      engine_ms: run.engine.ms,
    },
  };
}

/** The run cut into `bins` equal slices of virtual time: queue length, waits and staffing in each. */
export function timeline(run: SimulationRun, bins: number): TimelineBin[] {
  const end = Math.max(run.endMs, 1);
  const width = end / bins;
  const byBin: ConversationRecord[][] = Array.from({ length: bins }, () => []);
  for (const r of run.records) byBin[Math.min(bins - 1, Math.floor(r.createdMs / width))]!.push(r);
  return byBin.map((rs, i) => {
    const from = i * width;
    const to = (i + 1) * width;
    const q = stepStats(run.queueSteps.t, run.queueSteps.q, from, to);
    const answered = rs.filter((r) => r.assignedMs !== null);
    return {
      from_h: from / HOUR_MS,
      to_h: to / HOUR_MS,
      arrivals: rs.length,
      queue_mean: q.mean,
      queue_max: q.max,
      wait_mean_s: answered.length === 0 ? null : mean(answered.map((r) => (r.assignedMs! - r.createdMs) / 1000)),
      online_slots: stepStats(run.slotSteps.t, run.slotSteps.slots, from, to).mean,
    };
  });
}
