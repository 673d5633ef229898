// Issue #22 (P1): the realtime publisher's queue refresh with a queue longer
// than the agents' waiting list. The list (length, longest wait, the head
// with places and expected waits) and every waiting widget customer's
// session/update stay exact when what changes is deep in the queue, past the
// list; a customer hears again only when their place or wait changed. Against
// an order written out here and the expected waits of listQueue (one window
// over the queue, and per conversation), on a clock the test moves.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import { Assignments } from '../../src/realtime/access.js';
import { createPublisher, type Publisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import { listQueue } from '../../src/routing/queue.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';
import { recordingPublisher } from '../helpers/recording-publisher.js';

interface Waiting {
  id: string;
  department: string | null;
  priority: number;
  widget: boolean;
  /** order of arrival */
  n: number;
  queuedAt: number;
}

const LIST = 4;
/** more widget customers past the list than listQueue places one by one (32): their places come from a window */
const QUEUED = 80;

describeEachStore('realtime: the queue refresh with a long queue', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let t: TestApp;
  let ctx: Ctx;
  let publisher: Publisher;
  let published: { topic: string; payload: any }[];
  const topics = topicsOf('sb');

  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    t = await testApp(store(), { now: clock.now });
    ctx = t.ctx;
    published = [];
    publisher = recordingPublisher(ctx, topics, published, { queueDebounceMs: 0, waitingListLimit: LIST });
  });
  afterEach(async () => {
    await publisher.close();
    await t.close();
  });

  /** One refresh, as after any queue change: the list published and the session/updates, by conversation. */
  const refresh = async () => {
    published.length = 0;
    const change = { type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: clock.now().toISOString() };
    publisher.onCommitted([change as unknown as StoredEvent]);
    await publisher.idle();
    const lists = published.filter((p) => p.topic === topics.queueEvents()).map((p) => p.payload);
    assert.equal(lists.length, 1, 'one queue.changed a refresh');
    const updates = new Map<string, any>();
    for (const p of published.filter((q) => q.payload.instruction === 'session/update')) {
      assert.ok(!updates.has(p.payload.sessionInfo.sessionId), 'one update per customer a refresh');
      assert.equal(p.topic, topics.conversation(p.payload.sessionInfo.sessionId, 'control'));
      updates.set(p.payload.sessionInfo.sessionId, p.payload.sessionInfo);
    }
    return { list: lists[0]!, updates };
  };

  /** the queue's order, worked out here: priority, then arrival; places are ranks within a department's queue */
  const expectedOrder = (waiting: Waiting[]) => {
    const order = [...waiting].sort((a, b) => b.priority - a.priority || a.n - b.n);
    const place = new Map<string, number>();
    for (const department of [null, 'sales']) order.filter((w) => w.department === department).forEach((w, i) => place.set(w.id, i + 1));
    return { order, place };
  };

  /** The list and the updates against the order above and listQueue's waits; returns each widget's place and wait. */
  const check = async (waiting: Waiting[], result: Awaited<ReturnType<typeof refresh>>, told: Map<string, string>, label: string) => {
    const { order, place } = expectedOrder(waiting);
    const whole = new Map((await listQueue(ctx)).map((q) => [q.row.id, q.queue]));
    const { list, updates } = result;
    assert.equal(list.kind, 'queue.changed');
    assert.equal(list.length, waiting.length, `${label}: length`);
    const oldest = Math.min(...waiting.map((w) => w.queuedAt));
    assert.equal(list.longest_wait_seconds, Math.round((clock.now().getTime() - oldest) / 1000), `${label}: longest wait`);
    assert.deepEqual(
      list.waiting.map((w: any) => [w.id, w.position, w.expected_wait_seconds, w.department, w.priority, w.channel, w.customer.id]),
      order.slice(0, LIST).map((w) => [w.id, place.get(w.id), whole.get(w.id)!.expected_wait_seconds, w.department, w.priority, w.widget ? 'widget' : 'api', `customer-${w.n}`]),
      `${label}: the head of the queue, placed`,
    );
    assert.ok(list.waiting.every((w: any) => w.queued_at === new Date(waiting.find((x) => x.id === w.id)!.queuedAt).toISOString()));

    const now = new Map<string, string>();
    for (const w of waiting.filter((x) => x.widget)) {
      const [given] = await listQueue(ctx, { conversationIds: [w.id] });
      assert.equal(given!.queue.position, place.get(w.id), `${label}: listQueue places ${w.n}`);
      assert.equal(whole.get(w.id)!.expected_wait_seconds, given!.queue.expected_wait_seconds);
      const key = `${place.get(w.id)}:${given!.queue.expected_wait_seconds}`;
      now.set(w.id, key);
      const update = updates.get(w.id);
      if (told.get(w.id) === key) {
        assert.equal(update, undefined, `${label}: customer ${w.n} is not told again what they know`);
        continue;
      }
      assert.ok(update, `${label}: customer ${w.n} hears of their new place (${told.get(w.id)} → ${key})`);
      assert.equal(update.state, 'queued');
      assert.equal(update.customerId, `customer-${w.n}`);
      assert.equal(update.agent, null);
      assert.equal(update.queuePosition, place.get(w.id), `${label}: customer ${w.n}'s place`);
      assert.equal(update.expectedWaitSeconds, given!.queue.expected_wait_seconds, `${label}: customer ${w.n}'s wait`);
    }
    for (const id of updates.keys()) assert.ok(now.has(id), `${label}: only waiting widget customers are told`);
    return now;
  };

  it('the list and every widget customer’s place stay exact after changes past the list, and only changed places are sent', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const first = await openConversation(ctx, { customer: { id: 'first' }, customer_verified: true });
    assert.equal(first.conversation.agent_id, agent.id);
    let waiting: Waiting[] = [];
    for (let n = 0; n < QUEUED; n++) {
      clock.advance(1000);
      const department = n % 3 === 0 ? null : 'sales';
      const priority = (n * 7) % 3;
      const widget = n % 2 === 0;
      const { conversation } = await openConversation(ctx, {
        customer: { id: `customer-${n}` },
        department,
        priority,
        channel: widget ? 'widget' : 'api',
        customer_verified: true,
      });
      assert.equal(conversation.state, 'queued');
      waiting.push({ id: conversation.id, department, priority, widget, n, queuedAt: clock.now().getTime() });
    }
    assert.ok(waiting.filter((w) => w.widget).length - LIST > 32, 'more widget customers past the list than are placed one by one');

    clock.advance(5000);
    let told = await check(waiting, await refresh(), new Map(), 'first refresh');
    assert.equal(told.size, QUEUED / 2, 'every widget customer heard their place');

    clock.advance(1000);
    const again = await refresh();
    assert.equal(again.updates.size, 0, 'nothing changed: nobody is told again');
    told = await check(waiting, again, told, 'unchanged');

    // Deep in the queue, past the list: a sales customer leaves. Those behind
    // them in sales move up; nobody ahead, and no department-less customer, hears.
    const { order, place } = expectedOrder(waiting);
    const leaving = order.slice(LIST * 3).find((w) => w.department === 'sales' && place.get(w.id)! > LIST * 2)!;
    assert.ok(leaving);
    await closeConversation(ctx, leaving.id, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    waiting = waiting.filter((w) => w.id !== leaving.id);
    clock.advance(1000);
    const afterLeaving = await refresh();
    const movedUp = waiting.filter((w) => w.widget && w.department === 'sales' && place.get(w.id)! > place.get(leaving.id)!);
    assert.ok(movedUp.length > 0);
    assert.deepEqual([...afterLeaving.updates.keys()].sort(), movedUp.map((w) => w.id).sort(), 'exactly the sales customers behind the one who left');
    told = await check(waiting, afterLeaving, told, 'a customer left deep in the queue');

    // The head moves: the agent resolves, the slot goes to the head of what they
    // serve (sales or department-less), and the handle time now counts one resolve.
    clock.advance(120_000);
    await closeConversation(ctx, first.conversation.id, { reason: 'agent' }, SYSTEM);
    const [assigned] = await ctx.db.query<{ id: string }>(`select id from conversations where agent_id = $1 and state = 'assigned'`, [agent.id]);
    assert.equal(assigned!.id, expectedOrder(waiting).order[0]!.id, 'the head was served');
    waiting = waiting.filter((w) => w.id !== assigned!.id);
    clock.advance(1000);
    told = await check(waiting, await refresh(), told, 'the head served');

    // A department-less customer waiting past the list leaves: only department-less customers behind move.
    const deep = expectedOrder(waiting);
    const gone = deep.order.slice(LIST).find((w) => w.department === null && deep.place.get(w.id)! > 3)!;
    await closeConversation(ctx, gone.id, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    waiting = waiting.filter((w) => w.id !== gone.id);
    clock.advance(1000);
    const afterGone = await refresh();
    assert.ok([...afterGone.updates.keys()].every((id) => waiting.find((w) => w.id === id)!.department === null), 'only department-less customers moved');
    await check(waiting, afterGone, told, 'a department-less customer left');

    // The queue shrinks to the list and below: its length and oldest come from the page alone.
    for (const w of expectedOrder(waiting).order.slice(2)) await closeConversation(ctx, w.id, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    waiting = expectedOrder(waiting).order.slice(0, 2);
    clock.advance(1000);
    const short = await refresh();
    assert.equal(short.list.length, 2);
    assert.equal(short.list.waiting.length, 2);
    const oldest = Math.min(...waiting.map((w) => w.queuedAt));
    assert.equal(short.list.longest_wait_seconds, Math.round((clock.now().getTime() - oldest) / 1000));
  });

  it('spaces refreshes by three times what the last one took, and still publishes the last state', async () => {
    // every statement of a refresh takes 50 ms more: with nobody waiting, one (the list); with somebody, two (and the business hours).
    // The bound below reckons 40: a timer may fire a little early against performance.now() (it counts from the event loop's cached time).
    const slow = Object.create(ctx.db) as Ctx['db'];
    slow.query = async (...args: Parameters<Ctx['db']['query']>) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return ctx.db.query(...args);
    };
    const lists: number[] = [];
    const spaced = createPublisher({
      ctx: { ...ctx, db: slow },
      topics,
      assignments: new Assignments(),
      publish: async (topic, payload: any) => void (topic === topics.queueEvents() && lists.push(payload.length)),
      onError: (error) => assert.fail(String(error)),
      queueDebounceMs: 0,
    });
    try {
      const change = () => spaced.onCommitted([{ type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: clock.now().toISOString() } as unknown as StoredEvent]);
      change();
      await spaced.idle();
      assert.deepEqual(lists, [0]);
      await openConversation(ctx, { customer: { id: 'late' } });
      const t0 = performance.now();
      change();
      await spaced.idle();
      const gap = performance.now() - t0;
      assert.deepEqual(lists, [0, 1], 'the change after it is published');
      // gathered for 3 × the first (≥ 40 ms), then refreshed (≥ 80 ms); unspaced, ~100 ms
      assert.ok(gap >= 3 * 40 + 80, `the second refresh came ${Math.round(gap)} ms after its change`);
    } finally {
      spaced.close();
    }
  });
});
