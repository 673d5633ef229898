import { randomBytes } from 'node:crypto';
import { SYSTEM } from '../agents/model.js';
import { tokenDigest } from '../agents/tokens.js';
import type { Ctx } from '../context.js';
import { closeConversation, openConversation } from '../conversations/lifecycle.js';
import { routingCall } from '../routing/calls.js';
import type { ConversationRow, Customer } from '../conversations/model.js';
import type { Queryable } from '../store/db.js';
import type { SessionGate } from './session-limits.js';

// A customer's chat session: a widget conversation plus the token its
// browser connects with. Only a SHA-256 of the token is stored, like agents'.

const digest = tokenDigest;

/** Customer tokens are told apart from agents' by their prefix. */
export const CUSTOMER_TOKEN_PREFIX = 'sbc_';
export const isCustomerToken = (token: string) => token.startsWith(CUSTOMER_TOKEN_PREFIX);

export interface SessionInput {
  /** phone and fields: from the pre-chat form's answers (src/prechat/answers.ts) */
  customer: Pick<Customer, 'id' | 'name' | 'email' | 'phone' | 'fields'>;
  department?: string | null;
  /** the host site signed the customer id (src/customers/identity.ts); default false */
  customer_verified?: boolean;
}

export interface StartedSession {
  conversation: ConversationRow;
  token: string;
}

export interface CustomerSession {
  conversation_id: string;
  customer_id: string;
  last_seen_at: Date;
  expires_at: Date;
  /** the customer ended the chat: REST calls about it only, no MQTT */
  ended_at?: Date | null;
}

/**
 * Opens the widget conversation (routed at once) and issues its token, in one
 * transaction; `gate` (session-limits.ts) may refuse it there, undoing both.
 */
export async function startSession(ctx: Ctx, input: SessionInput, ttlSeconds: number, gate?: Pick<SessionGate, 'admit'>): Promise<StartedSession> {
  const token = `${CUSTOMER_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const now = ctx.now();
  const { conversation } = await openConversation(
    ctx,
    {
      // Only what the customer is stored as: never the hash that vouched for the id.
      customer: { id: input.customer.id, name: input.customer.name, email: input.customer.email, phone: input.customer.phone, fields: input.customer.fields },
      department: input.department ?? null,
      channel: 'widget',
      customer_verified: input.customer_verified ?? false,
    },
    {
      alongside: async (tx, row) => {
        await tx.query(
          `insert into customer_sessions (conversation_id, customer_id, token_hash, last_seen_at, expires_at, created_at)
           values ($1, $2, $3, $4, $5, $4)`,
          [row.id, input.customer.id, digest(token), now, new Date(now.getTime() + ttlSeconds * 1000)],
        );
        await gate?.admit(tx, row.id, now);
      },
    },
  );
  return { conversation, token };
}

/** The session a live customer token belongs to; closed conversations keep their token readable for history. */
export async function sessionForToken(db: Queryable, token: string, now: Date): Promise<CustomerSession | undefined> {
  if (!isCustomerToken(token)) return undefined;
  return sessionForTokenHash(db, digest(token), now);
}

/** sessionForToken for a token known only by its digest (what an external broker hands back). */
export async function sessionForTokenHash(db: Queryable, tokenHash: string, now: Date): Promise<CustomerSession | undefined> {
  const [row] = await db.query<CustomerSession>(
    'select conversation_id, customer_id, last_seen_at, expires_at, ended_at from customer_sessions where token_hash = $1 and expires_at > $2',
    [tokenHash, now],
  );
  return row;
}

/** How long an ended session's token still reads, rates and asks for the transcript of its conversation. */
export const POST_CHAT_MS = 3600_000;

/**
 * The customer ends the chat: the session's token stops being good for MQTT (its MQTT
 * connections, here and in other processes, are closed with it) and the open
 * conversation is closed — abandoned if no agent had answered, resolved
 * after — in one call (sb_end_chat, src/store/migrations/routing/functions.sql).
 *
 * No routing lock at BEGIN and no row locked in TS (issue #22): abandoned or
 * resolved is picked from the conversation's row as the close itself locks
 * it, after the routing lock (shared when the agent has nothing queued), so
 * the order is every routing function's: the lock, then rows. The function
 * guesses the state from the committed row and, when an assignment or a
 * requeue came in between, rolls its close back and closes again.
 */
export async function endSession(ctx: Ctx, conversationId: string): Promise<void> {
  const now = ctx.now();
  await routingCall(ctx, END_CHAT, [conversationId, now, SYSTEM.id, new Date(now.getTime() + POST_CHAT_MS)], now);
}

const END_CHAT = /* sql */ `select (o.closed).id, o.before_state, o.logged from sb_end_chat($1::uuid, $2::timestamptz, $3::text, $4::timestamptz) o`;

/** The customer was heard from: the keep-alive starts again. */
export async function touchSession(db: Queryable, conversationId: string, now: Date): Promise<void> {
  await db.query('update customer_sessions set last_seen_at = $2 where conversation_id = $1 and last_seen_at < $2', [conversationId, now]);
}

/**
 * Abandons the open widget conversations whose customer has been silent for
 * longer than the keep-alive; returns their ids. Each is closed in its own
 * routing transaction, so the freed slots go to the queue at once.
 */
export async function expireSilentSessions(ctx: Ctx, keepAliveMs: number, limit = 100): Promise<string[]> {
  const cutoff = new Date(ctx.now().getTime() - keepAliveMs);
  const rows = await ctx.db.query<{ conversation_id: string }>(
    `select s.conversation_id from customer_sessions s join conversations c on c.id = s.conversation_id
      where s.last_seen_at < $1 and c.state in ('queued', 'offered', 'assigned')
      order by s.last_seen_at limit $2`,
    [cutoff, limit],
  );
  const expired: string[] = [];
  for (const { conversation_id: id } of rows) {
    try {
      await closeConversation(ctx, id, { state: 'abandoned', reason: 'expired' }, SYSTEM);
      expired.push(id);
    } catch {
      // closed meanwhile by its agent or the customer: nothing to expire
    }
  }
  return expired;
}
