import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import type { Realtime } from '../realtime/index.js';
import type { Metrics } from '../stats/metrics.js';

// What every route module is handed. It lives apart from app.ts, which
// imports the route modules, so no route imports the module that imports it.

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface AppDeps {
  ctx: Ctx;
  config: Pick<Config, 'tokenTtlSeconds' | 'logLevel' | 'qiscus' | 'rapidpro' | 'realtime' | 'customers' | 'sessionLimits' | 'email'> & Partial<Pick<Config, 'files' | 'metricsToken' | 'httpRequestTimeoutMs'>>;
  metrics: Metrics;
  /** the real-time layer: chat sessions, /mqtt; none = REST only (most tests) */
  realtime?: Realtime;
  /**
   * Keep looked-up bearer tokens in this process while it hears every
   * revocation (src/agents/tokens.ts, migration 0047): saves a round trip per
   * API call. The server turns it on; tests that change tokens by SQL and
   * expect the next call refused at once leave it off.
   */
  tokenCache?: boolean;
  /** a pino logger; none = silent */
  logger?: FastifyBaseLogger;
}
