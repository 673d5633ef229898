// Environment → typed configuration. Every variable is validated up front so
// a typo stops start-up with a message naming the variable, instead of
// surfacing later as a strange routing decision.

export type OfflinePolicy = 'requeue' | 'keep';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  maxCustomers: number;
  attendantKeepAliveMs: number;
  agentOfflineGraceMs: number;
  offlinePolicy: OfflinePolicy;
  sweepIntervalMs: number;
  tokenTtlSeconds: number;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  logLevel: LogLevel;
  /** webhooks may target private, loopback and link-local addresses (SSRF guard off) */
  allowPrivateWebhookTargets: boolean;
  /** deadline of one webhook attempt, ms */
  webhookTimeoutMs: number;
  /** webhook requests in flight at once, per process */
  webhookConcurrency: number;
  /** how often the delivery worker looks for due work without being woken, ms */
  webhookPollIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(name, `must be a whole number between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const text = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no'].includes(text)) return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`);
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

export const MIN_PASSWORD_LENGTH = 8;
export const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL (leave it unset for the embedded store)');
  }
  const adminEmail = optional(env, 'ADMIN_EMAIL');
  if (adminEmail !== undefined && !EMAIL_PATTERN.test(adminEmail)) {
    throw new ConfigError('ADMIN_EMAIL', `must be an email address, got ${JSON.stringify(adminEmail)}`);
  }
  const adminPassword = optional(env, 'ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminPassword.length < MIN_PASSWORD_LENGTH) {
    throw new ConfigError('ADMIN_PASSWORD', `must be at least ${MIN_PASSWORD_LENGTH} characters long`);
  }
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: optional(env, 'HOST') ?? '127.0.0.1',
    databaseUrl,
    dataDir: optional(env, 'DATA_DIR') ?? './data',
    maxCustomers: integer(env, 'MAX_CUSTOMERS', 2, 1, 10_000),
    attendantKeepAliveMs: integer(env, 'ATTENDANT_KEEP_ALIVE_TIME', 30_000, 1_000),
    agentOfflineGraceMs: integer(env, 'AGENT_OFFLINE_GRACE', 60_000, 0),
    offlinePolicy: oneOf(env, 'OFFLINE_CONVERSATIONS', ['requeue', 'keep'] as const, 'requeue'),
    sweepIntervalMs: integer(env, 'SWEEP_INTERVAL', 1_000, 50, 60_000),
    tokenTtlSeconds: integer(env, 'TOKEN_TTL', 12 * 3600, 60),
    adminEmail,
    adminPassword,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    allowPrivateWebhookTargets: boolean(env, 'ALLOW_PRIVATE_WEBHOOK_TARGETS', false),
    webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT', 15_000, 100, 120_000),
    webhookConcurrency: integer(env, 'WEBHOOK_CONCURRENCY', 64, 1, 4_096),
    webhookPollIntervalMs: integer(env, 'WEBHOOK_POLL_INTERVAL', 1_000, 50, 60_000),
  };
}
