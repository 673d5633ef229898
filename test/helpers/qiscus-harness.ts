import { qiscusChannel, type ChannelLog, type QiscusChannel } from '../../src/channels/qiscus/channel.js';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { createWebhookWorker } from '../../src/events/webhooks/worker.js';
import { afterEach, beforeEach } from 'node:test';
import { testApp, type TestApp } from './app.js';
import { fakeClock } from './clock.js';
import { qiscusEnv, startFakeQiscus, type FakeQiscus } from './fake-qiscus.js';
import type { TestStore } from './stores.js';

export const silentLog = { error() {}, warn() {} };

export const HARNESS_WEBHOOK_SECRET = 'harness-webhook-secret';

export interface QiscusHarness {
  t: TestApp;
  channel: QiscusChannel;
  worker: OutboundWorker;
  clock: ReturnType<typeof fakeClock>;
  /**
   * The outbox until nothing is due (so the feed has turned every room taken
   * back from an agent into its remove_agent), one allocation pass, then the
   * outbox again.
   */
  settle(): Promise<void>;
  /**
   * Runs the channel as the server does: the allocator's loop (kicked by
   * webhooks, resolves and settings; the poll is long unless the test sets
   * QISCUS_POLL_INTERVAL) and the outbound worker, woken by every commit.
   */
  run(): void;
  /** waits until `done` holds, up to `ms`; false when it never did */
  until(done: () => boolean | Promise<boolean>, ms?: number): Promise<boolean>;
  /** the webhook secret the app requires (X-Webhook-Secret on webhook() and resolve()); undefined when the test opened the webhooks with QISCUS_ALLOW_UNSIGNED_WEBHOOKS */
  secret: string | undefined;
  webhook(roomId: string | number, extra?: Record<string, unknown>): ReturnType<TestApp['call']>;
  resolve(roomId: string | number): ReturnType<TestApp['call']>;
  /** engine load and open assignments of each mirrored agent, by Qiscus id */
  loads(): Promise<Map<string, { load: number; open: number }>>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  login?: boolean;
  env?: Record<string, string>;
  log?: ChannelLog;
  /** rooms read per allocation pass (the channel's own: 128) */
  batch?: number;
}

export async function qiscusHarness(store: TestStore, fake: FakeQiscus, options: HarnessOptions = {}): Promise<QiscusHarness> {
  const clock = fakeClock(Date.now());
  // Qiscus webhooks are closed without a secret: the harness sets one unless the test chose.
  const chosen = options.env?.QISCUS_WEBHOOK_SECRET !== undefined || options.env?.QISCUS_ALLOW_UNSIGNED_WEBHOOKS !== undefined;
  const env = qiscusEnv(fake, { login: options.login, extra: { ...(chosen ? {} : { QISCUS_WEBHOOK_SECRET: HARNESS_WEBHOOK_SECRET }), ...options.env } });
  const config = loadConfig(env).qiscus;
  const signed = config.webhookSecret !== undefined ? { 'x-webhook-secret': config.webhookSecret } : undefined;
  // Made before the app, so its routes share this channel, retries without jitter included.
  const withSeams = (ctx: Ctx) => qiscusChannel(ctx, config, options.log ?? silentLog, { random: () => 0.5, ...(options.batch ? { batch: options.batch } : {}) })!;
  const t = await testApp(store, { now: clock.now, env, beforeApp: withSeams });
  const channel = withSeams(t.ctx);
  const worker = createWebhookWorker(t.ctx, { allowPrivate: false, concurrency: 64, timeoutMs: 5_000, pollMs: 60_000, random: () => 0.5, extra: channel.extra });
  // As the server wires it: a commit wakes the worker (a no-op until it is started) and tells the channel.
  const committed = t.ctx.onCommitted;
  t.ctx.onCommitted = (events) => {
    committed?.(events);
    worker.wake();
    channel.onCommitted(events);
  };
  return {
    t,
    channel,
    worker,
    clock,
    async settle() {
      await worker.tick();
      await channel.allocator.pass();
      await worker.tick();
    },
    run() {
      worker.start();
      channel.start();
    },
    async until(done, ms = 5_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        if (await done()) return true;
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    secret: config.webhookSecret,
    webhook: (roomId, extra = {}) =>
      t.call('POST', '/api/v1/webhook/agent_allocation', {
        ...(signed ? { headers: signed } : {}),
        body: { app_id: fake.appId, source: 'qiscus', room_id: String(roomId), name: `cust ${roomId}`, email: `c${roomId}@example.test`, extras: '{"additional_extras":{"timezone_offset":7},"notes":null}', is_new_session: true, is_resolved: false, latest_service: null, candidate_agent: null, ...extra },
      }),
    resolve: (roomId) =>
      t.call('POST', '/api/v1/webhook/mark_as_resolved', {
        ...(signed ? { headers: signed } : {}),
        body: { customer: { name: 'c', user_id: 'c@example.test' }, resolved_by: { id: 1, name: 'A', type: 'agent' }, service: { room_id: String(roomId), notes: 'done', is_resolved: true } },
      }),
    async loads() {
      const rows = await t.ctx.db.query<{ external_ref: string; load: number; open: number }>(
        `select a.external_ref, a.load, (select count(*)::int from conversations c where c.agent_id = a.id and c.state = 'assigned') as open
           from agents a where a.source = 'qiscus'`,
      );
      return new Map(rows.map((r) => [r.external_ref, { load: r.load, open: r.open }]));
    },
    async close() {
      await channel.stop();
      await worker.stop();
      await t.close();
    },
  };
}

export interface WithFakeQiscus {
  /** this test's fake Qiscus */
  fake: FakeQiscus;
  /** a harness on the store and this test's fake, closed after the test unless the test closed it */
  harness(options?: HarnessOptions): Promise<QiscusHarness>;
}

/**
 * What the Qiscus suites set up around each test: before it the store
 * emptied and a fake Qiscus started; after it every harness the test opened
 * and did not close, then the fake, closed. Registered in the describe it is
 * called from; the made values reach the test through `made` (the test's own
 * `let`s), as eachTestOnClock's do.
 */
export function eachTestWithFakeQiscus(store: () => TestStore, made: (fresh: WithFakeQiscus) => void): void {
  let fake: FakeQiscus | undefined;
  let open: QiscusHarness[] = [];
  beforeEach(async () => {
    await store().reset();
    const started = await startFakeQiscus();
    fake = started;
    made({
      fake: started,
      async harness(options) {
        const h = await qiscusHarness(store(), started, options);
        const close = h.close;
        // A test may close its harness itself (a restart): once is all a harness takes.
        h.close = async () => {
          if (!open.includes(h)) return;
          open = open.filter((o) => o !== h);
          await close();
        };
        open.push(h);
        return h;
      },
    });
  });
  afterEach(async () => {
    for (const h of [...open]) await h.close();
    await fake?.close();
    fake = undefined;
  });
}
