import http from 'node:http';
import https from 'node:https';

// The calls to Qiscus over node:http with kept-alive connections. One
// allocation pass asks for the agents of up to a batch of rooms at once, one
// call per room (the API has no batch form), so the per-call cost is what
// counts: global `fetch` (undici's WHATWG layer: Request, Response, streams,
// an AbortSignal per call) cost ~15 % of the server's CPU at 500 rooms/s,
// several times what a plain request on a kept-alive socket costs.

export interface HttpAnswer {
  status: number;
  text: string;
}

/** One HTTP exchange; rejects with an Error on no answer (refused, reset) and with a TimeoutError past the deadline. */
export type HttpRequest = (
  url: string,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; timeoutMs: number },
) => Promise<HttpAnswer>;

class StaleSocket extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

export function timeoutError(ms: number): Error {
  const error = new Error(`no answer within ${ms} ms`);
  error.name = 'TimeoutError';
  return error;
}

/**
 * A requester with its own keep-alive agents. Sockets are kept per host, one
 * request at a time on each (no pipelining, which a server may not honour);
 * as many as calls in flight, as fetch opened: an allocation pass already
 * bounds those to its batch, and a cap below it would make a pass wait for
 * a second round. Idle ones are kept 30 s, so that resolves arriving after
 * a quiet spell find them open (the refill of 40 rooms is 40 calls at once,
 * several times over); a server that closed one first costs the retry below.
 */
export function createHttpRequester(options: { maxSockets?: number } = {}): HttpRequest & { close(): void } {
  const agentOptions: http.AgentOptions = { keepAlive: true, keepAliveMsecs: 1_000, maxSockets: options.maxSockets ?? Infinity, timeout: 30_000, scheduling: 'lifo' };
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };
  const once = (url: string, init: Parameters<HttpRequest>[1]) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const target = new URL(url);
      const agent = agents[target.protocol as keyof typeof agents];
      if (!agent) return reject(new Error(`unsupported protocol ${target.protocol}`));
      const headers: Record<string, string | number> = { ...init.headers };
      if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
      const send = target.protocol === 'https:' ? https.request : http.request;
      const req = send(target, { method: init.method, headers, agent });
      let timedOut = false;
      // The whole exchange has one deadline, as fetch's AbortSignal.timeout gave.
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(timeoutError(init.timeoutMs));
      }, init.timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        if (timedOut) return reject(timeoutError(init.timeoutMs));
        // A kept-alive socket the server closed as it was reused: nothing reached the server.
        if (req.reusedSocket && (error as NodeJS.ErrnoException).code === 'ECONNRESET') return reject(new StaleSocket(error));
        reject(error);
      };
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        // The connection closed mid-answer: a partial body is no answer.
        res.on('close', () => {
          if (!res.complete) fail(new Error('the connection closed before the answer was complete'));
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(init.body);
    });
  // The one retry Node's documentation advises for keep-alive: a request that
  // met a socket closed by the server while idle is sent again on a new one.
  const request: HttpRequest = (url, init) => once(url, init).catch((error: unknown) => (error instanceof StaleSocket ? once(url, init) : Promise.reject(error)));
  return Object.assign(request, {
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  });
}
