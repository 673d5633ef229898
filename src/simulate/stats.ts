// Small statistics helpers over plain arrays and step functions.

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Nearest-rank percentile (p in 0..100) of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/**
 * Time-weighted mean and maximum of a step function (value v[i] from t[i]
 * until t[i+1]) over [from, to).
 */
export function stepStats(t: readonly number[], v: readonly number[], from: number, to: number): { mean: number; max: number } {
  if (to <= from) return { mean: 0, max: 0 };
  let area = 0;
  let max = 0;
  for (let i = 0; i < t.length; i++) {
    const start = Math.max(t[i]!, from);
    const end = Math.min(i + 1 < t.length ? t[i + 1]! : Infinity, to);
    if (end <= start) {
      if (t[i]! >= to) break;
      continue;
    }
    area += v[i]! * (end - start);
    max = Math.max(max, v[i]!);
  }
  return { mean: area / (to - from), max };
}

/** Length of the overlap of [a0, a1) and [b0, b1). */
export function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}
