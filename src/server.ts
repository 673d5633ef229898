import pino, { type Logger } from 'pino';
import { ensureAdmin } from './agents/bootstrap.js';
import type { Config } from './config.js';
import type { Ctx } from './context.js';
import type { OutboundWorker } from './events/outbound/worker.js';
import { createWebhookWorker } from './events/webhooks/worker.js';
import { buildApp, type App } from './http/app.js';
import { startSweeper, type Sweeper } from './routing/sweep.js';
import { defaultSettings, seedSettings } from './settings/settings.js';
import { createMetrics } from './stats/metrics.js';
import type { Db } from './store/db.js';
import { migrate } from './store/migrate.js';
import { openStore } from './store/open.js';

export interface Running {
  app: App;
  db: Db;
  ctx: Ctx;
  url: string;
  close(): Promise<void>;
}

/** Everything `switchboard serve` runs, in one process: store, migrations, HTTP API, sweeper. */
export async function startServer(config: Config, options: { db?: Db; logger?: Logger } = {}): Promise<Running> {
  const log = options.logger ?? pino({ level: config.logLevel });
  const db = options.db ?? (await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const applied = await migrate(db);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');

  const now = () => new Date();
  const metrics = createMetrics(db, now);
  // Committed events wake the webhook worker at once; it also polls as a safety net.
  let webhooks: OutboundWorker | undefined;
  const ctx: Ctx = { db, now, onCommitted: (events) => (metrics.observe(events), webhooks?.wake()) };
  await seedSettings(db, defaultSettings(config), ctx.now());

  const admin = await ensureAdmin(ctx, config);
  if (admin?.password) {
    // Printed once, on the first start only: the hash is all that is stored.
    process.stdout.write(`\n  First start: created admin ${admin.email} with password ${admin.password}\n  Log in at POST /api/v1/auth/login and change it.\n\n`);
  } else if (admin) {
    log.info({ email: admin.email }, 'created the first admin with the configured password');
  }

  const app = await buildApp({ ctx, config, metrics, logger: log });
  const sweeper: Sweeper = startSweeper(ctx, config.sweepIntervalMs, (err) => log.warn({ err }, 'sweep failed; retrying next tick'));
  webhooks = createWebhookWorker(ctx, {
    allowPrivate: config.allowPrivateWebhookTargets,
    concurrency: config.webhookConcurrency,
    timeoutMs: config.webhookTimeoutMs,
    pollMs: config.webhookPollIntervalMs,
    idleRecheckMs: config.webhookPollIntervalMs,
    onError: (err) => log.warn({ err }, 'webhook delivery pass failed; retrying'),
    onDisabled: (webhookId, reason) => log.warn({ webhookId, reason }, 'webhook endpoint disabled'),
  });
  webhooks.start();
  const address = await app.listen({ port: config.port, host: config.host });
  log.info({ address, store: db.kind }, 'Switchboard is listening');

  let closing: Promise<void> | undefined;
  return {
    app,
    db,
    ctx,
    url: address,
    close() {
      // Stop taking requests and let in-flight ones finish before the store goes.
      closing ??= (async () => {
        await app.close();
        await sweeper.stop();
        await webhooks?.stop();
        await db.close();
      })();
      return closing;
    },
  };
}
