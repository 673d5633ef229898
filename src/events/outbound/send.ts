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

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
  httpsUnverified: new https.Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: false }),
};
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
      resolve({ ...outcome, durationMs: elapsed() });
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
    const options: https.RequestOptions = {
      method: request.method,
      headers: { ...request.headers, 'content-length': String(request.body.length) },
      agent: secure ? (request.verifyTls ? agents.https : agents.httpsUnverified) : agents.http,
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
