import { exponential, pickWeighted, sample, type HandleDistribution } from './distributions.js';
import { createRng, type Rng } from './rng.js';
import type { ParsedTrace } from './trace.js';

// Where customers come from: a Poisson process (optionally shaped by a day
// profile) or a recorded trace. Each arrival carries everything the model
// needs to know about that customer up front — handle time and patience —
// drawn from streams of their own, so the same seed gives the same customers
// whatever the staffing.

export interface Arrival {
  index: number;
  /** ms since the start of the virtual clock */
  atMs: number;
  department: string | null;
  priority: number;
  handleMs: number;
  /** null: this customer never gives up */
  patienceMs: number | null;
}

export type ArrivalSpec =
  | {
      kind: 'poisson';
      perHour: number;
      count: number;
      /**
       * Multipliers of perHour over one day, split into equal slots (24 = one
       * per hour), starting at midnight of the virtual clock.
       */
      dayProfile: readonly number[] | null;
      departments: readonly { value: string | null; weight: number }[];
    }
  | { kind: 'trace'; trace: ParsedTrace; count: number | null };

export interface CustomerModel {
  handle: HandleDistribution;
  /** mean of an exponential patience; null: nobody abandons (unless a trace says so) */
  patienceMeanS: number | null;
  seed: number;
}

const DAY_MS = 86_400_000;

export function arrivalCount(spec: ArrivalSpec): number {
  return spec.kind === 'poisson' ? spec.count : Math.min(spec.count ?? Infinity, spec.trace.arrivals.length);
}

/** Arrivals in time order. Times are whole milliseconds, the resolution of the engine's clock. */
export function* arrivals(spec: ArrivalSpec, customers: CustomerModel): Generator<Arrival> {
  const handleRng = createRng(customers.seed, 'handle');
  const patienceRng = createRng(customers.seed, 'patience');
  const drawHandle = (given: number | null) => {
    const s = sample(handleRng, customers.handle);
    return Math.max(0, Math.round((given ?? s) * 1000));
  };
  const drawPatience = (given: number | null) => {
    const s = customers.patienceMeanS === null ? null : exponential(patienceRng, customers.patienceMeanS);
    const chosen = given ?? s;
    return chosen === null ? null : Math.max(0, Math.round(chosen * 1000));
  };
  const total = arrivalCount(spec);
  if (spec.kind === 'trace') {
    for (let i = 0; i < total; i++) {
      const row = spec.trace.arrivals[i]!;
      yield {
        index: i,
        atMs: row.offsetMs,
        department: row.department,
        priority: row.priority,
        handleMs: drawHandle(row.handleS),
        patienceMs: drawPatience(row.patienceS),
      };
    }
    return;
  }
  const times = poissonTimes(createRng(customers.seed, 'arrivals'), spec.perHour, spec.dayProfile);
  const departmentRng = createRng(customers.seed, 'department');
  for (let i = 0; i < total; i++) {
    const atMs = times.next().value as number;
    yield {
      index: i,
      atMs: Math.round(atMs),
      department: spec.departments.length === 0 ? null : pickWeighted(departmentRng, spec.departments),
      priority: 0,
      handleMs: drawHandle(null),
      patienceMs: drawPatience(null),
    };
  }
}

/**
 * Arrival times (fractional ms) of a Poisson process. With a day profile the
 * rate varies through the day; thinning (Lewis & Shedler) draws at the peak
 * rate and keeps each candidate with probability rate(t) / peak.
 */
function* poissonTimes(rng: Rng, perHour: number, profile: readonly number[] | null): Generator<number> {
  const perMs = perHour / 3_600_000;
  const peak = profile === null ? 1 : Math.max(...profile);
  let t = 0;
  for (;;) {
    t += exponential(rng, 1 / (perMs * peak));
    if (profile === null) {
      yield t;
      continue;
    }
    const slot = Math.floor(((t % DAY_MS) / DAY_MS) * profile.length);
    if (rng.next() * peak < profile[slot]!) yield t;
  }
}

/** Virtual hours a Poisson run of `count` arrivals covers, roughly; used for messages and sweep planning. */
export function expectedDurationMs(spec: ArrivalSpec): number {
  if (spec.kind === 'trace') {
    const n = arrivalCount(spec);
    return n === 0 ? 0 : spec.trace.arrivals[n - 1]!.offsetMs;
  }
  const mean = spec.dayProfile === null ? 1 : spec.dayProfile.reduce((s, v) => s + v, 0) / spec.dayProfile.length;
  return (spec.count / (spec.perHour * mean)) * 3_600_000;
}
