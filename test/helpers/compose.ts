import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { REPO_ROOT } from './process-server.js';

// Compose files as `docker compose config` would see them, without Docker:
// `${VAR}`, `${VAR:-default}`, `${VAR:?error}` (and the forms without the
// colon) filled in from an .env file, `$$` as a literal `$`, YAML merge keys
// and aliases resolved.

export interface ComposeService {
  image?: string;
  build?: string | { context?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  healthcheck?: { test?: string[] | string };
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { source?: string })[];
  ports?: (string | number | object)[];
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** `KEY=value` lines of an .env file (comments and blank lines skipped, quotes removed). */
export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return env;
}

/** The variables a compose file requires (`${VAR:?…}` or `${VAR?…}`). */
export function requiredVariables(text: string): string[] {
  const code = text.replace(/^\s*#.*$/gm, '');
  return [...new Set([...code.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):?\?/g)].map((m) => m[1]!))].sort();
}

export function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const key = (name ?? bare)!;
    const value = env[key];
    const missing = value === undefined || (colon === ':' && value === '');
    if (op === '-') return missing ? arg! : value!;
    if (op === '?' && missing) throw new Error(`compose: required variable ${key} is missing: ${arg}`);
    return value ?? '';
  });
}

/** Every string value of a parsed document, interpolated (as Compose does: after parsing, so comments are left alone). */
function interpolateValues(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((item) => interpolateValues(item, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateValues(item, env)]));
  }
  return value;
}

export function loadCompose(file: string, env: Record<string, string>): ComposeFile {
  const document: unknown = parse(readFileSync(join(REPO_ROOT, file), 'utf8'), { merge: true, maxAliasCount: 100 });
  return interpolateValues(document, env) as ComposeFile;
}

/** A service's environment as a map (compose accepts a map or a list of `KEY=value`). */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    return Object.fromEntries(raw.map((item) => [item.split('=')[0]!, item.slice(item.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]));
}

/** The services built from this repository's Dockerfile: Switchboard. */
export function switchboardServices(compose: ComposeFile): [string, ComposeService][] {
  return Object.entries(compose.services).filter(([, s]) => {
    const context = typeof s.build === 'string' ? s.build : s.build?.context;
    return context === '.' || context === './';
  });
}

/**
 * The variables Switchboard's configuration reads when started with `env`,
 * after checking that it accepts them (loadConfig throws on a bad value, as
 * start-up would). A variable set but never read is a typo or a leftover.
 */
export function variablesRead(env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return target[key as string];
    },
  });
  loadConfig(recording);
  return read;
}
