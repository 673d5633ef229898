// The PostgreSQL server's own yardstick: pgbench's TPC-B-like script (and
// select-only) against a scratch database on the same server, so the
// Switchboard figures can be read as a fraction of what the server does.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { adminQuery } from './server.js';

const run = promisify(execFile);

export interface PgbenchRun {
  script: 'tpcb-like' | 'select-only';
  clients: number;
  threads: number;
  seconds: number;
  tps: number;
  latency_avg_ms: number;
}

export interface PgbenchResult {
  scale: number;
  runs: PgbenchRun[];
}

export function findPgbench(): string | undefined {
  for (const p of ['/usr/bin/pgbench', '/usr/local/bin/pgbench', '/usr/lib/postgresql/15/bin/pgbench', '/usr/lib/postgresql/16/bin/pgbench']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** pgbench's connection arguments and environment for the server `adminUrl` names. */
export function pgbenchConnection(adminUrl: string): { conn: string[]; env: NodeJS.ProcessEnv } {
  const url = new URL(adminUrl);
  const conn = ['-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username || 'postgres')];
  return { conn, env: { ...process.env, ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}) } };
}

export async function runPgbench(adminUrl: string, opts: { scale: number; seconds: number; clients: number; threads: number }): Promise<PgbenchResult> {
  const bin = findPgbench();
  if (!bin) throw new Error('pgbench is not installed');
  const name = `sb_pgbench_${randomBytes(5).toString('hex')}`;
  const { conn, env } = pgbenchConnection(adminUrl);
  await adminQuery(adminUrl, `create database ${name}`);
  try {
    await run(bin, [...conn, '-i', '-q', '-s', String(opts.scale), name], { env });
    const runs: PgbenchRun[] = [];
    for (const script of ['tpcb-like', 'select-only'] as const) {
      const args = [...conn, '-c', String(opts.clients), '-j', String(opts.threads), '-T', String(opts.seconds), ...(script === 'select-only' ? ['-S'] : []), name];
      const { stdout } = await run(bin, args, { env, maxBuffer: 10 * 1024 * 1024 });
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? /tps = ([\d.]+)/.exec(stdout)?.[1]);
      const latency = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
      runs.push({ script, clients: opts.clients, threads: opts.threads, seconds: opts.seconds, tps: Math.round(tps), latency_avg_ms: latency });
    }
    return { scale: opts.scale, runs };
  } finally {
    await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
  }
}
