import { Type, type ObjectOptions, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { ONE_LINE_OR_EMPTY_PATTERN, ONE_LINE_PATTERN } from './one-line.js';
import { LABEL_NAME_AS_SENT } from '../labels/limits.js';
import { CUSTOMER_ID_MAX, STORED_CUSTOMER_ID_MAX } from '../customers/limits.js';
import { ALLOWED_TYPE_PATTERN, MAX_ALLOWED_TYPES, MAX_FILES_PER_MESSAGE, MAX_TYPE_LENGTH, MAX_UPLOAD_BYTES } from '../files/limit-rules.js';

// Request and response shapes of the core API. The same objects validate
// requests, shape responses and make the OpenAPI document at /docs.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const L = Type.Literal;
const Timestamp = Type.String({ format: 'date-time' });
const Id = Type.String({ format: 'uuid' });
export { ONE_LINE_OR_EMPTY_PATTERN, ONE_LINE_PATTERN } from './one-line.js';
// Any name agents and conversations use is a department; control characters
// are none: an admin could not name it to configure its routing, and a line
// break in one would forge lines in the emails and transcripts that show it.
// Nor is a blank one (notBlank, src/http/validation.ts): the console would
// list a department that shows as nothing.
export const DEPARTMENT_PATTERN = ONE_LINE_PATTERN;
export const Department = Type.String({ minLength: 1, maxLength: 100, pattern: DEPARTMENT_PATTERN, notBlank: true });
// A filter names a department that may have been stored before names were
// one line: it finds that one still, as it writes nothing.
const DepartmentFilter = Type.String({ minLength: 1, maxLength: 100 });

/**
 * An object whose keys the caller names: every key is checked by `key`
 * (propertyNames) and every value by `value` (additionalProperties).
 * Not Type.Record(Type.String(), value): TypeBox writes that as
 * patternProperties {"^(.*)$": value}, and `.` matches no line break (\n,
 * \r, U+2028, U+2029), so a key holding one was never checked — a 100 kB
 * customer field was stored, a department schedule of any shape reached
 * the business-hours rules and failed there with a 500 — and the answer's
 * serialiser, matching keys the same way, left that key out. TypeBox also
 * drops the options of a Record's key schema (its maxLength).
 * test/unit/map-schemas.test.ts keeps "^(.*)$" out of every route.
 */
export function StringMap<V extends TSchema>(value: V, options: ObjectOptions & { key?: TSchema } = {}): TUnsafe<Record<string, Static<V>>> {
  const { key, ...rest } = options;
  return Type.Unsafe<Record<string, Static<V>>>({ ...rest, type: 'object', ...(key ? { propertyNames: key } : {}), additionalProperties: value });
}

/** Skill names as agents, conversations and department settings write them. */
export const SKILL_NAME = '^[a-z0-9][a-z0-9_.-]{0,49}$';
/** skill → level: an agent's skills, or the minimum levels a conversation or department requires. */
export const Skills = Type.Record(Type.String({ pattern: SKILL_NAME }), Type.Integer({ minimum: 1, maximum: 10 }), {
  maxProperties: 20,
  additionalProperties: false,
  description: 'skill (lower case, e.g. "spanish") → level 1–10',
});

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable error code, listed in docs/api.md' }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'the input at fault, when there is one' })),
    }),
  },
  { $id: 'ErrorBody' },
);

export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
};

export const IdParams = Type.Object({ id: Id });

/** The body of a route that takes none: nothing, or an empty JSON object (a body with fields is a mistake the caller hears about). */
export const NoBody = Type.Object({}, { additionalProperties: false });

// ---- agents ----------------------------------------------------------------

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('supervisor'), Type.Literal('agent')]);
export const AgentStatus = Type.Union([Type.Literal('online'), Type.Literal('away'), Type.Literal('offline')]);
const Capacity = Type.Integer({ minimum: 0, maximum: 10_000, description: 'maximum concurrent conversations; null = the max_customers setting' });
const Password = Type.String({ minLength: 8, maxLength: 200 });
const Email = Type.String({ format: 'email', maxLength: 254 });

export const Agent = Type.Object({
  id: Id,
  name: Type.String(),
  email: Type.String(),
  role: Role,
  status: AgentStatus,
  capacity: Nullable(Type.Integer()),
  effective_capacity: Type.Integer(),
  departments: Type.Array(Type.String()),
  skills: StringMap(Type.Integer(), { description: 'skill → level 1–10 (docs/routing.md#skills)' }),
  external_ref: Nullable(Type.String()),
  source: Nullable(Type.String({ description: "the channel that made this agent as the mirror of one of its own ('qiscus': a Qiscus agent, whose status and departments Qiscus decides); null for people" })),
  load: Type.Integer({ description: 'conversations assigned now' }),
  last_seen_at: Nullable(Timestamp),
  last_assigned_at: Nullable(Timestamp),
  created_at: Timestamp,
});

