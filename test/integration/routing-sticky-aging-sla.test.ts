// Issue #20, items 1 and 3: sticky agents, aging and first-response SLAs,
// on a clock the test moves (the sweep is where time alone changes routing).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SYSTEM, type AgentRow } from '../../src/agents/model.js';
import { updateAgent } from '../../src/agents/agents.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation, transferConversation } from '../../src/conversations/lifecycle.js';
import { addMessage } from '../../src/conversations/messages.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { addNote } from '../../src/notes/notes.js';
import { changeDepartmentRouting, type DepartmentRoutingChange } from '../../src/routing/department-settings.js';
import { sweep } from '../../src/routing/sweep.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import type { TestApp } from '../helpers/app.js';
import { eachTestOnClockedApp, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, testWorker, type Receiver } from '../helpers/webhook-receiver.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });

describeEachStore('routing: sticky agent, aging and SLAs', (store) => {
  let clock: FakeClock;
  let t: TestApp;
  let ctx: Ctx;
  eachTestOnClockedApp(store, (fresh) => ({ clock, t, ctx } = fresh));

  const configure = (department: string, change: DepartmentRoutingChange) => changeDepartmentRouting(ctx, department, change, null);
  const open = async (customer: string, department: string, extra: { priority?: number; verified?: boolean } = {}) => {
    clock.advance(1000);
    const { conversation } = await openConversation(ctx, {
      customer: { id: customer },
      department,
      priority: extra.priority ?? 0,
      customer_verified: extra.verified ?? true,
    });
    return conversation;
  };
  const row = async (id: string) => (await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const agentRow = async (id: string) => (await ctx.db.query<AgentRow>('select * from agents where id = $1', [id]))[0]!;
  const resolve = async (id: string) => {
    clock.advance(1000);
    const c = await row(id);
    return closeConversation(ctx, id, { reason: 'agent' }, c.agent_id ? actorOf(await agentRow(c.agent_id)) : SYSTEM);
  };
  const online = (departments: string[], capacity = 1) => makeAgent(ctx, { status: 'online', capacity, departments });

  /**
   * The work-conserving promise as the sticky policy states it, written
   * independently of sb_agent_serves: while a sticky wait runs only its
   * agent is eligible.
   */
  async function waitingWithEligibleRoom(): Promise<string[]> {
    const rows = await ctx.db.query<{ id: string; agent: string }>(
      `select c.id, a.id as agent
         from conversations c
         join agents a on a.status = 'online' and a.deleted_at is null and c.department = any (a.departments)
                      and a.load < coalesce(a.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers'))
        where c.state = 'queued' and (c.sticky_until is null or c.sticky_until <= $1 or c.sticky_agent_id = a.id)`,
      [clock.now()],
    );
    return rows.map((r) => `conversation ${r.id} waits while agent ${r.agent} has room`);
  }
  const holds = async () => {
    assert.deepEqual(await invariantViolations(ctx.db, { workConserving: false }), []);
    assert.deepEqual(await waitingWithEligibleRoom(), []);
  };

  it('gives a returning customer to the agent who last served them while they have room, within the window', async () => {
    await configure('sales', { sticky_window_s: 3600 });
    const first = await online(['sales'], 2);
    const first1 = await open('kim', 'sales');
    assert.equal(first1.agent_id, first.id);
    await resolve(first1.id);
    const second = await online(['sales'], 2); // idle and never assigned: the policy's pick without stickiness
    const back = await open('kim', 'sales');
    assert.equal(back.agent_id, first.id, 'back to the agent who served kim');
    const stranger = await open('lee', 'sales');
    assert.equal(stranger.agent_id, second.id, 'a new customer is routed normally');
    await holds();
  });

  it('routes normally outside the window, for an unverified customer id, and in another department', async () => {
    // kim was served by `first` in `department`; `second`, never assigned, is the plain policy's pick
    const served = async (department: string, also: string[] = []) => {
      await configure(department, { sticky_window_s: 600 });
      const first = await online([department, ...also], 3);
      const c1 = await open(`kim-${department}`, department);
      assert.equal(c1.agent_id, first.id);
      await resolve(c1.id);
      const second = await online([department, ...also], 3);
      return { first, second, customer: `kim-${department}` };
    };
    const late = await served('late');
    const claimed = await served('claimed');
    const moved = await served('moved', ['elsewhere']);
    // within the window, a claimed (unverified) id picks no one's agent
    assert.equal((await open(claimed.customer, 'claimed', { verified: false })).agent_id, claimed.second.id);
    // kim's last agent in one department means nothing in another
    assert.equal((await open(moved.customer, 'elsewhere')).agent_id, moved.second.id);
    // within the window it sticks; past it, it does not
    clock.advance(590_000);
    const within = await open(late.customer, 'late');
    assert.equal(within.agent_id, late.first.id);
    await resolve(within.id);
    clock.advance(601_000);
    assert.equal((await open(late.customer, 'late')).agent_id, late.second.id);
    await holds();
  });

  it('waits for a busy sticky agent, who takes it when they free up, ahead of the queue', async () => {
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 120 });
    const first = await online(['sales'], 1);
    const c1 = await open('kim', 'sales');
    await resolve(c1.id);
    const other = await open('lee', 'sales'); // first is full again
    assert.equal(other.agent_id, first.id);
    const spare = await online(['sales'], 1);
    const back = await open('kim', 'sales');
    assert.equal(back.state, 'queued', 'waits for first although spare has room');
    const r = await row(back.id);
    assert.equal(r.sticky_agent_id, first.id);
    assert.equal(new Date(r.sticky_until!).getTime(), clock.now().getTime() + 120_000);
    assert.equal((await agentRow(spare.id)).load, 0);
    await holds();
    // a later arrival is not held: spare takes it
    assert.equal((await open('moe', 'sales')).agent_id, spare.id);
    await resolve(other.id); // first frees up within the wait
    const taken = await row(back.id);
    assert.equal(taken.state, 'assigned');
    assert.equal(taken.agent_id, first.id);
    await holds();
  });

  it('a conversation waiting for its sticky agent and moved to another department waits for them no more', async () => {
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 3600 });
    const first = await online(['sales'], 1);
    const c1 = await open('kim', 'sales');
    await resolve(c1.id);
    await open('lee', 'sales'); // first is busy
    const back = await open('kim', 'sales');
    assert.equal(back.state, 'queued', 'waits for first');
    const helper = await online(['support'], 1);
    const moved = await transferConversation(ctx, back.id, { department: 'support' }, SYSTEM);
    assert.deepEqual([moved.state, moved.agent_id, moved.department], ['assigned', helper.id, 'support'], 'support takes it at once, not in an hour');
    assert.equal((await row(back.id)).sticky_until, null);
    await holds();
  });

  it('after the wait, the conversation is routed normally at its original place, before later arrivals', async () => {
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 60 });
    const first = await online(['sales'], 1);
    const c1 = await open('kim', 'sales');
    await resolve(c1.id);
    await open('lee', 'sales'); // first is busy
    const back = await open('kim', 'sales');
    assert.equal(back.state, 'queued');
    const later = await open('moe', 'sales'); // nobody else has room: queued behind kim
    assert.equal(later.state, 'queued');
    clock.advance(61_000);
    const sweptBefore = await sweep(ctx);
    assert.equal(sweptBefore.assigned, 0, 'no agent with room yet');
    const spare = await online(['sales'], 1); // comes online: takes the queue's head, kim, now anyone's
    assert.equal((await row(back.id)).agent_id, spare.id);
    assert.equal((await row(later.id)).state, 'queued', 'the later arrival still waits');
    assert.equal((await row(back.id)).seq, back.seq, 'kept its place');
    await holds();
    assert.equal((await agentRow(first.id)).load, 1);
  });

  it('an ended wait is picked up by the sweep when an agent already had room', async () => {
    // shorter than the agents' keep-alive (30 s), so the sweep does not set them offline meanwhile
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 20 });
    const first = await online(['sales'], 1);
    const c1 = await open('kim', 'sales');
    await resolve(c1.id);
    await open('lee', 'sales');
    const spare = await online(['sales'], 1);
    const back = await open('kim', 'sales');
    assert.equal(back.state, 'queued');
    clock.advance(19_000);
    await sweep(ctx);
    assert.equal((await row(back.id)).state, 'queued', 'still within the wait');
    clock.advance(1_000);
    const swept = await sweep(ctx);
    assert.equal(swept.assigned, 1);
    assert.equal((await row(back.id)).agent_id, spare.id);
    assert.notEqual(spare.id, first.id);
    await holds();
  });

  it('does not wait for a sticky agent who is offline, or when sticky_wait_s is 0', async () => {
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 60 });
    const first = await online(['sales'], 1);
    const c1 = await open('kim', 'sales');
    await resolve(c1.id);
    await updateAgent(ctx, first.id, { status: 'offline' }, SYSTEM);
    const spare = await online(['sales'], 1);
    assert.equal((await open('kim', 'sales')).agent_id, spare.id);
    await configure('sales', { sticky_wait_s: 0 });
    await updateAgent(ctx, first.id, { status: 'online' }, SYSTEM);
    const c2 = await open('ann', 'sales');
    assert.equal(c2.agent_id, first.id);
    await resolve(c2.id);
    await open('bob', 'sales'); // first is full
    const third = await online(['sales'], 1);
    assert.equal((await open('ann', 'sales')).agent_id, third.id, 'no wait: routed normally at once');
    await holds();
  });

  it('ages: a low priority conversation overtakes higher ones after waiting long enough, and the queue shows it', async () => {
    await configure('sales', { aging_per_min: 1 });
    const { token } = await t.user('supervisor');
    const low = await open('low', 'sales', { priority: 0 });
    clock.advance(4 * 60_000);
    const high = await open('high', 'sales', { priority: 3 }); // low has gained 4 by now
    const queue = async () => (await t.call('GET', '/api/v1/queue?department=sales', { token })).json() as { conversation: { id: string }; position: number }[];
    assert.deepEqual((await queue()).map((e) => [e.conversation.id, e.position]), [[low.id, 1], [high.id, 2]]);
    const agent = await online(['sales'], 1);
    assert.equal((await row(low.id)).agent_id, agent.id, 'the aged one is served first');
    assert.equal((await row(high.id)).state, 'queued');
    await holds();
  });

  it('without aging the queue is served by priority, however long a low one waits', async () => {
    const low = await open('low', 'sales', { priority: 0 });
    clock.advance(60 * 60_000);
    const high = await open('high', 'sales', { priority: 1 });
    const { token } = await t.user('supervisor');
    const res = await t.call('GET', '/api/v1/queue?department=sales', { token });
    assert.equal(res.statusCode, 200, res.body);
    const listed = res.json() as { conversation: { id: string } }[];
    assert.deepEqual(listed.map((e) => e.conversation.id), [high.id, low.id]);
    await online(['sales'], 1);
    assert.equal((await row(high.id)).state, 'assigned');
    assert.equal((await row(low.id)).state, 'queued');
  });

  it('ages across departments at their own rates', async () => {
    await configure('sales', { aging_per_min: 0.5 });
    const sales = await open('s', 'sales', { priority: 0 });
    const support = await open('p', 'support', { priority: 2 });
    clock.advance(3 * 60_000); // sales: 1.5 < 2
    const agent = await online(['sales', 'support'], 1);
    assert.equal((await row(support.id)).agent_id, agent.id);
    await resolve(support.id);
    assert.equal((await row(sales.id)).agent_id, agent.id);
    const sales2 = await open('s2', 'sales', { priority: 0 });
    const support2 = await open('p2', 'support', { priority: 2 });
    clock.advance(5 * 60_000); // sales2: 2.5 > 2
    await resolve(sales.id);
    assert.equal((await row(sales2.id)).agent_id, agent.id, 'sales2 aged past support2');
    assert.equal((await row(support2.id)).state, 'queued');
  });

  it('raises conversation.sla_breached once for an unanswered conversation, delivers it by webhook, and the dashboard counts it', async () => {
    await resetWebhooks(ctx.db);
    let receiver: Receiver | undefined;
    const secrets: string[] = [];
    try {
      receiver = await startReceiver(() => secrets);
      const { secret } = await endpointFor(ctx, receiver, { events: ['conversation.sla_breached'] });
      secrets.push(secret);
      await configure('sales', { sla_first_response_s: 60 });
      const agent = await online(['sales'], 5);
      const unanswered = await open('kim', 'sales');
      assert.equal(new Date(unanswered.sla_due_at!).getTime(), new Date(unanswered.created_at).getTime() + 60_000);
      const answered = await open('lee', 'sales');
      const noted = await open('moe', 'sales');
      const resolved = await open('ann', 'sales');
      const queuedNoAgent = await open('bob', 'other'); // no SLA there
      clock.advance(10_000);
      await addMessage(ctx, answered.id, { sender: 'agent', sender_id: agent.id, text: 'hi' }, actorOf(agent));
      await addMessage(ctx, noted.id, { sender: 'system', sender_id: null, text: 'joined' }, SYSTEM);
      await addNote(ctx, noted.id, 'private', actorOf(agent));
      await resolve(resolved.id);
      const { token, agent: supervisor } = await t.user('supervisor');
      const stats = async () => (await t.call('GET', '/api/v1/stats', { token })).json().sla.departments as unknown[];
      clock.advance(25_000); // half of the target gone for all four
      assert.deepEqual(await stats(), [{ department: 'sales', target_seconds: 60, met_today: 1, breached_today: 0, at_risk: 2 }]);
      clock.advance(30_000); // past the target
      const first = await sweep(ctx);
      assert.equal(first.slaBreached, 2, 'kim and moe (a note and a system message are no answer)');
      assert.equal((await sweep(ctx)).slaBreached, 0, 'once');
      clock.advance(60_000);
      assert.equal((await sweep(ctx)).slaBreached, 0);
      const breached = await row(unanswered.id);
      assert.ok(breached.sla_breached_at);
      assert.equal((await row(answered.id)).sla_breached_at, null);
      assert.equal((await row(resolved.id)).sla_breached_at, null);
      assert.equal((await row(queuedNoAgent.id)).sla_due_at, null);
      const events = await ctx.db.query<{ conversation_id: string; data: { conversation: { sla_breached_at: string }; due_at: string } }>(
        `select conversation_id, data from events where type = 'conversation.sla_breached' order by id`,
      );
      assert.deepEqual(events.map((e) => e.conversation_id).sort(), [unanswered.id, noted.id].sort());
      const kim = events.find((e) => e.conversation_id === unanswered.id)!;
      assert.equal(kim.data.due_at, unanswered.sla_due_at!.toISOString());
      assert.equal(kim.data.conversation.sla_breached_at, new Date(breached.sla_breached_at!).toISOString());
      // a late answer does not undo the breach nor count as met (a supervisor's: the agent was set offline by the sweeps meanwhile)
      await addMessage(ctx, unanswered.id, { sender: 'agent', sender_id: supervisor.id, text: 'sorry' }, actorOf(supervisor));
      assert.deepEqual(await stats(), [{ department: 'sales', target_seconds: 60, met_today: 1, breached_today: 2, at_risk: 0 }]);
      const conv = (await t.call('GET', `/api/v1/conversations/${unanswered.id}`, { token })).json();
      assert.equal(conv.sla_due_at, unanswered.sla_due_at!.toISOString());
      assert.equal(conv.sla_breached_at, new Date(breached.sla_breached_at!).toISOString());
      assert.ok(conv.first_response_at);

      const worker = testWorker(ctx);
      await worker.tick();
      await worker.tick();
      assert.deepEqual(receiver.problems, []);
      assert.deepEqual(receiver.accepted.map((r) => (r.json.data as { conversation: { id: string } }).conversation.id).sort(), [unanswered.id, noted.id].sort());
      assert.ok(receiver.accepted.every((r) => r.json.type === 'conversation.sla_breached'));
    } finally {
      await receiver?.close();
    }
  });

  it('a close past the target of an unanswered conversation raises the breach itself, before the close event', async () => {
    await configure('sales', { sla_first_response_s: 30 });
    const c = await open('kim', 'sales'); // queued: nobody serves sales
    clock.advance(45_000);
    await closeConversation(ctx, c.id, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    const types = await ctx.db.query<{ type: string }>('select type from events where conversation_id = $1 order by id', [c.id]);
    assert.deepEqual(types.map((e) => e.type), ['conversation.created', 'conversation.queued', 'conversation.sla_breached', 'conversation.abandoned']);
    assert.equal((await sweep(ctx)).slaBreached, 0);
    // closed before its target: never breached
    const early = await open('lee', 'sales');
    clock.advance(10_000);
    await closeConversation(ctx, early.id, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    clock.advance(60_000);
    assert.equal((await sweep(ctx)).slaBreached, 0);
    assert.equal((await row(early.id)).sla_breached_at, null);
  });
});
