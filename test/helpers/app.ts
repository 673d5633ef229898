import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach } from 'node:test';
import type { AgentRow, Role } from '../../src/agents/model.js';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { buildApp, type App } from '../../src/http/app.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { makeAgent, PASSWORD } from './fixtures.js';
import type { TestStore } from './stores.js';

export interface TestApp {
  app: App;
  ctx: Ctx;
  /** Sends a request through Fastify's inject (no socket). `token` becomes `Authorization: Bearer <token>`. */
  call(method: InjectOptions['method'], url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  /** Creates an agent of that role (and status) and logs them in. */
  user(role: Role, options?: Parameters<typeof makeAgent>[1]): Promise<{ agent: AgentRow; token: string }>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  now?: () => Date;
  tokenTtlSeconds?: number;
  /** environment variables the app's configuration is read from (channels' settings) */
  env?: Record<string, string>;
  /**
   * Runs before the app is built. A channel is made once per context and its
   * routes take the one that exists, so a test that needs a channel with its
   * own seams (a fixed random, a logger) makes it here.
   */
  beforeApp?: (ctx: Ctx) => void;
}

export async function testApp(store: TestStore, options: TestAppOptions = {}): Promise<TestApp> {
  const now = options.now ?? (() => new Date());
  const metrics = createMetrics(store.db, now);
  const ctx: Ctx = { db: store.db, now, onCommitted: (events) => metrics.observe(events) };
  const config = { ...loadConfig(options.env ?? {}), tokenTtlSeconds: options.tokenTtlSeconds ?? 3600, logLevel: 'silent' as const };
  options.beforeApp?.(ctx);
  const app = await buildApp({ ctx, config, metrics });
  await app.ready();
  const call: TestApp['call'] = (method, url, opts = {}) =>
    app.inject({
      method,
      url,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
      ...(opts.body !== undefined ? { payload: opts.body as InjectOptions['payload'] } : {}),
    });
  return {
    app,
    ctx,
    call,
    async user(role, agentOptions = {}) {
      const agent = await makeAgent(ctx, { ...agentOptions, role });
      const res = await call('POST', '/api/v1/auth/login', { body: { email: agent.email, password: PASSWORD } });
      if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      return { agent, token: res.json().token as string };
    },
    close: () => app.close(),
  };
}

/**
 * A fresh app on an emptied store for every test of the enclosing suite, and
 * closed after it: the getter answers the current test's app.
 */
export function eachTestApp(store: () => TestStore, options: TestAppOptions = {}): () => TestApp {
  let t: TestApp | undefined;
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store(), options);
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  return () => {
    if (t === undefined) throw new Error('eachTestApp: no app outside a test');
    return t;
  };
}
