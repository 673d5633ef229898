import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.js';

// In-memory stores for the simulator and the tests, which open many of them.
// A new PGlite cluster costs about two seconds of initdb; loading the dump
// of one already migrated costs a few hundred milliseconds. So the first
// store of a process is made the long way and dumped before it is handed
// out, and every later one starts from that dump.

let template: Promise<Blob | File> | undefined;

/**
 * Where the dump may be kept between processes. Only the tests set one
 * (test/helpers/stores.ts: a file per schema in the temporary directory):
 * each test file is a process of its own, and making the first store took
 * 5–11 s of initdb and migrations on a loaded machine, in every file.
 */
export interface MemoryStoreTemplateCache {
  /** the dump of a migrated store saved earlier, if any */
  read(): Promise<Blob | undefined>;
  write(dump: Blob | File): Promise<void>;
}

let cache: MemoryStoreTemplateCache | undefined;

/** Test seam: keep the migrated store's dump in `next` too. */
export function setMemoryStoreTemplateCache(next: MemoryStoreTemplateCache | undefined): void {
  cache = next;
}

/** A fresh, migrated, in-memory PGlite store: nothing in it but the schema. */
export async function openMemoryStore(): Promise<Db> {
  if (template !== undefined) return openPglite(undefined, { loadDataDir: await template });
  let settle!: { resolve(dump: Blob | File): void; reject(error: unknown): void };
  template = new Promise((resolve, reject) => (settle = { resolve, reject }));
  // Callers waiting for it see the failure; nobody waiting is no crash.
  template.catch(() => {});
  try {
    const saved = await cache?.read();
    if (saved !== undefined) {
      settle.resolve(saved);
      return openPglite(undefined, { loadDataDir: saved });
    }
    const db = await openPglite();
    await migrate(db);
    const dump = await db.pglite.dumpDataDir('none');
    await cache?.write(dump);
    settle.resolve(dump);
    return db;
  } catch (error) {
    template = undefined; // the next caller tries again
    settle.reject(error);
    throw error;
  }
}
