import { Type } from '@sinclair/typebox';
import { listCustomerPresence } from '../../customers/presence.js';
import { assertCanSeeCustomer, statisticsClient, unaskableCustomerId } from '../../customers/statistics.js';
import { invalid } from '../../errors.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { Channel, ConversationState, errorResponses } from '../schemas.js';

// What the console shows of customers besides the conversation: who is there
// now (src/customers/presence.ts) and the customer's statistics, from their
// own service (src/customers/statistics.ts).

const CustomerPresence = Type.Object({
  customer: Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]), email: Type.Union([Type.String(), Type.Null()]), phone: Type.Union([Type.String(), Type.Null()]) }),
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
        params: Type.Object({ customerId: Type.String({ minLength: 1, maxLength: 200, description: 'any customer id but "." and ".."' }) }),
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
}
