import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Ctx } from '../context.js';
import { AppError } from '../errors.js';
import type { AccessRules } from './access.js';
import type { Coordinator } from './coordinator.js';
import { createConnections, recheckEvery } from './connections.js';
import { identifyUntil, type Identity } from './identity.js';
import { ORIGIN } from './publisher.js';
import { encodePayload, MAX_PAYLOAD_BYTES } from './payloads.js';
import { PacketLimitedStream } from './packet-limit.js';
import { parseTopic, type Topics } from './topics.js';
import { TypingLimiter, typingSignal } from './typing.js';

// Two ways to carry the topics: an embedded aedes broker (the default: the
// access rules are enforced on every connect, subscribe, publish and
// delivery, and client publishes are stored before anything is relayed), or
// an external broker shared by several Switchboard processes.

export interface Broker {
  kind: 'embedded' | 'external';
  /** publishes on behalf of Switchboard (bypasses the access rules) */
  publish(topic: string, payload: unknown): Promise<void>;
  /**
   * embedded only: checks the connections of this agent again and closes
   * those whose token was revoked (logout, password change, deletion) or
   * whose role changed, so rights never outlive the token
   */
  revalidateAgent?(agentId: string): Promise<void>;
  /** embedded only: closes every connection made with this token, which was just revoked (logout, DELETE /session) */
  endToken?(token: string): void;
  /**
   * embedded only: re-reads every connection's token and closes those
   * revoked or expired meanwhile, by any process sharing the database; runs
   * every few seconds by itself. Returns how many it closed.
   */
  recheckConnections?(): Promise<number>;
  /** embedded only: how many publishes were dropped (or not even built: `audible`) for having nobody to hear them, now or later */
  unheard?(): number;
  /**
   * embedded only: false when nobody can hear `topic` (a publish there is
   * dropped), so what it would carry need not be built; true when someone
   * may. Without it, every topic may be heard.
   */
  audible?(topic: string): boolean;
  /**
   * embedded only: serves one MQTT connection (a WebSocket stream or a TCP
   * socket), closed when a packet is over the size limits (packet-limit.ts);
   * `onRefused` hears why
   */
  handle?(stream: Duplex, request?: IncomingMessage, onRefused?: (reason: string) => void): void;
  /**
   * embedded only: what the broker keeps in memory for a client id — the
   * packets queued for it while offline, and of the QoS 2 packets with these
   * message ids, those awaiting their PUBREL (and their size)
   */
  held?(clientId: string, incomingIds: number[]): Promise<{ queued: { topic: string }[]; incoming: { topic: string; bytes: number }[] }>;
  close(): Promise<void>;
}

export interface BrokerDeps {
  ctx: Ctx;
  topics: Topics;
  rules: AccessRules;
  coordinator: Coordinator;
  onError(error: unknown, context: string): void;
}

const encode = encodePayload;

/**
 * Why a publish was refused, for the sender alone (the other side of the
 * chat must not see it): a customer hears it on their own session's control
 * topic, an agent on their inbox `agents/<id>/events`.
 */
function rejection(topics: Topics, topic: string, error: AppError, identity: Identity): { topic: string; payload: unknown } {
  return {
    topic: identity.kind === 'customer' ? topics.conversation(identity.session.conversation_id, 'control') : topics.agentEvents(identity.agent.id),
    payload: {
      instruction: 'message/rejected',
      topic,
      error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) },
      origin: ORIGIN,
    },
  };
}

/** topics the embedded broker remembers as having no subscriber (one per conversation and kind), at most */
const SILENT_TOPICS_KEPT = 10_000;

/** Live subscriptions one connection may hold: the widget needs 1, the console a handful; more are refused (SUBACK 0x80). */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 100;

/**
 * QoS 2 publishes one connection may have awaiting their PUBREL (aedes'
 * default: 1,000). Switchboard's clients publish at QoS 0 and 1; each held
 * packet is kept by aedes until released, even after a disconnect for a
 * persistent session.
 */
export const MAX_INBOUND_QOS2_PER_CONNECTION = 16;

/** How often the embedded broker re-reads its connections' tokens, ms: a revocation in another process closes them within this. */
export const TOKEN_RECHECK_MS = 5_000;

