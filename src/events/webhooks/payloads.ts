import type { Conversation } from '../../conversations/model.js';
import type { StoredEvent } from '../outbox.js';
import { isGitpleEvent, type SubscribableEvent } from './catalog.js';

// The JSON each delivery carries. Gitple's shapes are a compatibility
// contract (protocols/event-webhooks.md): same keys, same order, same nulls.
// Switchboard's own events are one envelope around the event's data.

const iso = (d: Date | string | null | undefined) => (d === null || d === undefined ? null : new Date(d).toISOString());

/** The webhook-id (and Gitple triggerId) of one event under one name: the same for every endpoint, retry and redelivery. */
export const messageIdFor = (eventId: number, name: string) => `evt_${eventId}_${name}`;

/**
 * Switchboard's close reasons in Gitple's words: theirs are `agent` and
 * `userCancel`, and the contract adds `timeout` (inactivity) and `system`;
 * a receiver switching on them knows no other. A channel's own reason
 * (`qiscus`, `rapidpro`, …) is passed on as the channel gave it.
 */
const GITPLE_CLOSE_REASONS: Readonly<Record<string, string>> = {
  customer: 'userCancel',
  expired: 'timeout',
  unavailableAttendants: 'system',
  ticketer_deleted: 'system',
  qiscus_failed: 'system',
};

export function gitpleCloseReason(reason: string | null): string | null {
  if (reason === null) return null;
  return GITPLE_CLOSE_REASONS[reason] ?? reason;
}

export interface GitpleSession {
  id: string;
  openTime: string;
  inprogressTime: string | null;
  closeTime: string | null;
  reason: string | null;
  userId: string;
  userGroups: string[];
  assigneeType: 'agent' | null;
  assigneeId: string | null;
  categories: string[];
  tags: string[];
  note: string | null;
  meta: { type: string; name: string; value: string }[];
}

export function gitpleSession(c: Conversation): GitpleSession {
  const closed = c.state === 'resolved' || c.state === 'abandoned';
  return {
    id: c.id,
    openTime: iso(c.created_at)!,
    inprogressTime: iso(c.assigned_at),
    closeTime: closed ? iso(c.resolved_at) : null,
    reason: closed ? gitpleCloseReason(c.resolve_reason) : null,
    userId: c.customer.id,
    userGroups: [],
    assigneeType: c.agent_id === null ? null : 'agent',
    assigneeId: c.agent_id,
    categories: c.department === null ? [] : [c.department],
    // a session's tags are what Switchboard calls its labels (names)
    tags: c.labels ?? [],
    note: c.note,
    meta: [],
  };
}

interface ExternalMessageData {
  conversation: Conversation;
  agent_id: string | null;
  text: string;
}

export function gitpleExternalMessage(data: ExternalMessageData) {
  const customer = data.conversation.customer;
  const { identifier, lang, ...meta } = customer.fields;
  return {
    from: { type: 'agent', id: data.agent_id },
    to: {
      type: 'user',
      id: customer.id,
      identifier: identifier ?? data.conversation.external_ref ?? customer.id,
      anonymous: customer.name === null && customer.email === null && customer.phone === null,
      name: customer.name,
      email: customer.email,
      phone: customer.phone,
      lang: lang ?? null,
      groups: [],
      tags: [],
      meta,
    },
    message: { type: 'text/plain', content: data.text },
  };
}

/** The body of `event` delivered under `name` to an endpoint with this app code. */
export function payloadFor(event: StoredEvent, name: SubscribableEvent, appCode: string | null): Record<string, unknown> {
  const id = messageIdFor(event.id, name);
  const ctime = iso(event.created_at)!;
  if (isGitpleEvent(name)) {
    const head = { triggerId: id, ctime, appCode: appCode ?? '', type: name };
    if (name === 'send_external_message') return { ...head, ...gitpleExternalMessage(event.data as unknown as ExternalMessageData) };
    return { ...head, session: gitpleSession(event.data.conversation as Conversation) };
  }
  return { id, event_id: event.id, type: name, timestamp: ctime, app_code: appCode, data: event.data };
}

/** A ping: no event behind it, sent whatever the endpoint subscribes to. */
export function pingPayload(id: string, endpointId: string, at: Date, appCode: string | null) {
  return { id, type: 'ping', timestamp: at.toISOString(), app_code: appCode, data: { webhook_id: endpointId, message: 'Hello from Switchboard' } };
}
