import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: `src/main.ts` is run from here. */
// (its package.json's real folder: under `npm test` this module runs
// compiled in a mirror of the checkout whose package.json links to it)
export const REPO_ROOT = dirname(realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json')));
/** the compiled mirror of the checkout this module runs in under `npm test` (scripts/test.mjs), if it does */
const MIRROR = fileURLToPath(import.meta.url).endsWith('.js') ? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..') : undefined;

export interface ServerProcess {
  /** Base URL of the API, e.g. `http://127.0.0.1:41234` (from the "Switchboard is listening" log line). */
  url: string;
  pid: number;
  child: ChildProcess;
  /** Every stdout line so far (pino JSON, plus the odd plain line such as the first-start banner). */
  stdout: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** The stdout lines that parse as JSON log records. */
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string | null>;
  /** SIGTERM (graceful: in-flight requests finish, the store closes), then SIGKILL after `graceMs`. Safe to call twice. */
  kill(options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<number | string | null>;
}

export interface StartServerOptions {
  /**
   * Environment for the child, laid over this process's own. A key set to
   * `undefined` is removed (e.g. `DATABASE_URL: undefined` for the embedded
   * store). PORT defaults to 0 (any free port), HOST to 127.0.0.1.
   */
  env?: Record<string, string | undefined>;
  /** CLI arguments after `src/main.ts`; default `['serve']`. */
  args?: string[];
  /**
   * What node runs before `args`; default `src/main.ts` through tsx, with
   * test/helpers/password-cost.ts loaded first.
   * The staged-image test passes `['bin/switchboard.js']`, the image's command.
   */
  entry?: string[];
  /** Run the child as this user and group (needs root); default: this process's. */
  uid?: number;
  gid?: number;
  cwd?: string;
  /** How long to wait for the listening line; default 60 s. */
  timeoutMs?: number;
}

const LISTENING = 'Switchboard is listening';
/** the server from source, its passwords hashed at the tests' cost (test/helpers/password-cost.ts says why) */
const DEFAULT_ENTRY =
  MIRROR === undefined
    ? ['--import', 'tsx', '--import', './test/helpers/password-cost.ts', 'src/main.ts']
    : // the same files, compiled by scripts/test.mjs
      ['--enable-source-maps', '--import', resolve(MIRROR, 'test/helpers/password-cost.js'), resolve(MIRROR, 'src/main.js')];

/**
 * Spawns `node --import tsx src/main.ts serve` (passwords at the tests'
 * cost) as a child process and waits
 * until it logs that it listens. The child is a real, separate Switchboard
 * process: several of them on one DATABASE_URL is the scale-out setup.
 */
export async function startServerProcess(options: StartServerOptions = {}): Promise<ServerProcess> {
  const env: Record<string, string> = {};
  const merged: Record<string, string | undefined> = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...options.env };
  // A child of a `node --test` worker must not think it is one.
  delete merged.NODE_TEST_CONTEXT;
  for (const [key, value] of Object.entries(merged)) if (value !== undefined) env[key] = value;

  const child = spawn(process.execPath, [...(options.entry ?? DEFAULT_ENTRY), ...(options.args ?? ['serve'])], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | string | null>((done) => {
    child.once('exit', (code, signal) => done(code ?? signal));
  });
  let exitedAlready = false;
  void exited.then(() => {
    exitedAlready = true;
  });

  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => {
      fail(new Error(`server process ${child.pid} did not log "${LISTENING}" within ${options.timeoutMs ?? 60_000} ms\n${tail(stdout, stderr)}`));
    }, options.timeoutMs ?? 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout.push(line);
      if (!line.startsWith('{')) return;
      try {
        const record = JSON.parse(line) as { msg?: unknown; address?: unknown };
        if (record.msg === LISTENING && typeof record.address === 'string') {
          clearTimeout(timer);
          ok(record.address);
        }
      } catch {
        // not a log record
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`server process ${child.pid} exited (${String(code)}) before listening\n${tail(stdout, stderr)}`));
    });
  }).catch(async (error: unknown) => {
    if (!exitedAlready) {
      child.kill('SIGKILL');
      await exited;
    }
    throw error;
  });

  let killing: Promise<number | string | null> | undefined;
  return {
    url,
    pid: child.pid!,
    child,
    stdout,
    stderr,
    logs: () =>
      stdout.flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    exited,
    kill({ signal = 'SIGTERM', graceMs = 10_000 } = {}) {
      killing ??= (async () => {
        if (exitedAlready) return exited;
        child.kill(signal);
        const timer = setTimeout(() => {
          if (!exitedAlready) child.kill('SIGKILL');
        }, graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      return killing;
    },
  };
}

function tail(stdout: string[], stderr: string[]): string {
  return [`--- stdout (last 20 lines)`, ...stdout.slice(-20), `--- stderr (last 20 lines)`, ...stderr.slice(-20)].join('\n');
}
