import type { Ctx } from '../context.js';
import type { StoredEvent } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { accessRules, Assignments, type AccessRules } from './access.js';
import { createEmbeddedBroker, createExternalBroker, type Broker } from './broker.js';
import type { RealtimeConfig } from './config.js';
import { createCoordinator } from './coordinator.js';
import type { Identity } from './identity.js';
import { createPublisher, type Publisher } from './publisher.js';
import { expireSilentSessions } from './sessions.js';
import { CLIENT_TOPICS, parseTopic, topics as topicsOf, type Topics } from './topics.js';

// The real-time layer put together: broker, access rules, coordinator,
// event publisher and the customer keep-alive sweep.

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
}

/**
 * On a shared broker nobody vouches for the publisher, so its identity is
 * read from the payload and checked against the database: the session named
 * must exist, the agent named must exist, a message's sender must take part.
 */
function identityFromPayload(db: Queryable, t: Topics) {
  return async (topic: string, payload: Buffer): Promise<Identity | undefined> => {
    const relative = t.relative(topic);
    if (relative === undefined) return undefined;
    let body: Record<string, any>;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return undefined;
    }
    const parsed = parseTopic(relative);
    const customer = async (conversationId: unknown) => {
      if (typeof conversationId !== 'string' || !/^[0-9a-f-]{36}$/i.test(conversationId)) return undefined;
      const [session] = await db.query<{ conversation_id: string; customer_id: string; last_seen_at: Date; expires_at: Date }>(
        'select conversation_id, customer_id, last_seen_at, expires_at from customer_sessions where conversation_id = $1',
        [conversationId.toLowerCase()],
      );
      return session ? ({ kind: 'customer', session } as const) : undefined;
    };
    const agent = async (id: unknown) => {
      if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const [row] = await db.query<any>('select * from agents where id = $1 and deleted_at is null', [id]);
      return row ? ({ kind: 'agent', agent: row } as const) : undefined;
    };
    if (parsed.kind === 'server') {
      if (parsed.name === CLIENT_TOPICS.attendantOnline) return agent(body?.attendantInfo?.id);
      return customer(body?.sessionId ?? body?.userRequesting);
    }
    if (parsed.kind === 'conversation') {
      const from = parsed.part === 'viewed' ? body?.reader ?? body?.from : body?.message?.from;
      const asCustomer = await customer(parsed.conversationId);
      if (asCustomer && (from === undefined || from === asCustomer.session.customer_id)) return asCustomer;
      return agent(from);
    }
    return undefined;
  };
}

export async function createRealtime(deps: RealtimeDeps): Promise<Realtime> {
  const { ctx, config } = deps;
  const t = topicsOf(config.baseTopic);
  const assignments = new Assignments();
  const rules = accessRules(ctx.db, t, assignments);
  let broker: Broker | undefined;
  const publish = (topic: string, payload: unknown) => broker!.publish(topic, payload);
  const publisher = createPublisher({ ctx, topics: t, assignments, publish, onError: (e) => deps.onError(e, 'mqtt publish') });
  const coordinator = createCoordinator({ ctx, topics: t, publish, keepAliveMs: config.sessionKeepAliveMs, announce: (c) => publisher.announce(c) });
  broker = config.mqttUrl
    ? await createExternalBroker({ ctx, topics: t, rules, coordinator, onError: deps.onError, identityOf: identityFromPayload(ctx.db, t) }, config.mqttUrl)
    : await createEmbeddedBroker({ ctx, topics: t, rules, coordinator, onError: deps.onError }, { tcpPort: config.mqttTcpPort, host: deps.host });

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
      for (const event of events) {
        if (event.agent_id && (event.type === 'agent.updated' || event.type === 'agent.deleted' || event.type === 'agent.status_changed')) {
          revalidate(event.agent_id).catch((error) => deps.onError(error, 'mqtt revalidate'));
        }
      }
    },
    expireSessions,
    async close() {
      clearInterval(sweep);
      await publisher.idle().catch(() => undefined);
      publisher.close();
      await broker!.close();
    },
  };
}
