import { Type } from '@sinclair/typebox';
import { QISCUS_TEXT_LIMITS } from './text-limits.js';

// Bodies as Qiscus sends them. Unknown fields are allowed: Qiscus adds fields
// over time (app_code and channel are recent) and must not be refused for it.
// Only what a webhook cannot be acted on without is strict: the room's id,
// and a resolve's session id. A refused allocation webhook is refused again
// at every message of the room, which is then never allocated; so a field
// the handler ignores takes any value, one it stores is taken when it has
// the right type and passed over otherwise, and unstorable text in it is
// mended before validation (routes.ts, mendWebhook).

/**
 * A text the handler stores when it is one; any other value is passed over
 * (rooms.ts, customerOf). Never refused for its length either: a name or
 * notes longer than their limit are cut to it, an e-mail, URL, source or
 * extras longer than theirs are passed over (cut short they would be wrong).
 */
const TextOrAnything = (max: number, over: 'cut' | 'passed over') =>
  Type.Unknown({ description: `text, up to ${max} characters (longer: ${over}); any other value is passed over` });
const RoomId = Type.Union([Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }), Type.Integer({ minimum: 0 })]);
/** A Qiscus service (session) id: an integer as Qiscus sends it, or text */
const ServiceId = Type.Union([Type.Integer(), Type.String({ maxLength: 100 }), Type.Null()]);

export const AllocationBody = Type.Object(
  {
    room_id: RoomId,
    // checked by the route against QISCUS_APP_ID when it is given (null is not)
    app_id: Type.Optional(Type.Unknown()),
    name: Type.Optional(TextOrAnything(QISCUS_TEXT_LIMITS.name, 'cut')),
    email: Type.Optional(TextOrAnything(QISCUS_TEXT_LIMITS.email, 'passed over')),
    avatar_url: Type.Optional(TextOrAnything(QISCUS_TEXT_LIMITS.avatar_url, 'passed over')),
    source: Type.Optional(TextOrAnything(QISCUS_TEXT_LIMITS.source, 'passed over')),
    // a JSON string per the contract; an object is taken as well
    extras: Type.Optional(TextOrAnything(QISCUS_TEXT_LIMITS.extras, 'passed over')),
    // the previous session (its id, is_resolved, notes) when it is an object: read leniently (rooms.ts, previousServiceOf)
    latest_service: Type.Optional(Type.Unknown()),
    channel: Type.Optional(Type.Unknown()),
    // not read: app_code, is_new_session, is_resolved, candidate_agent, and whatever Qiscus adds
  },
  { additionalProperties: true },
);

export const ResolveBody = Type.Object(
  {
    // service.id: the session resolved, told apart from the room's next one (routes.ts)
    service: Type.Object({ room_id: RoomId, id: Type.Optional(ServiceId), notes: Type.Optional(TextOrAnything(QISCUS_TEXT_LIMITS.notes, 'cut')) }, { additionalProperties: true }),
    // not read: customer, resolved_by
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
