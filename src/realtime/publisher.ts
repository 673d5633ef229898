import type { Ctx } from '../context.js';
import type { StoredEvent } from '../events/outbox.js';
import { customerState, type Conversation, type ConversationRow, type QueueInfo } from '../conversations/model.js';
import type { Message } from '../conversations/messages.js';
import { presentAttachments } from '../files/files.js';
import { listQueue, type WaitingRow } from '../routing/queue.js';
import type { Assignments } from './access.js';
import { agentNames } from './agent-names.js';
import { sharedEncoding, withEncoding } from './payloads.js';
import type { Topics } from './topics.js';
import { waitingListReader } from './waiting-list.js';

// Committed events, told to those concerned: the customer's widget (control
// instructions, messages, receipts), the agents (their inbox and events),
// supervisors (everything), and every agent's waiting list (the queue).
// Publishing happens after commit, in commit order; a client that missed
// something re-reads it over HTTP.

/** Marks what Switchboard published, so its own subscription on a shared broker skips it. */
export const ORIGIN = 'switchboard';

/** the gathering before a queue refresh, at least, in multiples of what the last refresh took */
const REFRESH_SPACING = 3;
/** and at most, ms */
const MAX_REFRESH_GAP_MS = 250;
/** a refresh starts at least this long after the last one started, ms (docs/realtime.md) */
const MIN_REFRESH_GAP_MS = 100;
/** waiting-list entries serialized between two turns of the event loop */
const LIST_SLICE = 100;

/** a conversation event that moves nobody: no control instruction, no queue refresh */
const LABELS_CHANGED = 'conversation.labels_changed';

export interface Publisher {
  onCommitted(events: readonly StoredEvent[]): void;
  /** The conversation's current state on its control topic. */
  announce(conversation: ConversationRow | Conversation): Promise<void>;
  /**
   * The conversation as it is when its turn comes among the events'
   * publishes, on its control topic: for a client that just (re)started,
   * asking where it stands. Resolves once acknowledged.
   */
  announceCurrent(conversationId: string): Promise<void>;
  /**
   * Waits until everything handed over so far is published (tests,
   * shutdown). Under a steady stream of changes that may be never: a
   * caller that must go on bounds the wait.
   */
  idle(): Promise<void>;
  /**
   * Waits until what was handed over before the call is published and
   * acknowledged, and no longer: unlike idle, it ends under steady load, so
   * a caller bounding the wait leaves nothing running behind it.
   */
  flushed(): Promise<void>;
  /** Publishes nothing committed from now on, drops a queue refresh not yet started, and stops hearing renames. */
  close(): Promise<void>;
}

export interface PublisherDeps {
  ctx: Ctx;
  topics: Topics;
  assignments: Assignments;
  publish(topic: string, payload: unknown): Promise<void>;
  /** false when nobody can hear `topic` (its publish would be dropped: broker.ts), so its payload is not built; default: every topic may be heard */
  audible?(topic: string): boolean;
  onError(error: unknown): void;
  /** how long queue changes are gathered before positions are sent, ms */
  queueDebounceMs?: number;
  /** the gathering before a refresh, at least, in multiples of what the last one took (default REFRESH_SPACING; 0: the debounce alone) */
  queueRefreshSpacing?: number;
  /** a refresh starts at least this long after the last one started, ms (default MIN_REFRESH_GAP_MS; 0: no such floor) */
  queueRefreshGapMs?: number;
  /** entries of the waiting list on events/queue (every waiting customer still gets their position) */
  waitingListLimit?: number;
  /** entries of that list serialized between two turns of the event loop (default LIST_SLICE) */
  listSlice?: number;
  /** how long agents' names read stay good, ms (default AGENT_NAMES_MAX_AGE_MS) */
  agentNamesMaxAgeMs?: number;
}

interface SessionInfo {
  sessionId: string;
  sessionTopic: string;
  state: string;
  customerId: string;
  agent: { id: string; name: string } | null;
  queuePosition: number | null;
  expectedWaitSeconds: number | null;
  reason: string | null;
}

const CLOSING: Record<string, string> = {
  expired: 'session/aborted/expired',
  unavailableAttendants: 'session/aborted/unavailableAttendants',
};

