import { erlangSummary } from './erlang.js';
import { badInput } from './errors.js';
import { compareWithIdeal } from './reference.js';
import { erlangApplies, summarise, type Report } from './report.js';
import { runSimulation, type RunOptions, type SimulationConfig } from './run.js';
import { mean } from './stats.js';

// `simulate --check-erlang`: the engine against queueing theory. Poisson
// arrivals, exponential handle times, N agents × capacity k and nobody
// abandoning make an M/M/c queue with c = N·k, so Erlang C predicts the share
// who wait and the mean wait. Two comparisons are made:
//
// 1. With the formula (the acceptance: mean wait within 5 %, P(wait)
//    within 0.02). This one carries sampling noise: one run is one possible
//    day, and at high load a run's mean wait wanders far (see
//    docs/simulation.md). The batch-means interval shows how far.
// 2. With the ideal FIFO, work-conserving queue fed the very same customers.
//    No noise here: the engine must match it to the millisecond.

export const TOLERANCE = { meanWaitRelative: 0.05, pWaitAbsolute: 0.02 } as const;

export interface ErlangCheck {
  inputs: {
    agents: number;
    capacity: number;
    slots: number;
    arrivals_per_hour: number;
    handle_time_s: number;
    offered_load_erlangs: number;
    occupancy: number;
    arrivals: number;
    warmup: number;
    seed: number;
  };
  erlang: { p_wait: number; mean_wait_s: number; service_level: number };
  simulation: {
    p_wait: number;
    mean_wait_s: number;
    service_level: number;
    /** 95 % confidence interval of the mean wait from 20 batch means */
    mean_wait_ci95_s: [number, number];
  };
  agreement: {
    mean_wait_relative_error: number;
    p_wait_absolute_error: number;
    mean_wait_within_5_percent: boolean;
    p_wait_within_0_02: boolean;
    /** the formula lies inside the run's own 95 % interval: any gap is explained by sampling */
    erlang_inside_ci95: boolean;
  };
  /** the engine vs the ideal FIFO queue on the same customers: must be 0 differing */
  ideal_queue: { differing: number; max_abs_diff_s: number; first_differing: number | null };
  checks: Report['checks'];
  performance: Report['performance'];
}

export function assertErlangModel(config: SimulationConfig): void {
  const why = erlangApplies(config);
  if (why !== null) throw badInput(`--check-erlang needs an M/M/c system, but ${why}`);
  if (config.groups.length !== 1) throw badInput('--check-erlang needs one group of identical agents (--agents and --capacity)');
  // At occupancy ≥ 1 the queue grows without end: Erlang C's mean wait is
  // infinite, so there is nothing for a run to agree with. (--load 1 comes
  // back from the rate a hair under 1, hence the margin.)
  const group = config.groups[0]!;
  const slots = group.count * group.capacity;
  const perHour = config.arrivals.kind === 'poisson' ? config.arrivals.perHour : 0;
  const occupancy = ((perHour / 3600) * config.customers.handle.meanS) / slots;
  if (!(occupancy < 1 - 1e-9)) {
    throw badInput(
      `--check-erlang: Erlang C needs occupancy < 1, but ${+perHour.toPrecision(6)} arrivals per hour × ${config.customers.handle.meanS} s on ${slots} slots is ${+occupancy.toPrecision(4)}: lower --arrivals-per-hour or --load, or add agents`,
    );
  }
}

export async function checkErlang(config: SimulationConfig, options: RunOptions = {}): Promise<ErlangCheck> {
  assertErlangModel(config);
  const run = await runSimulation(config, options);
  const report = summarise(run);
  const group = config.groups[0]!;
  const slots = group.count * group.capacity;
  const perHour = config.arrivals.kind === 'poisson' ? config.arrivals.perHour : 0;
  const handleS = config.customers.handle.meanS;
  const theory = erlangSummary({ arrivalsPerHour: perHour, handleS, slots, targetS: config.target.seconds });

  const skip = Math.floor(run.records.length * config.warmup);
  const counted = run.records.filter((r) => r.index >= skip).sort((a, b) => a.index - b.index);
  const ci = batchMeansInterval(counted.map((r) => (r.assignedMs === null ? NaN : (r.assignedMs - r.createdMs) / 1000)));
  const sim = report.results;
  const relative = sim.wait_s.mean / theory.mean_wait_s - 1;
  const absolute = sim.p_wait - theory.p_wait;
  const ideal = compareWithIdeal(run.records, slots);
  return {
    inputs: {
      agents: group.count,
      capacity: group.capacity,
      slots,
      arrivals_per_hour: perHour,
      handle_time_s: handleS,
      offered_load_erlangs: theory.offered_load_erlangs,
      occupancy: theory.occupancy,
      arrivals: run.records.length,
      warmup: config.warmup,
      seed: config.customers.seed,
    },
    erlang: { p_wait: theory.p_wait, mean_wait_s: theory.mean_wait_s, service_level: theory.service_level },
    simulation: { p_wait: sim.p_wait, mean_wait_s: sim.wait_s.mean, service_level: sim.service_level, mean_wait_ci95_s: ci },
    agreement: {
      mean_wait_relative_error: relative,
      p_wait_absolute_error: absolute,
      mean_wait_within_5_percent: Math.abs(relative) <= TOLERANCE.meanWaitRelative,
      p_wait_within_0_02: Math.abs(absolute) <= TOLERANCE.pWaitAbsolute,
      erlang_inside_ci95: theory.mean_wait_s >= ci[0] && theory.mean_wait_s <= ci[1],
    },
    ideal_queue: { differing: ideal.differing, max_abs_diff_s: ideal.max_abs_diff_s, first_differing: ideal.first },
    checks: report.checks,
    performance: report.performance,
  };
}

/** Student-t 97.5 % quantile for 19 degrees of freedom (20 batches). */
const T_19 = 2.093;

/**
 * Waits of successive customers are strongly correlated (a long queue makes
 * many long waits), so the plain standard error is far too optimistic. The
 * run is cut into 20 consecutive batches; their means are close to
 * independent, and their spread gives an honest interval.
 */
export function batchMeansInterval(values: readonly number[], batches = 20): [number, number] {
  const size = Math.floor(values.length / batches);
  if (size === 0) return [NaN, NaN];
  const means = Array.from({ length: batches }, (_, b) => mean(values.slice(b * size, (b + 1) * size)));
  const m = mean(means);
  const sd = Math.sqrt(means.reduce((s, x) => s + (x - m) ** 2, 0) / (batches - 1));
  const half = (T_19 * sd) / Math.sqrt(batches);
  return [m - half, m + half];
}
