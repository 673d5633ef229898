// Environment → typed configuration. Every variable is validated up front so
// a typo stops start-up with a message naming the variable, instead of
// surfacing later as a strange routing decision. Channels and the real-time
// layer read their own variables, next to the code that uses them.

import { weakPasswordReason } from './agents/passwords.js';
import { loadQiscusConfig, type QiscusConfig } from './channels/qiscus/config.js';
import { loadRapidProConfig, type RapidProConfig } from './channels/rapidpro/config.js';
import { loadCustomersConfig, type CustomersConfig } from './customers/config.js';
import { loadEmailConfig, type EmailConfig } from './email/config.js';
import { boolean, ConfigError, integer, oneOf, optional, type Env } from './env.js';
import { loadFilesConfig, type FilesConfig } from './files/config.js';
import { loadRealtimeConfig, type RealtimeConfig } from './realtime/config.js';
import { loadSessionLimits, type SessionLimits } from './realtime/session-limits.js';

export { ConfigError };

export type OfflinePolicy = 'requeue' | 'keep';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  /** connections to PostgreSQL per process */
  databasePoolSize: number;
  /** how long making a PostgreSQL connection may take before the request gets 503, ms */
  databaseConnectTimeoutMs: number;
  /** PostgreSQL cancels a statement running longer than this, ms; 0 = never */
  databaseStatementTimeoutMs: number;
  dataDir: string;
  maxCustomers: number;
  attendantKeepAliveMs: number;
  agentOfflineGraceMs: number;
  offlinePolicy: OfflinePolicy;
  sweepIntervalMs: number;
  /** how long a client may take to send one whole request, headers and body (an upload on a slow line), ms */
  httpRequestTimeoutMs: number;
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
  /** outbound requests in flight at once to one destination (a webhook endpoint, one Qiscus or RapidPro server), per process */
  webhookConcurrencyPerDestination: number;
  /** how often the delivery worker looks for due work without being woken (it is woken on every commit), ms */
  webhookPollIntervalMs: number;
  /** days a finished outbound request (webhook delivery, Qiscus or RapidPro call, email) stays in the delivery logs; 0 = for ever */
  deliveryLogDays: number;
  qiscus: QiscusConfig;
  rapidpro: RapidProConfig;
  realtime: RealtimeConfig;
  /** the customer panel's statistics service */
  customers: CustomersConfig;
  /** SMTP relay and sender; email is off without SMTP_URL */
  email: EmailConfig;
  /** where uploaded files are kept (database or S3) and how long their signed links live */
  files: FilesConfig;
  /** whose X-Forwarded-For to believe (the client address behind a proxy); false = none */
  trustProxy: boolean | number | string[];
  /** limits on anonymous chat sessions per client address */
  sessionLimits: SessionLimits;
  /** the bearer token `GET /metrics` asks for; undefined: the metrics are open, as `/healthz` is */
  metricsToken: string | undefined;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const MIN_PASSWORD_LENGTH = 8;
/** The API's bounds (src/http/schemas.ts: a password 8–200 characters, an email ≤ 254), which the login applies too. */
export const MAX_PASSWORD_LENGTH = 200;
export const MAX_EMAIL_LENGTH = 254;
export const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;
/** The admin the first start makes when ADMIN_EMAIL is unset (src/agents/bootstrap.ts). */
export const DEFAULT_ADMIN_EMAIL = 'admin@localhost';

/** Characters as the API's schemas count them (code points, not UTF-16 units). */
const characters = (text: string) => [...text].length;

/**
 * ADMIN_PASSWORD as the API would take it for that admin: a password the
 * login refuses (over 200 characters) would leave the only admin locked out,
 * and a weak one would stop the first start inside createAgent. Checked by
 * ensureAdmin when it is about to make that admin, not by loadConfig: the
 * variable is read only then, and a deployment whose admin exists (made
 * before these rules, or whose password changed since) keeps starting with
 * whatever value it left set (compose.yaml requires one).
 */
