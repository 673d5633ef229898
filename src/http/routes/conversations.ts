import { Type, type Static } from '@sinclair/typebox';
import { seesEverything } from '../../agents/model.js';
import { assertCanAccess } from '../../conversations/access.js';
import { closeConversation, openConversationPlaced, requeueConversation, transferConversation } from '../../conversations/lifecycle.js';
import { addMessageOnce, listMessages, presentMessage, toMessage } from '../../conversations/messages.js';
import { CHANNELS, toConversation, type Channel, type ConversationRow } from '../../conversations/model.js';
import { getConversation, listConversations } from '../../conversations/queries.js';
import { forbidden, invalid } from '../../errors.js';
import { ratingOf, ratingsOf } from '../../ratings/read.js';
import { resolveLabelNames } from '../../labels/labels.js';
import { answerOffer } from '../../routing/offers.js';
import { pickConversation } from '../../routing/pick.js';
import { listQueue, queueInfoOf } from '../../routing/queue.js';
import { markReadUpTo, unreadCounts } from '../../unread/unread.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent, requireAgentOrCustomer } from '../auth.js';
import {
  Conversation,
  ConversationQuery,
  errorResponses,
  IdParams,
  Message,
  MessageQuery,
  NewConversationBody,
  NewMessageBody,
  NoBody,
  ReadBody,
  ReadMarker,
  ResolveBody,
  TransferBody,
} from '../schemas.js';

// The create's answer is written by JSON.stringify from an object holding
// exactly the schema's keys, in its order (answerOf), which is the JSON the
// schema's serializer writes. That serializer (fast-json-stringify) asks
// ajv at every nullable or enumerated field which branch of its anyOf the
// value is (formats included): ≈ 90 µs of the server's ≈ 700 a create.
const CONVERSATION_KEYS = Object.keys(Conversation.properties) as (keyof Static<typeof Conversation>)[];
function answerOf(conversation: Static<typeof Conversation>): Static<typeof Conversation> {
  const answer: Record<string, unknown> = {};
  for (const key of CONVERSATION_KEYS) if (conversation[key] !== undefined) answer[key] = conversation[key];
  return answer as Static<typeof Conversation>;
}

// A Qiscus room or a RapidPro ticket is opened only by its own channel (the
// allocation webhook, mailroom's room call), which alone knows the room or
// ticket is real. One opened here under a real room's or ticket's id would
// take its place — the channel's own open finds it already open — and its
// resolve would close the real room in Qiscus.
const OPENED_BY_THEIR_CHANNEL: Partial<Record<Channel, string>> = {
  qiscus: "Qiscus' agent-allocation webhook",
  rapidpro: "RapidPro's mailroom (the ticketer's room call)",
};

function assertOpenableHere(channel: Channel | undefined): void {
  const opener = channel === undefined ? undefined : OPENED_BY_THEIR_CHANNEL[channel];
  if (opener === undefined) return;
  const here = CHANNELS.filter((c) => OPENED_BY_THEIR_CHANNEL[c] === undefined).join(', ');
  throw invalid('channel', `must not be ${channel}: those conversations are opened only by ${opener}; this API opens ${here}`);
}

