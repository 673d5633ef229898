// Issue #22 (P3): an ended sticky wait is recorded as ended by the drain
// that finds it; the agent's match reads the queue by its index heads (its
// departments, none, overflow chains); the place of a few given
// conversations is counted, not windowed. Each against an order written out
// by hand or computed independently, on a clock the test moves.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SYSTEM, type AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { changeDepartmentRouting, type DepartmentRoutingChange } from '../../src/routing/department-settings.js';
import { listQueue } from '../../src/routing/queue.js';
import { sweep } from '../../src/routing/sweep.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import { eachTestOnClockedApp, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });

describeEachStore('routing: ended sticky waits, match heads, given positions', (store) => {
  let clock: FakeClock;
  let ctx: Ctx;
  eachTestOnClockedApp(store, (fresh) => ({ clock, ctx } = fresh));

  const configure = (department: string, change: DepartmentRoutingChange) => changeDepartmentRouting(ctx, department, change, null);
  const open = async (customer: string, department: string | null, priority = 0) => {
    clock.advance(1000);
    const { conversation } = await openConversation(ctx, { customer: { id: customer }, department, priority, customer_verified: true });
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
  /** sb_open_conversation's test for whether it must drain first: any queued conversation whose sticky wait ended */
  const openWouldDrain = async () =>
    (await ctx.db.query<{ drains: boolean }>(
      `select exists (select 1 from conversations x where x.state = 'queued' and x.sticky_until is not null and x.sticky_until <= $1) as drains`,
      [clock.now()],
    ))[0]!.drains;
  /** Resolves what `agent` holds until the queue gives them nothing more: the conversations they got, in order. */
  const servedInTurn = async (agent: AgentRow, first: string | null) => {
    const got: string[] = [];
    let holding = first;
    while (holding !== null) {
      got.push(holding);
      await resolve(holding);
      const [next] = await ctx.db.query<{ id: string }>(`select id from conversations where agent_id = $1 and state = 'assigned'`, [agent.id]);
      holding = next?.id ?? null;
    }
    return got;
  };
  const holding = async (agent: AgentRow) =>
    (await ctx.db.query<{ id: string }>(`select id from conversations where agent_id = $1 and state = 'assigned'`, [agent.id]))[0]?.id ?? null;

  it('the sweep records an ended wait nobody could serve as ended, and the order stays exact', async () => {
    // shorter than the agents' keep-alive (30 s), so the sweep does not set them offline
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 10 });
    const first = await online(['sales'], 1);
    const c1 = await open('kim', 'sales');
    assert.equal(c1.agent_id, first.id);
    await resolve(c1.id);
    const lee = await open('lee', 'sales'); // first is full: nobody has room from here on
    assert.equal(lee.agent_id, first.id);
    const a = await open('ann', 'sales');
    const back = await open('kim', 'sales');
    const b = await open('bob', 'sales');
    const urgent = await open('uma', 'sales', 1);
    const before = await row(back.id);
    assert.equal(before.sticky_agent_id, first.id);
    assert.notEqual(before.sticky_until, null);
    assert.equal(await openWouldDrain(), false, 'the wait runs');

    clock.advance(11_000);
    assert.equal(await openWouldDrain(), true, 'the wait ended, not yet recorded');
    const swept = await sweep(ctx);
    assert.equal(swept.assigned, 0, 'nobody has room');
    const after = await row(back.id);
    assert.equal(after.state, 'queued');
    assert.equal(after.sticky_until, null, 'the end of the wait is recorded');
    assert.equal(after.sticky_agent_id, first.id, 'who it waited for stays, as history');
    assert.equal(after.seq, before.seq, 'kept its place');
    assert.equal(new Date(after.queued_at!).getTime(), new Date(before.queued_at!).getTime());
    assert.equal(await openWouldDrain(), false, 'an open no longer drains');

    const d = await open('dan', 'sales');
    assert.equal(d.state, 'queued');
    assert.equal(await openWouldDrain(), false);
    assert.deepEqual((await listQueue(ctx)).map((q) => [q.row.id, q.queue.position]), [
      [urgent.id, 1], [a.id, 2], [back.id, 3], [b.id, 4], [d.id, 5],
    ]);
    assert.deepEqual(await invariantViolations(ctx.db), []);
    // one slot at a time: the queue in its exact order, kim's at its original place
    const spare = await online(['sales'], 1);
    assert.deepEqual(await servedInTurn(spare, await holding(spare)), [urgent.id, a.id, back.id, b.id, d.id]);
    assert.deepEqual(await invariantViolations(ctx.db), []);
  });

  it("an open's drain records the ended wait too, and the newcomer queues behind it", async () => {
    await configure('sales', { sticky_window_s: 3600, sticky_wait_s: 10 });
    const first = await online(['sales'], 1);
    await resolve((await open('kim', 'sales')).id);
    await open('lee', 'sales');
    const back = await open('kim', 'sales');
    assert.notEqual((await row(back.id)).sticky_until, null);
    clock.advance(11_000);
    const later = await open('moe', 'sales');
    assert.equal(later.state, 'queued');
    assert.equal((await row(back.id)).sticky_until, null);
    assert.equal((await row(back.id)).sticky_agent_id, first.id);
    assert.equal(await openWouldDrain(), false);
    const spare = await online(['sales'], 1);
    assert.deepEqual(await servedInTurn(spare, await holding(spare)), [back.id, later.id]);
  });

  it("an agent's match takes the first it can serve across its departments, none and overflow chains, past other departments", async () => {
    await configure('support', { overflow: [{ after_s: 5, to: 'sales' }] });
    await configure('late', { overflow: [{ after_s: 3600, to: 'sales' }] });
    // nobody online: everything queues, in this order of arrival
    const queued: { id: string; department: string | null; priority: number }[] = [];
    const add = async (department: string | null, priority = 0) => {
      const c = await open(`c${queued.length}`, department, priority);
      assert.equal(c.state, 'queued');
      queued.push({ id: c.id, department, priority });
    };
    for (let i = 0; i < 6; i++) await add('billing', i % 2); // ahead of everything, never the agent's
    await add('sales');
    await add('support'); // overflows to sales after 5 s
    await add(null, 1);
    await add('late', 2); // overflows only after an hour: not the agent's yet
    await add('returns');
    await add('sales', 1);
    await add('billing', 3);
    await add(null);
    await add('support', 1);
    clock.advance(10_000);
    const serves = (c: (typeof queued)[number]) => c.department === null || ['sales', 'returns'].includes(c.department) || c.department === 'support';
    const expected = queued
      .map((c, seq) => ({ ...c, seq }))
      .filter(serves)
      .sort((x, y) => y.priority - x.priority || x.seq - y.seq)
      .map((c) => c.id);
    const agent = await online(['sales', 'returns'], 1); // comes online: sb_match_for_agent
    assert.deepEqual(await servedInTurn(agent, await holding(agent)), expected);
    const left = (await listQueue(ctx)).map((q) => q.row.department).sort();
    assert.deepEqual(left, ['billing', 'billing', 'billing', 'billing', 'billing', 'billing', 'billing', 'late']);
  });

  // A close reads the time when it starts; an open in another process can
  // queue, by its own clock, a moment later, and commit before the close
  // reads the queue. Waited 0 s, by that open's terms, means waited enough.
  for (const rule of ['overflow', 'skills relaxed'] as const) {
    it(`a close that started a moment before an open queued gives the freed slot to it when its ${rule} after 0 s lets the agent serve it`, async () => {
      if (rule === 'overflow') await configure('support', { overflow: [{ after_s: 0, to: 'sales' }] });
      else await configure('support', { required_skills: { accounts: 2 }, skills_relax_after_s: 0 });
      const agent = await online(rule === 'overflow' ? ['sales'] : ['support'], 1);
      const busy = await open('c0', rule === 'overflow' ? 'sales' : null);
      assert.equal(busy.agent_id, agent.id);
      const closeStarted = clock.now().getTime() + 500;
      const waiting = await open('c1', 'support'); // queued 1 s after c0's open: the agent is full
      assert.equal(waiting.state, 'queued');
      clock.set(closeStarted);
      await closeConversation(ctx, busy.id, { reason: 'agent' }, actorOf(agent));
      const after = await row(waiting.id);
      assert.equal(after.state, 'assigned', 'the freed slot goes to the conversation waiting for it, not to the sweep');
      assert.equal(after.agent_id, agent.id);
      assert.deepEqual(await invariantViolations(ctx.db, { now: clock.now() }), []);
    });
  }

  for (const aging of [false, true]) {
    it(`the positions of given conversations are the window's${aging ? ', with aging' : ''}`, async () => {
      if (aging) {
        await configure('sales', { aging_per_min: 2 });
        await configure('support', { aging_per_min: 0.5 });
      }
      const departments = ['sales', 'support', null, 'billing'];
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const c = await open(`c${i}`, departments[(i * 7) % 4]!, (i * 5) % 3);
        if (i % 9 === 0) clock.advance(30_000); // aging moves some past others
        ids.push(c.id);
      }
      clock.advance(45_000);
      const whole = new Map((await listQueue(ctx)).map((q) => [q.row.id, q.queue]));
      assert.equal(whole.size, 40);
      for (const id of ids) {
        const [one] = await listQueue(ctx, { conversationIds: [id] });
        assert.deepEqual(one!.queue, whole.get(id), `conversation ${ids.indexOf(id)}`);
      }
      const some = ids.filter((_, i) => i % 3 === 0);
      const given = await listQueue(ctx, { conversationIds: some });
      assert.deepEqual(given.map((q) => [q.row.id, q.queue]), [...whole].filter(([id]) => some.includes(id)));
      const inSales = await listQueue(ctx, { department: 'sales', conversationIds: some });
      assert.deepEqual(inSales.map((q) => [q.row.id, q.queue]), [...whole].filter(([id]) => some.includes(id) && given.find((q) => q.row.id === id)!.row.department === 'sales'));
      const positions = (await listQueue(ctx, { department: null, conversationIds: ids.slice(0, 20) })).map((q) => q.queue.position);
      assert.deepEqual(positions, [...positions].sort((x, y) => x - y), 'in queue order');
      assert.ok(positions.length > 0);
    });
  }
});
