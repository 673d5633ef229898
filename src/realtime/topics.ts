// The topic catalog, relative to MQTT_BASE_TOPIC. Every conversation has
// one topic tree whatever its channel, so a browser follows a Qiscus room the
// same way as a widget chat; for a widget chat it is the session topic.
import { UUID } from '../uuid.js';

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

/** the most levels a topic Switchboard publishes on may have: aedes' own limit (EMQX's default is 128) */
export const MAX_TOPIC_LEVELS = 100;

/**
 * Why `topic` cannot be published to, or undefined when it can. MQTT forbids
 * the wildcards `+` and `#` anywhere in a topic name (not only as whole
 * levels) and U+0000; Mosquitto also refuses the control characters
 * U+0001–U+001F and U+007F–U+009F and the noncharacters (U+FDD0–U+FDEF, and
 * U+FFFE and U+FFFF of every plane). A broker answers a PUBLISH carrying any
 * of these by dropping the connection — for an external broker, Switchboard's
 * one shared connection, and with it every client's traffic to this process
 * until it reconnects. Empty levels (`a//b`, a `/` at either end) are legal
 * MQTT, but no topic of this catalog has one, so a topic a client names for
 * Switchboard to publish on (server/channels/request) may not have one either.
 */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'is empty';
  if (topic.includes('+') || topic.includes('#')) return 'must not contain the wildcards + or #';
  for (const char of topic) {
    const cp = char.codePointAt(0)!;
    if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f)) return 'must not contain control characters';
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return 'must not contain Unicode noncharacters';
    // a lone surrogate has no UTF-8 form
    if (cp >= 0xd800 && cp <= 0xdfff) return 'must be valid Unicode';
  }
  const levels = topic.split('/');
  if (levels.includes('')) return 'must not have an empty level (// or a / at either end)';
  // aedes' matcher throws past 100 levels (a failed publish, the client cut
  // off); EMQX refuses past 128 by default, on Switchboard's one connection
  if (levels.length > MAX_TOPIC_LEVELS) return `must have at most ${MAX_TOPIC_LEVELS} levels`;
  if (Buffer.byteLength(topic) > 65_535) return 'is longer than MQTT allows (65535 bytes)';
  return undefined;
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
