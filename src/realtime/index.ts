import { setTimeout as delay } from 'node:timers/promises';
import type { AgentRow } from '../agents/model.js';
import { forgetTokens } from '../agents/tokens.js';
import type { Ctx } from '../context.js';
import { forbidden } from '../errors.js';
import type { StoredEvent } from '../events/outbox.js';
import { accessRules, Assignments, type AccessRules } from './access.js';
import { createEmbeddedBroker, createExternalBroker, type Broker, type ExternalSender } from './broker.js';
import type { RealtimeConfig } from './config.js';
import { createCoordinator } from './coordinator.js';
import { createPublisher, type Publisher } from './publisher.js';
import { expireSilentSessions, type CustomerSession } from './sessions.js';
import { CLIENT_TOPICS, parseTopic, topics as topicsOf, type Topics } from './topics.js';

// The real-time layer put together: broker, access rules, coordinator,
// event publisher and the customer keep-alive sweep.

/** how long close waits for the publisher to send what was committed before it, ms */
export const CLOSE_WAIT_MS = 1_000;

export interface Realtime {
  config: RealtimeConfig;
  topics: Topics;
  broker: Broker;
  rules: AccessRules;
  publisher: Publisher;
  /** token lifetime of customer sessions, seconds */
  sessionTtlSeconds: number;
  onCommitted(events: readonly StoredEvent[]): void;
  /** one keep-alive pass (the loop runs it; tests call it on a fake clock) */
  expireSessions(): Promise<string[]>;
  close(): Promise<void>;
}

export interface RealtimeDeps {
  ctx: Ctx;
  config: RealtimeConfig;
  sessionTtlSeconds: number;
  host?: string;
  onError(error: unknown, context: string): void;
  /** the keep-alive sweep's period; 0 = no loop (tests drive expireSessions) */
  sweepIntervalMs?: number;
  /** embedded broker: how often every connection's token is read again, ms; 0 = never (tests call broker.recheckConnections) */
  tokenRecheckMs?: number;
  /** memory bounds, lowered by tests: conversations whose holder is remembered, entries of the events/queue waiting list */
  limits?: { trackedConversations?: number; waitingList?: number };
}

/**
 * On a shared broker nobody vouches for the publisher: Switchboard trusts
 * only what the broker's ACL (POST /mqtt/acl) guarantees — the topic — and
 * reads the rest from the payload, checked against the database.
 */
function identityFromPayload(ctx: Ctx, t: Topics) {
  const { db } = ctx;
  return async (topic: string, payload: Buffer): Promise<ExternalSender | undefined> => {
    const relative = t.relative(topic);
    if (relative === undefined) return undefined;
    let body: Record<string, any>;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return undefined;
    }
    const parsed = parseTopic(relative);
    const sessionOf = async (conversationId: unknown) => {
      if (typeof conversationId !== 'string' || !/^[0-9a-f-]{36}$/i.test(conversationId)) return undefined;
      const [session] = await db.query<CustomerSession>(
        'select conversation_id, customer_id, last_seen_at, expires_at, ended_at from customer_sessions where conversation_id = $1',
        [conversationId.toLowerCase()],
      );
      return session;
    };
    // An expired session speaks for nobody, like its token.
    const live = (session: CustomerSession | undefined) =>
      session && session.expires_at > ctx.now() ? { identity: { kind: 'customer', session } as const } : undefined;
    const agent = async (id: unknown) => {
      if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const [row] = await db.query<AgentRow>('select * from agents where id = $1 and deleted_at is null', [id.toLowerCase()]);
      return row ? ({ kind: 'agent', agent: row } as const) : undefined;
    };
    // Only the agent in the topic may publish there (the ACL says so); the
    // bare server/attendants/online names nobody the broker checked, so it is ignored.
    if (parsed.kind === 'heartbeat') {
      const identity = await agent(parsed.agentId);
      return identity && { identity };
    }
    if (parsed.kind === 'server') {
      if (parsed.name === CLIENT_TOPICS.attendantOnline) return undefined;
      return live(await sessionOf(body?.sessionId ?? body?.userRequesting));
    }
    if (parsed.kind === 'conversation') {
      const from = parsed.part === 'viewed' ? body?.reader ?? body?.from : body?.message?.from;
      const session = await sessionOf(parsed.conversationId);
      if (session && (from === undefined || from === session.customer_id)) return live(session);
      const named = await agent(from);
      if (!named) return undefined;
      // On a widget chat the customer may publish too, and nothing tells their
      // publish from the agent's: a message naming an agent could be the
      // customer's forgery, so agents write there over HTTP.
      if (session && parsed.part === 'messages') {
        return {
          identity: named,
          refuse: forbidden(
            `on an external broker a message naming an agent cannot be told from a customer's forgery on a widget chat; agents post it with POST /api/v1/conversations/${parsed.conversationId}/messages`,
          ),
        };
      }
      return { identity: named };
    }
    return undefined;
  };
}

