import { ConfigError, integer, optional, type Env } from '../env.js';

// The customer panel's statistics contract (docs/api.md,
// GET /api/v1/customers/:customerId/statistics): the customer's own service
// Switchboard asks, server-side, for what to show next to a conversation.

export interface CustomersConfig {
  /** `{base}/chimpassist/:customerId/statistics` is asked; unset = no statistics (the route answers {configured:false}) */
  statisticsBaseEndpoint: string | undefined;
  /** deadline of one call to the statistics service, answer included, ms */
  statisticsTimeoutMs: number;
  /** how long an answer is reused per customer and range, ms (0 = never) */
  statisticsCacheMs: number;
  /** widget identity verification (src/customers/identity.ts) */
  identity: IdentityConfig;
}

export interface IdentityConfig {
  /** WIDGET_IDENTITY_SECRET: the host site signs customer ids with it; unset = every widget chat is unverified */
  secret: string | undefined;
  /** the secret it replaced, still accepted until `previousUntil` while host sites switch */
  previousSecret: string | undefined;
  previousUntil: Date | undefined;
}

/** Shorter secrets could be found offline from one signed id. */
export const MIN_IDENTITY_SECRET_LENGTH = 16;

function loadIdentityConfig(env: Env): IdentityConfig {
  const secret = optional(env, 'WIDGET_IDENTITY_SECRET');
  const previousSecret = optional(env, 'WIDGET_IDENTITY_SECRET_PREVIOUS');
  const until = optional(env, 'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL');
  for (const [name, value] of [['WIDGET_IDENTITY_SECRET', secret], ['WIDGET_IDENTITY_SECRET_PREVIOUS', previousSecret]] as const) {
    if (value !== undefined && value.length < MIN_IDENTITY_SECRET_LENGTH) {
      throw new ConfigError(name, `must be at least ${MIN_IDENTITY_SECRET_LENGTH} characters long (use a random value, e.g. openssl rand -hex 32)`);
    }
  }
  if (previousSecret !== undefined && secret === undefined) {
    throw new ConfigError('WIDGET_IDENTITY_SECRET_PREVIOUS', 'is the secret WIDGET_IDENTITY_SECRET replaced: set WIDGET_IDENTITY_SECRET too');
  }
  // A previous secret without an end would keep a retired (perhaps leaked) secret valid for ever.
  if ((previousSecret === undefined) !== (until === undefined)) {
    throw new ConfigError(
      previousSecret === undefined ? 'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL' : 'WIDGET_IDENTITY_SECRET_PREVIOUS',
      'WIDGET_IDENTITY_SECRET_PREVIOUS and WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL go together: the old secret and when it stops being accepted',
    );
  }
  let previousUntil: Date | undefined;
  if (until !== undefined) {
    previousUntil = new Date(until);
    // With its offset: without one, JavaScript reads the time in the server's zone, and a host west of UTC
    // kept accepting the retired secret hours past the moment written (processes in other zones disagreeing).
    // `date +%FT%T%z` writes +0900: taken too. A day the month does not have (02-30) is refused, not rolled over.
    const written = /^(\d{4})-(\d{2})-(\d{2})T[^Z+-]*(Z|[+-]\d{2}:?\d{2})$/i.exec(until);
    const [year, month, day] = (written ?? []).slice(1, 4).map(Number) as [number, number, number];
    if (!written || Number.isNaN(previousUntil.getTime()) || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) {
      throw new ConfigError(
        'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL',
        `must be an ISO 8601 date and time with its offset, such as 2026-12-01T00:00:00Z, got ${JSON.stringify(until)}`,
      );
    }
  }
  return { secret, previousSecret, previousUntil };
}

export function loadCustomersConfig(env: Env): CustomersConfig {
  const base = optional(env, 'STATISTICS_BASE_ENDPOINT');
  if (base !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(base);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
      throw new ConfigError('STATISTICS_BASE_ENDPOINT', `must be an http:// or https:// URL without a query or fragment, got ${JSON.stringify(base)}`);
    }
  }
  return {
    statisticsBaseEndpoint: base?.replace(/\/+$/, ''),
    statisticsTimeoutMs: integer(env, 'STATISTICS_TIMEOUT', 3_000, 100, 60_000),
    statisticsCacheMs: integer(env, 'STATISTICS_CACHE_TTL', 60_000, 0, 3_600_000),
    identity: loadIdentityConfig(env),
  };
}
