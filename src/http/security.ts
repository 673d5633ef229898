import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimited } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { addressKey } from './client-address.js';
import { sharedAttempts } from './login-attempts.js';
import { isCustomerToken } from '../realtime/sessions.js';
import type { App } from './deps.js';
import { bearerToken } from './auth.js';

// What the HTTP layer does for security besides authentication: response
// headers (CSP, framing, nosniff, referrer), CORS, the login rate limit, and
// keeping secrets out of the logs. docs/operations.md#security explains the
// choices.

// ---- logs -------------------------------------------------------------------

/** Log paths whose value is a credential: never written, whatever the level. */
export const REDACTED_PATHS = [
  'req.url',
  'req.headers.authorization',
  'req.headers["x-webhook-secret"]',
  'req.headers.cookie',
  'headers.authorization',
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
];

/**
 * `?secret=…` (Qiscus webhooks), `?token=…` and a signed link's `?sig=…` (a
 * file's, src/files: a bearer link for up to days) in a logged URL become `[redacted]`.
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:secret|token|password|sig)=)[^&#]*/gi, '$1[redacted]');
}

/** A child of `logger` that censors credentials (Fastify logs requests through it). */
export function redactingLogger(logger: FastifyBaseLogger): FastifyBaseLogger {
  return logger.child(
    {},
    {
      redact: {
        paths: REDACTED_PATHS,
        censor: (value: unknown, path: string[]) => (path[path.length - 1] === 'url' && typeof value === 'string' ? redactUrl(value) : '[redacted]'),
      },
    } as never,
  );
}

// ---- login rate limit -------------------------------------------------------

export const LOGIN_LIMITS = {
  /** failed logins per account (email, case-insensitive) per window */
  perAccount: 10,
  /** failed logins per client address per window */
  perAddress: 30,
  windowMs: 15 * 60_000,
} as const;

export interface LoginLimiter {
  /**
   * Counts one attempt against the address and the account before the
   * password is checked; throws 429 SB_RATE_LIMITED (with Retry-After) when
   * either has none left. `succeeded()` hands the attempt back.
   */
  attempt(request: FastifyRequest, accountKey: string): Promise<{ succeeded(): Promise<void> }>;
}

/**
 * The one key of an account's login: its attempts are counted under it and
 * the account is found by it (`lower(email) = key`), lowered once, by
 * PostgreSQL, as the unique index on lower(email) lowers. Keyed in
 * JavaScript and looked up by PostgreSQL's lower(), the two parted on
 * U+0130 (JavaScript's `İ` lowers to `i` and a combining dot, PostgreSQL's
 * to `i`): each `i` of an address spelled `İ` was another ten guesses at
 * the same account; and lowering the key in JavaScript instead locked out
 * an admin whose ADMIN_EMAIL holds a Σ or an İ (found by review).
 */
export async function loginKey(db: Queryable, email: string): Promise<string> {
  const [row] = await db.query<{ key: string }>('select lower($1::text) as key', [email]);
  return row!.key;
}

/**
 * Logins are counted per account and per address, in the database (so the
 * limits hold across processes and restarts), as they start, so parallel
 * guesses cannot all slip past the check before the first failure is
 * recorded; a successful login hands its attempt back, so a busy office
 * behind one address is not locked out by its own agents. Once either
 * counter is full, further attempts are refused until its window ends,
 * without checking the password.
 */
export function loginLimiter(db: Db, now: () => Date, limits: { perAccount: number; perAddress: number; windowMs: number } = LOGIN_LIMITS): LoginLimiter {
  const byAddress = sharedAttempts(db, { scope: 'login-address', max: limits.perAddress, windowMs: limits.windowMs, now });
  const byAccount = sharedAttempts(db, { scope: 'login-account', max: limits.perAccount, windowMs: limits.windowMs, now });
  const refuse = (seconds: number, what: string) => new RateLimited('SB_RATE_LIMITED', `too many failed logins for this ${what}; try again in ${seconds} s`, seconds);
  return {
    async attempt(request, accountKey) {
      const address = await byAddress.take(addressKey(request));
      if (!address.ok) throw refuse(address.retryAfterSeconds, 'address');
      const account = await byAccount.take(accountKey);
      if (!account.ok) {
        await address.giveBack();
        throw refuse(account.retryAfterSeconds, 'account');
      }
      return {
        async succeeded() {
          await Promise.all([address.giveBack(), account.giveBack()]);
        },
      };
    },
  };
}

