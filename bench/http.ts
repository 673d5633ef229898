// A small keep-alive HTTP/JSON client for the bench: one node:http Agent with
// a fixed socket pool, every request timed with performance.now().
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Response<T = unknown> {
  status: number;
  body: T;
  /** wall time from request start to the last byte of the body, in ms */
  ms: number;
}

export class HttpClient {
  readonly agent: http.Agent;
  private readonly base: URL;
  token: string | undefined;

  constructor(baseUrl: string, sockets: number) {
    this.base = new URL(baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  request<T = unknown>(method: string, path: string, body?: unknown): Promise<Response<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.base.hostname, port: this.base.port, method, path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - started;
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              // leave the text as it is
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, ms });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Runs `count` tasks with at most `concurrency` in flight (a closed loop: each
 * worker starts its next task as soon as its previous one finishes).
 */
export async function runPool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