export const NewAgentBody = Type.Object(
  {
    // one line: a transcript and the console show it at the head of the agent's lines
    name: Type.String({ minLength: 1, maxLength: 200, pattern: ONE_LINE_PATTERN }),
    email: Email,
    password: Password,
    role: Role,
    capacity: Type.Optional(Nullable(Capacity)),
    departments: Type.Optional(Type.Array(Department, { maxItems: 100, uniqueItems: true })),
    skills: Type.Optional(Skills),
    external_ref: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  },
  { additionalProperties: false },
);

export const AgentPatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: ONE_LINE_PATTERN })),
    email: Type.Optional(Email),
    password: Type.Optional(Password),
    role: Type.Optional(Role),
    status: Type.Optional(AgentStatus),
    capacity: Type.Optional(Nullable(Capacity)),
    departments: Type.Optional(Type.Array(Department, { maxItems: 100, uniqueItems: true })),
    skills: Type.Optional(Skills),
    external_ref: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const OwnStatusBody = Type.Object({ status: AgentStatus }, { additionalProperties: false });

export const AgentQuery = Type.Object(
  { status: Type.Optional(AgentStatus), department: Type.Optional(DepartmentFilter) },
  { additionalProperties: false },
);

// ---- auth ------------------------------------------------------------------

export const LoginBody = Type.Object(
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export const LoginReply = Type.Object({ token: Type.String(), expires_at: Timestamp, agent: Agent });

// ---- conversations ---------------------------------------------------------

export const Channel = Type.Union([L('widget'), L('qiscus'), L('rapidpro'), L('api'), L('mqtt'), L('offline')]);
export const ConversationState = Type.Union([L('queued'), L('offered'), L('assigned'), L('resolved'), L('abandoned')]);

const CustomerFields = StringMap(Type.String({ maxLength: 2000 }), { key: Type.String({ maxLength: 100 }), maxProperties: 100 });

/** A customer's satisfaction rating (see routes/ratings.ts). */
export const Rating = Type.Object({
  score: Type.Integer({ minimum: 1, maximum: 5 }),
  comment: Nullable(Type.String()),
  created_at: Timestamp,
});

export const Conversation = Type.Object({
  id: Id,
  channel: Channel,
  external_ref: Nullable(Type.String()),
  customer: Type.Object({
    id: Type.String(),
    name: Nullable(Type.String()),
    email: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    fields: StringMap(Type.String()),
  }),
  customer_verified: Type.Boolean({
    description:
      'the customer id is vouched for: a widget session signed by the host site (customer.hash), a Qiscus or RapidPro conversation, or one a supervisor or admin opened; only verified conversations share a customer\'s history and statistics',
  }),
  department: Nullable(Type.String()),
  priority: Type.Integer(),
  state: ConversationState,
  agent_id: Nullable(Id),
  created_at: Timestamp,
  queued_at: Nullable(Timestamp),
  assigned_at: Nullable(Timestamp),
  resolved_at: Nullable(Timestamp),
  resolve_reason: Nullable(Type.String()),
  note: Nullable(Type.String()),
  offer_expires_at: Type.Union([Timestamp, Type.Null()], { description: 'while offered (offer-mode departments): when the offer to agent_id runs out; null otherwise' }),
  labels: Type.Array(Type.String(), { description: 'label names (GET /api/v1/labels has their colours)' }),
  required_skills: StringMap(Type.Integer(), {
    description: "skill → minimum level an agent needs to be given it: the opener's required_skills merged with its department's (docs/routing.md#skills)",
  }),
  sla_due_at: Nullable(Type.String({ format: 'date-time', description: "when the first agent reply is due by the department's sla_first_response_s; null: no SLA" })),
  first_response_at: Nullable(Type.String({ format: 'date-time', description: 'the first agent message (not a note or system message); null: unanswered' })),
  sla_breached_at: Nullable(Type.String({ format: 'date-time', description: 'when conversation.sla_breached was raised; null: not breached' })),
  queue_position: Nullable(Type.Integer({ description: 'place in its department queue, 1 = next; null unless queued' })),
  expected_wait_seconds: Nullable(Type.Integer({ description: 'estimate; null unless queued or when no online agent can serve it' })),
  rating: Type.Optional(Type.Union([Rating, Type.Null()], { description: "the customer's rating (conversation routes); null until rated" })),
  unread: Type.Optional(
    Type.Integer({ minimum: 0, description: "the customer's messages after the caller's own read marker (POST /conversations/{id}/read); in lists and GET of one conversation" }),
  ),
});

export const ReadBody = Type.Object(
  { up_to: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'mark read up to this message id; default: the last message' })) },
  { additionalProperties: false },
);

