import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { AppError, conflict, invalid, notFound } from '../errors.js';
import type { Emit, StoredEvent } from '../events/event.js';
import { withEvents } from '../events/outbox.js';
import { presentAttachments } from '../files/files.js';
import { refersToFiles, resolveAttachments, type AttachmentInput } from '../files/message-files.js';
import type { Queryable } from '../store/db.js';
import { assertCanAccess } from './access.js';
import type { ConversationRow } from './model.js';

export type Sender = 'customer' | 'agent' | 'system' | 'bot';

export interface Attachment {
  type: string;
  url: string;
  /** an uploaded file (src/files/): its id, name and size in bytes; url is then its path on this server */
  id?: string;
  name?: string;
  size?: number;
}

export interface MessageRow {
  id: number;
  conversation_id: string;
  sender: Sender;
  sender_id: string | null;
  text: string | null;
  attachments: Attachment[];
  created_at: Date;
  read_at: Date | null;
  /** a note (src/notes/): only agents see it */
  private: boolean;
  /** when a note was last edited */
  updated_at: Date | null;
  /** the sender's own id for the message (migration 0092), kept to store a resent copy once; not shown */
  client_message_id?: string | null;
}

export interface Message {
  id: number;
  conversation_id: string;
  sender: Sender;
  sender_id: string | null;
  text: string | null;
  attachments: Attachment[];
  created_at: string;
  read_at: string | null;
  private: boolean;
  updated_at: string | null;
}

const iso = (d: Date | null | undefined) => (d === null || d === undefined ? null : new Date(d).toISOString());
/** The message as an API client or browser gets it: uploaded files with signed links (src/files/). */
export function presentMessage(ctx: Pick<Ctx, 'files' | 'now'>, message: Message): Message {
  return message.attachments.length === 0 ? message : { ...message, attachments: presentAttachments(ctx.files, message.attachments, ctx.now(), 'browser') };
}

export function toMessage(row: MessageRow): Message {
  // Not shown: what events carry (sb_message_json) must be this, and has no such key.
  const { client_message_id: _notShown, ...shown } = row;
  return {
    ...shown,
    private: row.private ?? false,
    created_at: iso(row.created_at)!,
    read_at: iso(row.read_at),
    updated_at: iso(row.updated_at),
  };
}

export interface NewMessage {
  sender: Sender;
  sender_id: string | null;
  text?: string | null;
  /** links, or files uploaded to the conversation referred to by id */
  attachments?: (Attachment | AttachmentInput)[];
  /**
   * The sender's own id for the message (a uuid): a message sent again with
   * it (a client resending what was not acknowledged) is stored once
   * (addMessageOnce).
   */
  client_message_id?: string;
}

/** What addMessageOnce did: stored the message, found it stored before (`repeated`), or found its id another sender's. */
export type AddedOnce = { message: Message; repeated: boolean } | { taken: true };

/**
 * Stores a message on an open conversation and records `message.created` with
 * it. A message is the hottest write of a live chat: one call into the store
 * (sb_add_message, src/store/migrations/routing/functions.sql) locks the conversation, checks,
 * inserts, stops the SLA clock and logs the event. Files referred to by id
 * are first resolved in the same transaction (a round trip of their own).
 * The message is the event's: what the listeners publish and the log holds,
 * in the API's shape (sb_message_json), the store sending it once.
 *
 * A message commits once. The call is one autocommit statement, committed
 * synchronously: not transactOne's group commit (synchronous_commit off, then
 * a second, synchronous transaction writing wal_flush to make the log
 * durable), which cost PostgreSQL a second transaction, an upsert and its
 * WAL record a message — "1.93 transactions a message" in
 * bench/messages-http.ts. Group commit keeps locks off the disk flush; the
 * only lock a message takes is its own conversation's row (no key update;
 * messages and events have no other foreign key), so what waits for its
 * flush is the next change to that one conversation, which would have waited
 * for the message's commit anyway. Concurrent messages still share flushes:
 * PostgreSQL's commits queue for one WAL write.
 */
