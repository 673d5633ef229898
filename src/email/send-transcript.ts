import { seesEverything, type Actor } from '../agents/model.js';
import { assertCanAccess } from '../conversations/access.js';
import type { Attachment, Sender } from '../conversations/messages.js';
import type { ConversationRow } from '../conversations/model.js';
import type { Ctx } from '../context.js';
import { conflict, forbidden, notFound } from '../errors.js';
import type { Queryable } from '../store/db.js';
import type { EmailConfig } from './config.js';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { customerAddressOnly, noRecipient, notOneAddress, tooManyTranscripts, transcriptUnserved } from './errors.js';
import { emailLinks } from './links.js';
import { conversationEmails, emailEnabled, enqueueEmail, nudge, PRODUCER, REQUESTED_BY, requireEmail, transcriptRecipientKey } from './outbox.js';
import { renderTranscript, TRANSCRIPT_MAX_MESSAGES, type Rendered, type TranscriptLine } from './transcript.js';

// POST /api/v1/conversations/:id/transcript. Who may send it where:
// - an agent who holds or held the conversation, a supervisor, an admin: to
//   any address (they are staff, and logged in), by default the customer's.
//   An agent it is only offered to (offer mode) does not hold it yet, and
//   sends it nowhere until they accept (409 SB_NOT_ACCEPTED, as for a
//   message or a note): it would mail the customer's messages, and any
//   address, on behalf of a conversation that may end up another agent's;
// - the customer, with their session token: only to the conversation's
//   customer email. When the conversation has none, the address they give
//   becomes it, once; after that no other address is accepted. An anonymous
//   widget user could otherwise make Switchboard mail anyone: a spam relay.
//   That rule alone does not stop one: the customer email is whatever the
//   stranger gave when the chat started, and the name and messages they
//   typed are in the mail (found by review: any address, 3 mails a chat, 20
//   chats a minute). So a customer may ask only once an agent has written in
//   the conversation (a person read it, and the mail is that exchange, not
//   a stranger's text alone), at most CUSTOMER_MAX_TRANSCRIPTS times per
//   conversation (their own requests: an agent's do not use them up), and
//   within the per-address and per-recipient limits of src/email/routes.ts.

export const CUSTOMER_MAX_TRANSCRIPTS = 3;

/**
 * A customer's request, once every rule of the conversation let it through
 * and its recipient is decided: the limits across conversations
 * (src/email/routes.ts), counted in the request's transaction, so a request
 * refused here or later counts nothing. Throws to refuse.
 */
export type Admit = (tx: Queryable, to: string) => Promise<void>;

export type Requester = { kind: 'agent'; actor: Actor } | { kind: 'customer'; conversationId: string; admit?: Admit };

export interface TranscriptRequest {
  email?: string;
}

export interface Accepted {
  conversation_id: string;
  to: string;
  delivery_id: number;
}

const sameAddress = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

interface LineRow {
  sender: Sender;
  sender_id: string | null;
  text: string | null;
  attachments: Attachment[];
  created_at: Date;
  agent_name: string | null;
}

/** The conversation's newest messages (TRANSCRIPT_MAX_MESSAGES at most), oldest first, and how many it has. */
async function transcriptLines(ctx: Ctx, db: Queryable, conversation: ConversationRow, linkTtlSeconds: number): Promise<{ lines: TranscriptLine[]; total: number }> {
  // A transcript goes to the customer: an agent's private note never goes with it.
  const read = await db.query<LineRow>(
    `select m.sender, m.sender_id, m.text, m.attachments, m.created_at, a.name as agent_name
       from (select id, sender, sender_id, text, attachments, created_at from messages
              where conversation_id = $1 and not private order by id desc limit $2) m
       left join agents a on m.sender = 'agent' and a.id::text = m.sender_id
      order by m.id`,
    [conversation.id, TRANSCRIPT_MAX_MESSAGES + 1],
  );
  const rows = read.slice(-TRANSCRIPT_MAX_MESSAGES);
  // one more than kept is read, so that all of them are counted (to say how many are left out) only when some are
  const total =
    read.length <= TRANSCRIPT_MAX_MESSAGES
      ? read.length
      : (await db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1 and not private', [conversation.id]))[0]!.n;
  const customerName = conversation.customer.name || 'Customer';
  const now = ctx.now();
  // the name as its writer is called; the role after it (renderTranscript) says which side wrote
  const lines = rows.map((r) => ({
    sender: r.sender,
    name: r.sender === 'customer' ? customerName : r.sender === 'agent' ? (r.agent_name ?? 'Agent') : r.sender === 'bot' ? 'Bot' : 'Switchboard',
    text: r.text,
    attachments: emailLinks(ctx.files, r.attachments ?? [], now, linkTtlSeconds),
    at: new Date(r.created_at),
  }));
  return { lines, total };
}

/**
 * The rule every address the API takes passes (format: 'email'): a
 * conversation's customer email may come from elsewhere as given (the staff
 * API, RapidPro's contact, Qiscus), and `a@x,b@y` would be two recipients.
 */
const ONE_ADDRESS = fullFormats.email as RegExp;

async function render(ctx: Ctx, db: Queryable, config: EmailConfig, conversation: ConversationRow): Promise<Rendered> {
  const { lines, total } = await transcriptLines(ctx, db, conversation, config.linkTtlSeconds);
  return renderTranscript({ conversationId: conversation.id, customerName: conversation.customer.name ?? null, startedAt: new Date(conversation.created_at), lines, total });
}

/**
 * An agent's transcript, read and rendered before the conversation's row is
 * locked: while the lock is held, the conversation's new messages (whose key
 * share waits for FOR UPDATE) and its routing wait too, and reading and
 * rendering hundreds of messages is the longest part of the request. Only
 * for a request the checks under the lock are likely to let through (email
 * on, the conversation exists, the agent may see it), so that one refused
 * for those reads nothing; undefined otherwise, and those checks answer. A
 * message written between this read and the lock is not in it, as one
 * written after the request is not.
 *
 * Never a customer's: what their checks under the lock decide is what the
 * email holds. Rendered before, an agent's first message committed between
 * the render and the lock let the check "an agent has written" pass for a
 * transcript holding only the customer's own text — to an address they
 * gave, which the rule is there to stop; and a request those checks refuse
 * (their limits, counted only for what passes) cost a whole render (review).
 */
async function renderUnlocked(ctx: Ctx, config: EmailConfig, conversationId: string, by: Requester): Promise<Rendered | undefined> {
  if (by.kind !== 'agent' || !emailEnabled(config)) return undefined;
  const [conversation] = await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [conversationId]);
  if (!conversation) return undefined;
  if (by.kind === 'agent' && !seesEverything(by.actor) && conversation.agent_id !== by.actor.id) return undefined;
  return render(ctx, ctx.db, config, conversation);
}

