// Latency summaries and CPU accounting helpers.
import { readFileSync } from 'node:fs';

export interface Latency {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
function rank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: readonly number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    n: sorted.length,
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
    p50: round(rank(sorted, 50)),
    p90: round(rank(sorted, 90)),
    p99: round(rank(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

/** user+system CPU seconds a process has used so far (from /proc/<pid>/stat). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the ")" that closes the command name; utime and stime are fields 14 and 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** busy and total jiffies of the whole machine (from /proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((s, x) => s + x, 0);
  return { busy: total - idle, total };
}

/** Memory figures of a process in MB (VmRSS now, VmHWM the peak), from /proc/<pid>/status. */
export function processMemory(pid: number): { rss_mb: number; hwm_mb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss_mb: Math.round(kb('VmRSS') / 102.4) / 10, hwm_mb: Math.round(kb('VmHWM') / 102.4) / 10 };
}

/**
 * Measures a phase: wall time, the server child's CPU, this (client)
 * process's CPU, and the whole machine's busy share (the rest is PostgreSQL
 * and anything else running).
 */
export async function measured<T>(serverPid: number, fn: () => Promise<T>) {
  const cpus = (await import('node:os')).cpus().length;
  const m0 = machineCpu();
  const s0 = processCpuSeconds(serverPid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  const s1 = processCpuSeconds(serverPid);
  const m1 = machineCpu();
  const clientCpu = (c1.user + c1.system) / 1e6;
  const serverCpu = s1 - s0;
  const machineBusy = (m1.busy - m0.busy) / 100; // cpu-seconds
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    value,
    seconds: round(seconds),
    cpu: {
      /** cores' worth of CPU used during the phase, by whom */
      server_cores: round(serverCpu / seconds),
      client_cores: round(clientCpu / seconds),
      other_cores: round(Math.max(0, machineBusy - serverCpu - clientCpu) / seconds),
      machine_busy_pct: Math.round((1000 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total)) / 10,
      cores: cpus,
    },
  };
}
