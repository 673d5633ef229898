import { Type, type TSchema } from '@sinclair/typebox';
import { SUBSCRIBABLE_EVENTS } from '../events/webhooks/catalog.js';

// Shapes of the webhook endpoints API (docs/webhooks.md). Event names are
// checked by the domain, which answers with the list of allowed ones.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time' });

const EventName = Type.String({ minLength: 1, maxLength: 100, description: `one of ${SUBSCRIBABLE_EVENTS.join(', ')}` });
const Url = Type.String({ minLength: 1, maxLength: 2000, description: 'http:// or https://; private addresses need ALLOW_PRIVATE_WEBHOOK_TARGETS=true' });
const Secret = Type.String({ minLength: 8, maxLength: 200, description: 'printable ASCII; `whsec_<base64>` is decoded for the Standard Webhooks signature' });
const AppCode = Nullable(Type.String({ maxLength: 200, description: 'echoed as appCode / app_code in payloads' }));

// Ids are bigint; past 2^53 a JSON number is no longer the id it was typed
// as, and far past it the database refused it with a 400 that named no field.
const MAX_DELIVERY_ID = Number.MAX_SAFE_INTEGER;
export const WebhookEndpoint = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  verify_ssl: Type.Boolean(),
  app_code: Nullable(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Nullable(Type.String()),
  failing_since: Nullable(Timestamp),
  previous_secret_expires_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const WebhookEndpointWithSecret = Type.Intersect([
  WebhookEndpoint,
  Type.Object({ secret: Type.String({ description: 'shown only in this answer; store it now' }) }),
]);

export const NewWebhookBody = Type.Object(
  {
    url: Url,
    secret: Type.Optional(Secret),
    events: Type.Array(EventName, { minItems: 1, maxItems: 50, uniqueItems: true }),
    verify_ssl: Type.Optional(Type.Boolean({ description: 'default true; false accepts self-signed certificates' })),
    app_code: Type.Optional(AppCode),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const WebhookPatchBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Type.Array(EventName, { minItems: 1, maxItems: 50, uniqueItems: true })),
    verify_ssl: Type.Optional(Type.Boolean()),
    app_code: Type.Optional(AppCode),
    enabled: Type.Optional(Type.Boolean({ description: 'true also clears the failure record of a disabled endpoint' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const RotateSecretBody = Type.Object(
  {
    secret: Type.Optional(Secret),
    grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, description: 'the old secret also signs for this long; default 86400' })),
  },
  { additionalProperties: false },
);

export const Delivery = Type.Object({
  id: Type.Integer(),
  webhook_id: Nullable(Type.String()),
  event_id: Nullable(Type.Integer()),
  message_id: Type.String({ description: 'the webhook-id header; the same on every retry and redelivery' }),
  event: Type.String(),
  url: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('cancelled')]),
  attempts: Type.Integer(),
  next_attempt_at: Nullable(Timestamp),
  last_status: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  delivered_at: Nullable(Timestamp),
  redelivery_of: Nullable(Type.Integer()),
  created_at: Timestamp,
  payload: Type.Unknown(),
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

export const DeliveryQuery = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DELIVERY_ID })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    state: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('cancelled')])),
  },
  { additionalProperties: false },
);

export const DeliveryParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_DELIVERY_ID }) });

export const ExternalMessageBody = Type.Object({ text: Type.String({ minLength: 1, maxLength: 10_000 }) }, { additionalProperties: false });

export const ExternalMessageReply = Type.Object({
  conversation_id: Type.String({ format: 'uuid' }),
  agent_id: Nullable(Type.String()),
  text: Type.String(),
  requested_at: Timestamp,
});