/** Renders the transcript and puts it in the outbox, in one transaction; the email goes out after. */
export async function sendTranscript(ctx: Ctx, config: EmailConfig, conversationId: string, input: TranscriptRequest, by: Requester): Promise<Accepted> {
  // A session token reaches only its own conversation: refused before anything is read, so that it
  // learns nothing of another (a 404 for an id that does not exist, a 403 for one that does) and
  // locks none (found by review).
  if (by.kind === 'customer' && by.conversationId !== conversationId.toLowerCase()) throw forbidden('a session token reaches only its own conversation');
  const early = await renderUnlocked(ctx, config, conversationId, by);
  const accepted = await ctx.db.transaction(async (tx) => {
    // FOR UPDATE: two customer requests at once cannot both pass the count, nor both claim the address.
    const [conversation] = await tx.query<ConversationRow>('select * from conversations where id = $1 for update', [conversationId]);
    if (!conversation) throw notFound('conversation', conversationId);
    let to: string;
    if (by.kind === 'agent') {
      assertCanAccess(by.actor, conversation);
      if (conversation.state === 'offered' && !seesEverything(by.actor)) {
        throw conflict('SB_NOT_ACCEPTED', `conversation ${conversation.id} is offered, not assigned: accept it before sending its transcript`);
      }
      // only those who may send it learn whether email is on
      requireEmail(config);
      to = input.email ?? conversation.customer.email ?? '';
      if (to === '') throw noRecipient();
      if (!ONE_ADDRESS.test(to)) throw notOneAddress(to);
    } else {
      if (by.conversationId !== conversation.id) throw forbidden('a session token reaches only its own conversation');
      requireEmail(config);
      const [served] = await tx.query(`select 1 from messages where conversation_id = $1 and sender = 'agent' and not private limit 1`, [conversation.id]);
      if (!served) throw transcriptUnserved();
      const known = conversation.customer.email ?? null;
      if (known !== null && input.email !== undefined && !sameAddress(known, input.email)) throw customerAddressOnly();
      to = known ?? input.email ?? '';
      if (to === '') throw noRecipient();
      if (!ONE_ADDRESS.test(to)) throw notOneAddress(to);
      // every recipient's, and those written when all a conversation's transcripts had one key
      const keys = conversationEmails(conversation.id, 2);
      const [{ n } = { n: 0 }] = await tx.query<{ n: number }>(
        `select count(*)::int as n from outbound_requests
          where producer = '${PRODUCER}' and name = 'transcript' and ${keys.sql} and headers ->> $1 = 'customer'`,
        [REQUESTED_BY, ...keys.params],
      );
      if (n >= CUSTOMER_MAX_TRANSCRIPTS) throw tooManyTranscripts(CUSTOMER_MAX_TRANSCRIPTS);
      await by.admit?.(tx, to);
      if (known === null) {
        // the address given once becomes the conversation's: agents see it, and it is the only one from now on
        await tx.query(`update conversations set customer = jsonb_set(customer, '{email}', to_jsonb($2::text)), updated_at = $3 where id = $1`, [
          conversation.id,
          to,
          ctx.now(),
        ]);
      }
    }
    // rendered here for a customer, and for an agent when the read before the lock would have been refused and this one is not (it changed hands meanwhile)
    const rendered = early ?? (await render(ctx, tx, config, conversation));
    const id = await enqueueEmail(
      tx,
      requireEmail(config),
      'transcript',
      { to: [to], ...rendered, date: ctx.now() },
      // its transcripts to this address go in order; one another address refuses does not hold it up
      await transcriptRecipientKey(tx, conversation.id, to),
      by.kind === 'customer' ? 'customer' : undefined,
    );
    return { conversation_id: conversation.id, to, delivery_id: id };
  });
  nudge(ctx);
  return accepted;
}
