/** The engine department every Qiscus room waits in; no other agent serves it (see 0003_qiscus.sql). */
export const QISCUS_DEPARTMENT = '@qiscus';
export const QISCUS_SOURCE = 'qiscus';
/** producer name of assign_agent jobs in the outbound outbox */
export const PRODUCER = 'qiscus';
export const assignMessageId = (conversationId: string) => `assign:${conversationId}`;
export const conversationOfMessage = (messageId: string) => messageId.replace(/^assign:/, '');
