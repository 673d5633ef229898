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
  };
}
