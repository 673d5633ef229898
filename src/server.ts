import type { Logger } from 'pino';
import { ensureAdmin } from './agents/bootstrap.js';
import { qiscusChannel, type QiscusChannel } from './channels/qiscus/channel.js';
import { createLogger } from './channels/qiscus/log-stack.js';
import { rapidproOutbound } from './channels/rapidpro/producer.js';
import type { Config } from './config.js';
import type { Ctx } from './context.js';
import { emailProducer, emailEnabled, requireEmail, PRODUCER as EMAIL } from './email/outbox.js';
import type { OutboundWorker } from './events/outbound/worker.js';
import { startFileSweeper } from './files/deletions.js';
import { RETENTION_INTERVAL_MS, startRetentionSweeper } from './retention/sweeper.js';
import { openFiles } from './files/files.js';
import { createWebhookWorker } from './events/webhooks/worker.js';
import { buildApp, type App } from './http/app.js';
import { createRealtime, type Realtime } from './realtime/index.js';
import { startSweeper, type Sweeper } from './routing/sweep.js';
import { defaultSettings, seedSettings } from './settings/settings.js';
import { createMetrics } from './stats/metrics.js';
import type { Db } from './store/db.js';
import { migrate } from './store/migrate.js';
import { openStore } from './store/open.js';
import { warmConnections } from './store/warm-up.js';

export interface Running {
  app: App;
  db: Db;
  ctx: Ctx;
  realtime: Realtime;
  url: string;
  close(): Promise<void>;
}

/** Everything `switchboard serve` runs, in one process: store, migrations, HTTP API, sweeper. */
export async function startServer(
  config: Config,
  options: {
    db?: Db;
    logger?: Logger;
    /** the caller closes the db it passed (tests) */
    keepDb?: boolean;
    /** the server's clock (tests that move time on); the wall clock unless given */
    now?: () => Date;
  } = {},
): Promise<Running> {
  const log = options.logger ?? createLogger(config.logLevel, config.qiscus);
  const db =
    options.db ??
    (await openStore({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.databasePoolSize,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
    }));
  // A start that fails half way (a weak ADMIN_PASSWORD, a port in use) undoes
  // what it began, newest first: an embedding process keeps running, and an
  // embedded store is closed cleanly rather than left to the exit.
  const undo: Array<() => Promise<unknown> | undefined> = [];
  if (!options.keepDb) undo.push(() => db.close());
  try {
    return await start(config, options, log, db, undo);
  } catch (error) {
    for (const step of undo.reverse()) await step()?.catch(() => undefined);
    throw error;
  }
}

