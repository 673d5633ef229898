import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { sweep } from '../../src/routing/sweep.js';
import { makeAgent } from '../helpers/fixtures.js';
import { eachTestOnClock, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';

// The sweep's drain (sb_match_next) passes over queued conversations of
// departments no agent with room serves without testing each agent (issue
// #22: a long such queue made every sweep take seconds). What it gives
// must not change: the first conversation in queue order that an agent
// with room may serve, including one that reaches that agent's department
// through its overflow chain.
describeEachStore('routing: the drain past a queue nobody with room serves', (store) => {
  let clock: FakeClock;
  let ctx: Ctx;
  eachTestOnClock(store, (fresh) => ({ clock, ctx } = fresh));

  const state = async (id: string) =>
    (await ctx.db.query<{ state: string; agent_id: string | null }>('select state, agent_id from conversations where id = $1', [id]))[0]!;

  /** Sales is busy, support's agent is away: opens of both departments queue. Then support's agent is back, as the sweep finds them. */
  async function setUp() {
    const sales = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const support = await makeAgent(ctx, { status: 'away', capacity: 2, departments: ['support'] });
    const open = async (department: string, n: number) =>
      (await openConversation(ctx, { customer: { id: `${department}-${n}` }, department })).conversation;
    const busy = await open('sales', 0);
    assert.equal(busy.agent_id, sales.id);
    clock.advance(1000);
    const waiting = { salesFirst: await open('sales', 1), salesSecond: await open('sales', 2), support: await open('support', 1) };
    for (const c of Object.values(waiting)) assert.equal(c.state, 'queued');
    // online without the status change's own match, so only the sweep's drain can give them anything
    await ctx.db.query(`update agents set status = 'online', last_seen_at = $2 where id = $1`, [support.id, clock.now()]);
    return { sales, support, waiting };
  }

  it('gives the agent with room the first conversation of their department, past the ones ahead that nobody with room serves', async () => {
    const { support, waiting } = await setUp();
    const result = await sweep(ctx);
    assert.equal(result.assigned, 1);
    assert.deepEqual(await state(waiting.support.id), { state: 'assigned', agent_id: support.id });
    assert.equal((await state(waiting.salesFirst.id)).state, 'queued');
    assert.equal((await state(waiting.salesSecond.id)).state, 'queued');
  });

  it('still gives a conversation of another department whose overflow chain reaches the agent, in queue order', async () => {
    const { support, waiting } = await setUp();
    await ctx.db.query(`update conversations set overflow = '[{"to": "support", "after_s": 0}]' where id = $1`, [waiting.salesSecond.id]);
    const result = await sweep(ctx);
    assert.equal(result.assigned, 2);
    // the overflowing sales conversation is ahead of support's own in the queue, and support's agent has room for both
    assert.deepEqual(await state(waiting.salesSecond.id), { state: 'assigned', agent_id: support.id });
    assert.deepEqual(await state(waiting.support.id), { state: 'assigned', agent_id: support.id });
    assert.equal((await state(waiting.salesFirst.id)).state, 'queued');
  });
});
