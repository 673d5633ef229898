import { Type } from '@sinclair/typebox';
import { reportCsv, reportFilename } from '../../reports/csv.js';
import { parsePeriod } from '../../reports/period.js';
import { readReport } from '../../reports/query.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { errorResponses } from '../schemas.js';

const Instant = Type.String({ maxLength: 64, description: 'a date (2026-01-31, midnight UTC) or an RFC 3339 date-time with its offset' });

export const ReportQuery = Type.Object(
  {
    group: Type.Union([Type.Literal('agent'), Type.Literal('department')], { description: 'one row per agent or per department' }),
    from: { ...Instant, description: 'start of the period, included' },
    to: { ...Instant, description: 'end of the period, excluded; at most 366 days after from' },
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json', description: 'csv: text/csv, as a download' })),
  },
  { additionalProperties: false },
);

const Seconds = Type.Union([Type.Number(), Type.Null()]);
const Count = Type.Integer({ minimum: 0 });
const figures = {
  conversations: Count,
  responded: Count,
  first_response_s: Seconds,
  first_response_median_s: Seconds,
  first_response_p90_s: Seconds,
  resolution_s: Seconds,
  resolution_median_s: Seconds,
  resolution_p90_s: Seconds,
  messages: Type.Union([Type.Number(), Type.Null()]),
  messages_total: Count,
};

export const ReportBody = Type.Object({
  group: Type.Union([Type.Literal('agent'), Type.Literal('department')]),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  rows: Type.Array(
    Type.Object({
      agent_id: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
      agent_name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      department: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      ...figures,
    }),
  ),
  total: Type.Object(figures),
});

export function reportRoutes(app: App, { ctx }: AppDeps): void {
  app.get(
    '/api/v1/reports',
    {
      schema: {
        tags: ['stats'],
        summary: 'First response time, resolution time and messages per conversation, per agent or department, over a period (admin, supervisor)',
        querystring: ReportQuery,
        response: {
          200: {
            description: 'JSON, or with format=csv a text/csv attachment of the same rows',
            content: { 'application/json': { schema: ReportBody }, 'text/csv': { schema: Type.String() } },
          },
          ...errorResponses,
        },
      },
      onRequest: requireAgent(ctx, ['admin', 'supervisor']),
    },
    async (request, reply) => {
      const { group, from, to, format } = request.query;
      const report = await readReport(ctx.db, group, parsePeriod(from, to));
      if (format !== 'csv') return report;
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${reportFilename(report)}"`)
        .send(reportCsv(report));
    },
  );
}
