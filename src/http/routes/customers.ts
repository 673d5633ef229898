import { Type } from '@sinclair/typebox';
import { toConversation } from '../../conversations/model.js';
import { getConversation } from '../../conversations/queries.js';
import { customerHistory } from '../../customers/history.js';
import { listCustomerPresence } from '../../customers/presence.js';
import { STORED_CUSTOMER_ID_MAX } from '../../customers/limits.js';
import { listQueue } from '../../routing/queue.js';
import { assertCanSeeCustomer, statisticsClient, unaskableCustomerId } from '../../customers/statistics.js';
import { invalid } from '../../errors.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { Channel, Conversation, ConversationState, errorResponses, IdParams } from '../schemas.js';

// What the console shows of customers besides the conversation: who is there
// now (src/customers/presence.ts) and the customer's statistics, from their
// own service (src/customers/statistics.ts).

const CustomerPresence = Type.Object({
  customer: Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]), email: Type.Union([Type.String(), Type.Null()]), phone: Type.Union([Type.String(), Type.Null()]) }),
  customer_verified: Type.Boolean({ description: 'the conversation’s customer id is vouched for (see the Conversation object)' }),
  conversation_id: Type.String({ format: 'uuid' }),
  channel: Channel,
  state: ConversationState,
  department: Type.Union([Type.String(), Type.Null()]),
  agent_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  since: Type.String({ format: 'date-time', description: 'when the conversation was opened' }),
  online: Type.Boolean({ description: 'a widget customer whose page was heard from lately; customers of other channels are offline' }),
  last_seen_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'last keep-alive or message of a widget customer; null for other channels' }),
});
const CustomersQuery = Type.Object(
  {
    online: Type.Optional(Type.Boolean({ description: 'only customers who are (true) or are not (false) online' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
  },
  { additionalProperties: false },
);

const Link = Type.Object({ url: Type.String(), label: Type.String() });
const Point = Type.Object({ x: Type.Union([Type.Number(), Type.String()]), y: Type.Number() });
const Item = Type.Object({
  label: Type.String(),
  value: Type.Union([Type.String(), Type.Array(Link), Type.Array(Point)], { description: 'text, a list of links, or a list of chart points' }),
});
const Window = {
  start_date_time: Type.String({ description: 'YYYYMMDD-HH:mm:ss, UTC, as sent to the service' }),
  end_date_time: Type.String({ description: 'YYYYMMDD-HH:mm:ss, UTC, as sent to the service' }),
};
const Range = Type.Union([
  Type.Object({ ok: Type.Literal(true), items: Type.Array(Item), ...Window }),
  Type.Object({ ok: Type.Literal(false), error: Type.String({ description: 'why there is nothing to show, for people' }), ...Window }),
]);
const StatisticsReply = Type.Object({
  configured: Type.Boolean({ description: 'false when STATISTICS_BASE_ENDPOINT is unset; the ranges are then absent' }),
  last_24_hours: Type.Optional(Range),
  last_7_days: Type.Optional(Range),
});

const HistoryQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })) }, { additionalProperties: false });
const HistoryReply = Type.Object({
  customer_verified: Type.Boolean({ description: 'the conversation asked about is verified; when false, conversations is always empty' }),
  conversations: Type.Array(Conversation, { description: "the customer's other verified conversations the caller may see, newest first" }),
});

export function customerRoutes(app: App, { ctx, config }: AppDeps): void {
  const statistics = statisticsClient(config.customers, ctx.now);

  app.get(
    '/api/v1/customers',
    {
      schema: {
        tags: ['customers'],
        summary: 'Customers with an open conversation, online or offline, newest first',
        description: 'Agents see the customers of conversations assigned to them; supervisors and admins every open conversation’s.',
        querystring: CustomersQuery,
        response: { 200: Type.Array(CustomerPresence), ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request) =>
      listCustomerPresence(ctx.db, request.actor, config.realtime.sessionKeepAliveMs, ctx.now(), { online: request.query.online, limit: request.query.limit ?? 200 }),
  );

  app.get(
    '/api/v1/customers/:customerId/statistics',
    {
      schema: {
        tags: ['customers'],
        summary: "The customer's statistics for the last 24 hours and 7 days, from STATISTICS_BASE_ENDPOINT",
        description:
          'Agents only for a customer with a conversation they hold or held; supervisors and admins any. A failing service or an answer that is not a list of {label, value} is {ok:false, error} for that range, never an error of this route.',
        params: Type.Object({ customerId: Type.String({ minLength: 1, maxLength: STORED_CUSTOMER_ID_MAX, description: 'any customer id but "." and ".."' }) }),
        response: { 200: StatisticsReply, ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request) => {
      const problem = unaskableCustomerId(request.params.customerId);
      if (problem !== undefined) throw invalid('customerId', problem);
      await assertCanSeeCustomer(ctx.db, request.actor, request.params.customerId);
      return statistics.forCustomer(request.params.customerId);
    },
  );

  app.get(
    '/api/v1/conversations/:id/customer-history',
    {
      schema: {
        tags: ['customers'],
        summary: "The customer's other conversations, as far as this conversation may show them",
        description:
          'Only for a verified conversation, and only its customer’s other verified conversations (agents: those they hold or last held). An unverified conversation claims its customer id without proof, so it shows no history: customer_verified false, conversations empty.',
        params: IdParams,
        querystring: HistoryQuery,
        response: { 200: HistoryReply, ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request) => {
      const current = await getConversation(ctx.db, request.params.id, request.actor);
      const history = await customerHistory(ctx.db, current, request.actor, request.query.limit ?? 20);
      const waiting = history.conversations.filter((r) => r.state === 'queued').map((r) => r.id);
      const queue = new Map((waiting.length === 0 ? [] : await listQueue(ctx, { conversationIds: waiting })).map((e) => [e.row.id, e.queue]));
      return { customer_verified: history.customer_verified, conversations: history.conversations.map((row) => toConversation(row, queue.get(row.id))) };
    },
  );
}
