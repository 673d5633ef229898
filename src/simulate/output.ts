import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { badInput } from './errors.js';

// The files the commands write (simulate --svg and --save-trace,
// export-trace --out). A run can take minutes; a path it could never write
// is refused before it starts, not found out at its end.

/** Refuses (exit 2, naming the flag) a path that cannot be created or overwritten; writes nothing. */
export async function assertWritable(path: string, flag: string): Promise<void> {
  if (path === '') throw badInput(`--${flag} needs a file name`);
  const cannot = (why: string) => badInput(`--${flag}: cannot write ${path}: ${why}`);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw cannot(error.message);
  });
  if (info?.isDirectory()) throw cannot('it is a directory; give a file name');
  // a new file needs a directory to be created in, one this process may write
  const target = info === null ? dirname(resolve(path)) : path;
  if (info === null) {
    const dir = await stat(target).catch(() => null);
    if (dir === null) throw cannot(`the directory ${target} does not exist`);
    if (!dir.isDirectory()) throw cannot(`${target} is not a directory`);
  }
  try {
    await access(target, constants.W_OK);
  } catch (error) {
    throw cannot((error as Error).message);
  }
}

/**
 * Writes one output after the report is out; a failure (the disk filled up,
 * the directory went away during the run) is told on stderr, naming the
 * flag, and the other outputs are still written. False when it failed.
 */
export async function writeOutput(io: { err(text: string): void }, command: string, flag: string, path: string, write: () => Promise<void>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    io.err(`switchboard ${command}: --${flag}: could not write ${path}: ${(error as Error).message}\n`);
    return false;
  }
}
