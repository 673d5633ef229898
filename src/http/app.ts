import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import type { Realtime } from '../realtime/index.js';
import { realtimeRoutes } from '../realtime/routes.js';
import type { Metrics } from '../stats/metrics.js';
import { qiscusRoutes } from '../channels/qiscus/routes.js';
import { rapidproRoutes } from '../channels/rapidpro/routes.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { agentRoutes } from './routes/agents.js';
import { authRoutes } from './routes/auth.js';
import { conversationRoutes } from './routes/conversations.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { queueRoutes } from './routes/queue.js';
import { settingsRoutes } from './routes/settings.js';
import { webhookRoutes } from './routes/webhooks.js';
import { assertStorableText, validatorCompiler } from './validation.js';
import { webRoutes } from './web.js';

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface AppDeps {
  ctx: Ctx;
  config: Pick<Config, 'tokenTtlSeconds' | 'logLevel' | 'qiscus' | 'rapidpro' | 'realtime'>;
  metrics: Metrics;
  /** the real-time layer: chat sessions, /mqtt; none = REST only (most tests) */
  realtime?: Realtime;
  /** a pino logger; none = silent */
  logger?: FastifyBaseLogger;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: 1024 * 1024,
    // Per-request logs at info would cost more than the routing at 1,000
    // conversations a second; they are there at debug.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(deps.config.logLevel) }),
    ajv: { customOptions: { strict: false } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('preValidation', async (request) => {
    // A POST without a body means "no options" (resolve, requeue): validate it as {}.
    if (request.body === undefined && request.method !== 'GET' && request.method !== 'HEAD') request.body = {};
    assertStorableText(request.params, 'params');
    assertStorableText(request.query, 'querystring');
    assertStorableText(request.body, 'body');
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchboard API', version: '0.1.0', description: 'Core REST API of Switchboard. Errors are {"error":{"code","message","field?"}}.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  healthRoutes(app, deps);
  authRoutes(app, deps);
  agentRoutes(app, deps);
  conversationRoutes(app, deps);
  queueRoutes(app, deps);
  settingsRoutes(app, deps);
  eventRoutes(app, deps);
  webhookRoutes(app, deps);
  qiscusRoutes(app, deps);
  rapidproRoutes(app, deps);
  if (deps.realtime) await realtimeRoutes(app, deps, deps.realtime);
  await webRoutes(app, deps);
  return app;
}