/** an entry of the waiting list on events/queue */
interface WaitingEntry {
  id: string;
  channel: string;
  department: string | null;
  priority: number;
  customer: { id: string; name: string | null };
  queued_at: string | null;
  position: number;
  expected_wait_seconds: number | null;
  sla_due_at: string | null;
  first_response_at: string | null;
  sla_breached_at: string | null;
}
type SlaField = 'sla_due_at' | 'first_response_at' | 'sla_breached_at';

const iso = (at: Date | string | null) => (at ? new Date(at).toISOString() : null);

/**
 * A payload that goes to `topics` topics (an agent's inbox and the
 * supervisors'), serialized once for all of them: each publish serialized
 * it again, and a conversation event's payload carries the whole
 * conversation. Serialized by the first publish that sends it, if any does
 * (payloads.ts, sharedEncoding).
 */
function encodedOnce<T extends object>(payload: T, topics: number): T {
  return topics > 1 ? sharedEncoding(payload) : payload;
}

export function createPublisher(deps: PublisherDeps): Publisher {
  const { ctx, topics: t, assignments } = deps;
  let chain: Promise<void> = Promise.resolve();
  const unacknowledged = new Set<Promise<void>>();
  let queueTimer: NodeJS.Timeout | undefined;
  let closed = false;
  // Work under way at close (a refresh reading the queue) sends nothing: the broker is closed next.
  const send = (topic: string, payload: unknown): Promise<void> => (closed ? Promise.resolve() : deps.publish(topic, payload));
  const audible = (topic: string) => deps.audible?.(topic) ?? true;
  const lastPosition = new Map<string, string>();
  /** conversations a session request's answer is being read for (announceCurrent), and how many changes this process committed to each meanwhile */
  const watched = new Map<string, { waiting: number; changes: number }>();
  /** changes this process committed that may move places in line (onCommitted) */
  let queueChanges = 0;
  // The two announces of a resolve that hands the slot to the queue's head
  // (closed, then ready) name the same agent and start together: they share
  // one read of the name (agent-names.ts).
  const names = agentNames(ctx, deps.agentNamesMaxAgeMs);
  const waitingList = waitingListReader(ctx);
  /** what the list shows of a row, besides its place and wait, and its JSON before and after them (presentWaiting) */
  const presented = new WeakMap<WaitingRow, { before: Omit<WaitingEntry, 'position' | 'expected_wait_seconds' | SlaField>; after: Pick<WaitingEntry, SlaField>; json: [string, string] }>();

  const enqueue = (work: () => Promise<void>) => {
    chain = chain.then(work).catch(deps.onError);
  };

  async function agentOf(id: string | null): Promise<{ id: string; name: string } | null> {
    if (id === null) return null;
    return { id, name: await names.nameOf(id) };
  }

  async function sessionInfo(c: { id: string; state: string; customer: { id: string }; agent_id: string | null; resolve_reason: string | null }, queue?: { position: number; expected_wait_seconds: number | null }): Promise<SessionInfo> {
    return {
      sessionId: c.id,
      sessionTopic: t.session(c.id),
      state: customerState(c.state),
      customerId: c.customer.id,
      agent: c.state === 'queued' || c.state === 'offered' ? null : await agentOf(c.agent_id),
      queuePosition: queue?.position ?? null,
      expectedWaitSeconds: queue?.expected_wait_seconds ?? null,
      reason: c.resolve_reason,
    };
  }

  async function announce(c: ConversationRow | Conversation): Promise<void> {
    const made = await announcement(c);
    placeTold(c.id, made.place);
    if (made.message) await send(made.message.topic, made.message.payload);
  }

  /** What the control topic was last told of a conversation's place in line (publishQueue tells only a change). */
  function placeTold(conversationId: string, place: string | null | undefined) {
    if (place === undefined) return;
    // told "no place" now: back in the queue, its place goes out again even if unchanged
    if (place === null) lastPosition.delete(conversationId);
    else lastPosition.set(conversationId, place);
  }

  /**
   * A client that just (re)started asks where it stands: the answer is read
   * and built beside the chain (reconnecting widgets, hundreds at once after
   * a restart, do not queue their reads behind one another, nor the events'
   * publishes behind them), and handed to the broker in its turn on the
   * chain. If this process committed a change to the conversation since the
   * read began, the answer is read again in that turn: built from the row
   * read before, it went out after the publishes of that change — an
   * agent's accept's session/ready, then the stale session/update, which put
   * the widget back to "waiting" while the agent chatted (found by review).
   * Resolves once acknowledged.
   */
  async function announceCurrent(conversationId: string): Promise<void> {
    if (closed) return;
    const watch = watched.get(conversationId) ?? { waiting: 0, changes: 0 };
    watched.set(conversationId, watch);
    watch.waiting++;
    const changesAtRead = watch.changes;
    // a place in line moves with every change to the queue, whoever's
    const queueAtRead = queueChanges;
    try {
      const current = async () => {
        const [row] = await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [conversationId]);
        return row ? await announcement(row) : undefined;
      };
      const early = await current();
      let acknowledged: Promise<void> = Promise.resolve();
      await new Promise<void>((resolve, reject) => {
        enqueue(async () => {
          try {
            // closed meanwhile: nothing more is sent, and the store may be going
            if (closed) return resolve();
            const stale = watch.changes !== changesAtRead || (early?.place !== undefined && queueChanges !== queueAtRead);
            const made = stale ? await current() : early;
            if (made) {
              placeTold(conversationId, made.place);
              if (made.message) acknowledged = send(made.message.topic, made.message.payload);
            }
            resolve();
          } catch (error) {
            reject(error);
          }
        });
      });
      await acknowledged;
    } finally {
      if (--watch.waiting === 0) watched.delete(conversationId);
    }
  }

  /**
   * What announces `c` on its control topic (none when nobody is there to
   * hear it), and the place in line it tells (`placeTold`: a string, null
   * for "no place", undefined when it says nothing of one).
   */
  async function announcement(c: ConversationRow | Conversation): Promise<{ message?: { topic: string; payload: unknown }; place: string | null | undefined }> {
    let instruction: string;
    let queue: { position: number; expected_wait_seconds: number | null } | undefined;
    let place: string | null | undefined;
    if (c.state === 'assigned') instruction = 'session/ready';
    else if (c.state === 'queued' || c.state === 'offered') {
      // Offered, it still waits for its agent to accept (the customer sees
      // `queued`, customerState): no place in line, as it left the queue.
      instruction = 'session/update';
      if (c.state === 'queued') [queue] = (await listQueue(ctx, { department: c.department, conversationIds: [c.id] })).map((q) => q.queue);
      place = queue ? `${queue.position}:${queue.expected_wait_seconds}` : null;
    } else instruction = CLOSING[c.resolve_reason ?? ''] ?? 'session/closed';
    const topic = t.conversation(c.id, 'control');
    // Nobody there (an API or channel conversation, a widget gone): not even the agent's name is looked up.
    if (queue === undefined && !audible(topic)) return { place };
    return { message: { topic, payload: { instruction, sessionInfo: await sessionInfo(c, queue), origin: ORIGIN } }, place };
  }

  // A refresh reads the queue's head, so a burst of changes gets one: the
  // timer gathers them, and while a refresh waits its turn on the chain no
  // second one is queued behind it (it will read everything committed by
  // then). A change after a refresh has started schedules the next, so the
  // last state is always published. The gathering lasts the debounce, or
  // REFRESH_SPACING times what the last refresh took if that is longer (a
  // list of 1,000 entries, a loaded machine): refreshes then take at most
  // about a quarter of the time, whatever they cost, and the list still
  // follows within a fraction of a second.
  //
  // And a refresh starts MIN_REFRESH_GAP_MS after the last one started at
  // the soonest. Under a stream of resolves (each moves the head) the
  // debounce alone gave a refresh every 25–40 ms: ~3 ms of this event loop
  // (the one that answers the resolves) and 2–5 ms of PostgreSQL each, 26–35
  // a second in bench/resolve-tail.ts, for places nobody reads that fast. A change
  // after a quiet spell still goes out after the debounce.
  let queueWaiting = false;
  let lastRefreshMs = 0;
  let lastRefreshStart = -Infinity;
  const minGap = deps.queueRefreshGapMs ?? MIN_REFRESH_GAP_MS;
  function scheduleQueue() {
    if (queueTimer || queueWaiting) return;
    const sinceLast = performance.now() - lastRefreshStart;
    const delay = Math.min(MAX_REFRESH_GAP_MS, Math.max(deps.queueDebounceMs ?? 25, lastRefreshMs * (deps.queueRefreshSpacing ?? REFRESH_SPACING), minGap - sinceLast));
    queueTimer = setTimeout(function fire() {
      // A timer counts from the event loop's cached clock, which a busy turn
      // (PGlite runs its queries on this thread) leaves behind: it can fire
      // 10 ms and more before the gap is up, so what is left is waited out.
      const early = minGap - (performance.now() - lastRefreshStart);
      if (early > 0) {
        queueTimer = setTimeout(fire, early);
        return;
      }
      queueTimer = undefined;
      queueWaiting = true;
      enqueue(async () => {
        queueWaiting = false;
        const started = performance.now();
        lastRefreshStart = started;
        try {
          await publishQueue();
        } finally {
          lastRefreshMs = performance.now() - started;
        }
      });
    }, delay);
  }

  /** The waiting list for agents, and a session/update to each waiting customer whose place or wait changed. */
  async function publishQueue() {
    const listLimit = deps.waitingListLimit ?? 1000;
    // The head's rows only, read again only where they changed (waiting-list.ts),
    // and for a longer queue (a backlog of Qiscus or RapidPro rooms) its
    // length, oldest entry and widget conversations from indexes, never its
    // rows: read whole, they cost more the longer the backlog, on the event
    // loop that also answers the resolves.
    const list = await waitingList.read(listLimit);
    // The clock read after the queue: read before, a conversation queued
    // meanwhile could be its oldest, and the longest wait come out short.
    const now = ctx.now().getTime();
    const oldest = list.oldest === null ? now : Math.min(now, new Date(list.oldest).getTime());
    // With no console open the list is not made (up to 1,000 entries); the waiting widgets still get their places.
    if (audible(t.queueEvents())) {
      const { waiting, json } = await presentWaiting(list.head);
      const summary = { kind: 'queue.changed', length: list.length, longest_wait_seconds: Math.round((now - oldest) / 1000) };
      const payload = { ...summary, waiting, origin: ORIGIN };
      await send(t.queueEvents(), withEncoding(payload, `${JSON.stringify(summary).slice(0, -1)},"waiting":${json},"origin":${JSON.stringify(ORIGIN)}}`));
    }

    // Only a widget customer can hear a queued conversation's control
    // topic (access.ts: their session's; agents only a conversation they
    // hold): Qiscus, RapidPro, API rooms have nobody there to tell. Those in
    // the head have their place from the list; the rest are placed apart.
    const told: { row: WaitingRow | ConversationRow; queue: QueueInfo }[] = list.head.filter(({ row }) => row.channel === 'widget');
    if (list.widgetsPastHead.length > 0) told.push(...(await listQueue(ctx, { conversationIds: list.widgetsPastHead, limit: Number.MAX_SAFE_INTEGER })));
    const seen = new Set<string>();
    for (const { row, queue: q } of told) {
      seen.add(row.id);
      const key = `${q.position}:${q.expected_wait_seconds}`;
      if (lastPosition.get(row.id) === key) continue;
      lastPosition.set(row.id, key);
      await send(t.conversation(row.id, 'control'), { instruction: 'session/update', sessionInfo: await sessionInfo(row, q), origin: ORIGIN });
    }
    for (const id of lastPosition.keys()) if (!seen.has(id)) lastPosition.delete(id);
  }

  /**
   * The waiting list's entries and their JSON (JSON.stringify's): what an
   * entry shows besides its place and wait, and its JSON around them, are
   * made once per row version (the reader keeps a row's object while it is
   * unchanged), so a refresh after the head left copies fields and joins
   * strings. The list is made a slice at a time with a turn of the event
   * loop between slices: a list of 800 new entries is 230–280 kB of JSON,
   * 0.6–0.7 ms of stringify in one piece on an idle core (several ms on a
   * loaded one), and a resolve whose reply was ready meanwhile waited for all
   * of it. Entries already made count too: after the head left, the 800
   * entries' objects and strings are still 1–1.5 ms of a loaded core
   * (a CPU profile of bench/publisher-refresh.ts --churn=1), in one piece
   * when only new entries were sliced.
   */
  async function presentWaiting(head: readonly { row: WaitingRow; queue: QueueInfo }[]): Promise<{ waiting: WaitingEntry[]; json: string }> {
    const slice = Math.max(1, deps.listSlice ?? LIST_SLICE);
    const waiting: WaitingEntry[] = [];
    const parts: string[] = [];
    let done = 0;
    for (const { row, queue: q } of head) {
      if (done > 0 && done % slice === 0) await new Promise((resolve) => setImmediate(resolve));
      done++;
      let shown = presented.get(row);
      if (shown === undefined) {
        const { id, channel, department, priority, customer } = row;
        const queued_at = iso(row.queued_at);
        // the desk's SLA timer (issue #20)
        const sla = { sla_due_at: iso(row.sla_due_at), first_response_at: iso(row.first_response_at), sla_breached_at: iso(row.sla_breached_at) };
        shown = {
          before: { id, channel, department, priority, customer, queued_at },
          after: sla,
          json: [`${JSON.stringify({ id, channel, department, priority, customer, queued_at }).slice(0, -1)},"position":`, JSON.stringify(sla).slice(1)],
        };
        presented.set(row, shown);
      }
      const { before, after } = shown;
      waiting.push({
        id: before.id,
        channel: before.channel,
        department: before.department,
        priority: before.priority,
        customer: before.customer,
        queued_at: before.queued_at,
        position: q.position,
        expected_wait_seconds: q.expected_wait_seconds,
        sla_due_at: after.sla_due_at,
        first_response_at: after.first_response_at,
        sla_breached_at: after.sla_breached_at,
      });
      parts.push(`${shown.json[0]}${q.position},"expected_wait_seconds":${JSON.stringify(q.expected_wait_seconds)},${shown.json[1]}`);
    }
    return { waiting, json: `[${parts.join(',')}]` };
  }

  /**
   * Starts the publishes one event causes, in order, without waiting for each
   * acknowledgement: the broker keeps the order of what it was handed, and a
   * batch's acknowledgements are awaited together.
   */
  // A payload is built only for topics someone may hear (audible): one nobody
  // hears would be dropped. These are made once, not per event: tsx names
  // every function made in a call (esbuild's keepNames), ≈ 2 µs each.
  function publish(sent: Promise<void>[], topic: string, payload: () => unknown) {
    if (audible(topic)) sent.push(send(topic, payload()));
  }
  /** one payload for several topics, serialized once (encodedOnce) */
  function publishAll(sent: Promise<void>[], topics: readonly string[], payload: () => object) {
    const heard = topics.filter(audible);
    if (heard.length === 0) return;
    const shared = encodedOnce(payload(), heard.length);
    for (const topic of heard) sent.push(send(topic, shared));
  }

  async function publishEvent(event: StoredEvent, sent: Promise<void>[]) {
    const data = event.data as Record<string, unknown>;
    if (event.type === 'message.created') {
      const m = data.message as Message;
      publish(sent, t.conversation(m.conversation_id, 'messages'), () => ({
        sessionInfo: { sessionId: m.conversation_id },
        message: { id: m.id, from: m.sender_id, sender: m.sender, timestamp: Date.parse(m.created_at), content: m.text, attachments: presentAttachments(deps.ctx.files, m.attachments, deps.ctx.now(), 'browser'), readAt: m.read_at },
        origin: ORIGIN,
      }));
      // The holder's inbox hears of a customer's message in any conversation
      // they hold, not only the one open on screen: their console's unread
      // counts and notifications follow it (one subscription, not one per chat).
      // event.agent_id is the holder when the message was stored (sb_add_message):
      // none while the conversation is only offered to an agent, whose inbox then
      // hears nothing of it until they accept — not the map of holders, which
      // in one of several processes may not know a change another made.
      if (m.sender === 'customer' && event.agent_id) {
        publish(sent, t.agentEvents(event.agent_id), () => ({ type: event.type, conversation_id: m.conversation_id, message: m, at: new Date(event.created_at).toISOString(), origin: ORIGIN }));
      }
      return;
    }
    if (event.type === 'message.read') {
      publish(sent, t.conversation(event.conversation_id!, 'viewed'), () => ({ readMessages: data.message_ids, reader: data.reader, readAt: data.read_at, origin: ORIGIN }));
      return;
    }
    if (event.type.startsWith('note.')) {
      // Agents only: the conversation's agent and the supervisors. Never the
      // conversation's own topics, which its customer subscribes to.
      const topics = event.agent_id ? [t.agentEvents(event.agent_id), t.supervisorEvents('conversations')] : [t.supervisorEvents('conversations')];
      publishAll(sent, topics, () => ({ type: event.type, conversation_id: event.conversation_id, ...data, at: new Date(event.created_at).toISOString(), origin: ORIGIN }));
      return;
    }
    if (event.type.startsWith('agent.')) {
      const topics = event.agent_id ? [t.agentEvents(event.agent_id), t.supervisorEvents('agents')] : [t.supervisorEvents('agents')];
      publishAll(sent, topics, () => ({ type: event.type, ...data, at: new Date(event.created_at).toISOString(), origin: ORIGIN }));
      return;
    }
    if (!event.type.startsWith('conversation.')) return;
    const conversation = data.conversation as Conversation | undefined;
    // Those who held it before hear that it left them.
    const concerned = new Set([event.agent_id, data.from_agent_id, data.previous_agent_id].filter((id): id is string => typeof id === 'string'));
    publishAll(sent, [...[...concerned].map((agentId) => t.agentEvents(agentId)), t.supervisorEvents('conversations')], () => ({
      type: event.type,
      ...data,
      at: new Date(event.created_at).toISOString(),
      origin: ORIGIN,
    }));
    // conversation.erased carries no conversation (it is gone): nothing to tell its customer or a new holder
    if (!conversation) return;
    // A transfer's own assignment (a waiting conversation given to an agent): the
    // conversation.transferred just before it told the holder and the customer already.
    if (event.type === 'conversation.assigned' && data.transferred === true) return;
    const newlyHeld = event.type === 'conversation.assigned' || (event.type === 'conversation.transferred' && conversation.state === 'assigned');
    if (newlyHeld && conversation.agent_id) {
      publish(sent, t.assign(conversation.agent_id), () => ({ conversation, sessionTopic: t.session(conversation.id), origin: ORIGIN }));
    }
    // A queued conversation's position goes out with the queue refresh. An
    // offered one is announced (waiting, no agent): it left the queue, so no
    // refresh tells it, and it may have come straight from an agent (a
    // transfer or requeue into an offer-mode department) whom the widget
    // still showed. A rating changes nothing the widget's control topic
    // tells (the widget that sent it already knows), so it is not announced
    // again; labels are no news to the customer either.
    if (event.type !== 'conversation.created' && event.type !== 'conversation.rated' && event.type !== LABELS_CHANGED && conversation.state !== 'queued') sent.push(announce(conversation));
  }

  return {
    onCommitted(events) {
      // A timer set after close would hold the process and refresh from a store being closed.
      if (closed) return;
      let queueChanged = false;
      for (const event of events) {
        if (event.conversation_id) {
          const watch = watched.get(event.conversation_id);
          if (watch) watch.changes++;
        }
        const conversation = (event.data as { conversation?: Conversation }).conversation;
        if (event.type.startsWith('conversation.') && event.type !== LABELS_CHANGED && conversation) {
          // Rights follow the conversation at once, before anything is published about it.
          // An offered conversation is not the agent's until they accept it.
          assignments.set(conversation.id, conversation.state === 'queued' || conversation.state === 'offered' ? null : conversation.agent_id);
          queueChanged = true;
        }
        if (event.type === 'agent.status_changed') queueChanged = true;
        if (event.type === 'agent.updated' || event.type === 'agent.deleted') names.forget(event.agent_id ?? '');
      }
      enqueue(async () => {
        const sent: Promise<void>[] = [];
        for (const event of events) await publishEvent(event, sent);
        // The next commit's publishes need not wait for these acknowledgements.
        const acked = Promise.all(sent).then(() => undefined, deps.onError);
        unacknowledged.add(acked);
        void acked.finally(() => unacknowledged.delete(acked));
      });
      if (queueChanged) {
        queueChanges++;
        scheduleQueue();
      }
    },
    announce,
    announceCurrent,
    async flushed() {
      await chain;
      await Promise.all([...unacknowledged]);
    },
    async idle() {
      for (;;) {
        const current = chain;
        await current;
        await Promise.all([...unacknowledged]);
        if (queueTimer) await new Promise((resolve) => setTimeout(resolve, Math.max(1, deps.queueDebounceMs ?? 25)));
        if (current === chain && !queueTimer) return;
      }
    },
    async close() {
      closed = true;
      clearTimeout(queueTimer);
      queueTimer = undefined;
      await names.close();
    },
  };
}
