import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('allocation policy', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let ctx: Ctx;
  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    ctx = { db: store().db, now: clock.now };
  });

  const open = (customer: string, extra: Partial<Parameters<typeof openConversation>[1]> = {}) => {
    clock.advance(1000);
    return openConversation(ctx, { customer: { id: customer }, ...extra }).then((r) => r.conversation);
  };

  it('gives a new conversation to the least-loaded online agent', async () => {
    const a = await makeAgent(ctx, { status: 'online', capacity: 3 });
    const b = await makeAgent(ctx, { status: 'online', capacity: 3 });
    const first = await open('c1');
    const second = await open('c2');
    assert.equal(first.state, 'assigned');
    assert.notEqual(first.agent_id, second.agent_id, 'the second conversation goes to the agent with no load');
    assert.deepEqual(new Set([first.agent_id, second.agent_id]), new Set([a.id, b.id]));
    assert.deepEqual(await invariantViolations(ctx.db), []);
  });
});
