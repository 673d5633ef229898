import { Type } from '@sinclair/typebox';
import { getConversation } from '../../conversations/queries.js';
import { notFound } from '../../errors.js';
import { customerOnly, notYourConversation } from '../../ratings/errors.js';
import { MAX_COMMENT, toRating } from '../../ratings/model.js';
import { rateConversation } from '../../ratings/rate.js';
import { ratingOf } from '../../ratings/read.js';
import { readSatisfaction } from '../../ratings/report.js';
import { parsePeriod } from '../../reports/period.js';
import { readSettings } from '../../settings/settings.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent, requireAgentOrCustomer, requireCustomer } from '../auth.js';
import { errorResponses, IdParams, Rating } from '../schemas.js';

// Customer satisfaction: the customer rates their resolved conversation once
// (with the session token the widget holds), agents read it, supervisors and
// admins read the Satisfaction report.

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const RatingBody = Type.Object(
  {
    score: Type.Integer({ minimum: 1, maximum: 5, description: '1 (bad) to 5 (excellent)' }),
    comment: Type.Optional(Nullable(Type.String({ maxLength: MAX_COMMENT, description: `at most ${MAX_COMMENT} characters; blank is stored as null` }))),
  },
  { additionalProperties: false },
);


const RatingReply = Type.Object({ conversation_id: Type.String({ format: 'uuid' }), ...Rating.properties });

const RatingStatus = Type.Object({
  conversation_id: Type.String({ format: 'uuid' }),
  state: Type.String({ description: 'the conversation’s state; only a resolved one can be rated' }),
  rating: Nullable(Rating),
  csat: Type.Object({
    enabled: Type.Boolean({ description: 'the csat_enabled setting' }),
    question: Type.String({ description: 'the csat_question setting: what the widget asks' }),
    thanks: Type.String({ description: 'the csat_thanks setting: what the widget says afterwards' }),
  }),
  can_rate: Type.Boolean({ description: 'enabled, resolved and not rated yet: the widget asks' }),
});

const Instant = Type.String({ maxLength: 64, description: 'a date (2026-01-31, midnight UTC) or an RFC 3339 date-time with its offset' });

export const SatisfactionQuery = Type.Object(
  {
    group: Type.Union([Type.Literal('agent'), Type.Literal('department')], { description: 'one row per agent or per department' }),
    from: { ...Instant, description: 'start of the period, included' },
    to: { ...Instant, description: 'end of the period, excluded; at most 366 days after from' },
  },
  { additionalProperties: false },
);

const Figures = {
  ratings: Type.Integer({ minimum: 0 }),
  average: Nullable(Type.Number({ description: 'mean score, 2 decimals' })),
  csat: Nullable(Type.Number({ description: 'CSAT score: % of ratings that are 4 or 5, 1 decimal' })),
  scores: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 5, maxItems: 5, description: 'how many ratings gave 1, 2, 3, 4 and 5' }),
};

const SatisfactionBody = Type.Object({
  group: Type.Union([Type.Literal('agent'), Type.Literal('department')]),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  rows: Type.Array(
    Type.Object({
      agent_id: Type.Optional(Nullable(Type.String({ format: 'uuid' }))),
      agent_name: Type.Optional(Nullable(Type.String())),
      department: Type.Optional(Nullable(Type.String())),
      ...Figures,
    }),
  ),
  total: Type.Object(Figures),
  days: Type.Array(Type.Object({ day: Type.String({ description: 'YYYY-MM-DD, UTC' }), ...Figures })),
});

export function ratingRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['satisfaction'];

  app.post(
    '/api/v1/conversations/:id/rating',
    {
      schema: {
        tags,
        summary: "Rate a resolved conversation, once (the customer's session token)",
        description: '409 SB_NOT_RESOLVED before it is resolved (an abandoned one is never ratable), SB_RATING_EXISTS for a second rating, SB_CSAT_DISABLED when csat_enabled is off.',
        params: IdParams,
        body: RatingBody,
        response: { 201: RatingReply, ...errorResponses },
      },
      onRequest: requireCustomer(ctx, customerOnly),
    },
    async (request, reply) => {
      if (request.customerSession!.conversation_id !== request.params.id.toLowerCase()) throw notYourConversation();
      const row = await rateConversation(ctx, request.customerSession!.conversation_id, request.body);
      return reply.status(201).send({ conversation_id: row.conversation_id, ...toRating(row) });
    },
  );

  app.get(
    '/api/v1/conversations/:id/rating',
    {
      schema: {
        tags,
        summary: 'The rating of a conversation, and whether the widget should ask for one (its agent, supervisors, admins, or its customer)',
        params: IdParams,
        response: { 200: RatingStatus, ...errorResponses },
      },
      onRequest: requireAgentOrCustomer(ctx),
    },
    async (request) => {
      const id = request.params.id.toLowerCase();
      const customer = request.customerSession;
      if (customer && customer.conversation_id !== id) throw notYourConversation();
      const conversation = customer
        ? (await ctx.db.query<{ state: string }>('select state from conversations where id = $1', [id]))[0]
        : await getConversation(ctx.db, id, request.actor);
      if (!conversation) throw notFound('conversation', id);
      const [settings, rating] = await Promise.all([readSettings(ctx.db), ratingOf(ctx.db, id)]);
      return {
        conversation_id: id,
        state: conversation.state,
        rating,
        csat: { enabled: settings.csat_enabled, question: settings.csat_question, thanks: settings.csat_thanks },
        can_rate: settings.csat_enabled && conversation.state === 'resolved' && rating === null,
      };
    },
  );

  app.get(
    '/api/v1/reports/satisfaction',
    {
      schema: {
        tags: ['stats'],
        summary: 'Customer satisfaction per agent or department over a period, and per day: ratings, average, CSAT % (admin, supervisor)',
        querystring: SatisfactionQuery,
        response: { 200: SatisfactionBody, ...errorResponses },
      },
      onRequest: requireAgent(ctx, ['admin', 'supervisor']),
    },
    async (request) => {
      const { group, from, to } = request.query;
      return readSatisfaction(ctx.db, group, parsePeriod(from, to));
    },
  );
}
