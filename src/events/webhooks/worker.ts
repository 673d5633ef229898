import type { Ctx } from '../../context.js';
import { createOutboundWorker, type Feed, type OutboundWorker, type Producer, type WorkerOptions } from '../outbound/worker.js';
import { fanOut, PRODUCER } from './fanout.js';
import { webhookProducer } from './producer.js';

export interface WebhookWorkerOptions {
  allowPrivate: boolean;
  concurrency: number;
  perDestination?: number;
  timeoutMs: number;
  pollMs: number;
  onError?: (error: unknown) => void;
  onListenError?: WorkerOptions['onListenError'];
  onDisabled?: (endpointId: string, reason: string) => void;
  disableAfterFailingMs?: number;
  /**
   * After finding no endpoint enabled, skip the fan-out for this long (wall
   * clock): a server without webhooks pays no transaction per commit. The
   * first events after the first endpoint is created may wait this long.
   * Default 0 (always look).
   */
  idleRecheckMs?: number;
  /** other outbound work sharing the worker (channel callbacks): one mechanism serves all outbound calls */
  extra?: { producers?: Record<string, Producer>; feeds?: readonly Feed[] };
  /** test seams */
  random?: WorkerOptions['random'];
  wallClock?: WorkerOptions['wallClock'];
  sendFn?: WorkerOptions['sendFn'];
}

/** The outbox worker with webhooks plugged in: the fan-out feeds it, the webhook producer signs and keeps endpoint health. */
export function createWebhookWorker(ctx: Ctx, options: WebhookWorkerOptions): OutboundWorker {
  let idleUntil = 0;
  return createOutboundWorker(ctx, {
    producers: {
      ...options.extra?.producers,
      [PRODUCER]: webhookProducer({ disableAfterFailingMs: options.disableAfterFailingMs, onDisabled: options.onDisabled }),
    },
    feeds: [
      async (c, claim) => {
        if (Date.now() < idleUntil) return { read: 0, claimed: [] };
        const { events, claimed, noEndpoints, waiting } = await fanOut(c, { claim });
        idleUntil = noEndpoints ? Date.now() + (options.idleRecheckMs ?? 0) : 0;
        return { read: events, claimed, waiting };
      },
      ...(options.extra?.feeds ?? []),
    ],
    concurrency: options.concurrency,
    perDestination: options.perDestination,
    timeoutMs: options.timeoutMs,
    pollMs: options.pollMs,
    allowPrivate: options.allowPrivate,
    onError: options.onError,
    onListenError: options.onListenError,
    random: options.random,
    wallClock: options.wallClock,
    sendFn: options.sendFn,
  });
}
