import { boolean, ConfigError, integer, optional, type Env } from '../../env.js';

// The Qiscus variables. The channel is inert (no poll, no calls, its
// webhooks answer 503) until QISCUS_BASE_URL and QISCUS_APP_ID are set.

export type QiscusAuth =
  | { mode: 'secret'; secret: string }
  | { mode: 'login'; email: string; password: string };

export interface QiscusConfig {
  /** null when the channel is not configured */
  api: { baseUrl: string; appId: string; auth: QiscusAuth; agentId: string | undefined } | null;
  /** the webhooks must carry it (query or header); the settings calls take it, in a header only, instead of an admin token */
  webhookSecret: string | undefined;
  /**
   * Without a webhook secret the webhooks are refused, since anyone could
   * open and resolve rooms; this opens them anyway, on purpose (a private
   * network, a test). Ignored when a secret is set.
   */
  allowUnsignedWebhooks: boolean;
  /**
   * Rooms resolved in Switchboard are resolved in Qiscus (mark_as_resolved),
   * and rooms given up on are released (remove_agent); false keeps Qiscus
   * out of it, as before.
   */
  syncResolve: boolean;
  /** the Qiscus SDK (chat) server, where a room's last comment id is read for mark_as_resolved */
  sdkBaseUrl: string;
  /** how often the queue head is retried while rooms wait, ms */
  pollIntervalMs: number;
  /** deadline of every call to Qiscus, ms */
  timeoutMs: number;
  /** allocation passes one process may run at once (1: one after another) */
  passesAtOnce: number;
  /** log destinations besides stdout */
  logStack: readonly ('single' | 'slack')[];
  slackWebhookUrl: string | undefined;
}

const LOG_STACKS = ['single', 'slack'] as const;

function httpUrl(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, `must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  return raw.replace(/\/+$/, '');
}

function auth(env: Env): QiscusAuth {
  const secret = optional(env, 'QISCUS_SECRET');
  if (secret !== undefined) return { mode: 'secret', secret };
  const email = optional(env, 'QISCUS_EMAIL');
  const password = optional(env, 'QISCUS_PASSWORD');
  if (email !== undefined && password !== undefined) return { mode: 'login', email, password };
  throw new ConfigError(
    'QISCUS_SECRET',
    'is required when QISCUS_BASE_URL is set (or set both QISCUS_EMAIL and QISCUS_PASSWORD to authenticate with an admin login)',
  );
}

export function loadQiscusConfig(env: Env): QiscusConfig {
  const baseUrl = httpUrl(env, 'QISCUS_BASE_URL');
  const appId = optional(env, 'QISCUS_APP_ID');
  if (baseUrl !== undefined && appId === undefined) throw new ConfigError('QISCUS_APP_ID', 'is required when QISCUS_BASE_URL is set');
  if (appId !== undefined && baseUrl === undefined) throw new ConfigError('QISCUS_BASE_URL', 'is required when QISCUS_APP_ID is set (e.g. https://multichannel.qiscus.com)');
  const stack = (optional(env, 'LOG_STACK') ?? 'single').split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of stack) {
    if (!(LOG_STACKS as readonly string[]).includes(item)) {
      throw new ConfigError('LOG_STACK', `must be a comma-separated list of ${LOG_STACKS.join(', ')}, got ${JSON.stringify(item)}`);
    }
  }
  const slackWebhookUrl = httpUrl(env, 'LOG_SLACK_WEBHOOK_URL');
  if (stack.includes('slack') && slackWebhookUrl === undefined) throw new ConfigError('LOG_SLACK_WEBHOOK_URL', 'is required when LOG_STACK includes slack');
  return {
    api: baseUrl !== undefined && appId !== undefined ? { baseUrl, appId, auth: auth(env), agentId: optional(env, 'QISCUS_AGENT_ID') } : null,
    webhookSecret: optional(env, 'QISCUS_WEBHOOK_SECRET'),
    allowUnsignedWebhooks: boolean(env, 'QISCUS_ALLOW_UNSIGNED_WEBHOOKS', false),
    syncResolve: boolean(env, 'QISCUS_SYNC_RESOLVE', true),
    sdkBaseUrl: httpUrl(env, 'QISCUS_SDK_BASE_URL') ?? 'https://api.qiscus.com',
    pollIntervalMs: integer(env, 'QISCUS_POLL_INTERVAL', 30_000, 100, 3_600_000),
    timeoutMs: integer(env, 'QISCUS_TIMEOUT', 10_000, 100, 120_000),
    passesAtOnce: integer(env, 'QISCUS_PASSES_AT_ONCE', 1, 1, 8),
    logStack: stack as ('single' | 'slack')[],
    slackWebhookUrl,
  };
}
