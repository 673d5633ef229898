import { heartbeat } from '../agents/agents.js';
import { SYSTEM, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { abandonUnserved } from '../conversations/lifecycle.js';
import { addMessageOnce, markRead, type Message } from '../conversations/messages.js';
import type { ConversationRow } from '../conversations/model.js';
import { presentAttachments } from '../files/files.js';
import { forbidden, invalid, notFound } from '../errors.js';
import { participantId, seesEverything, type Identity } from './identity.js';
import { MessageRate, REQUEST_LIMITS, type MessageRateLimits } from './message-rate.js';
import { AttendantOnline, ChannelRequest, ClientMessage, ReadReceipt, readPayload, SessionOnline, SessionRequest } from './payloads.js';
import { ORIGIN } from './publisher.js';
import { touchSession } from './sessions.js';
import { markReadUpTo } from '../unread/unread.js';
import { CLIENT_TOPICS, parseTopic, topicNameProblem, type Topics } from './topics.js';

// What Switchboard does with what clients publish. Everything is validated
// and stored first; what other clients then see is published from the
// committed events (see publisher.ts), never the client's own bytes.

export interface Coordinator {
  /**
   * Handles one client publish (already admitted by the access rules) and
   * resolves once its effects are committed. Throws an AppError for a
   * payload it refuses; nothing is stored then.
   */
  handle(identity: Identity, topic: string, payload: Buffer): Promise<void>;
}

export interface CoordinatorDeps {
  ctx: Ctx;
  topics: Topics;
  /** publishes on behalf of Switchboard */
  publish(topic: string, payload: unknown): Promise<void>;
  /** SESSION_KEEP_ALIVE_TIME, ms: a session heard from within a quarter of it is not written again */
  keepAliveMs: number;
  /** the session's state as it is then, on its control topic, in order with the events' publishes, for a client that just (re)started */
  announce(conversationId: string): Promise<void>;
  /** a customer session's message budget (message-rate.ts), and its read receipts' apart; default 5 a second after a burst of 50 */
  messageRate?: MessageRateLimits;
  /** a customer session's session and channel requests (message-rate.ts); default REQUEST_LIMITS */
  requestRate?: MessageRateLimits;
  /** the budgets' clock, ms (tests) */
  rateClock?: () => number;
}

const actorOf = (identity: Identity): Actor =>
  identity.kind === 'agent' ? { id: identity.agent.id, role: identity.agent.role } : SYSTEM;

/** A stored message as the messages topic carries it: what publisher.ts relays for message.created. */
const relayed = (ctx: Ctx, m: Message) => ({
  sessionInfo: { sessionId: m.conversation_id },
  message: { id: m.id, from: m.sender_id, sender: m.sender, timestamp: Date.parse(m.created_at), content: m.text, attachments: presentAttachments(ctx.files, m.attachments, ctx.now(), 'browser'), readAt: m.read_at },
  origin: ORIGIN,
});

export function createCoordinator(deps: CoordinatorDeps): Coordinator {
  const { ctx, topics: t } = deps;
  // When each session was last written as alive by this process: a chatty
  // customer costs one keep-alive write per quarter period, not one per message.
  const touched = new Map<string, number>();
  // Every customer publish that makes Switchboard read, write or answer is
  // taken from a budget of its session's (message-rate.ts) before it does:
  // a message at once, a receipt or a request once its payload is read (a
  // malformed one is refused for that instead, which costs no more than a
  // refusal for the rate). Keep-alives have none: they answer nothing, and
  // write at most once a quarter period (touch, below).
  const messageRate = new MessageRate(deps.messageRate, deps.rateClock);
  const receiptRate = new MessageRate(deps.messageRate, deps.rateClock, 'read receipts');
  const requestRate = new MessageRate(deps.requestRate ?? REQUEST_LIMITS, deps.rateClock, 'session and channel requests');
  async function touch(conversationId: string, now: Date) {
    const at = now.getTime();
    if (at - (touched.get(conversationId) ?? -Infinity) < deps.keepAliveMs / 4) return;
    if (touched.size > 50_000) for (const [id, when] of touched) if (at - when > deps.keepAliveMs) touched.delete(id);
    touched.set(conversationId, at);
    await touchSession(ctx.db, conversationId, now);
  }

  /** The customer's own session, named in a payload: its conversation's id. */
  function ownSession(identity: Identity, sessionId: string): string {
    if (identity.kind !== 'customer' || identity.session.conversation_id !== sessionId.toLowerCase()) {
      throw forbidden(`session ${sessionId} is not yours`);
    }
    return identity.session.conversation_id;
  }

  /**
   * Nobody online could ever serve this waiting chat: the widget says so
   * instead of letting the customer wait for ever. Who could is the team the
   * queue counts for its expected wait (sb_queue_team, the same SQL): its
   * department's agents and those of every department its overflow chain
   * reaches, our own (not a channel's mirrors), with the skills it requires.
   * Time alone widens that team — an overflow step's after_s, the
   * requirement's skills_relax_after_s, the end of a sticky wait — so those
   * count now: a chat one of them will serve is not abandoned for having to
   * wait for it. (The team's slots: an online agent with no capacity serves
   * nobody either.) A first look, without a lock, so that a request with
   * someone online takes none; the abandon looks again under the locks
   * (sb_abandon_unserved, with the same terms) before it closes.
   */
  async function nobodyOnline(conversationId: string): Promise<boolean> {
    const [row] = await ctx.db.query<{ slots: number | null }>(
      `select (sb_queue_team(c.department, c.required_skills, c.overflow, c.skills_relax_after_s is not null, null) ->> 'slots')::int as slots
         from conversations c where c.id = $1`,
      [conversationId],
    );
    return (row?.slots ?? 0) === 0;
  }

  return {
    async handle(identity, topic, payload) {
      const relative = t.relative(topic)!;
      const parsed = parseTopic(relative);
      const now = ctx.now();

      if (parsed.kind === 'server') {
        switch (parsed.name) {
          case CLIENT_TOPICS.sessionRequest: {
            const request = readPayload(SessionRequest, payload);
            const id = ownSession(identity, request.sessionId);
            requestRate.take(id);
            const [conversation] = await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [id]);
            if (!conversation) throw notFound('session', request.sessionId);
            // A sign of life like any other: written once a quarter period at most (touch).
            await touch(conversation.id, now);
            if (conversation.state === 'queued' && (await nobodyOnline(conversation.id))) {
              // That look took no lock: an agent may have come online and been
              // given the chat since. Looked at again under the locks, in the
              // close's own call; a chat someone took is announced as it now is.
              const looked = await abandonUnserved(ctx, conversation.id, SYSTEM);
              if (!looked || looked.abandoned) return;
              await deps.announce(looked.conversation.id);
              return;
            }
            await deps.announce(conversation.id);
            return;
          }
          case CLIENT_TOPICS.sessionOnline: {
            readPayload(SessionOnline, payload);
            if (identity.kind === 'customer') await touch(identity.session.conversation_id, now);
            return;
          }
          case CLIENT_TOPICS.channelRequest: {
            const request = readPayload(ChannelRequest, payload);
            if (identity.kind !== 'customer') throw forbidden('only customers ask for a channel');
            const own = t.session(identity.session.conversation_id);
            // The answer goes only where this customer may read.
            const reserved = (['messages', 'viewed', 'control', 'typing'] as const).map((kind) => t.conversation(identity.session.conversation_id, kind));
            if (!request.responseTopic.startsWith(`${own}/`) || reserved.includes(request.responseTopic)) {
              throw invalid('responseTopic', `must be a topic of your own under ${own}/ other than its messages and control topics`);
            }
            // Switchboard publishes on it: a wildcard (`<own>/#`) or a control
            // character there made an external broker drop Switchboard's own
            // connection, and the embedded one deliver a PUBLISH on `…/#`.
            const problem = topicNameProblem(request.responseTopic);
            if (problem) throw invalid('responseTopic', problem);
            requestRate.take(identity.session.conversation_id);
            await deps.publish(request.responseTopic, { sessionTopic: own, sessionId: identity.session.conversation_id });
            return;
          }
          case CLIENT_TOPICS.attendantOnline: {
            readPayload(AttendantOnline, payload);
            if (identity.kind !== 'agent') throw forbidden('only agents send attendant heartbeats');
            await heartbeat(ctx, identity.agent.id);
            return;
          }
        }
      }

      if (parsed.kind === 'heartbeat') {
        readPayload(AttendantOnline, payload);
        if (identity.kind !== 'agent' || identity.agent.id !== parsed.agentId) throw forbidden('agents send heartbeats only for themselves');
        await heartbeat(ctx, identity.agent.id);
        return;
      }

      if (parsed.kind === 'conversation' && parsed.part === 'messages') {
        // Before anything is read or stored: a refused flood costs no more than a valid one.
        if (identity.kind === 'customer') messageRate.take(identity.session.conversation_id);
        const { message } = readPayload(ClientMessage, payload);
        if (message.content === undefined && message.attachments === undefined) throw invalid('message.content', 'is required when there are no attachments');
        const from = participantId(identity);
        if (message.from !== undefined && message.from !== from) throw invalid('message.from', `must be your own id ${from}`);
        const sender = identity.kind === 'customer' ? 'customer' : 'agent';
        const added = await addMessageOnce(
          ctx,
          parsed.conversationId,
          { sender, sender_id: from, text: message.content ?? null, attachments: message.attachments ?? [], ...(message.clientMessageId ? { client_message_id: message.clientMessageId.toLowerCase() } : {}) },
          actorOf(identity),
        );
        if ('taken' in added) throw invalid('message.clientMessageId', 'is the id of another sender’s message in this conversation: use a new uuid for each message');
        // Sent again (its PUBACK lost): stored before, so acknowledged and its
        // stored copy published again — the first went out while the sender
        // was away; subscribers know it by its id.
        if (added.repeated) await deps.publish(t.conversation(parsed.conversationId, 'messages'), relayed(ctx, added.message));
        if (identity.kind === 'customer') await touch(parsed.conversationId, now);
        return;
      }

      if (parsed.kind === 'conversation' && parsed.part === 'viewed') {
        const { readMessages } = readPayload(ReadReceipt, payload);
        if (identity.kind === 'customer') receiptRate.take(identity.session.conversation_id);
        const ids = readMessages.map((m) => (typeof m === 'number' ? m : m.id));
        // A reader marks what the other side wrote; supervisors read on the agent's side.
        const reader = identity.kind === 'customer' ? 'customer' : 'agent';
        await markRead(ctx, parsed.conversationId, ids, reader, seesEverything(identity) ? SYSTEM : actorOf(identity));
        // The agent's own unread count follows what they have seen (monotonic, so a late receipt changes nothing).
        if (identity.kind === 'agent') await markReadUpTo(ctx.db, identity.agent.id, parsed.conversationId, Math.max(...ids), now);
        return;
      }

      throw forbidden(`nothing is accepted on ${topic}`);
    },
  };
}
