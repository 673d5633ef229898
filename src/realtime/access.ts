import type { Queryable } from '../store/db.js';
import { seesEverything, type Identity } from './identity.js';
import { CLIENT_TOPICS, conversationOf, parseTopic, type Topics } from './topics.js';

// Who may subscribe to and publish on which topic. The same rules serve the
// embedded broker's hooks and the HTTP ACL endpoint external brokers call.

/**
 * Which agent holds each conversation, kept from committed events so the
 * broker can drop a delivery the moment a conversation moves (the forward
 * hook is synchronous and cannot ask the database). `rev` tells a
 * subscription check that read the database whether an event overtook it.
 */
export class Assignments {
  private readonly holder = new Map<string, string | null>();
  private readonly revs = new Map<string, number>();

  /** `max`: how many conversations are remembered; beyond it the oldest are read again from the database when needed */
  constructor(private readonly max = 200_000) {}

  set(conversationId: string, agentId: string | null): void {
    if (this.holder.size >= this.max && !this.holder.has(conversationId)) {
      // Forget the oldest; the next subscription or delivery reads the database again.
      const oldest = this.holder.keys().next().value as string;
      this.holder.delete(oldest);
      this.revs.delete(oldest);
    }
    this.holder.delete(conversationId);
    this.holder.set(conversationId, agentId);
    this.revs.set(conversationId, (this.revs.get(conversationId) ?? 0) + 1);
  }

  holderOf(conversationId: string): string | null | undefined {
    return this.holder.get(conversationId);
  }

  rev(conversationId: string): number {
    return this.revs.get(conversationId) ?? 0;
  }
}

/** The agent holding the conversation now (assigned, or the last one once closed), read so no event slips between. */
async function currentHolder(db: Queryable, assignments: Assignments, conversationId: string): Promise<string | null> {
  for (;;) {
    const rev = assignments.rev(conversationId);
    const [row] = await db.query<{ agent_id: string | null; state: string }>('select agent_id, state from conversations where id = $1', [conversationId]);
    if (assignments.rev(conversationId) !== rev) continue;
    // an offered conversation is not the agent's until accepted
    const holder = row && row.state !== 'queued' && row.state !== 'offered' ? row.agent_id : null;
    assignments.set(conversationId, holder);
    return holder;
  }
}

const hasWildcard = (filter: string) => filter.split('/').some((level) => level === '#' || level === '+');

export interface AccessRules {
  canSubscribe(identity: Identity, filter: string): Promise<boolean>;
  canPublish(identity: Identity, topic: string): Promise<boolean>;
  /** for deliveries: may this client still receive this (already subscribed) topic? */
  mayReceive(identity: Identity, topic: string): boolean;
  /**
   * Before Switchboard publishes on a topic: learns who holds its
   * conversation when that was forgotten, so the synchronous delivery check
   * answers from the database rather than turning the holder away. The
   * publishes of one conversation made while that is read settle in the
   * order they were made: publish each once its promise settles (a failed
   * read fails that publish alone). Undefined when there is nothing to learn
   * and nothing to wait for (nearly always): no await.
   */
  prepareDelivery(topic: string): Promise<void> | undefined;
}

