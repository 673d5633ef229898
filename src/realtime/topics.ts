// The topic catalog, relative to MQTT_BASE_TOPIC. Every conversation has
// one topic tree whatever its channel, so a browser follows a Qiscus room the
// same way as a widget chat; for a widget chat it is the session topic.

export const CLIENT_TOPICS = {
  sessionRequest: 'server/sessions/request',
  sessionOnline: 'server/sessions/online',
  channelRequest: 'server/channels/request',
  attendantOnline: 'server/attendants/online',
} as const;

export type ConversationTopicKind = 'messages' | 'viewed' | 'control' | 'typing';

const CONVERSATION_SUFFIX: Record<ConversationTopicKind, string> = {
  messages: 'messages',
  viewed: 'messages/viewed',
  control: 'client/control',
  // relayed between the two sides as they are typing, never stored (typing.ts)
  typing: 'typing',
};

export interface Topics {
  base: string;
  /** the full topic of a relative one */
  full(relative: string): string;
  /** the relative topic of a full one; undefined outside the base */
  relative(topic: string): string | undefined;
  session(conversationId: string): string;
  conversation(conversationId: string, kind: ConversationTopicKind): string;
  assign(agentId: string): string;
  /** an agent's own heartbeat topic: its id in the topic lets an external broker's ACL vouch for the sender */
  attendantOnline(agentId: string): string;
  agentEvents(agentId: string): string;
  queueEvents(): string;
  supervisorEvents(kind: 'conversations' | 'agents'): string;
  /** where client publishes the coordinator has consumed go: no client may subscribe to it */
  consumed(): string;
}

export function topics(base: string): Topics {
  const full = (relative: string) => `${base}/${relative}`;
  const session = (id: string) => full(`conversations/${id}`);
  return {
    base,
    full,
    relative: (topic) => (topic.startsWith(`${base}/`) ? topic.slice(base.length + 1) : undefined),
    session,
    conversation: (id, kind) => `${session(id)}/${CONVERSATION_SUFFIX[kind]}`,
    assign: (agentId) => full(`client/attendants/assign/${agentId}`),
    attendantOnline: (agentId) => full(`${CLIENT_TOPICS.attendantOnline}/${agentId}`),
    agentEvents: (agentId) => full(`agents/${agentId}/events`),
    queueEvents: () => full('events/queue'),
    supervisorEvents: (kind) => full(`events/${kind}`),
    consumed: () => full('server/consumed'),
  };
}

/** A relative topic read as what it addresses. */
export type ParsedTopic =
  | { kind: 'server'; name: (typeof CLIENT_TOPICS)[keyof typeof CLIENT_TOPICS] }
  | { kind: 'conversation'; conversationId: string; part: ConversationTopicKind | 'other'; rest: string }
  | { kind: 'assign'; agentId: string }
  | { kind: 'heartbeat'; agentId: string }
  | { kind: 'agent'; agentId: string }
  | { kind: 'events'; name: string }
  | { kind: 'other' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Looked up on every publish and delivery: built once, not per call.
const SERVER_TOPICS: ReadonlySet<string> = new Set(Object.values(CLIENT_TOPICS));
const PART_OF_SUFFIX: ReadonlyMap<string, ConversationTopicKind> = new Map(
  (Object.entries(CONVERSATION_SUFFIX) as [ConversationTopicKind, string][]).map(([part, suffix]) => [suffix, part]),
);

/**
 * The conversation a relative topic addresses (lower case), or undefined:
 * what parseTopic's `conversation` kind carries, without reading the rest
 * (Switchboard's own publishes ask this of every topic).
 */
export function conversationOf(relative: string): string | undefined {
  if (!relative.startsWith('conversations/')) return undefined;
  const end = relative.indexOf('/', 14);
  const id = end === -1 ? relative.slice(14) : relative.slice(14, end);
  return UUID.test(id) ? id.toLowerCase() : undefined;
}

export function parseTopic(relative: string): ParsedTopic {
  const levels = relative.split('/');
  if (SERVER_TOPICS.has(relative)) {
    return { kind: 'server', name: relative as (typeof CLIENT_TOPICS)[keyof typeof CLIENT_TOPICS] };
  }
  if (levels.length === 4 && `${levels[0]}/${levels[1]}/${levels[2]}` === CLIENT_TOPICS.attendantOnline && UUID.test(levels[3]!)) {
    return { kind: 'heartbeat', agentId: levels[3]!.toLowerCase() };
  }
  if (levels[0] === 'conversations' && levels.length >= 2 && UUID.test(levels[1]!)) {
    const rest = levels.slice(2).join('/');
    const part = PART_OF_SUFFIX.get(rest) ?? 'other';
    return { kind: 'conversation', conversationId: levels[1]!.toLowerCase(), part, rest };
  }
  if (levels.length === 4 && levels[0] === 'client' && levels[1] === 'attendants' && levels[2] === 'assign' && UUID.test(levels[3]!)) {
    return { kind: 'assign', agentId: levels[3]!.toLowerCase() };
  }
  if (levels.length >= 2 && levels[0] === 'agents' && UUID.test(levels[1]!)) return { kind: 'agent', agentId: levels[1]!.toLowerCase() };
  if (levels[0] === 'events') return { kind: 'events', name: levels.slice(1).join('/') };
  return { kind: 'other' };
}