export function conversationRoutes(app: App, { ctx }: AppDeps): void {
  const anyone = requireAgent(ctx);
  const tags = ['conversations'];
  // Only a resolved conversation can carry a rating: open ones skip the lookup.
  const view = async (row: ConversationRow) => ({
    ...toConversation(row, await queueInfoOf(ctx, row)),
    rating: row.state === 'resolved' ? await ratingOf(ctx.db, row.id) : null,
  });
  // A conversation this very call resolved has no rating yet: only a resolved
  // conversation can be rated (src/ratings/rate.ts) and resolved is final, so
  // the resolve reply skips view's ratings read, a second round trip. A rating
  // sent in between is a later change the reply need not show.
  const justResolved = (row: ConversationRow) => ({ ...toConversation(row, null), rating: null });
  /** with the caller's own unread count (lists and GET of one) */
  const viewFor = async (row: ConversationRow, agentId: string) => ({
    ...(await view(row)),
    unread: (await unreadCounts(ctx.db, agentId, [row.id])).get(row.id) ?? 0,
  });
  // One queue query, one ratings query and one unread query for a whole page instead of one per conversation.
  const views = async (rows: ConversationRow[], agentId: string) => {
    const waiting = rows.filter((r) => r.state === 'queued').map((r) => r.id);
    const queue = waiting.length === 0 ? [] : await listQueue(ctx, { conversationIds: waiting });
    const info = new Map(queue.map((entry) => [entry.row.id, entry.queue]));
    const ratings = await ratingsOf(ctx.db, rows.filter((r) => r.state === 'resolved').map((r) => r.id));
    const unread = await unreadCounts(ctx.db, agentId, rows.map((r) => r.id));
    return rows.map((row) => ({ ...toConversation(row, info.get(row.id)), rating: ratings.get(row.id) ?? null, unread: unread.get(row.id) ?? 0 }));
  };

  app.post(
    '/api/v1/conversations',
    {
      schema: {
        tags,
        summary: 'Open a conversation; it is assigned at once or queued',
        description: 'An open conversation with the same channel and external_ref is answered with 200 and that conversation instead of a new one.',
        body: NewConversationBody,
        response: { 201: Conversation, 200: Conversation, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request, reply) => {
      assertOpenableHere(request.body.channel);
      // Supervisors and admins vouch for the customer id they give; an agent
      // does not, or opening a conversation would unlock anyone's statistics.
      // One call: the open, and the place in the queue when it waits.
      const { conversation, created } = await openConversationPlaced(ctx, { ...request.body, customer_verified: seesEverything(request.actor) });
      // The conversation already open for that reference may be another agent's.
      if (!created) assertCanAccess(request.actor, conversation);
      // Open: no rating (only a resolved conversation has one), so no read.
      // A new conversation holds what this body said, validated against the
      // same types; one found open may come from a channel that stored other
      // types (the schema's serializer coerces them), and is rare.
      if (!created) return reply.status(200).send({ ...conversation, rating: null });
      return reply.status(201).serializer(JSON.stringify).send(answerOf({ ...conversation, rating: null }));
    },
  );

  app.get(
    '/api/v1/conversations',
    {
      schema: {
        tags,
        summary: 'List conversations, newest first (agents: only their own)',
        querystring: ConversationQuery,
        response: { 200: Type.Array(Conversation), ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => {
      const q = request.query;
      if (request.actor.role === 'agent' && q.agent !== undefined && q.agent !== request.actor.id) {
        throw forbidden("agents may only list their own conversations");
      }
      // a label that does not exist is a mistake worth hearing about, not an empty list; the
      // catalogue's spelling is what conversations carry (a name typed in another Unicode form finds it)
      const [label] = q.label === undefined ? [] : await resolveLabelNames(ctx.db, [q.label], { lock: false, field: 'label' });
      const rows = await listConversations(
        ctx.db,
        { state: q.state as ConversationRow['state'] | undefined, agent_id: q.agent, department: q.department, customer_id: q.customer, customer_verified: q.customer_verified, label: label?.name, before: q.before, limit: q.limit ?? 50 },
        request.actor,
      );
      return views(rows, request.agent.id);
    },
  );

  app.get(
    '/api/v1/conversations/:id',
    { schema: { tags, params: IdParams, response: { 200: Conversation, ...errorResponses } }, onRequest: anyone },
    async (request) => viewFor(await getConversation(ctx.db, request.params.id, request.actor), request.agent.id),
  );

  app.post(
    '/api/v1/conversations/:id/read',
    {
      schema: {
        tags,
        summary: "Mark the conversation read for yourself: clears your unread count (not the holder's, when a supervisor reads)",
        params: IdParams,
        body: ReadBody,
        response: { 200: ReadMarker, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => {
      const row = await getConversation(ctx.db, request.params.id, request.actor);
      const marker = await markReadUpTo(ctx.db, request.agent.id, row.id, request.body.up_to ?? null, ctx.now());
      const unread = (await unreadCounts(ctx.db, request.agent.id, [row.id])).get(row.id) ?? 0;
      return { conversation_id: row.id, last_read_message_id: marker, unread };
    },
  );

  app.post(
    '/api/v1/conversations/:id/resolve',
    {
      schema: { tags, summary: 'Resolve; the freed slot goes to the queue at once', params: IdParams, body: ResolveBody, response: { 200: Conversation, ...errorResponses } },
      onRequest: anyone,
    },
    async (request) => justResolved(await closeConversation(ctx, request.params.id, { reason: 'agent', note: request.body.note ?? null }, request.actor)),
  );

  app.post(
    '/api/v1/conversations/:id/transfer',
    {
      schema: {
        tags,
        summary: 'Transfer to an online agent with room, or to a department queue',
        params: IdParams,
        body: TransferBody,
        response: { 200: Conversation, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => view(await transferConversation(ctx, request.params.id, request.body, request.actor)),
  );

  app.post(
    '/api/v1/conversations/:id/requeue',
    {
      schema: { tags, summary: 'Return an assigned conversation to the queue at its original place', params: IdParams, body: NoBody, response: { 200: Conversation, ...errorResponses } },
      onRequest: anyone,
    },
    async (request) => view(await requeueConversation(ctx, request.params.id, request.actor)),
  );

  app.post(
    '/api/v1/conversations/:id/accept',
    {
      schema: {
        tags,
        summary: 'Accept the offer of this conversation (offer-mode departments): it becomes assigned to you',
        description: '403 when it is offered to another agent; 409 SB_NOT_OFFERED when it is no longer offered to you (expired, withdrawn, already accepted).',
        params: IdParams,
        body: NoBody,
        response: { 200: Conversation, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => view(await answerOffer(ctx, request.params.id, true, request.actor)),
  );

  app.post(
    '/api/v1/conversations/:id/decline',
    {
      schema: {
        tags,
        summary: 'Decline the offer of this conversation: it goes to the next agent, keeping its place in the queue',
        description: 'It is not offered to you again while it waits. 403 when it is offered to another agent; 409 SB_NOT_OFFERED when it is no longer offered to you.',
        params: IdParams,
        body: NoBody,
        response: { 200: Conversation, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => view(await answerOffer(ctx, request.params.id, false, request.actor)),
  );

  app.post(
    '/api/v1/conversations/:id/pick',
    {
      schema: {
        tags,
        summary: 'Take a waiting conversation from the queue yourself (manual-mode departments)',
        description:
          'You must be online, serve its department and have room; with manual_order in_order only the head of the queue can be picked. 409 with SB_ALREADY_TAKEN (someone was faster), SB_NO_ROOM, SB_NOT_NEXT, SB_NOT_MANUAL, SB_NOT_ELIGIBLE, SB_AGENT_UNAVAILABLE or SB_CONVERSATION_CLOSED.',
        params: IdParams,
        body: NoBody,
        response: { 200: Conversation, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => view(await pickConversation(ctx, request.params.id, request.actor)),
  );

  app.post(
    '/api/v1/conversations/:id/messages',
    {
      schema: { tags: ['messages'], params: IdParams, body: NewMessageBody, response: { 201: Message, 200: Message, ...errorResponses } },
      onRequest: anyone,
    },
    async (request, reply) => {
      const { text, attachments, sender = 'agent', client_message_id: clientMessageId } = request.body;
      if (text === undefined && attachments === undefined) throw invalid('text', 'or attachments is required');
      if (sender !== 'agent' && !seesEverything(request.actor)) throw forbidden('only supervisors and admins may post as customer, system or bot');
      const input = { sender, sender_id: sender === 'agent' ? request.actor.id : null, text: text ?? null, attachments: attachments ?? [] };
      // An id of the caller's own: a POST retried after its answer was lost is stored once (200 with the stored copy).
      const added = await addMessageOnce(ctx, request.params.id, clientMessageId === undefined ? input : { ...input, client_message_id: clientMessageId.toLowerCase() }, request.actor);
      if ('taken' in added) throw invalid('client_message_id', `${clientMessageId} is the id of another sender's message in conversation ${request.params.id}`);
      return reply.status(added.repeated ? 200 : 201).send(presentMessage(ctx, added.message));
    },
  );

  app.get(
    '/api/v1/conversations/:id/messages',
    {
      schema: { tags: ['messages'], summary: 'Messages in order; page with after=<last id>', params: IdParams, querystring: MessageQuery, response: { 200: Type.Array(Message), ...errorResponses } },
      onRequest: requireAgentOrCustomer(ctx),
    },
    async (request) => {
      const customer = request.customerSession;
      if (customer && customer.conversation_id !== request.params.id.toLowerCase()) throw forbidden('a session token reads only its own conversation');
      if (!customer) await getConversation(ctx.db, request.params.id, request.actor);
      return (await listMessages(ctx.db, request.params.id, request.query.after ?? 0, request.query.limit ?? 100, !customer)).map((row) => presentMessage(ctx, toMessage(row)));
    },
  );
}