export async function addMessage(ctx: Ctx, conversationId: string, input: NewMessage, actor: Actor): Promise<Message> {
  const added = await addMessageOnce(ctx, conversationId, input, actor);
  if ('taken' in added) throw invalid('client_message_id', `${input.client_message_id} is the id of another sender's message in conversation ${conversationId}`);
  return added.message;
}

/**
 * addMessage, telling a message sent again apart: one whose
 * client_message_id its conversation holds already is not stored again
 * (sb_add_client_message, migration 0092); the answer is that message,
 * `repeated`, and no event is logged or heard. An id that is another
 * sender's message is `taken`: nothing written.
 */
export async function addMessageOnce(ctx: Ctx, conversationId: string, input: NewMessage, actor: Actor): Promise<AddedOnce> {
  const items = (input.attachments ?? []) as AttachmentInput[];
  const now = ctx.now();
  if (!refersToFiles(items)) {
    const call = relayOrder.start(conversationId);
    let event: StoredEvent | undefined;
    let row: AddedRow | undefined;
    try {
      // Autocommit, synchronous: see "A message commits once" above.
      [row] = await ctx.db.query<AddedRow>(...addCall(conversationId, input, items, actor, now));
      event = loggedEvent(row, now);
    } finally {
      relayOrder.settle(conversationId, call, event, ctx.onCommitted);
    }
    return storedBefore(row) ?? { message: added(row, event, conversationId, input, actor), repeated: false };
  }
  // The same relay order as the one-statement path: this transaction's event is held while an earlier call is in flight.
  const call = relayOrder.start(conversationId);
  let event: StoredEvent | undefined;
  try {
    return await withEvents({ ...ctx, onCommitted: (events) => void (event = events[0]) }, (tx, emit) => addWithFiles(tx, emit, conversationId, input, items, actor, now));
  } finally {
    relayOrder.settle(conversationId, call, event, ctx.onCommitted);
  }
}

/** A message whose attachments refer to uploaded files: they are resolved in the transaction that then makes the call. */
async function addWithFiles(tx: Queryable, emit: Emit, conversationId: string, input: NewMessage, items: AttachmentInput[], actor: Actor, now: Date): Promise<AddedOnce> {
  if (input.client_message_id !== undefined) {
    // A copy sent again is answered before its files are: they are the stored
    // message's now. (One still being stored is found by the call below.)
    const [prior] = await tx.query<MessageRow>('select * from messages where conversation_id = $1 and client_message_id = $2', [conversationId, input.client_message_id]);
    if (prior) return prior.sender === input.sender && prior.sender_id === input.sender_id ? { message: toMessage(prior), repeated: true } : { taken: true };
  }
  const attachments = await resolveAttachments(tx, conversationId, items).catch(async (error: unknown) => {
    // Only a refusal of a reference leaves the transaction usable: a failed
    // statement aborted it, and a query here would fail in turn (25P02),
    // hiding the error that matters.
    if (!(error instanceof AppError)) throw error;
    // Someone who may not write here hears that, not which of their references was wrong.
    const [c] = await tx.query<Pick<ConversationRow, 'id' | 'agent_id'>>('select id, agent_id from conversations where id = $1', [conversationId]);
    if (!c) throw notFound('conversation', conversationId);
    assertCanAccess(actor, c);
    throw error;
  });
  const [row] = await tx.query<AddedRow>(...addCall(conversationId, input, attachments, actor, now));
  const event = loggedEvent(row, now);
  if (event) emit.logged?.([event]);
  return storedBefore(row) ?? { message: added(row, event, conversationId, input, actor), repeated: false };
}

interface Call {
  /** this process's count of message calls started when this one started */
  startedAs: number;
}

interface Held {
  event: StoredEvent;
  /** the count of calls started when this one settled: every call with a lower id started at or before it */
  settledAt: number;
  deliver?: (events: readonly StoredEvent[]) => void;
}