export const ReadMarker = Type.Object({
  conversation_id: Id,
  last_read_message_id: Type.Integer({ description: 'the last message the caller has read (0: none)' }),
  unread: Type.Integer({ minimum: 0 }),
});

export const NewConversationBody = Type.Object(
  {
    customer: Type.Object(
      {
        id: Type.String({ minLength: 1, maxLength: CUSTOMER_ID_MAX }),
        // one line (a transcript heads each of the customer's lines with it); '' is none, as before
        name: Type.Optional(Nullable(Type.String({ maxLength: 200, pattern: ONE_LINE_OR_EMPTY_PATTERN }))),
        email: Type.Optional(Nullable(Type.String({ maxLength: 254 }))),
        phone: Type.Optional(Nullable(Type.String({ maxLength: 50 }))),
        fields: Type.Optional(CustomerFields),
      },
      { additionalProperties: false },
    ),
    department: Type.Optional(Nullable(Department)),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, description: 'higher is served first; default 0' })),
    channel: Type.Optional(
      Type.Union(Channel.anyOf, {
        description: "default api; qiscus and rapidpro are refused (400): those conversations are opened only by their channel (Qiscus' allocation webhook, RapidPro's mailroom)",
      }),
    ),
    external_ref: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
    required_skills: Type.Optional(Skills),
  },
  { additionalProperties: false },
);

export const ConversationQuery = Type.Object(
  {
    state: Type.Optional(ConversationState),
    agent: Type.Optional(Id),
    department: Type.Optional(DepartmentFilter),
    customer: Type.Optional(Type.String({ minLength: 1, maxLength: STORED_CUSTOMER_ID_MAX })),
    customer_verified: Type.Optional(Type.Boolean({ description: 'only conversations whose customer is (true) or is not (false) verified' })),
    before: Type.Optional(Id),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: LABEL_NAME_AS_SENT, description: 'only conversations carrying this label (by name, whatever its case)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  },
  { additionalProperties: false },
);

export const ResolveBody = Type.Object({ note: Type.Optional(Type.String({ maxLength: 5000 })) }, { additionalProperties: false });

export const TransferBody = Type.Object(
  {
    agent_id: Type.Optional(Id),
    department: Type.Optional(Nullable(Department)),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);

// ---- messages --------------------------------------------------------------

// http(s) only: the apps render the url as a link or an image, and a
// javascript: or data: url there would run or show whatever its sender wrote.
// And a URI (ajv-formats' full `uri`: no spaces, quotes, angle brackets or
// control characters), which the apps put in an href or src as stored.
// Messages published over MQTT are checked with this same schema
// (realtime/payloads.ts): a link REST refuses was stored when published.
export const LinkUrl = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000, description: 'an http:// or https:// URL' });

export const Attachment = Type.Union([
  Type.Object(
    // one line: an email transcript shows it as "Attachment (<type>): <url>", where a line break would begin a forged line
    { type: Type.String({ minLength: 1, maxLength: 100, pattern: ONE_LINE_PATTERN, description: 'one line of text, without control characters' }), url: LinkUrl },
    { additionalProperties: false, title: 'link' },
  ),
  Type.Object({ id: Type.String({ format: 'uuid', description: 'a file uploaded to this conversation (POST …/attachments)' }) }, { additionalProperties: false, title: 'file' }),
]);

export const Message = Type.Object({
  id: Type.Integer(),
  private: Type.Boolean({ description: 'true: a note, which only agents see (never sent to the customer or any channel)' }),
  conversation_id: Id,
  sender: Type.Union([L('customer'), L('agent'), L('system'), L('bot')]),
  sender_id: Nullable(Type.String()),
  text: Nullable(Type.String()),
  attachments: Type.Array(
    Type.Object({
      type: Type.String({ description: 'a link’s type, or an uploaded file’s content type' }),
      url: Type.String({ description: 'a link as sent; for an uploaded file, a signed link on this server good for ATTACHMENT_LINK_TTL' }),
      id: Type.Optional(Type.String({ description: 'uploaded files only' })),
      name: Type.Optional(Type.String()),
      size: Type.Optional(Type.Integer({ description: 'bytes' })),
    }),
  ),
  created_at: Timestamp,
  read_at: Nullable(Timestamp),
  updated_at: Type.Optional(Nullable(Timestamp)),
});

