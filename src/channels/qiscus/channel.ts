import type { Ctx } from '../../context.js';
import type { StoredEvent } from '../../events/outbox.js';
import type { Feed, HandOver, Producer } from '../../events/outbound/worker.js';
import { createAllocator, type Allocator } from './allocator.js';
import { createQiscusClient, QiscusLoginError, type QiscusClient, type QiscusError } from './client.js';
import type { QiscusConfig } from './config.js';
import { PRODUCER } from './constants.js';
import { createHttpRequester, type HttpRequest } from './http.js';
import { qiscusProducer } from './producer.js';
import { qiscusCallUrls, removalFeed } from './removals.js';
import { settleStranded } from './stranded.js';

// The Qiscus channel of one running Switchboard: its client, allocator,
// outbox producer, and the feed that removes agents from rooms Switchboard
// took back from them. The HTTP routes and the server both need it; it is
// made once per context so they share one allocator.

export interface QiscusChannel {
  client: QiscusClient;
  allocator: Allocator;
  producer: Producer;
  /** what the outbound worker needs to carry assign_agent, remove_agent and mark_as_resolved calls */
  extra: { producers: Record<string, Producer>; feeds: readonly Feed[] };
  /** Wired beside the other commit listeners: a raised max_customers frees slots at once. */
  onCommitted(events: readonly StoredEvent[]): void;
  /** Settles again the assignments whose answer was recorded but never settled (stranded.ts); run at every poll. */
  settleStranded(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export interface ChannelLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** While the credentials keep failing, it is logged again no more often than this. */
export const LOGIN_FAILURE_LOG_EVERY_MS = 5 * 60_000;

/**
 * The credentials' failures, for the operator: while they fail nothing is
 * assigned, resolved or listed in Qiscus, and the rooms wait (allocate.ts,
 * producer.ts) rather than fail, so this log is how anyone learns of it.
 * The first failure of a run, then once every LOGIN_FAILURE_LOG_EVERY_MS
 * (calls are tried every few seconds), and a line when a call is taken
 * again. The hint names what to check: the settings for a refusal, Qiscus
 * itself for a login it did not answer.
 */
function authLog(log: ChannelLog, mode: 'login' | 'secret', now: () => number): (failure: QiscusError | null, server?: 'sdk') => void {
  // Multichannel's and the SDK server's verdicts are told apart: one working says nothing of the other.
  const states = { multichannel: { failingSince: null as number | null, loggedAt: 0 }, sdk: { failingSince: null as number | null, loggedAt: 0 } };
  return (failure, server) => {
    const state = states[server ?? 'multichannel'];
    const at = now();
    if (failure === null) {
      if (state.failingSince !== null)
        log.warn({ failedForMs: at - state.failingSince }, server === 'sdk' ? 'The Qiscus SDK server takes QISCUS_SECRET again; waiting resolves go' : 'Qiscus credentials work again; waiting rooms are assigned');
      state.failingSince = null;
      return;
    }
    if (state.failingSince !== null && at - state.loggedAt < LOGIN_FAILURE_LOG_EVERY_MS) return;
    state.failingSince ??= at;
    state.loggedAt = at;
    if (server === 'sdk') {
      log.error(
        { err: failure, failingForMs: at - state.failingSince },
        "The Qiscus SDK server refused QISCUS_SECRET reading a room's last comment id (check QISCUS_SDK_BASE_URL, QISCUS_APP_ID and QISCUS_SECRET): no room is resolved in Qiscus until it works; resolves wait meanwhile",
      );
      return;
    }
    const what =
      !(failure instanceof QiscusLoginError)
        ? 'Qiscus login got no answer (Qiscus down or unreachable; it is tried again every few seconds)'
        : mode === 'login'
          ? 'Qiscus login failed or its token was refused (check QISCUS_EMAIL and QISCUS_PASSWORD, and that the account is an admin of QISCUS_APP_ID)'
          : 'Qiscus refused QISCUS_SECRET (check QISCUS_APP_ID and QISCUS_SECRET)';
    log.error({ err: failure, failingForMs: at - state.failingSince }, `${what}: no room is assigned or resolved in Qiscus until it works; rooms wait meanwhile`);
  };
}

/** Rooms read per allocation pass: their agent lists are fetched in parallel. */
const BATCH = 128;

const channels = new WeakMap<Ctx, QiscusChannel>();

/** The channel for this context, or null when Qiscus is not configured (the channel is then inert). */
export function qiscusChannel(ctx: Ctx, config: QiscusConfig, log: ChannelLog, seams: { request?: HttpRequest; random?: () => number; batch?: number } = {}): QiscusChannel | null {
  const urls = qiscusCallUrls(config);
  if (!config.api || !urls) return null;
  const existing = channels.get(ctx);
  if (existing) return existing;
  const requester = seams.request ? undefined : createHttpRequester();
  /** the outbound worker's, while it runs: a pass's assign_agent calls go as it commits */
  let handOver: HandOver | undefined;
  const client = createQiscusClient(config.api, {
    timeoutMs: config.timeoutMs,
    request: seams.request ?? requester,
    sdkBaseUrl: config.sdkBaseUrl,
    onAuth: authLog(log, config.api.auth.mode, () => ctx.now().getTime()),
    now: () => ctx.now().getTime(),
  });
  const allocator = createAllocator(ctx, client, {
    batch: seams.batch ?? BATCH,
    excludedAgent: config.api.agentId,
    maxBackoffMs: config.pollIntervalMs,
    pollMs: config.pollIntervalMs,
    passesAtOnce: config.passesAtOnce,
    handOver: () => handOver,
    onError: (err) => log.error({ err }, 'Qiscus allocation pass failed; retrying at the next webhook or poll'),
    onUnmirrored: (agentIds) =>
      log.error(
        { agentIds },
        "Qiscus offered agents who have no mirror: another agent has the e-mail their mirror would have, or an admin changed a mirror's Qiscus id; they get no rooms until that is mended",
      ),
  });
  const producer = qiscusProducer(client, config.timeoutMs, {
    attach: (given) => (handOver = given),
    onFreed: () => allocator.kick('freed'),
    onFailed: (roomId, reason) => log.error({ roomId, reason }, 'Qiscus room could not be assigned; marked failed'),
    // The next assign_agent still goes (its answer says whether the room is served): only an operator can help here.
    onRemoveFailed: (roomId, agentId, reason) => log.error({ roomId, agentId, reason }, 'Qiscus would not remove_agent the agent Switchboard took the room back from; they may still be in it'),
    // The conversation stays closed in Switchboard; the room shows `unsynced` in /api/v1/qiscus/rooms.
    onSyncFailed: (roomId, call, reason) => log.error({ roomId, call, reason }, 'Qiscus would not close a room Switchboard closed; close it in Qiscus by hand'),
    random: seams.random,
    maxBackoffMs: config.pollIntervalMs,
    // the retries it sets are reckoned from ctx.now(): so is the cool-down they wait out
    now: () => ctx.now().getTime(),
  });
  let strandedTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  const channel: QiscusChannel = {
    client,
    allocator,
    producer,
    // A room taken back from its agent (a supervisor's requeue) has them removed in Qiscus, then is allocated at once.
    // With QISCUS_SYNC_RESOLVE the same feed closes in Qiscus the rooms Switchboard closed.
    extra: {
      producers: { [PRODUCER]: producer },
      feeds: [
        removalFeed(urls.removeUrl, { onTakenBack: () => allocator.kick('freed') }, urls.resolveUrl),
      ],
    },
    // A raised max_customers frees slots however it was changed (PATCH /api/v1/settings,
    // the Qiscus settings endpoint), and so does a room closed however it was closed (the
    // console, the API, a session's end; Qiscus' own resolve webhook kicks as well, and finds
    // such a room already closed): the waiting rooms are allocated at once, not at the next poll.
    onCommitted: (events) => {
      if (events.some((event) => changesCapacity(event) || freesQiscusSlot(event))) allocator.kick('freed');
    },
    settleStranded: () => settleStranded(ctx, producer),
    start: () => {
      allocator.start();
      strandedTimer ??= setInterval(() => {
        // one sweep at a time; stop() waits for the one under way
        sweeping ??= channel
          .settleStranded()
          .catch((err: unknown) => log.error({ err }, 'Qiscus: settling recorded assign_agent answers again failed; retrying at the next poll'))
          .then(() => void (sweeping = undefined));
      }, config.pollIntervalMs);
    },
    stop: async () => {
      clearInterval(strandedTimer);
      strandedTimer = undefined;
      await sweeping;
      await allocator.stop();
      requester?.close();
    },
  };
  channels.set(ctx, channel);
  return channel;
}

const changesCapacity = (event: StoredEvent) =>
  event.type === 'settings.changed' && (event.data.changed as Record<string, unknown> | undefined)?.max_customers !== undefined;

/** A Qiscus room that held an agent's slot, resolved or abandoned. */
const freesQiscusSlot = (event: StoredEvent) =>
  (event.type === 'conversation.resolved' || event.type === 'conversation.abandoned') &&
  event.agent_id !== null &&
  (event.data.conversation as { channel?: unknown } | undefined)?.channel === 'qiscus';
