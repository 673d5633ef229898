import { Type } from '@sinclair/typebox';

// Bodies as Qiscus sends them. Unknown fields are allowed: Qiscus adds fields
// over time (app_code and channel are recent) and must not be refused for it.

const Text = (max: number) => Type.String({ maxLength: max });
const NullableText = (max: number) => Type.Union([Type.String({ maxLength: max }), Type.Null()]);
const RoomId = Type.Union([Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }), Type.Integer({ minimum: 0 })]);
/** A flag as JSON sends it, or as text: a form body (Laravel-style clients) has no booleans, and Qiscus writes "true" itself. */
const Flag = Type.Union([Type.Boolean(), Type.String({ enum: ['true', 'false'] })]);
/** A Qiscus service (session) id: an integer as Qiscus sends it, or text */
const ServiceId = Type.Union([Type.Integer(), Type.String({ maxLength: 100 }), Type.Null()]);
/** The service an allocation webhook names (the previous session): its id and whether it is over are read, the rest is kept as sent. */
const LatestService = Type.Object({ id: Type.Optional(ServiceId), is_resolved: Type.Optional(Type.Union([Flag, Type.Null()])) }, { additionalProperties: true });

export const AllocationBody = Type.Object(
  {
    room_id: RoomId,
    app_id: Type.Optional(Text(200)),
    app_code: Type.Optional(NullableText(200)),
    source: Type.Optional(NullableText(100)),
    name: Type.Optional(NullableText(500)),
    email: Type.Optional(NullableText(500)),
    avatar_url: Type.Optional(NullableText(2000)),
    // a JSON string per the contract; an object is taken as well
    extras: Type.Optional(Type.Union([Type.String({ maxLength: 100_000 }), Type.Object({}), Type.Null()])),
    is_new_session: Type.Optional(Flag),
    is_resolved: Type.Optional(Flag),
    candidate_agent: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
    latest_service: Type.Optional(Type.Union([LatestService, Type.Null()])),
    channel: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
  },
  { additionalProperties: true },
);

export const ResolveBody = Type.Object(
  {
    // service.id: the session resolved, told apart from the room's next one (routes.ts)
    service: Type.Object({ room_id: RoomId, id: Type.Optional(ServiceId), notes: Type.Optional(NullableText(10_000)) }, { additionalProperties: true }),
    customer: Type.Optional(Type.Object({}, { additionalProperties: true })),
    resolved_by: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])),
  },
  { additionalProperties: true },
);

export const MaxCustomersBody = Type.Object({ max_customers: Type.Unknown() }, { additionalProperties: false });

export const SetMarkAsResolvedBody = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: 2000, format: 'uri', pattern: '^https?://' }),
    // true or false, or "true"/"false" from a form: checked by the route, which says so when it is neither
    enable: Type.Unknown(),
  },
  { additionalProperties: false },
);

export const RoomStatus = Type.Union([Type.Literal('waiting'), Type.Literal('assigning'), Type.Literal('assigned'), Type.Literal('failed'), Type.Literal('unsynced')]);

export const RoomsQuery = Type.Object(
  { status: Type.Optional(RoomStatus), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
  { additionalProperties: false },
);

export const Envelope = Type.Object({ status: Type.Integer(), message: Type.String(), data: Type.Unknown() });
