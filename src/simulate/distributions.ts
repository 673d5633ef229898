import type { Rng } from './rng.js';

// Handle times and patience, parametrised by their mean so the flags read the
// way a contact-centre planner thinks ("handle time 5 minutes").

export type HandleDistribution =
  | { kind: 'exponential'; meanS: number }
  /** cv: coefficient of variation (standard deviation ÷ mean) */
  | { kind: 'lognormal'; meanS: number; cv: number }
  | { kind: 'fixed'; meanS: number };

export function exponential(rng: Rng, mean: number): number {
  return -mean * Math.log(rng.next());
}

/** Standard normal by Box–Muller; one draw per call keeps the stream easy to reason about. */
export function standardNormal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** Log-normal with the given mean and coefficient of variation: σ² = ln(1 + cv²), μ = ln(mean) − σ²/2. */
export function lognormal(rng: Rng, mean: number, cv: number): number {
  const sigma2 = Math.log(1 + cv * cv);
  return Math.exp(Math.log(mean) - sigma2 / 2 + Math.sqrt(sigma2) * standardNormal(rng));
}

export function sample(rng: Rng, dist: HandleDistribution): number {
  switch (dist.kind) {
    case 'exponential':
      return exponential(rng, dist.meanS);
    case 'lognormal':
      return lognormal(rng, dist.meanS, dist.cv);
    case 'fixed':
      return dist.meanS;
  }
}

/** Picks a key with probability proportional to its weight. */
export function pickWeighted<T>(rng: Rng, choices: readonly { value: T; weight: number }[]): T {
  const total = choices.reduce((s, c) => s + c.weight, 0);
  let u = rng.next() * total;
  for (const choice of choices) {
    u -= choice.weight;
    if (u < 0) return choice.value;
  }
  return choices[choices.length - 1]!.value;
}
