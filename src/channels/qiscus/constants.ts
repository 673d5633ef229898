import type { RequeueReason } from '../../routing/requeue.js';

/** The engine department every Qiscus room waits in; no other agent serves it (see 0003_qiscus.sql). */
export const QISCUS_DEPARTMENT = '@qiscus';
export const QISCUS_SOURCE = 'qiscus';
/** producer name of assign_agent and remove_agent jobs in the outbound outbox */
export const PRODUCER = 'qiscus';
export const ASSIGN_AGENT = 'assign_agent';
export const REMOVE_AGENT = 'remove_agent';
export const assignMessageId = (conversationId: string) => `assign:${conversationId}`;
export const conversationOfMessage = (messageId: string) => messageId.replace(/^assign:/, '');
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
