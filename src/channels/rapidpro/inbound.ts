import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import type { Attachment } from '../../conversations/messages.js';
import { invalid } from '../../errors.js';
import { anyOfBranchIssue } from '../../http/anyof-issue.js';
import { isBlank } from '../../http/blank.js';
import { ONE_LINE_OR_EMPTY_PATTERN } from '../../http/one-line.js';
import { StringMap } from '../../http/schemas.js';
import { oneLineName } from '../../customers/name.js';
import { assertNotChannelQueue } from '../../routing/channel-queues.js';
import { emptyMessage } from './errors.js';
import { UUID } from '../../uuid.js';

// What mailroom sends, checked and turned into plain inputs. Unknown fields
// are allowed: mailroom and its forks add fields over time, and refusing
// them would break a working RapidPro for no gain. The spellings differ
// between mailroom (ticketID, contactUUID, an attachment's type — mimeType
// since mailroom 0e627ffd) and the original app's README (ticketId,
// contactUuid, and its "deparment" typo): all are accepted.

const MAX_FIELD_KEY = 100;
const Text = (maxLength: number) => Type.Union([Type.String({ maxLength }), Type.Null()]);
const DepartmentText = Type.Union([Type.String({ maxLength: 100, pattern: ONE_LINE_OR_EMPTY_PATTERN }), Type.Null()]);
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
    // one line, as every department is (src/http/schemas.ts); empty is none, as RapidPro sends it
    department: Type.Optional(DepartmentText),
    deparment: Type.Optional(DepartmentText),
    // every key checked, a line break in it too (not Type.Record: see StringMap)
    customFields: Type.Optional(
      Type.Union([
        StringMap(Type.Union([Type.String({ maxLength: 2_000 }), Type.Number(), Type.Boolean(), Type.Null()]), {
          key: Type.String({ maxLength: MAX_FIELD_KEY }),
          maxProperties: 100,
        }),
        Type.Null(),
      ]),
    ),
  }),
});

const Url = Type.String({ minLength: 1, maxLength: 2_048 });
/**
 * {type, url} as mailroom sends it — {mimeType, url} since mailroom 0e627ffd
 * — or a bare URL as some forks do. Mailroom builds each from goflow's
 * attachment.ToParts() without omitempty, so the type may be empty (a
 * content type goflow could not tell), `geo` (url is "lat,lng") or
 * `unavailable` (media it could not fetch): see toAttachment. Either
 * spelling of the type is optional here; toAttachment wants one.
 */
const AttachmentType = Type.String({ maxLength: 100 });
const AttachmentBody = Type.Union([Type.Object({ type: Type.Optional(AttachmentType), mimeType: Type.Optional(AttachmentType), url: Url }), Url], {
  description: 'a URL, or an object with type and url',
});
type AttachmentSent = Static<typeof AttachmentBody>;

const MessageBody = Type.Object({
  visitor: VisitorRef,
  text: Type.Optional(Text(10_000)),
  attachments: Type.Optional(Type.Union([Type.Array(AttachmentBody, { maxItems: 20 }), Type.Null()])),
});

const CloseBody = Type.Object({ visitor: VisitorRef });

const SettingsBody = Type.Object({ webhook: Type.Object({ url: Type.String({ minLength: 1, maxLength: 2_048 }) }) });

// verbose: an anyOf issue carries its schema, whose description says what was expected
const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, verbose: true });

/** A JSON Pointer segment as the caller wrote it: a key of customFields may hold anything, a "/" or a line break too. */
const segment = (raw: string, i: number): string => {
  const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
  if (/^[\w$-]+$/.test(key)) return i === 0 ? key : `.${key}`;
  return `[${JSON.stringify(key)}]`;
};

const MAX_KEY_SHOWN = 40;

/** The field at fault as the caller wrote it (`visitor.token`, `visitor.customFields["a\nb"]`), and what is wrong with it. */
function describe(issue: ErrorObject): { field: string; problem: string } {
  const path = issue.instancePath.split('/').slice(1);
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty));
  const field = path.length > 0 ? path.map(segment).join('') : 'body';
  // a key refused by propertyNames: the issue is the map's, the key is in propertyName
  if (issue.propertyName !== undefined && issue.keyword === 'maxLength') {
    const key = [...issue.propertyName];
    const shown = key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN).join('')}…` : issue.propertyName;
    return { field, problem: `has a key over ${String(issue.params.limit)} characters: ${JSON.stringify(shown)}` };
  }
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
  // Blank is none, as empty is: a department of spaces or zero-width
  // characters alone is one the console lists as nothing and no agent
  // serves (the API refuses it; RapidPro's to give, so mended).
  const named = present(v.department ?? v.deparment);
  const department = named === undefined || isBlank(named) ? null : named;
  // opened in SQL (sb_open_room), past openConversation's own check
  assertNotChannelQueue(present(v.department) !== undefined ? 'visitor.department' : 'visitor.deparment', department);
  // The contact UUID becomes a verified customer id (src/channels/rapidpro/tickets.ts), shared with the
  // customer's conversations on every channel: an id of any other shape (a widget customer's "cust-42")
  // would let a ticketer claim that customer's history. mailroom always sends a UUID.
  const contactUuid = present(v.contactUUID ?? v.contactUuid);
  if (contactUuid !== undefined && !UUID.test(contactUuid)) {
    throw invalid(present(v.contactUUID) !== undefined ? 'visitor.contactUUID' : 'visitor.contactUuid', `must be a UUID (RapidPro's contact UUID), not ${JSON.stringify(contactUuid.slice(0, 60))}`);
  }
  const customFields: Record<string, string> = {};
  for (const [key, value] of Object.entries(v.customFields ?? {})) {
    if (value !== null) customFields[key] = String(value);
  }
  return {
    ticketId,
    token: String(v.token),
    contactUuid,
    // one line, as every name is (oneLineName): a contact's name is RapidPro's to give, so it is mended, not refused
    name: present(v.name ? oneLineName(v.name) : undefined),
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

/**
 * Types for a link goflow sent without one, by the URL's extension. The
 * console shows a link as "<type>: <url>", so the label is all this decides;
 * anything not listed is a generic file.
 */
const TYPE_BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  m4a: 'audio/mp4',
  amr: 'audio/amr',
  mp4: 'video/mp4',
  '3gp': 'video/3gpp',
  txt: 'text/plain',
  vcf: 'text/vcard',
};
const GENERIC_FILE = 'application/octet-stream';

