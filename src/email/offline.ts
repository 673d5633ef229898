import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context.js';
import { openConversationIn } from '../conversations/lifecycle.js';
import { toMessage, type MessageRow } from '../conversations/messages.js';
import type { ConversationRow } from '../conversations/model.js';
import { withEvents } from '../events/outbox.js';
import { readSettings } from '../settings/settings.js';
import type { EmailConfig } from './config.js';
import { emailEnabled, enqueueEmail, offlineEmailKey, requireEmail } from './outbox.js';
import { renderOfflineMessage } from './transcript.js';

// POST /api/v1/offline-messages: a customer who found nobody to chat with
// leaves a message. It becomes a conversation on the `offline` channel that
// waits in the queue for the next agent (or is assigned at once when one has
// room), holding the message; and, when email is on and the runtime setting
// offline_email_to names a team address, an email to that address, with the
// customer as Reply-To. All of it in one transaction.
//
// No routing lock at BEGIN: the open is the transaction's one routing
// decision and sb_open_conversation takes the lock itself (shared when an
// agent has room), first of any lock here. The message and the email belong
// to the new conversation, whose row no one else can see before commit, and
// the settings read decides no routing: none of it needs the lock.

export interface OfflineMessage {
  name: string;
  email: string;
  message: string;
  department?: string | null;
}

export interface Left {
  conversation: ConversationRow;
  /** the outbox row of the team's email; null when email is off or offline_email_to is not set */
  emailId: number | null;
}

/** One customer per address: their offline messages sit together in the customers list. */
export const offlineCustomerId = (email: string) => `offline:${email.trim().toLowerCase()}`;

export async function leaveOfflineMessage(ctx: Ctx, config: EmailConfig, input: OfflineMessage): Promise<Left> {
  let emailId: number | null = null;
  const now = ctx.now();
  const { conversation } = await withEvents(
    ctx,
    async (tx, emit) => {
      const opened = await openConversationIn(tx, emit, now, {
        customer: { id: offlineCustomerId(input.email), name: input.name, email: input.email.trim() },
        department: input.department ?? null,
        channel: 'offline',
        // every offline message is its own conversation, never merged into an open one
        external_ref: `offline:${randomUUID()}`,
      });
      const c = opened.conversation;
      const [message] = await tx.query<MessageRow>(
        `insert into messages (conversation_id, sender, sender_id, text, attachments, created_at)
         values ($1, 'customer', $2, $3, '[]', $4) returning *`,
        [c.id, c.customer_id, input.message, now],
      );
      // the holder, as sb_add_message names it: not an agent it is only offered to
      emit({ type: 'message.created', conversationId: c.id, agentId: c.state === 'assigned' ? c.agent_id : null, data: { message: toMessage(message!) } });
      const teamAddress = (await readSettings(tx)).offline_email_to;
      if (emailEnabled(config) && teamAddress) {
        const rendered = renderOfflineMessage({ conversationId: c.id, name: input.name, email: input.email.trim(), department: input.department ?? null, message: input.message, at: now });
        // keyed by its conversation, as a transcript is, but apart: erasing the conversation finds it (src/erasure/erase.ts)
        emailId = await enqueueEmail(tx, requireEmail(config), 'offline_message', { to: [teamAddress], replyTo: { name: input.name, address: input.email.trim() }, ...rendered, date: now }, offlineEmailKey(c.id));
      }
      return opened;
    },
  );
  return { conversation, emailId };
}
