import { Type, type Static } from '@sinclair/typebox';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { Department, errorResponses, ONE_LINE_OR_EMPTY_PATTERN, StringMap } from '../http/schemas.js';
import { assertNotChannelQueue } from '../routing/channel-queues.js';
import { availability } from './availability.js';
import { MAX_DEPARTMENTS, MAX_HOLIDAYS, MAX_INTERVALS_PER_DAY, type BusinessHoursInput } from './rules.js';
import { WEEKDAYS } from './schedule.js';
import { readBusinessHours, replaceBusinessHours } from './store.js';

// The schemas keep the shapes (types, lengths, known keys); what the values
// mean (real times and dates, a known time zone, no overlaps) is checked by
// src/business-hours/rules.ts and refused with 422 naming the field.

const IntervalBody = Type.Object(
  {
    start: Type.String({ maxLength: 5, description: 'local time HH:MM, 00:00–23:59' }),
    end: Type.String({ maxLength: 5, description: 'local time HH:MM after start, up to 24:00' }),
  },
  { additionalProperties: false },
);
const HolidayBody = Type.Object(
  {
    date: Type.String({ maxLength: 10, description: 'a local date YYYY-MM-DD, closed all day' }),
    // one line, as the console lists holidays: a line break would split one into two on its next save
    name: Type.Optional(Type.Union([Type.String({ maxLength: 100, pattern: ONE_LINE_OR_EMPTY_PATTERN, description: 'one line of text, without control characters' }), Type.Null()])),
  },
  { additionalProperties: false },
);
const ScheduleBody = Type.Object(
  {
    time_zone: Type.String({ maxLength: 64, description: 'an IANA time zone, e.g. Europe/Paris' }),
    weekly: Type.Object(Object.fromEntries(WEEKDAYS.map((d) => [d, Type.Optional(Type.Array(IntervalBody, { maxItems: MAX_INTERVALS_PER_DAY }))])), {
      additionalProperties: false,
      description: 'monday … sunday: the open intervals of that day; a day left out is closed',
    }),
    holidays: Type.Optional(Type.Array(HolidayBody, { maxItems: MAX_HOLIDAYS })),
  },
  { additionalProperties: false },
);
const BusinessHoursBody = Type.Object(
  {
    default: Type.Optional(Type.Union([ScheduleBody, Type.Null()], { description: 'for conversations without a department and departments without their own; null: always open' })),
    // named as agents and conversations name a department (Department): one it could never match would be a schedule no one follows
    departments: Type.Optional(StringMap(ScheduleBody, { key: Department, maxProperties: MAX_DEPARTMENTS, description: 'department name → its schedule' })),
  },
  { additionalProperties: false },
);

const Interval = Type.Object({ start: Type.String(), end: Type.String() });
const Schedule = Type.Object({
  time_zone: Type.String(),
  weekly: Type.Object(Object.fromEntries(WEEKDAYS.map((d) => [d, Type.Array(Interval)]))),
  holidays: Type.Array(Type.Object({ date: Type.String(), name: Type.Union([Type.String(), Type.Null()]) })),
});
const BusinessHours = Type.Object({
  default: Type.Union([Schedule, Type.Null()]),
  departments: StringMap(Schedule),
});

// a department as POST /session and POST /offline-messages take one, so availability never says open where they refuse
const AvailabilityQuery = Type.Object({ department: Type.Optional(Department) }, { additionalProperties: false });
const AvailabilityBody = Type.Object({
  open: Type.Boolean({ description: 'true: offer a live chat; false: show the offline form' }),
  reason: Type.Union([Type.Literal('outside_hours'), Type.Literal('holiday'), Type.Literal('no_agent_online'), Type.Null()]),
  next_open_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  expected_wait_seconds: Type.Union([Type.Integer(), Type.Null()]),
});

export function businessHoursRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['business hours'];
  const unprocessable = { 422: errorResponses[409] };
  app.get(
    '/api/v1/business-hours',
    { schema: { tags, summary: 'Business hours: the default schedule and each department’s (admin, supervisor)', response: { 200: BusinessHours, ...errorResponses } }, onRequest: requireAgent(ctx, ['admin', 'supervisor']) },
    async () => readBusinessHours(ctx.db),
  );
  app.put(
    '/api/v1/business-hours',
    {
      schema: { tags, summary: 'Replace the business hours (admin); 422 naming the field of an impossible schedule', body: BusinessHoursBody, response: { 200: BusinessHours, ...unprocessable, ...errorResponses } },
      onRequest: requireAgent(ctx, ['admin']),
    },
    async (request) => replaceBusinessHours(ctx, request.body as Static<typeof BusinessHoursBody> as BusinessHoursInput, request.actor.id),
  );
  app.get(
    '/api/v1/availability',
    {
      schema: {
        tags,
        summary: 'Whether the widget should offer a live chat or the offline form, why, until when, and the expected wait (public)',
        security: [],
        querystring: AvailabilityQuery,
        response: { 200: AvailabilityBody, ...errorResponses },
      },
    },
    async (request) => {
      // a channel's own queue (@qiscus): no chat or offline message may go there, so it has no availability either
      assertNotChannelQueue('department', request.query.department);
      return availability(ctx, request.query.department ?? null);
    },
  );
}