async function start(
  config: Config,
  options: { keepDb?: boolean; now?: () => Date },
  log: Logger,
  db: Db,
  undo: Array<() => Promise<unknown> | undefined>,
): Promise<Running> {
  const applied = await migrate(db);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  await warmConnections(db);

  const now = options.now ?? (() => new Date());
  const metrics = createMetrics(db, now);
  // Committed events wake the webhook worker at once; it also polls as a safety net.
  let webhooks: OutboundWorker | undefined;
  let realtime: Realtime | undefined;
  let qiscus: QiscusChannel | null = null;
  const ctx: Ctx = {
    db,
    now,
    onCommitted: (events) => (metrics.observe(events), webhooks?.committed(), realtime?.onCommitted(events), qiscus?.onCommitted(events)),
  };
  await seedSettings(db, defaultSettings(config), ctx.now());
  ctx.files = await openFiles(db, config.files, config.rapidpro.publicUrl);

  const admin = await ensureAdmin(ctx, config);
  if (admin?.taken) {
    log.error({ email: admin.email }, 'no admin can sign in, and the first admin\'s address belongs to an agent who is not one: set ADMIN_EMAIL (and ADMIN_PASSWORD) to a free address and restart');
  } else if (admin?.password) {
    // Printed once, on the first start only: the hash is all that is stored.
    process.stdout.write(`\n  First start: created admin ${admin.email} with password ${admin.password}\n  Log in at POST /api/v1/auth/login and change it.\n\n`);
  } else if (admin) {
    log.info({ email: admin.email }, 'created the first admin with the configured password');
  }

  realtime = await createRealtime({
    ctx,
    config: config.realtime,
    sessionTtlSeconds: config.tokenTtlSeconds,
    host: config.host,
    onError: (err, context) => log.warn({ err, context }, 'real-time layer error'),
  });
  undo.push(() => realtime?.close());
  const app = await buildApp({ ctx, config, metrics, realtime, logger: log, tokenCache: true });
  undo.push(() => app.close());
  // null when Qiscus is not configured: then nothing polls or calls it
  qiscus = qiscusChannel(ctx, config.qiscus, log);
  // Creating the first endpoint or ticketer commits no event to wake anyone: looked for again within a second.
  const idleRecheckMs = Math.min(config.webhookPollIntervalMs, 1_000);
  const rapidpro = rapidproOutbound({
    idleRecheckMs,
    onGivenUp: (ticketId, type, reason) =>
      log.error({ ticketId, type, reason }, 'mailroom kept refusing a RapidPro callback: given up, so that the ticket\'s later callbacks go (see the ticketer\'s callback log)'),
  });
  const sweeper: Sweeper = startSweeper(ctx, config.sweepIntervalMs, (err) => log.warn({ err }, 'sweep failed; retrying next tick'));
  undo.push(() => sweeper.stop());
  webhooks = createWebhookWorker(ctx, {
    allowPrivate: config.allowPrivateWebhookTargets,
    concurrency: config.webhookConcurrency,
    perDestination: config.webhookConcurrencyPerDestination,
    timeoutMs: config.webhookTimeoutMs,
    pollMs: config.webhookPollIntervalMs,
    idleRecheckMs,
    onError: (err) => log.warn({ err }, 'webhook delivery pass failed; retrying'),
    onListenError: (err) => log.warn({ err }, 'outbox wake-up connection lost; reconnecting, the poll covers meanwhile'),
    onDisabled: (webhookId, reason) => log.warn({ webhookId, reason }, 'webhook endpoint disabled'),
    // one worker for every outbound call: webhooks, Qiscus, RapidPro callbacks, email
    extra: {
      producers: {
        ...qiscus?.extra.producers,
        ...rapidpro.producers,
        ...(emailEnabled(config.email) ? { [EMAIL]: emailProducer(requireEmail(config.email)) } : {}),
      },
      feeds: [...(qiscus?.extra.feeds ?? []), ...rapidpro.feeds],
    },
  });
  undo.push(() => webhooks?.stop());
  const address = await app.listen({ port: config.port, host: config.host });
  // Without PUBLIC_URL, links sent out point at the address listened on.
  ctx.files.useOrigin(address);
  // Only now does anything go out: a backlog waiting at start (events not
  // fanned out yet, RapidPro callbacks) renders its file links as it goes, and
  // before the listen they had no port (a host name may take the resolver a
  // while). Nothing committed meanwhile is lost: the worker's lanes and the
  // Qiscus allocator stay idle until started, and starting them looks at once
  // (the fan-out reads from its cursor, the claim whatever is due). The worker
  // first: the allocator hands its assign_agent calls over to it.
  webhooks.start();
  qiscus?.start();
  const fileSweeper = startFileSweeper(db, ctx.files.store, 5_000, (err) => log.warn({ err }, 'removing deleted files from the bucket failed; retrying'));
  const retention = startRetentionSweeper(db, { deliveryLogDays: config.deliveryLogDays, intervalMs: RETENTION_INTERVAL_MS }, (err) =>
    log.warn({ err }, 'deleting old delivery logs and dead tokens failed; retrying'),
  );
  log.info({ address, store: db.kind }, 'Switchboard is listening');

  let closing: Promise<void> | undefined;
  return {
    app,
    db,
    ctx,
    realtime,
    url: address,
    close() {
      // Stop taking requests and let in-flight ones finish before the store goes.
      closing ??= (async () => {
        // A keep-alive connection whose request finishes after close began
        // would stay open for its keep-alive time (72 s) and hold up the exit:
        // close each as soon as it is idle.
        const idle = setInterval(() => app.server.closeIdleConnections(), 100);
        await app.close().finally(() => clearInterval(idle));
        await realtime?.close();
        await sweeper.stop();
        await qiscus?.stop();
        await webhooks?.stop();
        await fileSweeper.stop();
        await retention.stop();
        if (!options.keepDb) await db.close();
      })();
      return closing;
    },
  };
}
