// Erlang B and C: the M/M/c queue the simulator is checked against.
//
// With Poisson arrivals at rate λ, exponential handle times of mean h and
// c = agents × capacity independent slots, the offered load is A = λ·h
// Erlangs. Erlang C gives the probability that an arrival waits, the mean
// wait, and the service level P(wait ≤ t). Published tables (e.g. Cooper,
// "Introduction to Queueing Theory"; Gross & Harris) use the same formulas.

/** Erlang B blocking probability by the stable recurrence B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)). */
export function erlangB(a: number, c: number): number {
  assertLoad(a, c);
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  return b;
}

/** Erlang C: probability of waiting, C = c·B / (c − A·(1 − B)); 1 when the queue is unstable (A ≥ c). */
export function erlangC(a: number, c: number): number {
  assertLoad(a, c);
  if (a >= c) return 1;
  const b = erlangB(a, c);
  return (c * b) / (c - a * (1 - b));
}

/** Mean wait in the queue (over all arrivals, waiting or not): C·h / (c − A). */
export function erlangMeanWait(a: number, c: number, handleS: number): number {
  if (a >= c) return Infinity;
  return (erlangC(a, c) * handleS) / (c - a);
}

/** Service level: the share answered within `targetS`, 1 − C·exp(−(c − A)·t / h). */
export function erlangServiceLevel(a: number, c: number, handleS: number, targetS: number): number {
  if (a >= c) return 0;
  return 1 - erlangC(a, c) * Math.exp((-(c - a) * targetS) / handleS);
}

/** The smallest number of slots c meeting a service-level target. */
export function erlangSlotsFor(a: number, handleS: number, targetS: number, share: number): number {
  let c = Math.max(1, Math.floor(a) + 1);
  while (erlangServiceLevel(a, c, handleS, targetS) < share) c++;
  return c;
}

/** Everything Erlang C says about one system, with the inputs it was given. */
export interface ErlangSummary {
  offered_load_erlangs: number;
  slots: number;
  occupancy: number;
  p_wait: number;
  mean_wait_s: number;
  service_level: number;
}

export function erlangSummary(input: { arrivalsPerHour: number; handleS: number; slots: number; targetS: number }): ErlangSummary {
  const a = (input.arrivalsPerHour / 3600) * input.handleS;
  return {
    offered_load_erlangs: a,
    slots: input.slots,
    occupancy: a / input.slots,
    p_wait: erlangC(a, input.slots),
    mean_wait_s: erlangMeanWait(a, input.slots, input.handleS),
    service_level: erlangServiceLevel(a, input.slots, input.handleS, input.targetS),
  };
}

function assertLoad(a: number, c: number): void {
  if (!(a >= 0) || !Number.isFinite(a)) throw new RangeError(`offered load must be a finite number ≥ 0, got ${a}`);
  if (!Number.isInteger(c) || c < 1) throw new RangeError(`the number of servers must be a whole number ≥ 1, got ${c}`);
}
