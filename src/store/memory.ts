import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.js';

// In-memory stores for the simulator and the tests, which open many of them.
// A new PGlite cluster costs about two seconds of initdb; loading the dump
// of one already migrated costs a few hundred milliseconds. So the first
// store of a process is made the long way and dumped before it is handed
// out, and every later one starts from that dump.

let template: Promise<Blob | File> | undefined;

/** A fresh, migrated, in-memory PGlite store: nothing in it but the schema. */
export async function openMemoryStore(): Promise<Db> {
  if (template !== undefined) return openPglite(undefined, { loadDataDir: await template });
  let settle!: { resolve(dump: Blob | File): void; reject(error: unknown): void };
  template = new Promise((resolve, reject) => (settle = { resolve, reject }));
  // Callers waiting for it see the failure; nobody waiting is no crash.
  template.catch(() => {});
  try {
    const db = await openPglite();
    await migrate(db);
    settle.resolve(await db.pglite.dumpDataDir('none'));
    return db;
  } catch (error) {
    template = undefined; // the next caller tries again
    settle.reject(error);
    throw error;
  }
}
