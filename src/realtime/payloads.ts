import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AppError, invalid } from '../errors.js';
import { assertStorableText } from '../http/validation.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// What clients may publish, checked before anything is stored. Unknown
// fields are tolerated (clients of the seed send extra sessionInfo), but what
// Switchboard reads must have the right type and size.

/** Payloads bigger than this are refused before they are parsed. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const Text = Type.String({ minLength: 1, maxLength: 10_000 });
const Attachment = Type.Union([
  Type.Object({ type: Type.String({ minLength: 1, maxLength: 100 }), url: Type.String({ pattern: '^https?://', maxLength: 2000 }) }),
  // a file uploaded to the conversation (POST /api/v1/conversations/:id/attachments)
  Type.Object({ id: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }) }),
]);

export const ClientMessage = Type.Object({
  message: Type.Object({
    content: Type.Optional(Text),
    attachments: Type.Optional(Type.Array(Attachment, { minItems: 1, maxItems: 20 })),
    from: Type.Optional(Type.String({ maxLength: 200 })),
  }),
});

/** a message's id: a bigint in the database, so at most what a JSON number holds exactly (as in the HTTP routes) */
const MessageId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

export const ReadReceipt = Type.Object({
  readMessages: Type.Array(Type.Union([MessageId, Type.Object({ id: MessageId })]), { minItems: 1, maxItems: 500 }),
});

export const SessionRequest = Type.Object({
  sessionId: Type.String({ minLength: 1, maxLength: 100 }),
  sessionTopic: Type.Optional(Type.String({ maxLength: 500 })),
  customerId: Type.Optional(Type.String({ maxLength: 200 })),
  requestID: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Number()])),
});

export const SessionOnline = Type.Object({ sessionId: Type.Optional(Type.String({ maxLength: 100 })) });

export const ChannelRequest = Type.Object({
  userRequesting: Type.Optional(Type.String({ maxLength: 200 })),
  responseTopic: Type.String({ minLength: 1, maxLength: 500 }),
});

export const AttendantOnline = Type.Object({ attendantInfo: Type.Optional(Type.Object({})) });

/** The payload as JSON of the schema's shape, or an error naming the field at fault. */
export function readPayload<T extends TSchema>(schema: T, payload: Buffer): Static<T> {
  if (payload.length > MAX_PAYLOAD_BYTES) throw new AppError('SB_BODY_TOO_LARGE', `the payload is ${payload.length} bytes; at most ${MAX_PAYLOAD_BYTES} are accepted`, 413);
  let value: unknown;
  try {
    // Invalid UTF-8 is refused, not silently turned into U+FFFD and stored.
    value = JSON.parse(strictUtf8.decode(payload));
  } catch {
    throw invalid('payload', 'is not valid JSON (UTF-8)');
  }
  // NUL characters, lone surrogates and deep nesting are refused up front, as in HTTP bodies.
  assertStorableText(value, 'payload');
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    const field = first?.path ? first.path.slice(1).replaceAll('/', '.') || 'payload' : 'payload';
    throw invalid(field, first?.message.toLowerCase() ?? 'has the wrong shape');
  }
  return value;
}

/**
 * The JSON a payload is sent as, when whoever built it serialized it already
 * (the queue refresh's list, in slices: src/realtime/publisher.ts), or
 * SHARED: serialized by the first publish that sends it and kept for the
 * others. Not enumerable, so the payload reads and compares as the plain
 * object it is.
 */
const ENCODED = Symbol('encoded JSON');
const SHARED = Symbol('shared payload, not serialized yet');

function carry<T extends object>(payload: T, json: string | typeof SHARED): T {
  Object.defineProperty(payload, ENCODED, { value: json, enumerable: false, writable: true });
  return payload;
}

/** `payload`, carrying `json` (which must be JSON.stringify(payload)) to be sent as is. */
export function withEncoding<T extends object>(payload: T, json: string): T {
  return carry(payload, json);
}

/**
 * `payload`, to go to several topics: the first publish that sends it
 * serializes it, the others send that JSON. Not before: a topic nobody
 * subscribes to is not published at all (broker.ts), and a conversation
 * event's payload (the whole conversation) was serialized on every commit
 * for topics nobody heard.
 */
export function sharedEncoding<T extends object>(payload: T): T {
  return carry(payload, SHARED);
}

/** What a publish sends: the JSON built with the payload, or its JSON.stringify. */
export function encodePayload(payload: unknown): Buffer {
  if (typeof payload !== 'object' || payload === null) return Buffer.from(JSON.stringify(payload));
  const carried = payload as { [ENCODED]?: string | typeof SHARED };
  let encoded = carried[ENCODED];
  if (encoded === SHARED) {
    encoded = JSON.stringify(payload);
    carried[ENCODED] = encoded;
  }
  return Buffer.from(encoded ?? JSON.stringify(payload));
}