function typeOfUrl(url: string): string {
  const name = new URL(url).pathname.split('/').pop() ?? '';
  const dot = name.lastIndexOf('.');
  return (dot > 0 && TYPE_BY_EXTENSION[name.slice(dot + 1).toLowerCase()]) || GENERIC_FILE;
}

const COORDINATE = /^[+-]?\d{1,3}(?:\.\d+)?$/;

/** goflow's "geo:<lat>,<lng>" as the line the agent reads, with a map link; undefined when it is not two coordinates in range. */
function locationLine(value: string): string | undefined {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length !== 2 || !parts.every((p) => COORDINATE.test(p))) return undefined;
  const [lat, lng] = parts.map((p) => p.replace(/^\+/, '')) as [string, string];
  if (Math.abs(Number(lat)) > 90 || Math.abs(Number(lng)) > 180) return undefined;
  return `Location: ${lat},${lng} https://www.openstreetmap.org/?mlat=${lat}&mlon=${lng}#map=16/${lat}/${lng}`;
}

/** Shown in place of media mailroom could not fetch (goflow's "unavailable:<url>"): the agent knows something was sent. */
const UNAVAILABLE_LINE = '(an attachment could not be retrieved)';

/**
 * One attachment as Switchboard keeps it: a link, or a line of the message's
 * text for what is no link (a location, media that never arrived). Each form
 * mailroom can send that carries something usable is taken: refusing the
 * message would make mailroom log and drop it, text and all.
 */
function toAttachment(a: AttachmentSent, i: number): { link: Attachment } | { line: string } {
  const field = typeof a === 'string' ? `attachments.${i}` : `attachments.${i}.url`;
  const { type, url } = typeof a === 'string' ? { type: '', url: a } : { type: typeOf(a, i), url: a.url };
  switch (type.trim().toLowerCase()) {
    case 'geo': {
      const line = locationLine(url);
      if (line === undefined) throw invalid(field, `must be "latitude,longitude" for a geo attachment (latitude -90 to 90, longitude -180 to 180), got ${JSON.stringify(url)}`);
      return { line };
    }
    case 'unavailable':
      // its url is where the channel had the media, which failed to download: nothing the agent can open
      return { line: UNAVAILABLE_LINE };
  }
  // Agents' browsers open these links: only web URLs.
  if (!/^https?:\/\/[^\s]+$/i.test(url) || !URL.canParse(url)) {
    throw invalid(field, `must be an http or https URL, got ${JSON.stringify(url)}`);
  }
  // No type (a bare URL, or one goflow could not tell): a file, named by its extension when it has a known one.
  return { link: { type: type.trim() === '' ? typeOfUrl(url) : type, url } };
}

/** An attachment object's type under either spelling: `type` (mailroom before 0e627ffd, the original app) or `mimeType`. */
function typeOf(a: { type?: string; mimeType?: string }, i: number): string {
  if (a.type !== undefined && a.mimeType !== undefined && a.type !== a.mimeType) {
    throw invalid(`attachments.${i}.type`, `and mimeType differ (${JSON.stringify(a.type)}, ${JSON.stringify(a.mimeType)}); send one`);
  }
  const type = a.type ?? a.mimeType;
  // empty is a type goflow could not tell (toAttachment types it by the URL); missing under both names is no attachment mailroom makes
  if (type === undefined) throw invalid(`attachments.${i}.type`, 'is required');
  return type;
}

export function parseMessage(body: unknown): MessageRequest {
  const message = checkMessage(body);
  const converted = (message.attachments ?? []).map(toAttachment);
  const attachments = converted.flatMap((c) => ('link' in c ? [c.link] : []));
  const lines = converted.flatMap((c) => ('line' in c ? [c.line] : []));
  const sent = message.text === undefined || message.text === null || message.text.trim() === '' ? null : message.text;
  const text = lines.length === 0 ? sent : [...(sent === null ? [] : [sent]), ...lines].join('\n');
  if (text === null && attachments.length === 0) throw emptyMessage();
  return { token: String(message.visitor.token), text, attachments };
}

export function parseClose(body: unknown): { token: string } {
  return { token: String(checkClose(body).visitor.token) };
}

export function parseSettings(body: unknown): { url: string } {
  return { url: checkSettings(body).webhook.url.trim() };
}
