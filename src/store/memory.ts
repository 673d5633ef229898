import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.js';

// In-memory stores for the simulator and the tests, which open many of them.
// A new PGlite cluster costs about two seconds of initdb; loading the dump
// of one already migrated costs a few hundred milliseconds. So the first
// store of a process is made the long way and dumped, and every later one
// starts from that dump.

let template: Promise<Blob | File> | undefined;

async function makeTemplate(): Promise<Blob | File> {
  const db = await openPglite();
  try {
    await migrate(db);
    return await db.pglite.dumpDataDir('none');
  } finally {
    await db.close();
  }
}

/** A fresh, migrated, in-memory PGlite store: nothing in it but the schema. */
export async function openMemoryStore(): Promise<Db> {
  template ??= makeTemplate();
  // A template that failed to build is not kept: the next caller tries again.
  const dump = await template.catch((error: unknown) => {
    template = undefined;
    throw error;
  });
  return openPglite(undefined, { loadDataDir: dump });
}