export async function createEmbeddedBroker(
  deps: BrokerDeps,
  options: { tcpPort?: number; host?: string; /** 0 = no periodic re-check (tests call recheckConnections) */ tokenRecheckMs?: number } = {},
): Promise<Broker & { tcpAddress?: { port: number }; unheard(): number; audible(topic: string): boolean }> {
  const { ctx, topics, rules, coordinator } = deps;
  const aedes = await Aedes.createBroker({ maxClientsIdLength: 100, maxInflightInbound: MAX_INBOUND_QOS2_PER_CONNECTION });
  // aedes emits 'error' when its persistence fails (queueing for an offline
  // session, a will): unheard, an EventEmitter's 'error' ends the process.
  // (aedes' typings leave 'error' out, as they do the EventEmitter's own events.)
  (aedes as unknown as NodeJS.EventEmitter).on('error', (error: unknown) => deps.onError(error, 'mqtt broker'));
  const recheckMs = options.tokenRecheckMs ?? TOKEN_RECHECK_MS;
  // A customer's session is read again at subscribe or publish once its last reading is a re-check period old.
  const connections = createConnections(ctx, {
    freshForMs: recheckMs,
    // An offline persistent session nobody can resume any more (its token
    // died): aedes would keep its subscriptions and the messages queued for
    // it in memory for ever.
    forgetSession: (clientId) => forgetSession(clientId),
  });
  const consumed = topics.consumed();
  const typingBudget = new TypingLimiter();
  const isTyping = (topic: string) => {
    const relative = topics.relative(topic);
    if (relative === undefined) return false;
    const parsed = parseTopic(relative);
    return parsed.kind === 'conversation' && parsed.part === 'typing';
  };
  // What is only true for the moment — a typing signal, the waiting list
  // (sent whole at each change) — goes at QoS 0: aedes queues a QoS 1
  // publish for every offline persistent session subscribed to it, and a
  // stale one is worth nothing to the session when it comes back.
  const waitingListTopic = topics.queueEvents();
  const qosOf = (topic: string): 0 | 1 => (topic === waitingListTopic || isTyping(topic) ? 0 : 1);

  aedes.authenticate = (client, _username, password, done) => {
    const token = password?.toString('utf8') ?? '';
    identifyUntil(ctx.db, token, ctx.now()).then(
      (found) => {
        if (!found) {
          const error = new Error('the token is unknown, expired or revoked') as AuthenticateError;
          error.returnCode = 4; // bad user name or password
          return done(error, false);
        }
        const admitted = connections.admit(client, found.identity, token, found.expiresAt);
        if (admitted === 'gone') {
          // The socket closed (a reset, a client's connect timeout) while the
          // token was being read: nobody is there to hear a CONNACK.
          const error = new Error('the connection closed while its CONNECT was being authenticated') as AuthenticateError;
          error.returnCode = 3;
          return done(error, false);
        }
        if (admitted === 'taken') {
          // Taking it over would hand this client the other's session and queued messages.
          const error = new Error(`the client id ${client.id} belongs to another identity`) as AuthenticateError;
          error.returnCode = 2; // identifier rejected
          return done(error, false);
        }
        if (admitted === 'full') {
          // "Server unavailable", not "not authorized": the widget takes 4 and
          // 5 to mean its session is over; this one may connect again once
          // one of its other connections is gone.
          const error = new Error(`this ${found.identity.kind} has too many connections open`) as AuthenticateError;
          error.returnCode = 3;
          return done(error, false);
        }
        // Authenticated: its packets may now be full size.
        if (client.conn instanceof PacketLimitedStream) client.conn.admit();
        done(null, true);
      },
      (error) => {
        deps.onError(error, 'mqtt authenticate');
        const failure = new Error('Switchboard cannot check tokens right now') as AuthenticateError;
        failure.returnCode = 3; // server unavailable
        done(failure, false);
      },
    );
  };

  // 'client' comes before the CONNACK, so a connected client is always known here.
  aedes.on('client', (client) => connections.ready(client));
  aedes.on('clientDisconnect', (client) => (connections.gone(client), typingBudget.forget(client.id)));

  // The filters each connection holds or is being granted: one SUBSCRIBE
  // packet's filters are authorized concurrently, before aedes records any,
  // so a place is taken at once and given back when refused or unsubscribed.
  const filtersOf = new WeakMap<Client, Set<string>>();
  // What a persistent session keeps is what it was granted. aedes stores
  // every filter of a SUBSCRIBE packet once one of them is granted, the
  // refused ones too: a customer's `#` beside their own topic was kept for
  // the session and every QoS 1 publish of the broker queued for it, never
  // delivered (authorizeForward) nor cleared, until the session was
  // forgotten (found by review). The filters are stored as granted.
  const grantedOf = new WeakMap<Client, Set<string>>();
  aedes.on('unsubscribe', (unsubscribed, client) => {
    const held = client && filtersOf.get(client);
    const granted = client && grantedOf.get(client);
    for (const filter of unsubscribed) {
      held?.delete(filter);
      granted?.delete(filter);
    }
  });
  const persistence = (
    aedes as unknown as {
      persistence: {
        addSubscriptions(client: Client, subs: { topic: string }[]): Promise<unknown>;
        removeSubscriptions(client: Client, topics: string[]): Promise<unknown>;
        outgoingEnqueueCombi(subs: unknown[], packet: { topic: string }): Promise<unknown>;
      };
    }
  ).persistence;
  const storeSubscriptions = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subs) => storeSubscriptions(client, subs.filter((sub) => grantedOf.get(client)?.has(sub.topic) === true));
  // A client's publish, once consumed, is published by aedes on `consumed`,
  // which nobody may receive (authorizeForward) — but an offline persistent
  // session subscribed to `<base>/#` (a supervisor's console) matches it, and
  // aedes queued a copy of every customer's publish for it, in memory until
  // its token died (found by review). Never queued, as never delivered.
  const enqueueOffline = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = (subs, packet) => (packet.topic === consumed ? Promise.resolve() : enqueueOffline(subs, packet));

  // Subscribe and publish check the token again (connections.refresh): a
  // token revoked or expired since CONNECT is refused there, and its
  // connection closed — at once for an agent's and for what this process
  // did; a customer session ended by another process within the re-check
  // period (its reading is kept that long: one round trip less a message).
  aedes.authorizeSubscribe = (client, subscription, done) => {
    const filter = subscription.topic;
    let held = filtersOf.get(client);
    if (!held) filtersOf.set(client, (held = new Set()));
    // Subscriptions restored from a persistent session are the client's too.
    const recorded = (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
    const already = held.has(filter) || Object.hasOwn(recorded, filter);
    if (!already) {
      const count = new Set([...held, ...Object.keys(recorded)]).size;
      // Refused (SUBACK 0x80) without closing: the connection keeps what it has.
      if (count >= MAX_SUBSCRIPTIONS_PER_CONNECTION) return done(null, null);
      held.add(filter);
    }
    const release = () => void (!already && held.delete(filter));
    // Before aedes can keep the subscription for the session (see `heard` below).
    if (!client.clean) persistentSubscribed = true;
    connections
      .refresh(client)
      .then(async (identity) => (identity ? await rules.canSubscribe(identity, filter) : undefined))
      .then(
        async (allowed) => {
          if (allowed !== true) release();
          let granted = grantedOf.get(client);
          if (!granted) grantedOf.set(client, (granted = new Set()));
          if (allowed === true) granted.add(filter);
          else granted.delete(filter);
          if (allowed === undefined) return done(new Error('the token is no longer live'), null);
          // A persistent session's subscription restored at reconnect and
          // refused now (its conversation moved to another agent meanwhile)
          // is left out of the connection by aedes but stays stored, heard
          // and queued for at every later absence: it is forgotten here.
          if (!allowed && !client.clean) await persistence.removeSubscriptions(client, [filter]).catch((error: unknown) => deps.onError(error, 'mqtt subscribe'));
          done(null, allowed ? subscription : null);
        },
        (error: unknown) => (release(), deps.onError(error, 'mqtt subscribe'), done(null, null)),
      );
  };

  // aedes authorizes the packets of one socket read concurrently: each
  // publish of a client is handled once the one before it has settled, so a
  // connection's messages are stored (and relayed) in the order it sent
  // them. Typing signals, stored nowhere, skip the line.
  const handled = new WeakMap<Client, Promise<void>>();
  aedes.on('clientDisconnect', (client) => handled.delete(client));

  aedes.authorizePublish = (client, packet, done) => {
    if (!client || !connections.identityOf(client)) return done(new Error('not authenticated'));
    if (packet.payload.length > MAX_PAYLOAD_BYTES) return done(new Error(`payloads are limited to ${MAX_PAYLOAD_BYTES} bytes`));
    const topic = packet.topic;
    if (isTyping(topic)) return void authorize(client, packet, done);
    // authorize reports its own failures; whatever escapes it is reported
    // here, so the line never breaks and the next publish gets its turn.
    const turn = (handled.get(client) ?? Promise.resolve())
      .then(() => authorize(client, packet, done))
      .catch((error: unknown) => deps.onError(error, 'mqtt publish'));
    handled.set(client, turn);
  };

  /**
   * A handled publish goes on to aedes only to be acknowledged: on a topic
   * nobody receives, and without its bytes. aedes keeps a QoS 2 packet until
   * its PUBREL (for a persistent session, across disconnects): with its
   * payload, a client withholding PUBREL held up to 64 KiB a packet in
   * memory (found by review).
   */
  function consume(packet: PublishPacket): void {
    packet.topic = consumed;
    packet.retain = false;
    packet.payload = EMPTY;
  }

  function authorize(client: Client, packet: PublishPacket, done: (error?: Error | null) => void): Promise<void> {
    const topic = packet.topic;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    return connections
      .refresh(client)
      .then(async (identity) => {
        if (!identity) return done(new Error('the token is no longer live'));
        // MQTT 3.1.1 has no way to refuse a publish but to disconnect.
        if (!(await rules.canPublish(identity, topic))) return done(new Error(`not allowed to publish on ${topic}`));
        if (isTyping(topic)) {
          // Relayed at once, rebuilt from the identity; over budget it is dropped quietly.
          let signal;
          try {
            signal = typingBudget.allow(client.id) ? await typingSignal(ctx.db, identity, payload) : undefined;
          } catch (error) {
            if (!(error instanceof AppError)) throw error;
            const answer = rejection(topics, topic, error, identity);
            await new Promise<void>((resolve, reject) =>
              client.publish({ cmd: 'publish', topic: answer.topic, payload: encode(answer.payload), qos: 1, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())),
            );
          }
          // The client's packet goes nowhere (it may be QoS 1); the signal, rebuilt, goes at QoS 0.
          consume(packet);
          if (signal) {
            await new Promise<void>((resolve, reject) =>
              aedes.publish({ cmd: 'publish', topic, payload: encode(signal), qos: 0, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())),
            );
          }
          return done(null);
        }
        try {
          await coordinator.handle(identity, topic, payload);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          // Straight to the publishing connection: whoever else subscribed to the topic never sees it.
          const answer = rejection(topics, topic, error, identity);
          await new Promise<void>((resolve, reject) =>
            client.publish({ cmd: 'publish', topic: answer.topic, payload: encode(answer.payload), qos: 1, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())),
          );
        }
        // The client's own bytes go nowhere: what others see is published
        // from the stored, committed state.
        consume(packet);
        done(null);
      })
      .catch((error: unknown) => {
        // Not acknowledged: a QoS 1 client sends it again after reconnecting.
        deps.onError(error, 'mqtt publish');
        done(error instanceof Error ? error : new Error(String(error)));
      });
  }

  aedes.authorizeForward = (client, packet) => {
    if (packet.topic === consumed) return null;
    // A connection whose token expired gets nothing while its timer is on the way.
    const identity = connections.usable(client) ? connections.identityOf(client) : undefined;
    if (!identity) return null;
    return rules.mayReceive(identity, packet.topic) ? packet : null;
  };

  const recheck = recheckEvery(connections, recheckMs, (error) => deps.onError(error, 'mqtt token re-check'));

  /**
   * Drops what aedes' persistence keeps for an offline persistent session,
   * as a clean CONNECT with its client id would (aedes has no session
   * expiry for MQTT 3.1.1): its subscriptions, the messages queued for it,
   * its half-received QoS 2 packets and its will.
   */
  async function forgetSession(clientId: string): Promise<void> {
    const kept = (aedes as unknown as { clients: Record<string, unknown> }).clients;
    if (Object.hasOwn(kept, clientId)) return;
    const persistence = (aedes as unknown as { persistence: SessionPersistence }).persistence;
    const who = { id: clientId };
    await persistence.cleanSubscriptions(who);
    // The queue's packets are cleared by packet id; those queued while it was
    // offline have none yet, and each call takes one of them.
    for await (const packet of persistence.outgoingStream(who)) await persistence.outgoingClearMessageId(who, packet);
    await persistence.cleanIncoming?.(who);
    await persistence.delWill(who);
  }

  let tcp: Server | undefined;
  let tcpAddress: { port: number } | undefined;
  if (options.tcpPort !== undefined) {
    tcp = createServer((socket) => aedes.handle(new PacketLimitedStream(socket)));
    await new Promise<void>((resolve, reject) => {
      tcp!.once('error', reject);
      tcp!.listen(options.tcpPort, options.host ?? '127.0.0.1', () => {
        tcp!.off('error', reject);
        // Listening, a failed accept (EMFILE under a flood) is an 'error' too: unheard, it ends the process.
        tcp!.on('error', (error) => deps.onError(error, 'mqtt tcp'));
        resolve();
      });
    });
    tcpAddress = { port: (tcp.address() as { port: number }).port };
  }

  // Most of what Switchboard publishes has nobody to hear it: an agent's
  // inbox and the supervisors' topics when no console is open, a control
  // topic whose widget is gone, all of it under a load of API opens. Each was
  // serialized, matched and acknowledged all the same (with a read of the
  // holder when the conversation was not in memory). A topic is heard by a
  // live subscription (aedes's emitter, which matches wildcards as aedes
  // delivers) or by a persistent session's QoS 1 subscription, kept while it
  // is offline and queued for it (aedes's persistence): with neither, the
  // publish would reach nobody, now or later, and is dropped here. An
  // emitter without the matcher looked for (another aedes version) counts as
  // heard: everything is published, as before.
  //
  // Only a session that is not clean has subscriptions in the persistence,
  // which forgets them at a restart: until such a session first subscribes,
  // the live subscriptions alone decide, at once (`audible`, which the
  // publisher also asks before building a payload). From then on every
  // publish asks the persistence too, which answers asynchronously: every
  // publish then waits for it alike, so they reach aedes in the order they
  // were made.
  const internals = aedes as unknown as {
    mq?: { _matcher?: { match?(topic: string): unknown[] } };
    persistence: { subscriptionsByTopic(topic: string): Promise<unknown[]> };
  };
  const live = typeof internals.mq?._matcher?.match === 'function' ? internals.mq._matcher : undefined;
  let persistentSubscribed = false;
  const heardLive = (topic: string) => live === undefined || live.match!(topic).length > 0;
  // Matching splits the topic and walks the tree (≈ 2.5 µs a publish): the
  // topics found silent are remembered until the next subscription. aedes
  // adds a live subscription, then says 'subscribe' in the same turn of the
  // event loop as it writes the SUBACK, before its client can have it;
  // restored subscriptions say nothing, but only a persistent session has
  // those, and then this memory is not used.
  let silent = new Set<string>();
  aedes.on('subscribe', () => void (silent.size > 0 && (silent = new Set())));
  /** false: nobody hears `topic`; undefined: a persistent session may (ask `heard`) */
  const audible = (topic: string): boolean | undefined => {
    if (persistentSubscribed) return undefined;
    if (silent.has(topic)) return false;
    if (heardLive(topic)) return true;
    if (silent.size >= SILENT_TOPICS_KEPT) silent = new Set();
    silent.add(topic);
    return false;
  };
  const heard = async (topic: string): Promise<boolean> => {
    const kept = await internals.persistence.subscriptionsByTopic(topic);
    return kept.length > 0 || heardLive(topic);
  };
  let unheard = 0;

  const broker: Broker & { tcpAddress?: { port: number }; unheard(): number; audible(topic: string): boolean } = {
    kind: 'embedded',
    ...(tcpAddress ? { tcpAddress } : {}),
    async publish(topic, payload) {
      const now = audible(topic);
      if (now === false || (now === undefined && !(await heard(topic)))) {
        unheard++;
        return;
      }
      const preparing = rules.prepareDelivery(topic);
      if (preparing) await preparing;
      await new Promise<void>((resolve, reject) =>
        aedes.publish({ cmd: 'publish', topic, payload: encode(payload), qos: qosOf(topic), retain: false, dup: false }, (error) => (error ? reject(error) : resolve())),
      );
    },
    unheard: () => unheard,
    audible(topic) {
      if (audible(topic) !== false) return true;
      unheard++;
      return false;
    },
    handle(stream, request, onRefused) {
      aedes.handle(new PacketLimitedStream(stream, onRefused ? { onRefused } : {}), request);
    },
    revalidateAgent: (agentId) => connections.revalidateAgent(agentId),
    endToken(token) {
      connections.endToken(token);
    },
    recheckConnections: () => recheck.run(),
    async held(clientId, incomingIds) {
      const kept = (aedes as unknown as { persistence: HeldPersistence }).persistence;
      const who = { id: clientId };
      const queued: { topic: string }[] = [];
      for await (const packet of kept.outgoingStream(who)) queued.push({ topic: packet.topic });
      const incoming: { topic: string; bytes: number }[] = [];
      for (const messageId of incomingIds) {
        const packet = await kept.incomingGetPacket(who, { messageId }).catch(() => undefined);
        if (packet) incoming.push({ topic: packet.topic, bytes: packet.payload?.length ?? 0 });
      }
      return { queued, incoming };
    },
    async close() {
      recheck.stop();
      connections.close();
      await new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
  return broker;
}

const EMPTY = Buffer.alloc(0);

/** The part of aedes' persistence (aedes-persistence's API) that forgetting a session uses. */
interface SessionPersistence {
  cleanSubscriptions(client: { id: string }): Promise<void>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number }>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
  cleanIncoming?(client: { id: string }): Promise<void>;
  delWill(client: { id: string }): Promise<unknown>;
}

/** The part of aedes' persistence `held` reads. */
interface HeldPersistence {
  outgoingStream(client: { id: string }): AsyncIterable<{ topic: string }>;
  incomingGetPacket(client: { id: string }, packet: { messageId: number }): Promise<{ topic: string; payload?: Buffer | string } | undefined>;
}

/** Who published, as far as Switchboard can tell on a shared broker; `refuse`: what it must not accept from them. */
export interface ExternalSender {
  identity: Identity;
  refuse?: AppError;
}

/**
 * An external broker relays what clients publish itself; Switchboard reads
 * the same topics through a shared subscription (one process of several
 * handles each publish) and acts on them. Which client may publish where is
 * the broker's to enforce, through POST /mqtt/acl; who sent a publish is
 * worked out by `identityOf` from what that ACL vouches for (see index.ts).
 */
export async function createExternalBroker(
  deps: BrokerDeps & { identityOf(topic: string, payload: Buffer): Promise<ExternalSender | undefined> },
  url: string,
): Promise<Broker> {
  const { topics } = deps;
  const client: MqttClient = await mqtt.connectAsync(url, {
    clientId: `switchboard-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 1000,
  });
  client.on('error', (error) => deps.onError(error, 'mqtt client'));
  const group = `$share/switchboard/${topics.base}`;
  await client.subscribeAsync(
    [`${group}/server/#`, `${group}/conversations/+/messages`, `${group}/conversations/+/messages/viewed`],
    { qos: 1 },
  );
  const broker: Broker = {
    kind: 'external',
    async publish(topic, payload) {
      await client.publishAsync(topic, encode(payload), { qos: 1 });
    },
    async close() {
      await client.endAsync();
    },
  };
  /** What one message asks, done: stored, or refused to its sender. */
  async function handleMessage(topic: string, payload: Buffer): Promise<void> {
    if (payload.length > MAX_PAYLOAD_BYTES) return;
    try {
      const parsed = JSON.parse(payload.toString('utf8')) as { origin?: unknown };
      if (parsed?.origin === ORIGIN) return;
    } catch {
      // not JSON: the coordinator says so below
    }
    const publisher = await deps.identityOf(topic, payload);
    if (!publisher) return;
    try {
      if (publisher.refuse) throw publisher.refuse;
      await deps.coordinator.handle(publisher.identity, topic, payload);
    } catch (error) {
      if (!(error instanceof AppError)) return deps.onError(error, 'mqtt message');
      const answer = rejection(topics, topic, error, publisher.identity);
      await broker.publish(answer.topic, answer.payload);
    }
  }

  // The broker hands over a topic's messages in the order they were sent:
  // those of a conversation's topic are handled one after the other, so they
  // are stored in that order (within this process: a shared subscription may
  // give the next one to another process). Other topics' messages, whose
  // order changes nothing, are handled as they come.
  const handling = new Map<string, Promise<void>>();
  client.on('message', (topic, payload) => {
    const relative = topics.relative(topic);
    const inOrder = relative !== undefined && parseTopic(relative).kind === 'conversation';
    const turn = (inOrder ? (handling.get(topic) ?? Promise.resolve()) : Promise.resolve())
      .then(() => handleMessage(topic, payload))
      .catch((error: unknown) => deps.onError(error, 'mqtt message'));
    if (!inOrder) return;
    handling.set(topic, turn);
    // drained: the line is forgotten, so topics of closed conversations are not kept
    void turn.then(() => {
      if (handling.get(topic) === turn) handling.delete(topic);
    });
  });
  return broker;
}
