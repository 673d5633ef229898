import type { RequeueReason } from '../../routing/requeue.js';

/** The engine department every Qiscus room waits in; no other agent serves it (see 0003_qiscus.sql). */
export const QISCUS_DEPARTMENT = '@qiscus';
export const QISCUS_SOURCE = 'qiscus';
/** producer name of assign_agent and remove_agent jobs in the outbound outbox */
export const PRODUCER = 'qiscus';
export const ASSIGN_AGENT = 'assign_agent';
export const REMOVE_AGENT = 'remove_agent';
export const MARK_AS_RESOLVED = 'mark_as_resolved';
export const MARK_AS_RESOLVED_PATH = '/api/v1/admin/service/mark_as_resolved';
export const assignMessageId = (conversationId: string) => `assign:${conversationId}`;
export const conversationOfMessage = (messageId: string) => messageId.replace(/^assign:/, '');
/**
 * Jobs that close a room in Qiscus because Switchboard closed its
 * conversation: `resolve:<conversation>` (mark_as_resolved) and
 * `release:<conversation>:<event>` (remove_agent of a room given up on).
 */
export const resolveMessageId = (conversationId: string) => `resolve:${conversationId}`;
export const releaseMessageId = (conversationId: string, eventId: number | string) => `release:${conversationId}:${eventId}`;
/** the conversation a close-sync job is about; null for other jobs */
export const conversationOfSync = (messageId: string): string | null => /^(?:resolve|release):([^:]+)/.exec(messageId)?.[1] ?? null;
/**
 * resolve_reason of a room Qiscus itself closed: its mark-as-resolved
 * webhook (`qiscus`), or Qiscus answering that the room is resolved
 * (`qiscus_resolved`). Qiscus knows already: nothing is sent back.
 */
export const FROM_QISCUS = 'qiscus';
export const CLOSED_BY_QISCUS: readonly string[] = [FROM_QISCUS, 'qiscus_resolved'];
/**
 * Calls about one Qiscus room go out one at a time, in the order they were
 * enqueued: removing an agent never overtakes the assignment that put them
 * there, and the next assignment never overtakes the removal.
 */
export const roomOrderingKey = (roomId: string) => `qiscus:room:${roomId}`;
/** the event-log cursor of the feed that turns rooms taken back from agents into remove_agent calls */
export const CURSOR = 'qiscus';
/**
 * The `conversation.queued` reason of a room Qiscus refused the agent for:
 * that agent never joined the room, so there is nobody to remove.
 */
export const REFUSED_REASON = 'qiscus_refused' satisfies RequeueReason;
