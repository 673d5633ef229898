import type { ConversationRecord } from './mirror.js';

// The ideal the engine is held to: a first-come-first-served queue in front
// of c identical, independent slots that never idles while someone waits.
// Given the very same customers (arrival times and handle times, already in
// whole milliseconds), it gives each one's wait in a few lines of arithmetic.
// Where Erlang C describes the average of many possible days, this is the
// same day: for a pool of always-on agents without departments, priorities or
// abandonment, the engine's waits must equal these to the millisecond. Any
// difference means the engine skipped someone (not FIFO) or left a slot idle
// (not work-conserving); the simulation-vs-formula gap that remains is
// sampling noise.

export function idealFifoWaits(records: readonly Pick<ConversationRecord, 'createdMs' | 'handleMs'>[], slots: number): number[] {
  // free[k]: when slot k is next free, kept as a binary min-heap
  const free = new Array<number>(slots).fill(0);
  const waits: number[] = [];
  for (const r of records) {
    const start = Math.max(r.createdMs, free[0]!);
    waits.push(start - r.createdMs);
    free[0] = start + r.handleMs;
    siftDown(free);
  }
  return waits;
}

function siftDown(heap: number[]): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && heap[l]! < heap[m]!) m = l;
    if (r < heap.length && heap[r]! < heap[m]!) m = r;
    if (m === i) return;
    [heap[i], heap[m]] = [heap[m]!, heap[i]!];
    i = m;
  }
}

/** How far the engine's waits are from the ideal queue's: count of differing customers and the largest difference. */
export function compareWithIdeal(records: readonly ConversationRecord[], slots: number): { differing: number; max_abs_diff_s: number; first: number | null } {
  const sorted = [...records].sort((a, b) => a.index - b.index);
  const ideal = idealFifoWaits(sorted, slots);
  let differing = 0;
  let maxDiff = 0;
  let first: number | null = null;
  sorted.forEach((r, i) => {
    const wait = r.assignedMs === null ? Infinity : r.assignedMs - r.createdMs;
    const diff = Math.abs(wait - ideal[i]!);
    if (diff > 0) {
      differing++;
      maxDiff = Math.max(maxDiff, diff);
      first ??= r.index;
    }
  });
  return { differing, max_abs_diff_s: maxDiff / 1000, first };
}
