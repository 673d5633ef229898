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
  /** who writes: a returning customer comes back with the id of an earlier arrival (sticky routing) */
  customerId: string;
  /** skill → minimum level the conversation asks for (merged with its department's by the engine) */
  requiredSkills: Readonly<Record<string, number>> | null;
  /** the trace's labels; routing does not read them, reports may */
  labels: readonly string[];
}

/** A share of the generated arrivals requires a skill: each arrival draws each entry on its own. */
export interface SkillShare {
  skill: string;
  level: number;
  share: number;
}

/** How many earlier arrivals a returning customer is drawn from: recent ones, as customers come back within the hour. */
export const RETURNING_POOL = 20;

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
      /** share of arrivals who are one of the RETURNING_POOL customers before them; 0: every customer is new */
      returningShare?: number;
      skills?: readonly SkillShare[];
      /** priority → weight; none: every arrival has priority 0 */
      priorities?: readonly { value: number; weight: number }[];
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
        customerId: row.customerId ?? `sim-${i + 1}`,
        requiredSkills: row.skills,
        labels: row.labels,
      };
    }
    return;
  }
  // Streams of their own, drawn only when asked for: a run without returning
  // customers or skills draws exactly the customers it drew before.
  const returningRng = createRng(customers.seed, 'returning');
  const skillsRng = createRng(customers.seed, 'skills');
  const customerIds: string[] = [];
  const returningShare = spec.returningShare ?? 0;
  const skillShares = spec.skills ?? [];
  const priorityRng = createRng(customers.seed, 'priority');
  const priorities = spec.priorities ?? [];
  const times = poissonTimes(createRng(customers.seed, 'arrivals'), spec.perHour, spec.dayProfile);
  const departmentRng = createRng(customers.seed, 'department');
  for (let i = 0; i < total; i++) {
    const atMs = times.next().value as number;
    let customerId = `sim-${i + 1}`;
    if (returningShare > 0 && customerIds.length > 0 && returningRng.next() < returningShare) {
      const pool = customerIds.slice(-RETURNING_POOL);
      customerId = pool[Math.floor(returningRng.next() * pool.length)]!;
    }
    if (returningShare > 0) customerIds.push(customerId);
    let requiredSkills: Record<string, number> | null = null;
    for (const s of skillShares) {
      if (skillsRng.next() < s.share) (requiredSkills ??= {})[s.skill] = s.level;
    }
    yield {
      index: i,
      atMs: Math.round(atMs),
      department: spec.departments.length === 0 ? null : pickWeighted(departmentRng, spec.departments),
      priority: priorities.length === 0 ? 0 : pickWeighted(priorityRng, priorities),
      handleMs: drawHandle(null),
      patienceMs: drawPatience(null),
      customerId,
      requiredSkills,
      labels: [],
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