// ---- headers and CORS -------------------------------------------------------

/**
 * The pages' policy: everything from this origin; the WebSocket to /mqtt, or
 * to the external broker browsers are sent to (MQTT_WS_URL); attachments'
 * images from anywhere over https. The mqtt client runs its timers in a
 * worker it makes from a blob.
 */
function pagePolicy(host: string | undefined, frameAncestors: string | undefined, brokerOrigin: string | undefined): string {
  const sockets = `${host && /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? ` ws://${host} wss://${host}` : ''}${brokerOrigin ? ` ${brokerOrigin}` : ''}`;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "worker-src 'self' blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https:",
    "font-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    ...(frameAncestors ? [`frame-ancestors ${frameAncestors}`] : []),
  ].join('; ');
}

const MESSAGES_PATH = /^\/api\/v1\/conversations\/[^/]+\/messages$/;

/** Which responses another origin may read (CORS): see docs/operations.md#cors. */
function crossOrigin(request: FastifyRequest, path: string): boolean {
  if (path === '/widget.js' || path === '/session') return true;
  // The loader reads the widget's look and greetings from the host page: public data, no credential.
  if (request.method === 'GET' && path === '/api/v1/widget-settings') return true;
  // A customer's own history, read with the session token; never with an agent's token.
  if (request.method === 'GET' && MESSAGES_PATH.test(path)) {
    const token = bearerToken(request);
    return token !== undefined && isCustomerToken(token);
  }
  return false;
}

/**
 * Security headers on every answer, CORS where it is allowed, and the
 * preflights of the cross-origin routes. Call before the routes are added.
 */
export function securityHeaders(app: App, options: { mqttWsUrl?: string } = {}): void {
  const brokerOrigin = options.mqttWsUrl ? new URL(options.mqttWsUrl).origin : undefined;
  // A callback hook, not an async one: fastify waits on an async hook's
  // promise, a few turns of the microtask queue on every answer.
  app.addHook('onSend', (request, reply, payload, done) => {
    const path = request.url.split('?')[0]!;
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) {
      if (path === '/widget/frame') {
        // The chat window is embedded by customers' sites: any of them may frame it.
        void reply.header('content-security-policy', pagePolicy(request.host, undefined, brokerOrigin));
      } else if (path === '/docs' || path.startsWith('/docs/')) {
        // Swagger UI brings its own scripts; only framing is restricted.
        void reply.header('content-security-policy', "frame-ancestors 'none'");
        void reply.header('x-frame-options', 'DENY');
      } else {
        void reply.header('content-security-policy', pagePolicy(request.host, "'none'", brokerOrigin));
        void reply.header('x-frame-options', 'DENY');
      }
    }
    if (crossOrigin(request, path)) {
      void reply.header('access-control-allow-origin', '*');
      void reply.header('access-control-expose-headers', 'retry-after');
      if (path === '/widget.js') void reply.header('cross-origin-resource-policy', 'cross-origin');
    }
    done(null, payload);
  });

  const preflight = (methods: string) => async (_request: FastifyRequest, reply: FastifyReply) =>
    reply
      .status(204)
      .header('access-control-allow-origin', '*')
      .header('access-control-allow-methods', methods)
      .header('access-control-allow-headers', 'authorization, content-type')
      .header('access-control-max-age', '600')
      .send();
  app.options('/session', { schema: { hide: true } }, preflight('POST, DELETE'));
  app.options('/api/v1/conversations/:id/messages', { schema: { hide: true } }, preflight('GET'));
}
