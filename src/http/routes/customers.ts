import { Type } from '@sinclair/typebox';
import { assertCanSeeCustomer, statisticsClient } from '../../customers/statistics.js';
import type { App, AppDeps } from '../app.js';
import { requireAgent } from '../auth.js';
import { errorResponses } from '../schemas.js';

// What the console's customer panel shows besides the conversation: the
// customer's statistics, from their own service (src/customers/statistics.ts).

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
    '/api/v1/customers/:customerId/statistics',
    {
      schema: {
        tags: ['customers'],
        summary: "The customer's statistics for the last 24 hours and 7 days, from STATISTICS_BASE_ENDPOINT",
        description:
          'Agents only for a customer with a conversation they hold or held; supervisors and admins any. A failing service or an answer that is not a list of {label, value} is {ok:false, error} for that range, never an error of this route.',
        params: Type.Object({ customerId: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: { 200: StatisticsReply, ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request) => {
      await assertCanSeeCustomer(ctx.db, request.actor, request.params.customerId);
      return statistics.forCustomer(request.params.customerId);
    },
  );
}
