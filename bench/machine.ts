// What the figures were measured on.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { adminQuery, REPO_ROOT } from './server.js';

export interface Machine {
  nproc: number;
  cpu_model: string;
  memory_gb: number;
  node: string;
  pglite: string;
  postgres: string | null;
  loadavg_at_start: number[];
  kernel: string;
}

export async function describeMachine(pgUrl: string | undefined): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const pglite = (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string }).version;
  let postgres: string | null = null;
  if (pgUrl) {
    try {
      postgres = String((await adminQuery(pgUrl, 'show server_version')).rows[0]?.server_version ?? null);
    } catch {
      postgres = null;
    }
  }
  return {
    nproc: cpus().length,
    cpu_model: model,
    memory_gb: Math.round(totalmem() / 1024 ** 3 * 10) / 10,
    node: process.version,
    pglite,
    postgres,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  };
}
