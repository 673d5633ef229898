import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { guardedLookup, isPrivateAddress } from './ssrf.js';
import { parseRetryAfter } from './retry.js';

// One HTTP attempt, with nothing but node:http: a deadline on the whole
// exchange, an excerpt of the answer for the delivery log, keep-alive
// connections, and the SSRF guard on the address actually connected to.

export const EXCERPT_BYTES = 1_024;
/** Answers are read to here, then the connection is dropped: a receiver cannot make us download a film. */
const MAX_READ_BYTES = 64 * 1_024;

export interface SendRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  /** false accepts self-signed and otherwise unverifiable certificates */
  verifyTls: boolean;
  timeoutMs: number;
  allowPrivate: boolean;
}

export interface SendOutcome {
  /** the HTTP status; null when no answer came */
  status: number | null;
  excerpt: string | null;
  /** why there was no answer (timeout, refused, TLS, SSRF guard) */
  error: string | null;
  retryAfterMs: number | null;
  durationMs: number;
  /**
   * A transport made no request (it had nothing to authenticate it with):
   * recorded as a skipped attempt (AttemptRecord.skipped), not counted.
   */
  skipped?: boolean;
}

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as PostgreSQL can hold it: NUL (which text and jsonb refuse) and lone
 * UTF-16 surrogates (which have no UTF-8 form) become U+FFFD, as bytes that
 * are not UTF-8 already do when an answer is decoded. A receiver's answer
 * ("ok\0", any binary body) or an error text holding one made the record of
 * its whole batch fail, and every row in it was sent again when its lease
 * ended, forever (found by review; test/integration/outbound-replies.test.ts).
 */
export function storableText(text: string): string;
export function storableText(text: string | null): string | null;
export function storableText(text: string | null): string | null {
  return text === null ? null : text.replace(UNSTORABLE, '\uFFFD');
}

const pool = () => ({
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
  httpsUnverified: new https.Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: false }),
});
/**
 * Guarded sends (webhooks) keep their own connections. The guard runs in the
 * lookup of a new connection, and an agent hands out an idle socket by
 * host:port with no lookup: a socket a trusted producer (allowPrivate:
 * Qiscus, RapidPro, on targets the operator configured) left open to a
 * private address carried a webhook attempt there, unchecked (found by
 * review; test/integration/ssrf-pool.test.ts).
 */
const agents = { allowed: pool(), guarded: pool() };
const lookups = { allowed: guardedLookup(true), guarded: guardedLookup(false) };

function describeError(error: NodeJS.ErrnoException, timeoutMs: number, timedOut: boolean): string {
  if (timedOut) return `timeout: no complete answer within ${timeoutMs} ms`;
  if ((error as { code?: string }).code === 'SB_WEBHOOK_TARGET_PRIVATE') return error.message;
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
      return 'connection reset by the receiver (ECONNRESET)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${error.code})`;
    default:
      return error.code ? `${error.message} (${error.code})` : error.message;
  }
}

export function send(request: SendRequest): Promise<SendOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: Omit<SendOutcome, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, excerpt: storableText(outcome.excerpt), error: storableText(outcome.error), durationMs: elapsed() });
    };
    const fail = (error: NodeJS.ErrnoException) =>
      finish({ status: null, excerpt: null, error: describeError(error, request.timeoutMs, timedOut), retryAfterMs: null });

    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      fail(new Error(`invalid URL ${JSON.stringify(request.url)}`));
      return;
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // A literal address never reaches the lookup, so it is judged here.
    if (!request.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
      fail(Object.assign(new Error(`${host} is a private address; refused (ALLOW_PRIVATE_WEBHOOK_TARGETS is off)`), { code: 'SB_WEBHOOK_TARGET_PRIVATE' }));
      return;
    }
    const secure = url.protocol === 'https:';
    const pooled = request.allowPrivate ? agents.allowed : agents.guarded;
    const options: https.RequestOptions = {
      method: request.method,
      headers: { ...request.headers, 'content-length': String(request.body.length) },
      agent: secure ? (request.verifyTls ? pooled.https : pooled.httpsUnverified) : pooled.http,
      lookup: (request.allowPrivate ? lookups.allowed : lookups.guarded) as unknown as http.RequestOptions['lookup'],
    };
    const req = (secure ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let read = 0;
      const done = () =>
        timedOut
          ? fail(new Error('timeout'))
          : finish({
          status: res.statusCode ?? null,
          excerpt: kept > 0 ? Buffer.concat(chunks).toString('utf8') : '',
          error: null,
          retryAfterMs: parseRetryAfter(res.headers['retry-after'], Date.now()),
        });
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (kept < EXCERPT_BYTES) {
          const part = chunk.subarray(0, EXCERPT_BYTES - kept);
          chunks.push(part);
          kept += part.length;
        }
        if (read > MAX_READ_BYTES) {
          done();
          res.destroy();
        }
      });
      res.on('end', done);
      res.on('error', (error) => (settled ? undefined : fail(error)));
      res.on('aborted', done);
    });
    timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error('timeout'));
    }, request.timeoutMs);
    req.on('error', fail);
    req.end(request.body);
  });
}
