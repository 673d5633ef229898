import { Type, type TSchema } from '@sinclair/typebox';
import { Department } from '../http/schemas.js';

// Request and response shapes of the email routes (they feed /docs too).

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time' });
const Email = Type.String({ format: 'email', maxLength: 254 });
/** A character that is neither a control character nor a line break of any kind (U+0085, U+2028, U+2029). */
const NO_BREAK = '[^\\u0000-\\u001f\\u007f\\u0085\\u2028\\u2029]';
const State = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('cancelled')]);

export const OfflineMessageBody = Type.Object(
  {
    // No line breaks of any kind (nor other control characters): the name goes
    // into the email's Subject and Reply-To, and the team's copy has one fact
    // a line (a U+2028 or a \v in it added a fake "From:" line).
    name: Type.String({ minLength: 1, maxLength: 200, pattern: `^(?!\\s*$)${NO_BREAK}+$`, notBlank: true }),
    email: Email,
    message: Type.String({ minLength: 1, maxLength: 10_000, pattern: '\\S', notBlank: true }),
    // a department name as everywhere: one line, no control characters
    department: Type.Optional(Nullable(Department)),
  },
  { additionalProperties: false },
);

export const TranscriptBody = Type.Object(
  { email: Type.Optional(Email) },
  { additionalProperties: false, description: "email: where to send it; a customer may only give the conversation's own (or one, once, when it has none)" },
);

export const TranscriptAccepted = Type.Object({
  conversation_id: Type.String({ format: 'uuid' }),
  to: Type.String(),
  delivery_id: Type.Integer({ description: 'the email in GET /api/v1/email/deliveries' }),
});

export const EmailStatus = Type.Object({
  enabled: Type.Boolean({ description: 'false: SMTP_URL is not set, and every email feature answers SB_EMAIL_NOT_CONFIGURED' }),
  relay: Nullable(Type.String({ description: 'the SMTP relay, without its password' })),
  from: Nullable(Type.String()),
  offline_email_to: Nullable(Type.String()),
});

export const EmailDeliveryQuery = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    state: Type.Optional(State),
  },
  { additionalProperties: false },
);

export const EmailDelivery = Type.Object({
  id: Type.Integer(),
  kind: Type.String({ description: 'transcript or offline_message' }),
  message_id: Type.String({ description: 'the Message-ID header; the same on every attempt' }),
  to: Type.Array(Type.String()),
  subject: Type.String(),
  state: State,
  attempts: Type.Integer(),
  next_attempt_at: Nullable(Timestamp),
  last_status: Nullable(Type.Integer({ description: "the relay's last reply code (250, 451, 550…)" })),
  last_error: Nullable(Type.String()),
  delivered_at: Nullable(Timestamp),
  created_at: Timestamp,
  attempt_log: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      at: Timestamp,
      status: Nullable(Type.Integer()),
      duration_ms: Type.Integer(),
      response_excerpt: Nullable(Type.String()),
      error: Nullable(Type.String()),
    }),
  ),
});