export async function createRealtime(deps: RealtimeDeps): Promise<Realtime> {
  const { ctx, config } = deps;
  const t = topicsOf(config.baseTopic);
  const assignments = new Assignments(deps.limits?.trackedConversations);
  const rules = accessRules(ctx.db, t, assignments);
  let broker: Broker | undefined;
  const publish = (topic: string, payload: unknown) => broker!.publish(topic, payload);
  const publisher = createPublisher({
    ctx,
    topics: t,
    assignments,
    publish,
    audible: (topic) => broker?.audible?.(topic) ?? true,
    onError: (e) => deps.onError(e, 'mqtt publish'),
    waitingListLimit: deps.limits?.waitingList,
  });
  const coordinator = createCoordinator({ ctx, topics: t, publish, keepAliveMs: config.sessionKeepAliveMs, messageRate: config.messageRate, requestRate: config.requestRate, announce: (id) => publisher.announceCurrent(id) });
  broker = config.mqttUrl
    ? await createExternalBroker({ ctx, topics: t, rules, coordinator, onError: deps.onError, identityOf: identityFromPayload(ctx, t) }, config.mqttUrl)
    : await createEmbeddedBroker(
        { ctx, topics: t, rules, coordinator, onError: deps.onError },
        { tcpPort: config.mqttTcpPort, host: deps.host, ...(deps.tokenRecheckMs !== undefined ? { tokenRecheckMs: deps.tokenRecheckMs } : {}) },
      );

  const expireSessions = () => expireSilentSessions(ctx, config.sessionKeepAliveMs);
  let sweeping = false;
  const sweep =
    deps.sweepIntervalMs === 0
      ? undefined
      : setInterval(() => {
          if (sweeping) return;
          sweeping = true;
          expireSessions()
            .catch((error) => deps.onError(error, 'session keep-alive sweep'))
            .finally(() => (sweeping = false));
        }, deps.sweepIntervalMs ?? Math.min(5_000, Math.max(250, config.sessionKeepAliveMs / 4)));

  return {
    config,
    topics: t,
    broker,
    rules,
    publisher,
    sessionTtlSeconds: deps.sessionTtlSeconds,
    onCommitted(events) {
      publisher.onCommitted(events);
      const revalidate = broker!.revalidateAgent;
      if (!revalidate) return;
      // A role change, deletion or password change reaches the token cache by
      // its NOTIFY, and the route clears this process's copy after the call
      // returns: both after this runs. Re-checked through the old entries, a
      // deleted or demoted agent's connections stayed until the periodic
      // re-check (5 s; found by review). Rare changes, so the whole cache goes.
      if (events.some((event) => event.type === 'agent.updated' || event.type === 'agent.deleted')) forgetTokens(ctx.db);
      for (const event of events) {
        if (event.agent_id && (event.type === 'agent.updated' || event.type === 'agent.deleted' || event.type === 'agent.status_changed')) {
          revalidate(event.agent_id).catch((error) => deps.onError(error, 'mqtt revalidate'));
        }
      }
    },
    expireSessions,
    async close() {
      clearInterval(sweep);
      // What was committed before goes out, waited for at most CLOSE_WAIT_MS:
      // the sweeper and the channels commit until after this (src/server.ts),
      // and under a steady stream of changes the publisher is never idle.
      await Promise.race([publisher.idle().catch(() => undefined), delay(CLOSE_WAIT_MS, undefined, { ref: false })]);
      await publisher.close();
      await broker!.close();
    },
  };
}
