import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import type { Config } from '../config.js';
import { appearanceRoutes } from '../appearance/routes.js';
import { greetingRoutes } from '../greetings/routes.js';
import { businessHoursRoutes } from '../business-hours/routes.js';
import { prechatRoutes } from '../prechat/routes.js';
import { realtimeRoutes } from '../realtime/routes.js';
import { qiscusRoutes } from '../channels/qiscus/routes.js';
import { rapidproRoutes } from '../channels/rapidpro/routes.js';
import { emailRoutes } from '../email/routes.js';
import { loadFilesConfig } from '../files/config.js';
import { openFiles } from '../files/files.js';
import { fileRoutes } from '../files/routes.js';
import { AppError } from '../errors.js';
import { cacheTokens } from '../agents/tokens.js';
import { cannedRoutes } from '../canned-responses/routes.js';
import { labelRoutes } from '../labels/routes.js';
import { noteRoutes } from '../notes/routes.js';
import { erasureRoutes } from '../erasure/routes.js';
import type { App, AppDeps } from './deps.js';
import { errorHandler, notFoundHandler, paramTooLong } from './errors.js';
import { agentRoutes } from './routes/agents.js';
import { authRoutes } from './routes/auth.js';
import { conversationRoutes } from './routes/conversations.js';
import { notificationRoutes } from './routes/notifications.js';
import { customerRoutes } from './routes/customers.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { queueRoutes } from './routes/queue.js';
import { departmentRoutes } from './routes/departments.js';
import { channelRoutes } from './routes/channels.js';
import { ratingRoutes } from './routes/ratings.js';
import { reportRoutes } from './routes/reports.js';
import { searchRoutes } from './routes/search.js';
import { settingsRoutes } from './routes/settings.js';
import { statsRoutes } from './routes/stats.js';
import { webhookRoutes } from './routes/webhooks.js';
import { requestLogger } from './request-logger.js';
import { trustHops } from './client-address.js';
import { loginLimiter, redactingLogger, securityHeaders } from './security.js';
import { assertStorableText, MENDS_TEXT, validatorCompiler } from './validation.js';
import { webRoutes } from './web.js';
import { UUID } from '../uuid.js';

export type { App, AppDeps } from './deps.js';

export interface RouteSummary {
  method: string;
  url: string;
  schema?: { body?: unknown; querystring?: unknown; params?: unknown };
}

const routeTables = new WeakMap<object, RouteSummary[]>();

