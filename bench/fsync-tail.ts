// `npx tsx bench/fsync-tail.ts [--count=3000] [--dir=/var/lib/postgresql]` —
// the tail of the disk's WAL flush alone (issue #22: resolve p99 ≤ 5 ms one
// at a time). Every resolve commits with a WAL flush (fsync=on,
// synchronous_commit=on), so the flush's own p99 is a floor under the
// resolve's: 8 kB written and fdatasync'ed, --count times, one at a time, in
// a file on PostgreSQL's filesystem (--dir), as a WAL flush of one commit.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const COUNT = Number(args.get('count') ?? 3000);
const DIR = args.get('dir') ?? '/var/lib/postgresql';
const file = join(DIR, `sb-fsync-tail-${process.pid}`);
const block = Buffer.alloc(8192, 7);
const fd = openSync(file, 'w');
const times: number[] = [];
const load0 = loadavg()[0]!;
try {
  // a WAL segment is written in place, so the flushes rewrite a 16 MB file's blocks, not grow one
  for (let i = 0; i < COUNT; i++) {
    const t0 = performance.now();
    writeSync(fd, block, 0, block.length, (i % 2048) * 8192);
    fdatasyncSync(fd);
    times.push(performance.now() - t0);
  }
} finally {
  closeSync(fd);
  rmSync(file, { force: true });
}
const s = summarize(times);
const sorted = [...times].sort((a, b) => a - b);
const p999 = sorted[Math.min(sorted.length - 1, Math.floor(0.999 * sorted.length))]!;
process.stdout.write(`8 kB write + fdatasync in ${DIR}, ${COUNT} one at a time: p50 ${s.p50} ms, p99 ${s.p99} ms, p99.9 ${p999.toFixed(2)} ms, max ${s.max} ms; load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`);
