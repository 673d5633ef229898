import { Type } from '@sinclair/typebox';
import { parseDateTime } from '../../reports/period.js';
import { DEFAULT_INTERVAL_S, readDashboard } from '../../stats/dashboard.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { AgentStatus, errorResponses, Role } from '../schemas.js';

const Timestamp = Type.String({ format: 'date-time' });
const Count = Type.Integer({ minimum: 0 });

export const StatsQuery = Type.Object(
  {
    interval: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400, default: DEFAULT_INTERVAL_S, description: 'bucket length in seconds' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'start of the window; default one hour ago' })),
  },
  { additionalProperties: false },
);

const DepartmentQueue = Type.Object({
  department: Type.Union([Type.String(), Type.Null()]),
  length: Count,
  longest_wait_seconds: Count,
  offered: Type.Integer({ minimum: 0, description: 'offered to an agent who has not accepted yet (offer mode): no longer queued, not yet assigned' }),
});

const DepartmentSla = Type.Object({
  department: Type.String(),
  target_seconds: Type.Union([Type.Integer(), Type.Null()], { description: "the department's sla_first_response_s; null when it has none any more" }),
  met_today: Type.Integer({ minimum: 0, description: 'first agent replies given today (UTC) within the target' }),
  breached_today: Type.Integer({ minimum: 0, description: 'conversation.sla_breached raised today (UTC)' }),
  at_risk: Type.Integer({ minimum: 0, description: 'open, unanswered, not yet breached, with half the target or more gone' }),
});

export const Stats = Type.Object({
  at: Timestamp,
  queue: Type.Object({
    length: Count,
    longest_wait_seconds: Count,
    offered: Type.Integer({ minimum: 0, description: 'conversations offered and not yet accepted, over every department' }),
    departments: Type.Array(DepartmentQueue, { description: 'each department with a conversation queued or offered' }),
  }),
  sla: Type.Object({ departments: Type.Array(DepartmentSla) }, { description: 'first-response SLA per department with a target (docs/routing.md)' }),
  activity: Type.Object({
    interval_seconds: Type.Integer(),
    since: Timestamp,
    assignments: Count,
    resolutions: Count,
    buckets: Type.Array(Type.Object({ start: Timestamp, assignments: Count, resolutions: Count })),
  }),
  agents: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      name: Type.String(),
      role: Role,
      status: AgentStatus,
      load: Count,
      capacity: Type.Union([Type.Integer(), Type.Null()]),
      effective_capacity: Type.Integer(),
      departments: Type.Array(Type.String()),
    }),
  ),
});

export function statsRoutes(app: App, { ctx }: AppDeps): void {
  app.get(
    '/api/v1/stats',
    {
      schema: {
        tags: ['stats'],
        summary: 'The supervisor dashboard: queue now, agents now, assignments and resolutions per interval (admin, supervisor)',
        querystring: StatsQuery,
        response: { 200: Stats, ...errorResponses },
      },
      onRequest: requireAgent(ctx, ['admin', 'supervisor']),
    },
    async (request) =>
      readDashboard(ctx.db, ctx.now(), {
        intervalSeconds: request.query.interval ?? DEFAULT_INTERVAL_S,
        // a leap second or a year past 9999 in UTC passes the schema: a 400, not a failed read
        ...(request.query.since === undefined ? {} : { since: parseDateTime('since', request.query.since) }),
      }),
  );
}