/** Every route of an app built by buildApp, as registered (tests walk them all). */
export function routesOf(app: App): readonly RouteSummary[] {
  return routeTables.get(app) ?? [];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The router's limit on one path parameter, in UTF-16 units. Fastify's
 * default, 100, refused before any schema a department of 100 characters
 * that are not all in the Basic Multilingual Plane (60 × 🏥 is 120 units; an
 * agent may carry it) and a customer id of 101 to 200 characters, with a
 * 414 outside the error envelope. This is more than a request line holds
 * under Node's 16 KiB header limit, so the params schemas judge every
 * parameter: a lower limit sent an over-long GET to the catch-all route
 * instead (a 404). paramTooLong answers past it, for a server started
 * with a larger --max-http-header-size. No route has a regex parameter,
 * the one thing the router bounds by this limit for its own sake.
 */
const MAX_PARAM_LENGTH = 65_536;


/**
 * A uuid in a path may come in upper case (it is case-insensitive), and
 * the routes pass it on: into events, in-process listeners and keys such as
 * a conversation's relay order, where it then differs from the row's lower
 * case (found by review: note, label, erasure and external-message events).
 * One spelling from here on — for the parameters the route declares uuids
 * only: a customer id or a department name that looks like one is the
 * integrator's own text, case and all (found by review).
 */
function lowerCaseUuids(params: unknown, schema: unknown): void {
  if (params === null || typeof params !== 'object') return;
  const declared = (schema as { properties?: Record<string, { format?: string }> } | undefined)?.properties;
  if (!declared) return;
  const named = params as Record<string, unknown>;
  for (const [key, value] of Object.entries(named)) {
    if (declared[key]?.format === 'uuid' && typeof value === 'string' && UUID.test(value)) named[key] = value.toLowerCase();
  }
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const routes: RouteSummary[] = [];
  const requestTimeoutMs = deps.config.httpRequestTimeoutMs ?? 300_000;
  const trustProxy = (deps.config as Partial<Config>).trustProxy ?? false;
  const app = Fastify({
    // Credentials (Authorization, ?secret=, passwords) are censored in every log line.
    ...(deps.logger ? { loggerInstance: redactingLogger(deps.logger) } : { logger: false }),
    bodyLimit: 1024 * 1024,
    // 408 to a request not wholly received in time. Node reads the limits
    // its server was made with (set later, a shorter one went unheeded),
    // looks for late requests every connectionsCheckingInterval (30 s by
    // default, far past a short limit), and wants headers no later than the
    // whole request.
    requestTimeout: requestTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(requestTimeoutMs / 4)),
    },
    // Behind a reverse proxy, the client's address (login rate limit, logs) comes from X-Forwarded-For of trusted proxies only.
    trustProxy: typeof trustProxy === 'number' ? trustHops(trustProxy) : trustProxy,
    // Per-request logs at info would cost more than the routing at 1,000
    // conversations a second; they are there at debug.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(deps.config.logLevel) }),
    // and a request's own logger is made only if it logs
    childLoggerFactory: requestLogger,
    ajv: { customOptions: { strict: false } },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // What the router refuses before a route is found (an over-long
    // parameter, a malformed %-escape) answers in the error envelope too.
    frameworkErrors: (error, request, reply) =>
      errorHandler(error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? paramTooLong(request.method, request.url, routes, MAX_PARAM_LENGTH) : error, request, reply),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  routeTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method: String(method), url: route.url, ...(route.schema ? { schema: route.schema as RouteSummary['schema'] } : {}) });
  });

  // JSON bodies must be valid UTF-8: invalid bytes are refused, not silently replaced by U+FFFD.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new AppError('SB_INVALID_JSON', 'the body is not valid UTF-8', 400), undefined);
      return;
    }
    parseJson(request, text, done);
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // A callback hook, not an async one: fastify waits on an async hook's promise, on every request.
  app.addHook('preValidation', (request, _reply, done) => {
    try {
      // A POST without a body means "no options" (resolve, requeue): validate it as {}.
      if (request.body === undefined && request.method !== 'GET' && request.method !== 'HEAD') request.body = {};
      assertStorableText(request.params, 'params');
      lowerCaseUuids(request.params, request.routeOptions.schema?.params);
      assertStorableText(request.query, 'querystring');
      // A route whose sender cannot be made to send again mends what it stores itself (MENDS_TEXT).
      if (request.routeOptions.config?.[MENDS_TEXT] !== true) assertStorableText(request.body, 'body');
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  });

  securityHeaders(app, { mqttWsUrl: deps.config.realtime.mqttWsUrl });
  const limiter = loginLimiter(deps.ctx.db, deps.ctx.now);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchboard API', version: '0.1.0', description: 'Core REST API of Switchboard. Errors are {"error":{"code","message","field?"}}.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  if (deps.tokenCache) {
    const stop = cacheTokens(deps.ctx.db);
    app.addHook('onClose', stop);
  }

  healthRoutes(app, deps);
  authRoutes(app, deps, limiter);
  agentRoutes(app, deps);
  conversationRoutes(app, deps);
  noteRoutes(app, deps);
  erasureRoutes(app, deps);
  labelRoutes(app, deps);
  cannedRoutes(app, deps);
  notificationRoutes(app, deps);
  customerRoutes(app, deps);
  searchRoutes(app, deps);
  queueRoutes(app, deps);
  departmentRoutes(app, deps);
  channelRoutes(app, deps);
  settingsRoutes(app, deps);
  prechatRoutes(app, deps);
  appearanceRoutes(app, deps);
  greetingRoutes(app, deps);
  businessHoursRoutes(app, deps);
  statsRoutes(app, deps);
  reportRoutes(app, deps);
  ratingRoutes(app, deps);
  eventRoutes(app, deps);
  webhookRoutes(app, deps);
  qiscusRoutes(app, deps);
  rapidproRoutes(app, deps);
  await emailRoutes(app, deps);
  // The server opens the file store before anything that presents messages; an app built alone (tests) opens its own.
  deps.ctx.files ??= await openFiles(deps.ctx.db, deps.config.files ?? loadFilesConfig({}), deps.config.rapidpro.publicUrl);
  await fileRoutes(app, deps);
  if (deps.realtime) await realtimeRoutes(app, deps, deps.realtime);
  await webRoutes(app, deps);
  return app;
}
