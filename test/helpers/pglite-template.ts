// Imported for its effect: every test process shares one dump of a migrated
// PGlite store, kept in the temporary directory, instead of each making its
// own (initdb and every migration on PGlite: 5–11 s a file on a loaded
// machine, in nearly every test file). Made by the first process that needs
// it; the file is named by a hash of the migrations, the routing functions
// and PGlite's version, so a changed schema or PGlite makes a new one.
import { mkdtemp, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMemoryStore, setMemoryStoreTemplateCache } from '../../src/store/memory.js';
import { openPglite } from '../../src/store/pglite.js';
import { schemaHash } from './scratch-database.js';

const PREFIX = 'switchboard-test-pglite-';
/** a dump nobody has read for this long is another schema's: removed when a new one is written */
const UNUSED_MS = 24 * 3600 * 1000;
const PGLITE_PACKAGE = fileURLToPath(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url));

let path: Promise<string> | undefined;
const dumpPath = () =>
  (path ??= (async () => {
    const { version } = JSON.parse(await readFile(PGLITE_PACKAGE, 'utf8')) as { version: string };
    return join(tmpdir(), `${PREFIX}${await schemaHash(`pglite ${version}`)}.tar`);
  })());

setMemoryStoreTemplateCache({
  async read() {
    const file = await dumpPath();
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const now = new Date();
    await utimes(file, now, now).catch(() => undefined); // in use: not another schema's
    return new Blob([new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength)]);
  },
  async write(dump) {
    const file = await dumpPath();
    // Written aside and renamed: a process reading it never sees half of one,
    // and two processes making it at once each rename a whole one.
    const partial = `${file}.${process.pid}`;
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
    await rename(partial, file);
    for (const name of await readdir(tmpdir())) {
      const other = join(tmpdir(), name);
      if (!name.startsWith(PREFIX) || other === file) continue;
      const { mtimeMs } = await stat(other).catch(() => ({ mtimeMs: Date.now() }));
      if (Date.now() - mtimeMs > UNUSED_MS) await unlink(other).catch(() => undefined);
    }
  },
});

/**
 * A new directory under the temporary one holding a migrated PGlite store
 * (the shared dump, unpacked), for a server process started with
 * DATA_DIR on it: it then starts as on a store it made earlier, without the
 * initdb and migrations in WASM that took it most of its start-up (up to
 * two minutes at load 20, beside the other half of its file).
 */
export async function migratedDataDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // the dump, made (and kept) by a first in-memory store if no file has it yet
  const dump = await readFile(await dumpPath()).catch(async () => {
    await (await openMemoryStore()).close();
    return readFile(await dumpPath());
  });
  const db = await openPglite(dir, { loadDataDir: new Blob([new Uint8Array(dump.buffer as ArrayBuffer, dump.byteOffset, dump.byteLength)]) });
  await db.close();
  return dir;
}