export function accessRules(db: Queryable, t: Topics, assignments: Assignments): AccessRules {
  const ownsConversation = (identity: Identity, conversationId: string) =>
    identity.kind === 'customer' && identity.session.conversation_id === conversationId;
  // Per conversation whose holder is being read, the turn of the last publish
  // made meanwhile. Each read on its own, two messages relayed back to back
  // after a restart reached the broker in the order their reads answered,
  // not the order they were committed in (which the docs promise). So the
  // publishes of such a conversation form a line: one read, the others
  // behind it — even once the holder is known (an event can tell it first),
  // which would otherwise let a later publish pass those still waiting.
  const lines = new Map<string, Promise<void>>();

  return {
    async canSubscribe(identity, filter) {
      const relative = t.relative(filter);
      // Everything under the base, for supervisors and admins, but nothing
      // else: not `$share/<group>/<base>/…`, with which an external broker
      // made them a member of Switchboard's own shared subscription and
      // handed them a share of the customers' publishes, never stored (found
      // by review), nor `$SYS/…`, the broker's list of every client.
      if (relative === undefined) return false;
      if (seesEverything(identity)) return true;
      const topic = parseTopic(relative);
      // A wildcard may only stand below a level that pins the conversation or agent.
      if (topic.kind === 'conversation') {
        if (ownsConversation(identity, topic.conversationId)) return true;
        return identity.kind === 'agent' && (await currentHolder(db, assignments, topic.conversationId)) === identity.agent.id;
      }
      if (identity.kind !== 'agent') return false;
      if (topic.kind === 'assign' || topic.kind === 'agent') return topic.agentId === identity.agent.id;
      return !hasWildcard(filter) && relative === 'events/queue';
    },

    async canPublish(identity, topic) {
      const relative = t.relative(topic);
      if (relative === undefined || hasWildcard(topic)) return false;
      const parsed = parseTopic(relative);
      if (parsed.kind === 'server') {
        return identity.kind === 'agent' ? parsed.name === CLIENT_TOPICS.attendantOnline : parsed.name !== CLIENT_TOPICS.attendantOnline;
      }
      // The agent's id in the topic is what an external broker's ACL can vouch for.
      if (parsed.kind === 'heartbeat') return identity.kind === 'agent' && parsed.agentId === identity.agent.id;
      // Typing is the two sides of the chat talking to each other: its
      // customer and the agent holding it, not an onlooking supervisor.
      if (parsed.kind === 'conversation' && parsed.part === 'typing') {
        if (ownsConversation(identity, parsed.conversationId)) return true;
        return identity.kind === 'agent' && (await currentHolder(db, assignments, parsed.conversationId)) === identity.agent.id;
      }
      // Control topics, inboxes and event streams are Switchboard's alone.
      if (parsed.kind !== 'conversation' || (parsed.part !== 'messages' && parsed.part !== 'viewed')) return false;
      if (ownsConversation(identity, parsed.conversationId)) return true;
      if (identity.kind !== 'agent') return false;
      return seesEverything(identity) || (await currentHolder(db, assignments, parsed.conversationId)) === identity.agent.id;
    },

    // The subscription rules again, from memory (a delivery cannot wait for
    // the database): a subscription that outlived its right — a transfer, or
    // a session resumed under someone else's client id — delivers nothing.
    mayReceive(identity, topic) {
      if (seesEverything(identity)) return true;
      const relative = t.relative(topic);
      if (relative === undefined) return false;
      const parsed = parseTopic(relative);
      if (parsed.kind === 'conversation') {
        if (identity.kind === 'customer') return ownsConversation(identity, parsed.conversationId);
        return assignments.holderOf(parsed.conversationId) === identity.agent.id;
      }
      if (identity.kind !== 'agent') return false;
      if (parsed.kind === 'assign' || parsed.kind === 'agent') return parsed.agentId === identity.agent.id;
      return relative === 'events/queue';
    },

    prepareDelivery(topic) {
      const relative = t.relative(topic);
      const conversationId = relative === undefined ? undefined : conversationOf(relative);
      if (conversationId === undefined) return undefined;
      const before = lines.get(conversationId);
      if (before === undefined && assignments.holderOf(conversationId) !== undefined) return undefined;
      // After the one before (whose failure is its own publish's), reading the holder only if still unknown.
      const turn = (before ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => (assignments.holderOf(conversationId) === undefined ? currentHolder(db, assignments, conversationId).then(() => undefined) : undefined));
      lines.set(conversationId, turn);
      // Registered before the caller awaits the turn: the line is forgotten
      // just before its last publish goes on, with nothing run in between.
      const done = () => void (lines.get(conversationId) === turn && lines.delete(conversationId));
      turn.then(done, done);
      return turn;
    },
  };
}