export function checkAdminPassword(password: string, email: string): void {
  const length = characters(password);
  if (length < MIN_PASSWORD_LENGTH) throw new ConfigError('ADMIN_PASSWORD', `must be at least ${MIN_PASSWORD_LENGTH} characters long`);
  if (length > MAX_PASSWORD_LENGTH) {
    throw new ConfigError('ADMIN_PASSWORD', `must be at most ${MAX_PASSWORD_LENGTH} characters long (the login takes no longer one), got ${length}`);
  }
  const weak = weakPasswordReason(password, email);
  if (weak) throw new ConfigError('ADMIN_PASSWORD', weak);
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL (leave it unset for the embedded store)');
  }
  const adminEmail = optional(env, 'ADMIN_EMAIL');
  if (adminEmail !== undefined && !EMAIL_PATTERN.test(adminEmail)) {
    throw new ConfigError('ADMIN_EMAIL', `must be an email address, got ${JSON.stringify(adminEmail)}`);
  }
  if (adminEmail !== undefined && characters(adminEmail) > MAX_EMAIL_LENGTH) {
    throw new ConfigError('ADMIN_EMAIL', `must be at most ${MAX_EMAIL_LENGTH} characters long, got ${characters(adminEmail)}`);
  }
  const adminPassword = optional(env, 'ADMIN_PASSWORD');
  // the rest of the API's rules when the admin is made (checkAdminPassword)
  // UTF-16 units, as this check always counted: a value that started a deployment still does
  if (adminPassword !== undefined && adminPassword.length < MIN_PASSWORD_LENGTH) {
    throw new ConfigError('ADMIN_PASSWORD', `must be at least ${MIN_PASSWORD_LENGTH} characters long`);
  }
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: optional(env, 'HOST') ?? '127.0.0.1',
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1_000),
    databaseConnectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT', 5_000, 100, 600_000),
    databaseStatementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT', 30_000, 0, 86_400_000),
    dataDir: optional(env, 'DATA_DIR') ?? './data',
    maxCustomers: integer(env, 'MAX_CUSTOMERS', 2, 1, 10_000),
    // at most 30 days, as the settings API has it: far more overflows the SQL that subtracts them from now
    attendantKeepAliveMs: integer(env, 'ATTENDANT_KEEP_ALIVE_TIME', 30_000, 1_000, 2_592_000_000),
    agentOfflineGraceMs: integer(env, 'AGENT_OFFLINE_GRACE', 60_000, 0, 2_592_000_000),
    offlinePolicy: oneOf(env, 'OFFLINE_CONVERSATIONS', ['requeue', 'keep'] as const, 'requeue'),
    sweepIntervalMs: integer(env, 'SWEEP_INTERVAL', 1_000, 50, 60_000),
    // Node's own default, which Fastify turns off: without one, a body sent a
    // byte at a time holds its connection (and an upload's buffer) for ever.
    httpRequestTimeoutMs: integer(env, 'HTTP_REQUEST_TIMEOUT', 300_000, 1_000, 3_600_000),
    // at most a year: far more put a token's expiry past the last date JavaScript holds, and every login failed with a 500
    tokenTtlSeconds: integer(env, 'TOKEN_TTL', 12 * 3600, 60, 31_536_000),
    adminEmail,
    adminPassword,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    allowPrivateWebhookTargets: boolean(env, 'ALLOW_PRIVATE_WEBHOOK_TARGETS', false),
    webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT', 15_000, 100, 120_000),
    webhookConcurrency: integer(env, 'WEBHOOK_CONCURRENCY', 64, 1, 4_096),
    webhookConcurrencyPerDestination: integer(env, 'WEBHOOK_CONCURRENCY_PER_DESTINATION', 32, 1, 4_096),
    webhookPollIntervalMs: integer(env, 'WEBHOOK_POLL_INTERVAL', 1_000, 50, 60_000),
    deliveryLogDays: integer(env, 'DELIVERY_LOG_DAYS', 30, 0, 36_500),
    qiscus: loadQiscusConfig(env),
    rapidpro: loadRapidProConfig(env),
    realtime: loadRealtimeConfig(env),
    customers: loadCustomersConfig(env),
    email: loadEmailConfig(env),
    files: loadFilesConfig(env),
    trustProxy: trustProxy(env),
    sessionLimits: loadSessionLimits(env),
    metricsToken: metricsToken(env),
  };
}

export const MIN_METRICS_TOKEN_LENGTH = 16;

/** METRICS_TOKEN: a secret Prometheus sends as `Authorization: Bearer` (its scrape config's `authorization.credentials`). */
function metricsToken(env: Env): string | undefined {
  const token = optional(env, 'METRICS_TOKEN');
  if (token === undefined) return undefined;
  if (token.length < MIN_METRICS_TOKEN_LENGTH) throw new ConfigError('METRICS_TOKEN', `must be at least ${MIN_METRICS_TOKEN_LENGTH} characters long (a guessable token is no protection)`);
  if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError('METRICS_TOKEN', 'must be printable ASCII without spaces (it travels in an HTTP header)');
  return token;
}

/**
 * TRUST_PROXY: false, a number of proxies in front (hops), a comma-separated
 * list of proxy addresses or CIDR ranges, or true. A number is not a yes: a
 * proxy that appends to X-Forwarded-For keeps what the client wrote on the
 * left, so only the entries the proxies wrote, counted from the right, are
 * believed (true believes the leftmost, the client's own claim).
 */
function trustProxy(env: Env): boolean | number | string[] {
  const raw = optional(env, 'TRUST_PROXY');
  if (raw === undefined || /^(false|0|no)$/i.test(raw.trim())) return false;
  if (/^(true|yes)$/i.test(raw.trim())) return true;
  if (/^\d{1,3}$/.test(raw.trim())) return Number(raw.trim());
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0 || !list.every((s) => /^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(s))) {
    throw new ConfigError('TRUST_PROXY', `must be false, a number of proxies, a comma-separated list of addresses or CIDR ranges, or true, got ${JSON.stringify(raw)}`);
  }
  return list;
}
