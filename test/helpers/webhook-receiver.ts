// A webhook receiver on 127.0.0.1 for the webhook suites: it checks every
// delivery twice — with the `standardwebhooks` package, as a real receiver
// would, and with an HMAC computed by hand — and answers however the test
// tells it to (2xx, 5xx, 410, Retry-After, a hang, or not listening at all).
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { Ctx } from '../../src/context.js';
import { createEndpoint, type EndpointInput } from '../../src/events/webhooks/endpoints.js';
import { createWebhookWorker, type WebhookWorkerOptions } from '../../src/events/webhooks/worker.js';
import type { Queryable } from '../../src/store/db.js';
import { testApp, type TestApp, type TestAppOptions } from './app.js';
import type { TestStore } from './stores.js';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  /** performance.now() when the request arrived */
  at: number;
  id: string;
}

export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface Receiver {
  url: string;
  port: number;
  /** every request, in arrival order, including failed ones */
  requests: Received[];
  /** requests answered 2xx */
  accepted: Received[];
  /** verification failures; must stay empty */
  problems: string[];
  /** how to answer the next request (later, when it returns a promise); default 204 */
  answer: (request: Received) => Answer | Promise<Answer>;
  /** stop listening (connection refused) until `listen()` again */
  close(): Promise<void>;
  listen(): Promise<void>;
}

/** The Standard Webhooks key of a secret (decoded `whsec_`), computed without Switchboard's code. */
function keyOf(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

export async function startReceiver(secrets: () => string[]): Promise<Receiver> {
  const hanging = new Set<http.ServerResponse>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    accepted: [],
    problems: [],
    answer: () => ({ status: 204 }),
    close: async () => {},
    listen: async () => {},
  };
  const verify = (r: Received) => {
    const keys = secrets();
    const hub = r.headers['x-hub-signature'];
    const hand = keys.map((s) => `sha256=${createHmac('sha256', s).update(r.body).digest('hex')}`);
    if (typeof hub !== 'string' || !hand.includes(hub)) receiver.problems.push(`${r.id}: X-Hub-Signature ${String(hub)} matches no secret`);
    const ts = String(r.headers['webhook-timestamp']);
    const sigs = String(r.headers['webhook-signature']).split(' ');
    const handStd = keys.map((s) => `v1,${createHmac('sha256', keyOf(s)).update(`${r.id}.${ts}.${r.body}`).digest('base64')}`);
    if (!sigs.some((sig) => handStd.includes(sig))) receiver.problems.push(`${r.id}: webhook-signature matches no secret by hand`);
    const verified = keys.some((s) => {
      try {
        const wh = s.startsWith('whsec_') ? new Webhook(s) : new Webhook(s, { format: 'raw' });
        wh.verify(r.body, r.headers as Record<string, string>);
        return true;
      } catch {
        return false;
      }
    });
    if (!verified) receiver.problems.push(`${r.id}: standardwebhooks rejected it`);
    if (r.headers['content-type'] !== 'application/json') receiver.problems.push(`${r.id}: content-type ${String(r.headers['content-type'])}`);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        receiver.problems.push(`body is not JSON: ${body.slice(0, 100)}`);
      }
      const r: Received = { headers: req.headers, body, json, at: performance.now(), id: String(req.headers['webhook-id']) };
      receiver.requests.push(r);
      verify(r);
      const reply = (answer: Answer) => {
        if (answer === 'hang') {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        if (answer.status >= 200 && answer.status < 300) receiver.accepted.push(r);
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      };
      const answer = receiver.answer(r);
      if (answer instanceof Promise) void answer.then(reply, (e: unknown) => res.destroy(e as Error));
      else reply(answer);
    });
  });
  server.keepAliveTimeout = 60_000;
  receiver.listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(receiver.port, '127.0.0.1', () => {
        receiver.port = (server.address() as AddressInfo).port;
        receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
        resolve();
      });
    });
  receiver.close = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await receiver.listen();
  return receiver;
}

/** Empties the webhook tables and puts the fan-out cursor at the end of the event log. */
export async function resetWebhooks(db: Queryable): Promise<void> {
  await db.query('truncate outbound_attempts, outbound_requests, webhook_endpoints restart identity cascade');
  await db.query(
    `update outbox_cursors set (last_xid_bound, last_event_id) =
       (select xid_bound, id from (select xid_bound, id from events union all select 0, 0) e order by xid_bound desc, id desc limit 1)
      where name = 'webhooks'`,
  );
}

/** An endpoint aimed at the receiver (private targets allowed, as tests must). */
export async function endpointFor(ctx: Ctx, receiver: Receiver, input: Partial<EndpointInput> = {}) {
  return createEndpoint(ctx, { url: receiver.url, events: ['session_state_open'], ...input }, null, { allowPrivate: true });
}

/** A worker for tests: private targets allowed, no jitter; drive it with tick(). A test of timeouts sets a short timeoutMs. */
export function testWorker(ctx: Ctx, options: Partial<WebhookWorkerOptions> = {}) {
  return createWebhookWorker(ctx, { allowPrivate: true, concurrency: 16, timeoutMs: 5_000, pollMs: 10_000, random: () => 0.5, ...options });
}

export interface WebhookTest {
  /** this test's app, on the suite's clock */
  readonly t: TestApp;
  readonly ctx: Ctx;
  /** this test's receivers, as many as asked for, verifying with the secrets of the endpoints `endpoint` made */
  readonly receivers: readonly Receiver[];
  /** An endpoint aimed at `receiver` (the first by default), its secret added to those the receivers verify with. */
  endpoint(input?: Partial<EndpointInput>, receiver?: Receiver): Promise<Awaited<ReturnType<typeof createEndpoint>>['endpoint']>;
}

/**
 * A webhook suite's per-test setup, for each test of the enclosing suite: an
 * emptied store and webhook tables, an app on `now`, and `receivers` live
 * receivers; all closed after the test.
 */
export function eachWebhookTest(store: () => TestStore, options: { now: () => Date; receivers?: number; app?: TestAppOptions }): WebhookTest {
  let t: TestApp | undefined;
  let receivers: Receiver[] = [];
  let secrets: string[] = [];
  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    t = await testApp(store(), { ...options.app, now: options.now });
    secrets = [];
    receivers = [];
    for (let i = 0; i < (options.receivers ?? 1); i++) receivers.push(await startReceiver(() => secrets));
  });
  afterEach(async () => {
    for (const receiver of receivers) await receiver.close();
    await t?.close();
  });
  return {
    get t() {
      return t!;
    },
    get ctx() {
      return t!.ctx;
    },
    get receivers() {
      return receivers;
    },
    async endpoint(input = {}, receiver = receivers[0]!) {
      const { endpoint, secret } = await endpointFor(t!.ctx, receiver, input);
      secrets.push(secret);
      return endpoint;
    },
  };
}