/**
 * This process's message calls, per conversation: the listeners (the
 * realtime relay, src/realtime/publisher.ts) hear a conversation's messages
 * in commit order, which is its event ids' order (the row lock). Two calls on
 * one conversation answer on two connections, and the one that committed
 * first may be read second: both answers can land in the same turn of the
 * event loop (the second's commit follows the first's by a flush at most).
 *
 * So a settled call's event is held while a call on its conversation that
 * may have committed before it is still in flight. A call that committed
 * before call C started before C's answer was read, so before C settled;
 * and before the answer of any call with an id above C's was read. Hence C
 * waits only for calls in flight that started at or before the least
 * `settledAt` of C and the held calls above it; the events that need nobody
 * go out in id order, a prefix of the held ones. Calls started later never
 * hold an earlier one back, so a stream of overlapping calls cannot starve
 * it. A conversation with one call at a time, nearly all of them, delivers at
 * once.
 */
const relayOrder = {
  started: 0,
  conversations: new Map<string, { inFlight: Set<Call>; held: Held[] }>(),
  start(conversationId: string): Call {
    const call: Call = { startedAs: ++this.started };
    let calls = this.conversations.get(conversationId);
    if (!calls) this.conversations.set(conversationId, (calls = { inFlight: new Set(), held: [] }));
    calls.inFlight.add(call);
    return call;
  },
  settle(conversationId: string, call: Call, event: StoredEvent | undefined, deliver: Held['deliver']): void {
    const calls = this.conversations.get(conversationId)!;
    calls.inFlight.delete(call);
    if (event) calls.held.push({ event, settledAt: this.started, deliver });
    calls.held.sort((a, b) => a.event.id - b.event.id);
    let oldestInFlight = Infinity;
    for (const c of calls.inFlight) oldestInFlight = Math.min(oldestInFlight, c.startedAs);
    // from the highest id down: the least settledAt of a call and those above it
    const bound: number[] = [];
    for (let i = calls.held.length - 1, least = Infinity; i >= 0; i -= 1) bound[i] = least = Math.min(least, calls.held[i]!.settledAt);
    let ready = 0;
    while (ready < calls.held.length && bound[ready]! < oldestInFlight) ready += 1;
    const batch = calls.held.splice(0, ready);
    if (calls.inFlight.size === 0 && calls.held.length === 0) this.conversations.delete(conversationId);
    // Every event of the batch is delivered even if a listener throws on one (its
    // call's own commit is not undone by that); the first error is the settling call's.
    let failed: { error: unknown } | undefined;
    for (const h of batch) {
      try {
        h.deliver?.([h.event]);
      } catch (error) {
        failed ??= { error };
      }
    }
    if (failed) throw failed.error;
  },
};

/**
 * $7: the actor may write to any conversation; $8: else only to those assigned to this agent.
 * One value back (see sb_add_message): null, no such conversation; {event}, written; else why not.
 */
const ADD_MESSAGE = /* sql */ `select sb_add_message($1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::timestamptz, $7::boolean, $8::uuid) as added`;
/** The same with $9, the sender's id for the message: sb_add_client_message answers as sb_add_message, or {stored}, or {taken}. */
const ADD_CLIENT_MESSAGE = /* sql */ `select sb_add_client_message($1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::timestamptz, $7::boolean, $8::uuid, $9::uuid) as added`;

/** An event as sb_add_message or sb_mark_read logged it: the log's five keys. */
interface LoggedEvent<Type extends string = string, Data = Record<string, unknown>> {
  id: number | string;
  type: Type;
  conversation_id: string;
  agent_id: string | null;
  data: Data;
}

/** message.created as sb_add_message logged it. */
type LoggedMessage = LoggedEvent<'message.created', { message: Message }>;

interface AddedRow {
  added:
    | { event: LoggedMessage }
    | { state: ConversationRow['state']; agent_id: string | null; channel: ConversationRow['channel'] }
    | { stored: Message }
    | { taken: true }
    | null;
}

/** The statement that stores the message, and its parameters: with the sender's id for it, the call that stores it once. */
function addCall(conversationId: string, input: NewMessage, attachments: readonly unknown[], actor: Actor, now: Date): [string, unknown[]] {
  const params = [conversationId, input.sender, input.sender_id, input.text ?? null, JSON.stringify(attachments), now, seesEverything(actor), actor.id];
  return input.client_message_id === undefined ? [ADD_MESSAGE, params] : [ADD_CLIENT_MESSAGE, [...params, input.client_message_id]];
}

