import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { AppError, invalid } from '../errors.js';
import { LinkUrl, ONE_LINE_PATTERN } from '../http/schemas.js';
import { assertStorableText } from '../http/validation.js';
import { UUID_PATTERN } from '../uuid.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// What clients may publish, checked before anything is stored. Unknown
// fields are tolerated at the top of a payload (clients of the seed send
// extra sessionInfo), but what Switchboard reads must have the right type and
// size, and what it stores as given (a message's attachments) nothing more.

/** Payloads bigger than this are refused before they are parsed. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const Text = Type.String({ minLength: 1, maxLength: 10_000 });
// `format: 'uri'` as the HTTP API checks it (ajv-formats' full mode, added in
// src/http/validation.ts): the same function, so a link is refused over MQTT
// exactly when POST …/messages refuses it. TypeBox knows no formats of its own.
FormatRegistry.Set('uri', fullFormats.uri as (value: string) => boolean);
// Both shapes are closed. A link is stored as sent, so a field besides type
// and url would be stored too: a size that is not a number broke every read
// of the conversation's history (the API's answer schema), and an id, name
// and size let a link pose as an uploaded file. And a file's id goes to the
// database as a uuid: anything else is refused here, naming it, not there.
const Attachment = Type.Union([
  Type.Object(
    {
      // One line of text: an email transcript shows it as "Attachment (<type>): <url>", and a line break in it
      // began a line of its own there (a customer's link of type "image\n[09:02 UTC] Bob Agent:" forged one).
      type: Type.String({
        minLength: 1,
        maxLength: 100,
        pattern: ONE_LINE_PATTERN,
        description: 'one line of text, without control characters',
      }),
      url: LinkUrl,
    },
    { additionalProperties: false, description: 'a link, {"type", "url"} (an uploaded file is {"id"} alone)' },
  ),
  // a file uploaded to the conversation (POST /api/v1/conversations/:id/attachments)
  Type.Object(
    { id: Type.String({ pattern: UUID_PATTERN, description: 'the id (a uuid) of a file uploaded to this conversation' }) },
    { additionalProperties: false, description: 'an uploaded file, {"id"} alone' },
  ),
]);

export const ClientMessage = Type.Object({
  message: Type.Object({
    content: Type.Optional(Text),
    attachments: Type.Optional(Type.Array(Attachment, { minItems: 1, maxItems: 20 })),
    from: Type.Optional(Type.String({ maxLength: 200 })),
    // The sender's own id for the message, the same on every resend: one whose
    // PUBACK was lost is sent again on reconnect (QoS 1), and stored once.
    clientMessageId: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'a uuid' })),
  }),
});

/** a message's id: a bigint in the database, so at most what a JSON number holds exactly (as in the HTTP routes) */
const MessageId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

export const ReadReceipt = Type.Object({
  readMessages: Type.Array(Type.Union([MessageId, Type.Object({ id: MessageId })]), { minItems: 1, maxItems: 500 }), // RECEIPT_MAX in web/shared/util.ts
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
    const first = firstError(schema, value);
    const field = first?.path ? first.path.slice(1).replaceAll('/', '.') || 'payload' : 'payload';
    throw invalid(field, first ? describe(first) : 'has the wrong shape');
  }
  return value;
}

/**
 * The first error, inside a union: the union's own error says only that no
 * shape fits, at the union's path. Named instead is the first error of the
 * shape the value came closest to — the fewest errors, then the deepest
 * field: {"type", "url", "id"} is a link with a field too many, {"id": "x"}
 * a file with a wrong id, {"id": "x"} among read receipts a wrong id.
 */
function firstError(schema: TSchema, value: unknown): ValueError | undefined {
  let error = Value.Errors(schema, value).First();
  while (error?.type === ValueErrorType.Union) {
    const shapes = error.errors.map((errors) => [...errors]).filter((errors) => errors.length > 0);
    if (shapes.length === 0) break;
    const closer = (a: ValueError[], b: ValueError[]) => (b.length < a.length || (b.length === a.length && b[0]!.path.length > a[0]!.path.length) ? b : a);
    error = shapes.reduce(closer)[0];
  }
  return error;
}

function describe(error: ValueError): string {
  if (error.type === ValueErrorType.ObjectRequiredProperty) return 'is required';
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return typeof error.schema.description === 'string' ? `is not a field of ${error.schema.description}` : 'is not a known field';
  if ((error.type === ValueErrorType.StringPattern || error.type === ValueErrorType.StringFormat) && typeof error.schema.description === 'string') return `must be ${error.schema.description}`;
  return error.message.toLowerCase();
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
