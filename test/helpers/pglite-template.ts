// Imported for its effect: every test process shares one dump of a migrated
// PGlite store, kept in the temporary directory, instead of each making its
// own (initdb and every migration on PGlite: 5–11 s a file on a loaded
// machine, in nearly every test file). Made by the first process that needs
// it; the file is named by a hash of the migrations, the routing functions
// and PGlite's version, so a changed schema or PGlite makes a new one.
import { readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setMemoryStoreTemplateCache } from '../../src/store/memory.js';
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
