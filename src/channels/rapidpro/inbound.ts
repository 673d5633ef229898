import { Type, type Static, type TSchema } from '@sinclair/typebox';
import Ajv, { type ErrorObject } from 'ajv';
import type { Attachment } from '../../conversations/messages.js';
import { invalid } from '../../errors.js';
import { anyOfBranchIssue } from '../../http/anyof-issue.js';
import { assertNotChannelQueue } from '../../routing/channel-queues.js';
import { emptyMessage } from './errors.js';

// What mailroom sends, checked and turned into plain inputs. Unknown fields
// are allowed: mailroom and its forks add fields over time, and refusing
// them would break a working RapidPro for no gain. The spellings differ
// between mailroom (ticketID, contactUUID) and the original app's README
// (ticketId, contactUuid, and its "deparment" typo): all are accepted.

const Text = (maxLength: number) => Type.Union([Type.String({ maxLength }), Type.Null()]);
/** The contact id as a decimal string; a number is taken too. */
const Token = Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Integer({ minimum: 0 })]);
const VisitorRef = Type.Object({ token: Token });

const RoomBody = Type.Object({
  ticketID: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  ticketId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  priority: Type.Optional(Type.Union([Type.String({ maxLength: 20 }), Type.Integer(), Type.Null()])),
  sessionStart: Type.Optional(Text(100)),
  visitor: Type.Object({
    token: Token,
    contactUUID: Type.Optional(Text(255)),
    contactUuid: Type.Optional(Text(255)),
    name: Type.Optional(Text(200)),
    email: Type.Optional(Text(254)),
    phone: Type.Optional(Text(64)),
    department: Type.Optional(Text(100)),
    deparment: Type.Optional(Text(100)),
    customFields: Type.Optional(
      Type.Union([
        Type.Record(Type.String({ maxLength: 100 }), Type.Union([Type.String({ maxLength: 2_000 }), Type.Number(), Type.Boolean(), Type.Null()]), {
          maxProperties: 100,
        }),
        Type.Null(),
      ]),
    ),
  }),
});

const Url = Type.String({ minLength: 1, maxLength: 2_048 });
/** {type, url} as mailroom sends it, or a bare URL as some forks do. */
const AttachmentBody = Type.Union([Type.Object({ type: Type.String({ minLength: 1, maxLength: 100 }), url: Url }), Url], {
  description: 'a URL, or an object with type and url',
});

const MessageBody = Type.Object({
  visitor: VisitorRef,
  text: Type.Optional(Text(10_000)),
  attachments: Type.Optional(Type.Union([Type.Array(AttachmentBody, { maxItems: 20 }), Type.Null()])),
});

const CloseBody = Type.Object({ visitor: VisitorRef });

const SettingsBody = Type.Object({ webhook: Type.Object({ url: Type.String({ minLength: 1, maxLength: 2_048 }) }) });

// verbose: an anyOf issue carries its schema, whose description says what was expected
const ajv = new Ajv.default({ allErrors: false, strict: false, coerceTypes: false, verbose: true });

/** The field at fault as the caller wrote it (`visitor.token`), and what is wrong with it. */
function describe(issue: ErrorObject): { field: string; problem: string } {
  const path = issue.instancePath.split('/').filter(Boolean);
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty));
  const field = path.length > 0 ? path.join('.') : 'body';
  switch (issue.keyword) {
    case 'required':
      return { field, problem: 'is required' };
    case 'type':
      return { field, problem: `must be ${issue.params.type === 'object' ? 'a JSON object' : `of type ${String(issue.params.type)}`}` };
    case 'minLength':
      return { field, problem: 'must not be empty' };
    case 'maxLength':
      return { field, problem: `must be at most ${String(issue.params.limit)} characters` };
    case 'anyOf': {
      const expected = (issue.parentSchema as { description?: string } | undefined)?.description;
      return { field, problem: expected ? `must be ${expected}` : 'has the wrong type' };
    }
    case 'maxItems':
    case 'maxProperties':
      return { field, problem: `must have at most ${String(issue.params.limit)} entries` };
    default:
      return { field, problem: issue.message ?? 'is invalid' };
  }
}

