// The gaps left in the routing modes of issue #20 (docs/routing.md): skills
// required by labels and channels, the queue's expected wait counting only
// the agents who could serve a conversation (and offers as held slots),
// offered conversations on /metrics and the dashboard, declines that run
// out, and the invariants helper knowing sticky waits.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { heartbeat } from '../../src/agents/agents.js';
import { sweep } from '../../src/routing/sweep.js';
import { expectError, expectInvalid, kitFor, type ConversationView, type User } from '../helpers/api-kit.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

interface LabelView {
  id: string;
  name: string;
  required_skills: Record<string, number>;
}
interface QueueEntry {
  conversation: { id: string };
  position: number;
  expected_wait_seconds: number | null;
}

describeEachStore('routing gaps: label and channel skills, queue estimate, offered counts, declines', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const ok = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, admin: User, body?: unknown, status = 200) => {
    const res = await k.call(method, url, { token: admin.token, ...(body === undefined ? {} : { body }) });
    assert.equal(res.statusCode, status, `${method} ${url}: ${res.body}`);
    return res.statusCode === 204 ? undefined : res.json();
  };
  /** An agent serving `departments` with these skills, then (unless `offline`) online, as an admin would set them up. */
  const agent = async (admin: User, departments: string[], skills: Record<string, number>, capacity: number, status: 'online' | 'offline' = 'online') => {
    const user = await k.user('agent', { departments, capacity });
    await ok('PATCH', `/api/v1/agents/${user.agent.id}`, admin, { skills });
    if (status === 'online') await ok('PATCH', `/api/v1/agents/${user.agent.id}`, admin, { status: 'online' });
    return user;
  };
  const label = async (admin: User, name: string, required_skills?: Record<string, number>) =>
    (await ok('POST', '/api/v1/labels', admin, { name, color: '#336699', ...(required_skills ? { required_skills } : {}) }, 201)) as LabelView;
  const setLabels = async (admin: User, id: string, labels: string[]) => (await ok('PUT', `/api/v1/conversations/${id}/labels`, admin, { labels })) as ConversationView & { required_skills: Record<string, number> };
  const row = async (id: string) =>
    (await store().db.query<{ state: string; agent_id: string | null; required_skills: Record<string, number> }>('select state, agent_id, required_skills from conversations where id = $1', [id]))[0]!;
  const holds = async () => assert.deepEqual(await invariantViolations(store().db, { now: k.clock.now() }), []);
  /** Time passes with every online agent's client sending heartbeats (keep-alive 30 s), then the sweep runs. */
  const wait = async (seconds: number) => {
    for (let left = seconds; left > 0; left -= 10) {
      k.clock.advance(Math.min(left, 10) * 1000);
      for (const { id } of await store().db.query<{ id: string }>(`select id from agents where status <> 'offline'`)) await heartbeat(k.t.ctx, id);
    }
    await sweep(k.t.ctx);
  };
  const sample = (text: string, name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };

  it('a label carries required skills: set on create and by PATCH, listed; bad skills are a 400 naming the field and change nothing', async () => {
    const { admin } = await k.cast();
    const vip = await label(admin, 'VIP', { spanish: 3, legal: 1 });
    assert.deepEqual(vip.required_skills, { spanish: 3, legal: 1 });
    assert.deepEqual((await label(admin, 'plain')).required_skills, {}, 'a label nobody gave skills requires none');
    const patched = (await ok('PATCH', `/api/v1/labels/${vip.id}`, admin, { required_skills: { spanish: 2 } })) as LabelView;
    assert.deepEqual(patched.required_skills, { spanish: 2 });
    const recoloured = (await ok('PATCH', `/api/v1/labels/${vip.id}`, admin, { color: '#000000' })) as LabelView;
    assert.deepEqual(recoloured.required_skills, { spanish: 2 }, 'a PATCH without required_skills keeps them');
    const listed = (await ok('GET', '/api/v1/labels', admin)) as LabelView[];
    assert.deepEqual(listed.map((l) => [l.name, l.required_skills]), [['plain', {}], ['VIP', { spanish: 2 }]]);
    await k.unchanged(async () => {
      expectInvalid(await k.call('POST', '/api/v1/labels', { token: admin.token, body: { name: 'x', color: '#000000', required_skills: { spanish: 11 } } }), 'required_skills.spanish');
      expectInvalid(await k.call('POST', '/api/v1/labels', { token: admin.token, body: { name: 'x', color: '#000000', required_skills: { spanish: 0 } } }), 'required_skills.spanish');
      expectInvalid(await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { required_skills: { 'Not A Skill': 1 } } }), 'required_skills.Not A Skill');
      expectInvalid(await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { required_skills: { spanish: 1.5 } } }), 'required_skills.spanish');
    });
  });

  it('labels add skills to a conversation: the highest level per skill over department, channel, labels and opener; an assigned one keeps its agent, a waiting one whose requirement shrinks is matched in the same request', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    await ok('PUT', '/api/v1/departments/support/routing', admin, { required_skills: { spanish: 1 } });
    await ok('PUT', '/api/v1/channels/api/routing', admin, { required_skills: { billing: 2 } });
    await label(admin, 'vip', { spanish: 3, legal: 1 });
    const ana = await agent(admin, ['support'], { spanish: 3, billing: 2 }, 1);
    const bo = await agent(admin, ['support'], { spanish: 1, billing: 2 }, 1);

    const c1 = await k.open(admin.token, { department: 'support', required_skills: { billing: 1 } });
    assert.deepEqual((await row(c1.id)).required_skills, { spanish: 1, billing: 2 }, "department's spanish 1, the channel's billing 2 over the opener's billing 1");
    assert.equal(c1.agent_id, ana.agent.id, 'the better match');
    // an assigned conversation keeps its agent, although Ana lacks legal
    const relabelled = await setLabels(admin, c1.id, ['vip']);
    assert.equal(relabelled.state, 'assigned');
    assert.equal(relabelled.agent_id, ana.agent.id);
    assert.deepEqual(relabelled.required_skills, { spanish: 3, billing: 2, legal: 1 });

    const c2 = await k.open(admin.token, { department: 'support' });
    assert.equal(c2.agent_id, bo.agent.id);
    const c3 = await k.open(admin.token, { department: 'support' });
    assert.equal(c3.state, 'queued', 'Ana and Bo are full');
    const raised = await setLabels(admin, c3.id, ['vip']);
    assert.deepEqual(raised.required_skills, { spanish: 3, billing: 2, legal: 1 });
    // Bo frees up, but c3 now needs legal and Spanish at 3
    await ok('POST', `/api/v1/conversations/${c2.id}/resolve`, admin, {});
    assert.equal((await row(c3.id)).state, 'queued');
    assert.equal((await k.agentRow(bo.agent.id)).load, 0);
    await holds();
    // the label goes: the requirement shrinks back and Bo, who has room, gets it in the same request
    const lowered = await setLabels(admin, c3.id, []);
    assert.deepEqual(lowered.required_skills, { spanish: 1, billing: 2 });
    assert.equal(lowered.state, 'assigned');
    assert.equal(lowered.agent_id, bo.agent.id);
    const events = await store().db.query<{ type: string }>(`select type from events where conversation_id = $1 and id > (select max(id) from events where type = 'conversation.resolved') order by id`, [c3.id]);
    assert.deepEqual(events.map((e) => e.type), ['conversation.labels_changed', 'conversation.assigned']);
    await holds();
  });

  it("a channel's skills: set with PUT /channels/:channel/routing, taken by its open conversations at once, a smaller requirement matched at once", async () => {
    const { admin, agent: plainAgent } = await k.cast({ agentCapacity: 0 });
    assert.deepEqual(await ok('GET', '/api/v1/channels/widget/routing', admin), { channel: 'widget', required_skills: {} });
    const bo = await agent(admin, ['support'], { billing: 1 }, 1);

    assert.deepEqual(await ok('PUT', '/api/v1/channels/api/routing', admin, { required_skills: { billing: 2 } }), { channel: 'api', required_skills: { billing: 2 } });
    assert.deepEqual(await ok('GET', '/api/v1/channels/api/routing', { ...admin, token: plainAgent.token }), { channel: 'api', required_skills: { billing: 2 } }, 'any agent reads it');
    const c = await k.open(admin.token, { department: 'support' });
    assert.equal(c.state, 'queued', 'Bo has billing 1 only');
    assert.deepEqual((await row(c.id)).required_skills, { billing: 2 });
    await holds();
    await ok('PUT', '/api/v1/channels/api/routing', admin, { required_skills: {} });
    const now = await row(c.id);
    assert.deepEqual(now.required_skills, {});
    assert.equal(now.state, 'assigned');
    assert.equal(now.agent_id, bo.agent.id);
    await holds();

    const rows = () => k.count('channel_routing');
    const before = await rows();
    await k.unchanged(async () => {
      expectInvalid(await k.call('PUT', '/api/v1/channels/fax/routing', { token: admin.token, body: { required_skills: {} } }), 'channel');
      expectInvalid(await k.call('PUT', '/api/v1/channels/api/routing', { token: admin.token, body: { required_skills: { billing: 11 } } }), 'required_skills.billing');
      expectInvalid(await k.call('PUT', '/api/v1/channels/api/routing', { token: admin.token, body: {} }), 'required_skills');
      expectError(await k.call('PUT', '/api/v1/channels/api/routing', { token: plainAgent.token, body: { required_skills: {} } }), 403, 'SB_FORBIDDEN');
    });
    assert.equal(await rows(), before);
  });

  it("changing a label's skills, or deleting it, applies to the open conversations carrying it and matches what it lets through", async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const es = await label(admin, 'es', { spanish: 2 });
    const legal = await label(admin, 'legal', { legal: 1 });
    const bo = await agent(admin, ['support'], { spanish: 1 }, 3, 'offline');
    const [c1, c2, c3] = [await k.open(admin.token, { department: 'support' }), await k.open(admin.token, { department: 'support' }), await k.open(admin.token, { department: 'support' })];
    await setLabels(admin, c1!.id, ['es']);
    await setLabels(admin, c2!.id, ['es']);
    await setLabels(admin, c3!.id, ['legal']);
    await ok('PATCH', `/api/v1/agents/${bo.agent.id}`, admin, { status: 'online' });
    for (const c of [c1!, c2!, c3!]) assert.equal((await row(c.id)).state, 'queued', 'Bo has Spanish at 1 and no legal');
    await holds();
    await ok('PATCH', `/api/v1/labels/${es.id}`, admin, { required_skills: { spanish: 1 } });
    assert.deepEqual([(await row(c1!.id)).agent_id, (await row(c2!.id)).agent_id], [bo.agent.id, bo.agent.id], 'the PATCH let both through');
    assert.equal((await row(c3!.id)).state, 'queued');
    await ok('DELETE', `/api/v1/labels/${legal.id}`, admin, undefined, 204);
    const third = await row(c3!.id);
    assert.deepEqual(third.required_skills, {});
    assert.equal(third.agent_id, bo.agent.id, 'the delete let it through');
    await holds();
  });

  it('expected wait counts only agents who could serve the conversation (overflow, skills) and offered conversations as held slots', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    // no conversation resolved yet: the mean handle time is 300 s
    await ok('PUT', '/api/v1/departments/sales/routing', admin, { overflow: [{ after_s: 60, to: 'support' }] });
    const sam = await agent(admin, ['sales'], {}, 2);
    const pat = await agent(admin, ['support'], { french: 1 }, 2);
    await agent(admin, ['billing'], { french: 5 }, 4); // serves neither sales nor support: never counted
    for (let i = 0; i < 2; i++) assert.equal((await k.open(admin.token, { department: 'sales' })).agent_id, sam.agent.id);
    for (let i = 0; i < 2; i++) assert.equal((await k.open(admin.token, { department: 'support' })).agent_id, pat.agent.id);
    const plain = await k.open(admin.token, { department: 'sales' });
    const french = await k.open(admin.token, { department: 'sales', required_skills: { french: 1 } });
    const queue = async () => new Map(((await ok('GET', '/api/v1/queue', admin)) as QueueEntry[]).map((e) => [e.conversation.id, e]));
    let q = await queue();
    // plain: Sam's 2 slots and Pat's 2 (support takes sales' overflow after 60 s): 1 × 300 / 4
    assert.deepEqual([q.get(plain.id)!.position, q.get(plain.id)!.expected_wait_seconds], [1, 75]);
    // french: only Pat speaks French: 2nd in the sales queue, 2 × 300 / 2
    assert.deepEqual([q.get(french.id)!.position, q.get(french.id)!.expected_wait_seconds], [2, 300]);
    const single = (await ok('GET', `/api/v1/conversations/${plain.id}`, admin)) as { queue_position: number; expected_wait_seconds: number };
    assert.deepEqual([single.queue_position, single.expected_wait_seconds], [1, 75], 'the conversation (and the widget) say the same');

    // offer mode: Ola holds two offers, so nobody has room for the third conversation
    await ok('PUT', '/api/v1/departments/desk/routing', admin, { mode: 'offer' });
    const ola = await agent(admin, ['desk'], {}, 2);
    const d1 = await k.open(admin.token, { department: 'desk' });
    const d2 = await k.open(admin.token, { department: 'desk' });
    assert.deepEqual([d1.state, d1.agent_id, d2.state], ['offered', ola.agent.id, 'offered']);
    const d3 = await k.open(admin.token, { department: 'desk' });
    q = await queue();
    assert.deepEqual([q.get(d3.id)!.position, q.get(d3.id)!.expected_wait_seconds], [1, 150], 'the offers hold both slots: 1 × 300 / 2, not 0');

    // manual mode: Max's free slots take the first two at once, the third waits for one to free: (3 − 2) × 300 / 2
    await ok('PUT', '/api/v1/departments/picks/routing', admin, { mode: 'manual', manual_order: 'any' });
    await agent(admin, ['picks'], {}, 2);
    const picks = [await k.open(admin.token, { department: 'picks' }), await k.open(admin.token, { department: 'picks' }), await k.open(admin.token, { department: 'picks' })];
    q = await queue();
    assert.deepEqual(picks.map((p) => q.get(p.id)!.expected_wait_seconds), [0, 0, 150]);
  });

  it('offered conversations are counted on /metrics and the dashboard, next to queued and assigned, per department', async () => {
    const { admin, supervisor } = await k.cast({ agentCapacity: 0 });
    await ok('PUT', '/api/v1/departments/desk/routing', admin, { mode: 'offer' });
    await ok('PUT', '/api/v1/departments/solo/routing', admin, { mode: 'offer' });
    await agent(admin, ['desk'], {}, 1);
    await agent(admin, ['solo'], {}, 1);
    await agent(admin, ['sales'], {}, 1);
    assert.equal((await k.open(admin.token, { department: 'desk' })).state, 'offered');
    assert.equal((await k.open(admin.token, { department: 'desk' })).state, 'queued');
    assert.equal((await k.open(admin.token, { department: 'solo' })).state, 'offered');
    assert.equal((await k.open(admin.token, { department: 'sales' })).state, 'assigned');
    k.clock.advance(30_000);

    const metrics = (await k.call('GET', '/metrics')).body;
    assert.match(metrics, /^# TYPE switchboard_conversations_offered gauge$/m);
    assert.equal(sample(metrics, 'switchboard_conversations_offered'), 2);
    assert.equal(sample(metrics, 'switchboard_queue_length'), 1);
    assert.equal(sample(metrics, 'switchboard_conversations_assigned'), 1);

    const stats = (await ok('GET', '/api/v1/stats', supervisor)) as { queue: { length: number; offered: number; longest_wait_seconds: number; departments: unknown[] } };
    assert.equal(stats.queue.length, 1);
    assert.equal(stats.queue.offered, 2);
    assert.equal(stats.queue.longest_wait_seconds, 30);
    assert.deepEqual(stats.queue.departments, [
      { department: 'desk', length: 1, longest_wait_seconds: 30, offered: 1 },
      { department: 'solo', length: 0, longest_wait_seconds: 0, offered: 1 },
    ]);
  });

  it('declines run out: offer_timeout_s after the last decline, a conversation every agent declined is offered again (conversation.queued, reason declines_cleared)', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    await ok('PUT', '/api/v1/departments/desk/routing', admin, { mode: 'offer', offer_timeout_s: 20 });
    const a = await agent(admin, ['desk'], {}, 1);
    const b = await agent(admin, ['desk'], {}, 1);
    const tokenOf = (id: string | null) => (id === a.agent.id ? a.token : b.token);
    const c = await k.open(admin.token, { department: 'desk' });
    assert.equal(c.state, 'offered');
    const first = c.agent_id!;
    k.clock.advance(2000);
    const passed = (await ok('POST', `/api/v1/conversations/${c.id}/decline`, { ...admin, token: tokenOf(first) }, {})) as ConversationView;
    assert.equal(passed.state, 'offered');
    const second = passed.agent_id!;
    assert.notEqual(second, first);
    k.clock.advance(3000);
    const back = (await ok('POST', `/api/v1/conversations/${c.id}/decline`, { ...admin, token: tokenOf(second) }, {})) as ConversationView;
    assert.equal(back.state, 'queued', 'both declined: nobody is offered it');
    await holds();
    await wait(19); // 19 s after the last decline: still declined
    assert.equal((await row(c.id)).state, 'queued');
    await holds();
    await wait(1); // 20 s: the declines run out and the sweep offers it again
    const again = await row(c.id);
    assert.equal(again.state, 'offered');
    assert.ok([first, second].includes(again.agent_id!));
    const [cleared] = await store().db.query<{ data: { reason: string; declined_by: string[] } }>(
      `select data from events where conversation_id = $1 and type = 'conversation.queued' order by id desc limit 1`,
      [c.id],
    );
    assert.equal(cleared!.data.reason, 'declines_cleared');
    assert.deepEqual([...cleared!.data.declined_by].sort(), [first, second].sort());
    await holds();
  });

  it('the invariants helper knows sticky waits: only the sticky agent having room is a violation, until the wait ends', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    await ok('PUT', '/api/v1/departments/sales/routing', admin, { sticky_window_s: 3600, sticky_wait_s: 120 });
    const ann = await agent(admin, ['sales'], {}, 1);
    const first = await k.open(admin.token, { department: 'sales', customer: { id: 'kim' } });
    assert.equal(first.agent_id, ann.agent.id);
    await ok('POST', `/api/v1/conversations/${first.id}/resolve`, admin, {});
    assert.equal((await k.open(admin.token, { department: 'sales' })).agent_id, ann.agent.id, 'Ann is full again');
    const bob = await agent(admin, ['sales'], {}, 1);
    const back = await k.open(admin.token, { department: 'sales', customer: { id: 'kim' } });
    assert.equal(back.state, 'queued', 'Kim waits for Ann');
    const sticky = await store().db.query<{ sticky_agent_id: string }>('select sticky_agent_id from conversations where id = $1', [back.id]);
    assert.equal(sticky[0]!.sticky_agent_id, ann.agent.id);
    assert.deepEqual(await invariantViolations(store().db, { now: k.clock.now() }), [], 'Bob has room, but the wait is for Ann');
    assert.deepEqual(await invariantViolations(store().db), [], 'without a time the wait counts as running');
    // Ann gains room behind the engine's back: now it is a violation, and only Ann's room is
    await store().db.query('update agents set capacity = 2 where id = $1', [ann.agent.id]);
    assert.deepEqual(await invariantViolations(store().db, { now: k.clock.now() }), [`conversation ${back.id} waits while agent ${ann.agent.id} has room`]);
    await store().db.query('update agents set capacity = 1 where id = $1', [ann.agent.id]);
    // after the wait anyone eligible may take it: Bob's room is a violation until the sweep gives it to him
    const after = new Date(k.clock.now().getTime() + 121_000);
    assert.deepEqual(await invariantViolations(store().db, { now: after }), [`conversation ${back.id} waits while agent ${bob.agent.id} has room`]);
  });
});
