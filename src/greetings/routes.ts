import { Type } from '@sinclair/typebox';
import { RateLimited } from '../errors.js';
import { requireAgent } from '../http/auth.js';
import { addressKey } from '../http/client-address.js';
import type { App, AppDeps } from '../http/deps.js';
import { sharedAttempts } from '../http/login-attempts.js';
import { errorResponses, IdParams, NoBody } from '../http/schemas.js';
import { parsePeriod } from '../reports/period.js';
import { type GreetingEventKind, readGreetingsReport, recordGreetingEvent } from './counts.js';
import { createGreeting, deleteGreeting, getGreeting, listGreetings, replaceGreeting, type GreetingInput } from './greetings.js';
import { Greeting, GreetingBody } from './schemas.js';

// Greetings: admins define them (CRUD), the widget reports what they did
// (anonymous, counted once per visitor by the database), supervisors and
// admins read the counts.

/** Event posts one client address may make per minute, across processes (counted in the database): the database's "once" bounds the counts, this bounds the work. */
export const EVENTS_PER_MINUTE = 120;

const EventBody = Type.Object(
  {
    kind: Type.String({ maxLength: 40, description: 'shown: the widget opened with the greeting; opened: that visitor then started a chat' }),
    visitor_id: Type.String({ maxLength: 200, description: 'the id the loader keeps for this visitor (8 to 100 letters, digits, _ or -)' }),
  },
  { additionalProperties: false },
);

const Instant = Type.String({ maxLength: 64, description: 'a date (2026-01-31, midnight UTC) or an RFC 3339 date-time with its offset' });
const ReportQuery = Type.Object(
  { from: { ...Instant, description: 'start of the period, included' }, to: { ...Instant, description: 'end of the period, excluded; at most 366 days after from' } },
  { additionalProperties: false },
);
const Figures = {
  shown: Type.Integer({ minimum: 0, description: 'visitors the greeting was shown to' }),
  opened: Type.Integer({ minimum: 0, description: 'of those, visitors who then started a chat' }),
  open_rate: Type.Union([Type.Number(), Type.Null()], { description: 'opened / shown in %, 1 decimal; null when nothing was shown' }),
};
const GreetingsReport = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  rows: Type.Array(Type.Object({ greeting_id: Type.String({ format: 'uuid' }), name: Type.String(), enabled: Type.Boolean(), ...Figures })),
  total: Type.Object(Figures),
});

export function greetingRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['widget'];
  const admin = requireAgent(ctx, ['admin']);
  // In the database, as logins are: the limit holds across processes and restarts.
  const limiter = sharedAttempts(ctx.db, { scope: 'greeting-report', max: EVENTS_PER_MINUTE, windowMs: 60_000, now: ctx.now });

  app.get('/api/v1/greetings', { schema: { tags, summary: 'Every greeting, oldest first (admin)', response: { 200: Type.Array(Greeting), ...errorResponses } }, onRequest: admin }, async () =>
    listGreetings(ctx.db),
  );
  app.post(
    '/api/v1/greetings',
    { schema: { tags, summary: 'Create a greeting (admin)', body: GreetingBody, response: { 201: Greeting, ...errorResponses } }, onRequest: admin },
    async (request, reply) => reply.status(201).send(await createGreeting(ctx, request.body as GreetingInput, request.actor.id)),
  );
  app.get(
    '/api/v1/greetings/:id',
    { schema: { tags, summary: 'One greeting (admin)', params: IdParams, response: { 200: Greeting, ...errorResponses } }, onRequest: admin },
    async (request) => getGreeting(ctx.db, request.params.id),
  );
  app.put(
    '/api/v1/greetings/:id',
    { schema: { tags, summary: 'Replace a greeting (admin); its counts stay', params: IdParams, body: GreetingBody, response: { 200: Greeting, ...errorResponses } }, onRequest: admin },
    async (request) => replaceGreeting(ctx, request.params.id, request.body as GreetingInput, request.actor.id),
  );
  app.delete(
    '/api/v1/greetings/:id',
    { schema: { tags, summary: 'Delete a greeting and its counts (admin)', params: IdParams, body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: admin },
    async (request, reply) => {
      await deleteGreeting(ctx, request.params.id, request.actor.id);
      return reply.status(204).send();
    },
  );
  app.post(
    '/api/v1/greetings/:id/events',
    {
      schema: {
        tags,
        summary: 'The widget reports a greeting shown, or the chat it opened (public; once per visitor, greeting and kind)',
        description: '200 {"counted": false} when this visitor already counted for this greeting and kind; 409 SB_GREETING_NOT_SHOWN for an opened without a shown; 429 SB_RATE_LIMITED past 120 a minute from one address.',
        security: [],
        params: IdParams,
        body: EventBody,
        response: { 200: Type.Object({ counted: Type.Boolean() }), ...errorResponses },
      },
    },
    async (request) => {
      const taken = await limiter.take(addressKey(request));
      if (!taken.ok) throw new RateLimited('SB_RATE_LIMITED', `too many greeting reports from this address; try again in ${taken.retryAfterSeconds} s`, taken.retryAfterSeconds);
      return recordGreetingEvent(ctx, request.params.id.toLowerCase(), request.body.visitor_id, request.body.kind as GreetingEventKind);
    },
  );
  app.get(
    '/api/v1/reports/greetings',
    {
      schema: {
        tags: ['stats'],
        summary: 'What each greeting did in a period: visitors shown it, and of those who started a chat (admin, supervisor)',
        querystring: ReportQuery,
        response: { 200: GreetingsReport, ...errorResponses },
      },
      onRequest: requireAgent(ctx, ['admin', 'supervisor']),
    },
    async (request) => readGreetingsReport(ctx.db, parsePeriod(request.query.from, request.query.to)),
  );
}