export const NewMessageBody = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 10_000 })),
    attachments: Type.Optional(Type.Array(Attachment, { minItems: 1, maxItems: 20 })),
    sender: Type.Optional(
      Type.Union([L('agent'), L('customer'), L('system'), L('bot')], {
        description: 'default agent; supervisors and admins may post for the customer, system or a bot (API channels)',
      }),
    ),
    client_message_id: Type.Optional(
      Type.String({
        format: 'uuid',
        description: "the caller's own id for this message, new for each message and the same when it is sent again: a message whose id its conversation holds from the same sender is not stored again (200 with the stored one)",
      }),
    ),
  },
  { additionalProperties: false },
);

export const MessageQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  { additionalProperties: false },
);

// ---- queue, settings, events -----------------------------------------------

export const QueueEntry = Type.Object({
  conversation: Conversation,
  position: Type.Integer(),
  waiting_seconds: Type.Integer(),
  expected_wait_seconds: Nullable(Type.Integer()),
});

export const QueueQuery = Type.Object(
  {
    department: Type.Optional(DepartmentFilter),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'entries to skip in serving order: the next page is offset + limit' })),
  },
  { additionalProperties: false },
);

const OfflineCondition = Type.Union([Type.Literal('outside_hours'), Type.Literal('no_agent_online')]);

export const SettingsBody = Type.Object({
  max_customers: Type.Integer({ description: 'default capacity of an agent without their own' }),
  attendant_keep_alive_ms: Type.Integer({ description: 'an agent silent this long goes offline' }),
  agent_offline_grace_ms: Type.Integer({ description: 'after this long offline, an agent’s conversations are re-queued' }),
  offline_policy: Type.Union([Type.Literal('requeue'), Type.Literal('keep')]),
  offline_email_to: Nullable(Type.String({ description: 'the team address offline messages are emailed to; null: not emailed' })),
  csat_enabled: Type.Boolean({ description: 'the widget asks for a rating after a resolved conversation; off: POST …/rating answers 409 SB_CSAT_DISABLED' }),
  csat_question: Type.String({ description: 'the question the widget asks' }),
  csat_thanks: Type.String({ description: 'what the widget says once the rating is in' }),
  offline_when: Type.Array(OfflineCondition, { description: 'when the widget shows the offline form instead of a live chat: outside_hours (of the business hours), no_agent_online (of the department); both listed: either; empty: never' }),
  attachments_max_bytes: Type.Integer({ description: 'the largest file that may be uploaded, bytes; larger: 413 SB_ATTACHMENT_TOO_LARGE' }),
  attachments_max_files: Type.Integer({ description: 'uploaded files one message may carry; more: 422 SB_ATTACHMENT_LIMIT' }),
  attachments_allowed_types: Type.Array(Type.String(), { description: 'MIME types (image/png), families (image/*) or extensions (.docx) that may be uploaded; others: 422 SB_ATTACHMENT_TYPE' }),
});

export const SettingsPatchBody = Type.Object(
  {
    max_customers: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    // At most 30 days: far beyond any use, and well inside the timestamps the routing functions compute with them.
    attendant_keep_alive_ms: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 2_592_000_000 })),
    agent_offline_grace_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_592_000_000 })),
    offline_policy: Type.Optional(Type.Union([Type.Literal('requeue'), Type.Literal('keep')])),
    offline_email_to: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 254 }))),
    csat_enabled: Type.Optional(Type.Boolean()),
    // notBlank (src/http/validation.ts): spaces or zero-width characters alone would have the widget show an empty prompt
    csat_question: Type.Optional(Type.String({ minLength: 1, maxLength: 300, notBlank: true })),
    csat_thanks: Type.Optional(Type.String({ minLength: 1, maxLength: 300, notBlank: true })),
    offline_when: Type.Optional(Type.Array(OfflineCondition, { maxItems: 2, uniqueItems: true })),
    attachments_max_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_UPLOAD_BYTES })),
    attachments_max_files: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_FILES_PER_MESSAGE })),
    attachments_allowed_types: Type.Optional(
      Type.Array(Type.String({ pattern: ALLOWED_TYPE_PATTERN, maxLength: MAX_TYPE_LENGTH, description: 'lowercase: type/subtype, type/* or .ext' }), { maxItems: MAX_ALLOWED_TYPES, uniqueItems: true }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Event = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
  conversation_id: Nullable(Id),
  agent_id: Nullable(Id),
  data: StringMap(Type.Unknown()),
  created_at: Timestamp,
});

export const EventQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