/** The answer when the message's id was found: the message stored before, or its id another sender's. */
function storedBefore(row: AddedRow | undefined): AddedOnce | undefined {
  const answer = row?.added;
  if (answer && 'stored' in answer) return { message: answer.stored, repeated: true };
  if (answer && 'taken' in answer) return { taken: true };
  return undefined;
}

/** The event as the listeners get it; `now`, the time the call was given, is its created_at. */
function loggedEvent(row: AddedRow | undefined, now: Date): StoredEvent | undefined {
  const answer = row?.added;
  if (!answer || !('event' in answer)) return undefined;
  return storedEvent(answer.event, now);
}

function storedEvent(e: LoggedEvent, now: Date): StoredEvent {
  return { id: Number(e.id), type: e.type, conversation_id: e.conversation_id, agent_id: e.agent_id, data: e.data as unknown as Record<string, unknown>, created_at: now };
}

function added(row: AddedRow | undefined, event: StoredEvent | undefined, conversationId: string, input: NewMessage, actor: Actor): Message {
  if (event) return (event.data as unknown as LoggedMessage['data']).message;
  const answer = row?.added;
  if (!answer || !('state' in answer)) throw notFound('conversation', conversationId);
  const { state, agent_id: agentId, channel } = answer;
  // Nothing was written; say why: access first, then what the conversation allows.
  assertCanAccess(actor, { id: conversationId, agent_id: agentId });
  if (channel === 'qiscus' && input.sender === 'agent') {
    // Stored, it would never reach the customer: nothing carries it to Qiscus.
    throw conflict(
      'SB_QISCUS_AGENT_MESSAGE',
      `conversation ${conversationId} is a Qiscus room: its agent replies in Qiscus's own dashboard, and Switchboard, which only allocates Qiscus rooms, has no way to deliver messages to it`,
    );
  }
  if (state === 'offered') {
    throw conflict('SB_NOT_ACCEPTED', `conversation ${conversationId} is offered, not assigned: accept it before replying`);
  }
  throw conflict('SB_CONVERSATION_CLOSED', `conversation ${conversationId} is ${state}; messages can no longer be added`);
}

/** With `withNotes` false (the customer's own reading), notes are left out: they never reach the customer. */
export async function listMessages(db: Queryable, conversationId: string, after: number, limit: number, withNotes: boolean): Promise<MessageRow[]> {
  return db.query<MessageRow>(
    'select * from messages where conversation_id = $1 and id > $2 and ($4::boolean or not private) order by id limit $3',
    [conversationId, after, limit, withNotes],
  );
}

/**
 * A read receipt: marks the listed messages of the other side as read, once,
 * and records `message.read` with the ids that changed (none: no event).
 * One autocommit call (sb_mark_read), committed synchronously, as a message
 * is (see "A message commits once" above), and relayed in the conversation's
 * commit order with its messages (relayOrder below).
 */
export async function markRead(ctx: Ctx, conversationId: string, ids: readonly number[], reader: 'customer' | 'agent', actor: Actor): Promise<number[]> {
  const now = ctx.now();
  const call = relayOrder.start(conversationId);
  let event: StoredEvent | undefined;
  let answer: ReadAnswer | null | undefined;
  try {
    const [row] = await ctx.db.query<{ read: ReadAnswer | null }>(MARK_READ, [conversationId, ids, reader, now, seesEverything(actor), actor.id]);
    answer = row?.read;
    if (answer && 'event' in answer && answer.event) event = storedEvent(answer.event, now);
  } finally {
    relayOrder.settle(conversationId, call, event, ctx.onCommitted);
  }
  if (answer === null || answer === undefined) throw notFound('conversation', conversationId);
  if (!('read' in answer)) {
    assertCanAccess(actor, { id: conversationId, agent_id: answer.agent_id });
    throw new Error(`sb_mark_read refused conversation ${conversationId} to an actor assertCanAccess lets in`);
  }
  return answer.read.map(Number);
}

const MARK_READ = /* sql */ `select sb_mark_read($1::uuid, $2::bigint[], $3::text, $4::timestamptz, $5::boolean, $6::uuid) as read`;

/** sb_mark_read's answer: the ids marked (and their event), or, refused, the conversation's agent. */
type ReadAnswer = { read: (number | string)[]; event?: LoggedEvent } | { agent_id: string | null };