/** A checker that throws SB_VALIDATION naming the first problem, e.g. "visitor.token is required". */
function checker<T extends TSchema>(schema: T): (body: unknown) => Static<T> {
  const validate = ajv.compile(schema);
  return (body) => {
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid('body', 'must be a JSON object (send it with Content-Type: application/json)');
    }
    if (!validate(body)) {
      const issues = validate.errors!;
      // an anyOf of types alone (null or a string) reads best as its first branch: "must be of type string"
      const described = issues.find((i) => i.keyword === 'anyOf' && (i.parentSchema as { description?: string } | undefined)?.description);
      const { field, problem } = describe(anyOfBranchIssue(issues) ?? described ?? issues[0]!);
      throw invalid(field, problem);
    }
    return body as Static<T>;
  };
}

const checkRoom = checker(RoomBody);
const checkMessage = checker(MessageBody);
const checkClose = checker(CloseBody);
const checkSettings = checker(SettingsBody);

const present = (value: string | null | undefined): string | undefined => {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
};

/**
 * RapidPro ticket priorities (as a widely used fork sends them) on the
 * engine's 0–10 scale. Normal is the engine's default 0, so a RapidPro
 * ticket does not overtake other channels' conversations unless marked.
 */
const PRIORITIES: Record<string, number> = { low: 0, normal: 0, medium: 0, high: 5, urgent: 10, critical: 10 };

export function toPriority(value: string | number | null | undefined): number {
  if (value === undefined || value === null || value === '') return 0;
  if (typeof value === 'number') {
    if (value < 0 || value > 10) throw invalid('priority', `must be between 0 and 10, got ${value}`);
    return value;
  }
  const text = value.trim().toLowerCase();
  if (/^\d+$/.test(text)) return toPriority(Number(text));
  const mapped = PRIORITIES[text];
  if (mapped === undefined) throw invalid('priority', `must be one of ${Object.keys(PRIORITIES).join(', ')} or 0–10, got ${JSON.stringify(value)}`);
  return mapped;
}

export interface RoomRequest {
  ticketId: string;
  token: string;
  contactUuid?: string;
  name?: string;
  email?: string;
  phone?: string;
  department: string | null;
  priority: number;
  sessionStart?: string;
  customFields: Record<string, string>;
}

export function parseRoom(body: unknown): RoomRequest {
  const room = checkRoom(body);
  if (room.ticketID !== undefined && room.ticketId !== undefined && room.ticketID !== room.ticketId) {
    throw invalid('ticketID', `and ticketId differ (${JSON.stringify(room.ticketID)}, ${JSON.stringify(room.ticketId)}); send one`);
  }
  const ticketId = present(room.ticketID ?? room.ticketId);
  if (ticketId === undefined) throw invalid('ticketID', 'is required');
  const v = room.visitor;
  const department = present(v.department ?? v.deparment) ?? null;
  // opened in SQL (sb_open_room), past openConversation's own check
  assertNotChannelQueue(present(v.department) !== undefined ? 'visitor.department' : 'visitor.deparment', department);
  const customFields: Record<string, string> = {};
  for (const [key, value] of Object.entries(v.customFields ?? {})) {
    if (value !== null) customFields[key] = String(value);
  }
  return {
    ticketId,
    token: String(v.token),
    contactUuid: present(v.contactUUID ?? v.contactUuid),
    name: present(v.name),
    email: present(v.email),
    phone: present(v.phone),
    department,
    priority: toPriority(room.priority),
    sessionStart: present(room.sessionStart),
    customFields,
  };
}

export interface MessageRequest {
  token: string;
  text: string | null;
  attachments: Attachment[];
}

export function parseMessage(body: unknown): MessageRequest {
  const message = checkMessage(body);
  const attachments = (message.attachments ?? []).map((a, i) => {
    // A bare URL says nothing of its type: it is left empty.
    const { type, url } = typeof a === 'string' ? { type: '', url: a } : a;
    // Agents' browsers open these links: only web URLs.
    if (!/^https?:\/\/[^\s]+$/i.test(url) || !URL.canParse(url)) {
      throw invalid(typeof a === 'string' ? `attachments.${i}` : `attachments.${i}.url`, `must be an http or https URL, got ${JSON.stringify(url)}`);
    }
    return { type, url };
  });
  const text = message.text === undefined || message.text === null || message.text.trim() === '' ? null : message.text;
  if (text === null && attachments.length === 0) throw emptyMessage();
  return { token: String(message.visitor.token), text, attachments };
}

export function parseClose(body: unknown): { token: string } {
  return { token: String(checkClose(body).visitor.token) };
}

export function parseSettings(body: unknown): { url: string } {
  return { url: checkSettings(body).webhook.url.trim() };
}
