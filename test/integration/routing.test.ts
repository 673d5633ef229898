import assert from 'node:assert/strict';
import { it } from 'node:test';
import { heartbeat, updateAgent } from '../../src/agents/agents.js';
import { SYSTEM, type AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation, requeueConversation, transferConversation } from '../../src/conversations/lifecycle.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { AppError } from '../../src/errors.js';
import { changeSettings } from '../../src/http/routes/settings.js';
import { listQueue } from '../../src/routing/queue.js';
import { sweep } from '../../src/routing/sweep.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import { eachTestOnClock, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('allocation policy', (store) => {
  let clock: FakeClock;
  let ctx: Ctx;
  eachTestOnClock(store, (fresh) => ({ clock, ctx } = fresh));

  const open = async (customer: string, extra: Partial<Parameters<typeof openConversation>[1]> = {}) => {
    clock.advance(1000);
    return (await openConversation(ctx, { customer: { id: customer }, ...extra })).conversation;
  };
  const state = async (id: string) =>
    (await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const agentRow = async (id: string) => (await ctx.db.query<AgentRow>('select * from agents where id = $1', [id]))[0]!;
  const online = (options: Parameters<typeof makeAgent>[1] = {}) => makeAgent(ctx, { status: 'online', ...options });
  const holds = async () => assert.deepEqual(await invariantViolations(ctx.db), []);

  it('gives a new conversation to the least-loaded online agent', async () => {
    const a = await online({ capacity: 3 });
    const b = await online({ capacity: 3 });
    const first = await open('c1');
    const second = await open('c2');
    assert.equal(first.state, 'assigned');
    assert.notEqual(first.agent_id, second.agent_id, 'the second conversation goes to the agent with no load');
    assert.deepEqual(new Set([first.agent_id, second.agent_id]), new Set([a.id, b.id]));
    await holds();
  });

  it('breaks a tie in load in favour of the agent idle the longest', async () => {
    const a = await online({ capacity: 5 });
    const b = await online({ capacity: 5 });
    const c1 = await open('c1'); // one of them, the other is now idle longer
    const c2 = await open('c2');
    const idleLonger = c1.agent_id === a.id ? b.id : a.id;
    assert.equal(c2.agent_id, idleLonger);
    // both at load 1 now; the one assigned first (c1's agent) has been idle longest
    const c3 = await open('c3');
    assert.equal(c3.agent_id, c1.agent_id);
  });

  it('queues when every agent is full and serves the queue first in, first out when a slot frees', async () => {
    const a = await online({ capacity: 1 });
    const busy = await open('busy');
    assert.equal(busy.agent_id, a.id);
    const w1 = await open('w1');
    const w2 = await open('w2');
    assert.equal(w1.state, 'queued');
    assert.equal(w2.state, 'queued');
    clock.advance(5000);
    await closeConversation(ctx, busy.id, {}, SYSTEM);
    assert.equal((await state(w1.id)).agent_id, a.id, 'the oldest waiting conversation gets the freed slot in the same transaction');
    assert.equal((await state(w2.id)).state, 'queued');
    await holds();
  });

  it('serves higher priority before earlier arrival', async () => {
    const a = await online({ capacity: 1 });
    const busy = await open('busy');
    const low = await open('low', { priority: 0 });
    const high = await open('high', { priority: 5 });
    await closeConversation(ctx, busy.id, {}, SYSTEM);
    assert.equal((await state(high.id)).agent_id, a.id);
    assert.equal((await state(low.id)).state, 'queued');
  });

  it('keeps a department conversation waiting for that department, while department-less ones go to anyone', async () => {
    const sales = await online({ capacity: 1, departments: ['sales'] });
    const support = await online({ capacity: 1, departments: ['support'] });
    const s1 = await open('s1', { department: 'sales' });
    assert.equal(s1.agent_id, sales.id);
    const s2 = await open('s2', { department: 'sales' });
    assert.equal(s2.state, 'queued', 'the support agent has room but is not in sales');
    const any = await open('any');
    assert.equal(any.agent_id, support.id);
    await holds();
  });

  it('skips a head-of-queue conversation nobody can serve and matches the next one', async () => {
    const a = await online({ capacity: 1, departments: ['support'] });
    const busy = await open('busy', { department: 'support' });
    const billing = await open('billing', { department: 'billing' });
    const support = await open('support', { department: 'support' });
    await closeConversation(ctx, busy.id, {}, SYSTEM);
    assert.equal((await state(support.id)).agent_id, a.id);
    assert.equal((await state(billing.id)).state, 'queued');
    await holds();
  });

  it('never assigns to away or offline agents', async () => {
    await makeAgent(ctx, { status: 'away', capacity: 5 });
    await makeAgent(ctx, { status: 'offline', capacity: 5 });
    const c = await open('c1');
    assert.equal(c.state, 'queued');
  });

  it('fills an agent from the queue the moment they come online', async () => {
    const a = await makeAgent(ctx, { capacity: 2 });
    const c1 = await open('c1');
    const c2 = await open('c2');
    const c3 = await open('c3');
    await updateAgent(ctx, a.id, { status: 'online' }, SYSTEM);
    assert.equal((await state(c1.id)).agent_id, a.id);
    assert.equal((await state(c2.id)).agent_id, a.id);
    assert.equal((await state(c3.id)).state, 'queued', 'capacity 2 means two');
    assert.equal((await agentRow(a.id)).load, 2);
    await holds();
  });

  it('drains on a capacity increase and on a max_customers increase', async () => {
    const own = await online({ capacity: 1 });
    const global = await online({ capacity: null }); // max_customers = 2
    const cs = [];
    for (let i = 0; i < 6; i++) cs.push(await open(`c${i}`));
    assert.equal((await agentRow(own.id)).load, 1);
    assert.equal((await agentRow(global.id)).load, 2);
    await updateAgent(ctx, own.id, { capacity: 2 }, SYSTEM);
    assert.equal((await agentRow(own.id)).load, 2);
    await changeSettings(ctx, { max_customers: 3 }, null);
    assert.equal((await agentRow(global.id)).load, 3);
    assert.equal((await listQueue(ctx)).length, 1);
    await holds();
  });

  it('lets an agent keep conversations when capacity is lowered, but gives them none until below it', async () => {
    const a = await online({ capacity: 3 });
    for (let i = 0; i < 3; i++) await open(`c${i}`);
    await updateAgent(ctx, a.id, { capacity: 1 }, SYSTEM);
    assert.equal((await agentRow(a.id)).load, 3);
    const waiting = await open('w');
    assert.equal(waiting.state, 'queued');
    const [held] = await ctx.db.query<{ id: string }>("select id from conversations where agent_id = $1 and state = 'assigned' limit 1", [a.id]);
    await closeConversation(ctx, held!.id, {}, SYSTEM);
    assert.equal((await state(waiting.id)).state, 'queued', 'load 2 is still above capacity 1');
  });

  it('sets a silent agent offline after the keep-alive time and re-queues their conversations after the grace, at their original place', async () => {
    const a = await online({ capacity: 1 });
    const held = await open('held'); // arrived first
    const later = await open('later');
    assert.equal(held.agent_id, a.id);
    assert.equal(later.state, 'queued');

    clock.advance(26_000); // 28 s since the agent's last sign of life
    await sweep(ctx);
    assert.equal((await agentRow(a.id)).status, 'online', 'still inside the keep-alive time');
    clock.advance(3_000);
    await sweep(ctx);
    assert.equal((await agentRow(a.id)).status, 'offline');
    assert.equal((await state(held.id)).agent_id, a.id, 'kept during the grace period');

    clock.advance(61_000);
    await sweep(ctx);
    const back = await listQueue(ctx);
    assert.deepEqual(
      back.map((q) => q.row.id),
      [held.id, later.id],
      'the re-queued conversation is ahead of the one that arrived after it',
    );
    assert.equal((await agentRow(a.id)).load, 0);
    await holds();
  });

  it('brings a timed-out agent back with a heartbeat, to the status they had, and fills them', async () => {
    const a = await online({ capacity: 1 });
    clock.advance(31_000);
    await sweep(ctx);
    assert.equal((await agentRow(a.id)).status, 'offline');
    const c = await open('c');
    assert.equal(c.state, 'queued');
    await heartbeat(ctx, a.id);
    assert.equal((await agentRow(a.id)).status, 'online');
    assert.equal((await state(c.id)).agent_id, a.id);
  });

  it('does not bring back with a heartbeat an agent who chose to go offline', async () => {
    const a = await online({ capacity: 1 });
    await updateAgent(ctx, a.id, { status: 'offline' }, SYSTEM);
    await heartbeat(ctx, a.id);
    assert.equal((await agentRow(a.id)).status, 'offline');
  });

  it('does not bring back an agent who chose offline after a keep-alive timeout had set it', async () => {
    const a = await online({ capacity: 1 });
    clock.advance(31_000);
    await sweep(ctx);
    await updateAgent(ctx, a.id, { status: 'offline' }, SYSTEM);
    await heartbeat(ctx, a.id);
    assert.equal((await agentRow(a.id)).status, 'offline');
  });

  it('keeps an offline agent’s conversations with the keep policy', async () => {
    await changeSettings(ctx, { offline_policy: 'keep' }, null);
    const a = await online({ capacity: 1 });
    const c = await open('c');
    await updateAgent(ctx, a.id, { status: 'offline' }, SYSTEM);
    clock.advance(3_600_000);
    await sweep(ctx);
    assert.equal((await state(c.id)).agent_id, a.id);
  });

  it('re-queues at once when the grace period is zero', async () => {
    await changeSettings(ctx, { agent_offline_grace_ms: 0 }, null);
    const a = await online({ capacity: 1 });
    const b = await makeAgent(ctx, { capacity: 1 });
    const c = await open('c');
    assert.equal(c.agent_id, a.id);
    await updateAgent(ctx, b.id, { status: 'online' }, SYSTEM);
    await updateAgent(ctx, a.id, { status: 'offline' }, SYSTEM);
    assert.equal((await state(c.id)).agent_id, b.id, 'moved to the other agent in the same transaction');
    await holds();
  });

  it('transfers to an online agent with room, and refuses a full or offline one', async () => {
    const a = await online({ capacity: 1 });
    const b = await online({ capacity: 1 });
    const off = await makeAgent(ctx, { capacity: 5 });
    const c1 = await open('c1');
    const c2 = await open('c2');
    const waiting = await open('w');
    const from = c1.agent_id!;
    const to = from === a.id ? b.id : a.id;
    await assert.rejects(transferConversation(ctx, c1.id, { agent_id: to }, SYSTEM), (e: AppError) => e.code === 'SB_AGENT_AT_CAPACITY');
    await assert.rejects(transferConversation(ctx, c1.id, { agent_id: off.id }, SYSTEM), (e: AppError) => e.code === 'SB_AGENT_UNAVAILABLE');
    await closeConversation(ctx, c2.id, {}, SYSTEM); // frees `to`, which takes the waiting one
    assert.equal((await state(waiting.id)).agent_id, to);
    await updateAgent(ctx, to, { capacity: 2 }, SYSTEM);
    const moved = await transferConversation(ctx, c1.id, { agent_id: to }, SYSTEM);
    assert.equal(moved.agent_id, to);
    assert.equal((await agentRow(from)).load, 0);
    await holds();
  });

  it('transfers to a department: the conversation re-enters that queue and is matched there', async () => {
    const general = await online({ capacity: 1 });
    const billing = await online({ capacity: 1, departments: ['billing'] });
    const c = await open('c');
    assert.equal(c.agent_id, billing.id === c.agent_id ? billing.id : general.id);
    const moved = await transferConversation(ctx, c.id, { department: 'billing' }, SYSTEM);
    assert.equal(moved.department, 'billing');
    assert.equal(moved.agent_id, billing.id);
    await holds();
  });

  it('re-queues a conversation at its original place on request', async () => {
    const a = await online({ capacity: 1 });
    const first = await open('first');
    const second = await open('second');
    await updateAgent(ctx, a.id, { status: 'away' }, SYSTEM);
    const back = await requeueConversation(ctx, first.id, SYSTEM);
    assert.equal(back.state, 'queued');
    const queue = await listQueue(ctx);
    assert.deepEqual(queue.map((q) => q.row.id), [first.id, second.id]);
    assert.deepEqual(queue.map((q) => q.queue.position), [1, 2]);
  });

  it('does not let a re-queued or transferred conversation overtake a higher-priority one waiting for the freed agent', async () => {
    const a = await online({ capacity: 1 });
    const held = await open('held', { priority: 0 });
    const urgent = await open('urgent', { priority: 5 });
    assert.equal(urgent.state, 'queued');
    await requeueConversation(ctx, held.id, SYSTEM);
    assert.equal((await state(urgent.id)).agent_id, a.id, 'the freed slot goes to the head of the queue');
    assert.equal((await state(held.id)).state, 'queued');
    const next = await open('next', { priority: 9 });
    await transferConversation(ctx, urgent.id, { department: null }, SYSTEM);
    assert.equal((await state(next.id)).agent_id, a.id);
    await holds();
  });

  it('answers a repeated open for the same external reference with the open conversation', async () => {
    await online({ capacity: 1 });
    const one = await openConversation(ctx, { customer: { id: 'x' }, channel: 'qiscus', external_ref: 'room-1' });
    const again = await openConversation(ctx, { customer: { id: 'x' }, channel: 'qiscus', external_ref: 'room-1' });
    assert.equal(again.created, false);
    assert.equal(again.conversation.id, one.conversation.id);
    await closeConversation(ctx, one.conversation.id, {}, SYSTEM);
    const next = await openConversation(ctx, { customer: { id: 'x' }, channel: 'qiscus', external_ref: 'room-1' });
    assert.equal(next.created, true, 'a closed conversation does not block a new one');
  });

  it('refuses to resolve twice', async () => {
    const c = await open('c');
    await closeConversation(ctx, c.id, {}, SYSTEM);
    await assert.rejects(closeConversation(ctx, c.id, {}, SYSTEM), (e: AppError) => e.status === 409 && e.code === 'SB_CONVERSATION_CLOSED');
  });

  it('estimates the expected wait from position, handle time and the slots serving that department', async () => {
    const a = await online({ capacity: 2 });
    const c1 = await open('c1');
    clock.advance(120_000); // handled for two minutes
    await closeConversation(ctx, c1.id, {}, SYSTEM);
    await open('busy1');
    await open('busy2');
    const w1 = await open('w1');
    const w2 = await open('w2');
    const queue = await listQueue(ctx);
    assert.deepEqual(queue.map((q) => q.row.id), [w1.id, w2.id]);
    // mean handle 120 s over 2 slots: a slot frees every 60 s on average
    assert.deepEqual(queue.map((q) => q.queue.expected_wait_seconds), [60, 120]);
    await updateAgent(ctx, a.id, { status: 'away' }, SYSTEM);
    assert.deepEqual((await listQueue(ctx)).map((q) => q.queue.expected_wait_seconds), [null, null], 'nobody online to serve them');
  });

  it('writes an event for every step, in order', async () => {
    const a = await online({ capacity: 1 });
    const c = await open('c');
    await closeConversation(ctx, c.id, { note: 'done' }, SYSTEM);
    const events = await ctx.db.query<{ type: string; conversation_id: string | null; agent_id: string | null }>(
      'select type, conversation_id, agent_id from events order by id',
    );
    assert.deepEqual(
      events.map((e) => e.type),
      ['agent.created', 'agent.status_changed', 'conversation.created', 'conversation.assigned', 'conversation.resolved'],
    );
    assert.equal(events[3]!.agent_id, a.id);
  });
});
