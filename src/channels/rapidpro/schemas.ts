import { Type } from '@sinclair/typebox';
import { SECRET_PATTERN } from './secret.js';

// Shapes of the admin API for ticketers (the core envelope and conventions).

const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const Ticketer = Type.Object({
  uuid: Type.String({ format: 'uuid' }),
  name: Nullable(Type.String()),
  base_url: Type.String({ description: 'give RapidPro this URL; it ends with the uuid' }),
  secret: Type.String({ description: 'RapidPro sends it as Authorization: Token <secret>; callbacks carry it back' }),
  callback_url: Nullable(Type.String({ description: 'set by RapidPro (PUT {base_url}/settings); null until it connects' })),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const Secret = Type.String({ pattern: SECRET_PATTERN, description: '8–200 printable ASCII characters without spaces; RapidPro shows 32' });
const Name = Type.String({ minLength: 1, maxLength: 200 });

export const NewTicketerBody = Type.Object(
  { name: Type.Optional(Type.Union([Name, Type.Null()])), secret: Type.Optional(Secret) },
  { additionalProperties: false },
);

export const TicketerPatchBody = Type.Object(
  { name: Type.Optional(Type.Union([Name, Type.Null()])), secret: Type.Optional(Secret) },
  { additionalProperties: false, minProperties: 1 },
);

export const TicketerParams = Type.Object({ uuid: Type.String({ format: 'uuid' }) });

const State = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('cancelled')]);

export const CallbackQuery = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    state: Type.Optional(State),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'only this ticket id' })),
  },
  { additionalProperties: false },
);

export const Callback = Type.Object({
  id: Type.Integer(),
  type: Type.String({ description: 'agent-message or close-room' }),
  ticket_id: Type.String(),
  event_id: Type.Union([Type.Integer(), Type.Null()]),
  url: Type.String(),
  state: State,
  attempts: Type.Integer(),
  next_attempt_at: Type.Union([Timestamp, Type.Null()]),
  last_status: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  delivered_at: Type.Union([Timestamp, Type.Null()]),
  created_at: Timestamp,
  payload: Type.Unknown(),
  attempt_log: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      at: Timestamp,
      status: Type.Union([Type.Integer(), Type.Null()]),
      duration_ms: Type.Integer(),
      response_excerpt: Type.Union([Type.String(), Type.Null()]),
      error: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});
