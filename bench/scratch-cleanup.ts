// A benchmark's scratch databases outlive it when it is killed (Ctrl-C, a
// timeout's SIGTERM, `| head` closing its output): its `finally` never runs.
// These drop them on the way out, and drop what an earlier killed run left.
import pg from 'pg';
import type { ScratchDatabase } from '../test/helpers/scratch-database.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, another user's
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops the databases createScratchDatabase named `prefix`_<pid>_<hex> whose
 * process is gone (a run still going, this machine's, keeps its own). Returns
 * their names.
 */
export async function dropLeftovers(adminUrl: string, prefix: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [`${prefix}_`]);
    const dropped: string[] = [];
    for (const { datname } of rows) {
      const match = new RegExp(`^${prefix}_(\\d+)_[0-9a-f]+$`).exec(datname);
      if (!match || alive(Number(match[1]))) continue;
      await client.query(`drop database if exists ${datname} with (force)`);
      dropped.push(datname);
    }
    return dropped;
  } finally {
    await client.end();
  }
}

/**
 * On SIGINT, SIGTERM or a closed output pipe (EPIPE): drops the scratch
 * databases `made()` lists then (unless `keep`: their names are printed),
 * and exits as the signal would have. Returns whether that has begun: the
 * run's own failures then (its connections ended by the drop) are not its.
 */
export function dropOnInterrupt(made: () => readonly ScratchDatabase[], keep: boolean): () => boolean {
  let leaving = false;
  const leave = async (code: number) => {
    if (leaving) return;
    leaving = true;
    for (const scratch of made()) {
      if (keep) process.stderr.write(`kept ${scratch.url}\n`);
      else await scratch.drop().catch((error: unknown) => process.stderr.write(`could not drop ${scratch.name}: ${String(error)}\n`));
    }
    process.exit(code);
  };
  process.once('SIGINT', () => void leave(130));
  process.once('SIGTERM', () => void leave(143));
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') void leave(141);
      else throw error;
    });
  }
  return () => leaving;
}
