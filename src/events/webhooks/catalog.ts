// The events a webhook endpoint can subscribe to, and which of them each
// Switchboard event produces. Gitple's names carry Gitple's payloads
// (protocols/event-webhooks.md); the dotted names carry Switchboard's own.

export const GITPLE_EVENTS = ['session_state_open', 'session_state_inprogress', 'session_state_close', 'send_external_message'] as const;

export const SWITCHBOARD_EVENTS = [
  'conversation.created',
  'conversation.queued',
  'conversation.assigned',
  'conversation.offered',
  'conversation.offer_declined',
  'conversation.offer_expired',
  'conversation.transferred',
  'conversation.resolved',
  'conversation.abandoned',
  'conversation.rated',
  'conversation.labels_changed',
  'conversation.erased',
  // a first-response SLA target passed unanswered (issue #20); once per conversation
  'conversation.sla_breached',
  'message.created',
  // notes are their own types: a receiver that takes message.created for what the customer saw is never shown one
  'note.created',
  'note.updated',
  'note.deleted',
  'agent.status_changed',
  'external_message.requested',
  'webhook.disabled',
] as const;

export type GitpleEvent = (typeof GITPLE_EVENTS)[number];
export type SubscribableEvent = GitpleEvent | (typeof SWITCHBOARD_EVENTS)[number];

export const SUBSCRIBABLE_EVENTS: readonly SubscribableEvent[] = [...GITPLE_EVENTS, ...SWITCHBOARD_EVENTS];

const GITPLE_FOR: Record<string, GitpleEvent> = {
  'conversation.created': 'session_state_open',
  'conversation.assigned': 'session_state_inprogress',
  'conversation.resolved': 'session_state_close',
  'conversation.abandoned': 'session_state_close',
  'external_message.requested': 'send_external_message',
};

/** The subscription names an event of this type is delivered under (none for internal events such as agent.updated). */
export function deliveryNamesFor(type: string): SubscribableEvent[] {
  const names: SubscribableEvent[] = [];
  const gitple = GITPLE_FOR[type];
  if (gitple) names.push(gitple);
  if ((SWITCHBOARD_EVENTS as readonly string[]).includes(type)) names.push(type as SubscribableEvent);
  return names;
}

export const isGitpleEvent = (name: string): name is GitpleEvent => (GITPLE_EVENTS as readonly string[]).includes(name);
