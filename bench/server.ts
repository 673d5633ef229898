// Starts `switchboard serve` as a child process (so /proc/<pid> is the
// server's own), on a store prepared by the bench: a temp PGlite directory or
// a fresh database on a PostgreSQL server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Db } from '../src/store/db.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { migrate } from '../src/store/migrate.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import { processCpuSeconds } from './stats.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export type StoreKind = 'pglite' | 'postgres';

export interface BenchStore {
  kind: StoreKind;
  /** env for the server child: DATABASE_URL or DATA_DIR */
  env: Record<string, string>;
  /** a client on the same database (PostgreSQL only; PGlite is owned by the server while it runs) */
  url?: string;
  name: string;
  dispose(): Promise<void>;
}

export interface Seed {
  agents: number;
  capacity: number;
  /** conversations already assigned to each agent before the server starts */
  preloadPerAgent?: number;
  /** more rows, after the agents and the preload, before the server starts (bench/growth.ts: a history) */
  extra?: (db: Db) => Promise<void>;
}

/** A fresh, migrated store with online agents (and optionally open conversations already assigned to them). */
export async function prepareStore(kind: StoreKind, seed: Seed, adminUrl?: string): Promise<BenchStore> {
  if (kind === 'pglite') {
    const dir = await mkdtemp(join(tmpdir(), 'sb-bench-'));
    const db = await openPglite(dir);
    await seedStore(db, seed);
    await db.close();
    return { kind, env: { DATA_DIR: dir }, name: dir, dispose: () => rm(dir, { recursive: true, force: true }) };
  }
  if (!adminUrl) throw new Error('a PostgreSQL URL is needed');
  const { name, url, drop } = await createScratchDatabase(adminUrl, 'sb_bench');
  const db = openPostgres({ connectionString: url, max: 2 });
  try {
    await seedStore(db, seed);
  } finally {
    await db.close();
  }
  return {
    kind,
    env: { DATABASE_URL: url },
    url,
    name,
    dispose: drop,
  };
}

export async function adminQuery(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Transactions committed in the scratch database so far: what a bench sends
 * PostgreSQL besides the calls it measures shows up as more than one a call.
 * PostgreSQL publishes these counts about once a second (a backend flushes
 * its own at most that often), so a 10 s phase is good to some 10 %.
 */
export async function commits(url: string): Promise<number> {
  const r = await adminQuery(url, 'select xact_commit from pg_stat_database where datname = current_database()');
  return Number(r.rows[0].xact_commit);
}

/**
 * CPU seconds so far of the scratch database's client backends, or null when
 * they are not this machine's processes (a remote server, another namespace).
 */
export async function backendCpuSeconds(url: string): Promise<number | null> {
  const r = await adminQuery(url, `select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()`);
  let total = 0;
  for (const { pid } of r.rows as { pid: number }[]) {
    const seconds = processCpuSeconds(pid);
    if (Number.isNaN(seconds)) return null;
    total += seconds;
  }
  return total;
}

/**
 * Agents straight into the table: the API hashes each password with scrypt,
 * which would make setup of 1,000 agents the slowest part of the bench. They
 * are online and just seen; the server runs with a long keep-alive so its
 * sweeper does not time them out. Nobody logs in as them.
 *
 * Preloaded conversations are inserted as the engine leaves them (assigned,
 * agent load counted), so the run starts from a realistic standing state
 * instead of empty tables, and the RSS figure at "20,000 open" does not need
 * 20,000 API calls first.
 */
async function seedStore(db: Db, seed: Seed): Promise<void> {
  const preload = seed.preloadPerAgent ?? 0;
  if (preload > seed.capacity) throw new Error('preloadPerAgent exceeds capacity');
  await migrate(db);
  await db.query(
    `insert into agents (name, email, password_hash, role, status, capacity, load, last_seen_at, last_assigned_at, created_at, updated_at)
     select 'Bench agent ' || i, 'agent' || i || '@bench.invalid', 'bench$no-login', 'agent', 'online', $1::int, $3::int, now(),
            case when $3::int > 0 then now() - make_interval(secs => i) end, now(), now()
       from generate_series(1, $2::int) as i`,
    [seed.capacity, seed.agents, preload],
  );
  if (preload > 0) {
    await db.query(
      `insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, assigned_at, updated_at)
       select 'api', 'pre-' || a.n || '-' || k, jsonb_build_object('id', 'pre-' || a.n || '-' || k, 'name', 'Preloaded customer'),
              'assigned', a.id, now(), now(), now(), now()
         from (select id, row_number() over (order by id) as n from agents) a
        cross join generate_series(1, $1::int) as k`,
      [preload],
    );
  }
  await seed.extra?.(db);
}

export interface ServerProcess {
  pid: number;
  url: string;
  child: ChildProcess;
  stop(): Promise<number | null>;
}

export const ADMIN = { email: 'bench-admin@example.com', password: 'bench-password-123' };

export async function startServerProcess(store: BenchStore, options: { cpuProfDir?: string; extraEnv?: Record<string, string> } = {}): Promise<ServerProcess> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env.DATABASE_URL;
  delete env.DATA_DIR;
  Object.assign(env, {
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    // a day: the seeded agents stay online for the whole run
    ATTENDANT_KEEP_ALIVE_TIME: '86400000',
    LOG_LEVEL: 'info',
    ...store.env,
    ...options.extraEnv,
  });
  const nodeArgs = ['--import', 'tsx'];
  if (options.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir);
  const child = spawn(process.execPath, [...nodeArgs, 'src/main.ts', 'serve'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    // generous: on a 2-core machine shared with other work, start-up (tsx compiling) took over a minute at load 20
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 180 s\n${stderr}`));
    }, 180_000);
    child.stdout!.on('data', (c: Buffer) => {
      buffer += c.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as { msg?: string; address?: string };
          if (entry.msg === 'Switchboard is listening' && entry.address) {
            clearTimeout(timer);
            resolve(entry.address);
          }
        } catch {
          // not a log line
        }
      }
      if (buffer.length > 100_000) buffer = '';
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\n${stderr}`));
    });
  });
  // keep draining stdout so the child never blocks on a full pipe
  child.stdout!.resume();

  return {
    pid: child.pid!,
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
