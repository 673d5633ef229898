// Issue #22 (resolve p99): a resolve that hands its agent's slot to the
// queue's head is announced twice on control topics (the resolved
// conversation's session/closed, the head's session/ready), both naming the
// same agent and started together. The publisher reads that agent's name
// once for both, not once each; a rename is read again.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { updateAgent } from '../../src/agents/agents.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { Assignments } from '../../src/realtime/access.js';
import { createPublisher, type Publisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import type { Db } from '../../src/store/db.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

const NAME_READ = /select name from agents where id = \$1/;

describeEachStore('realtime: agent names on the control topics', (store) => {
  let t: TestApp;
  let publisher: Publisher;
  let published: { topic: string; payload: any }[];
  let nameReads: number;
  /** the publisher's context: its store counts the name reads, its commits go to the publisher */
  let ctx: Ctx;
  const topics = topicsOf('sb');

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    published = [];
    nameReads = 0;
    const db: Db = {
      ...t.ctx.db,
      query: (text, params) => {
        if (NAME_READ.test(text)) nameReads += 1;
        return t.ctx.db.query(text, params);
      },
    };
    ctx = { ...t.ctx, db, onCommitted: (events) => publisher.onCommitted(events) };
    publisher = createPublisher({
      ctx,
      topics,
      assignments: new Assignments(),
      publish: async (topic, payload) => void published.push({ topic, payload }),
      onError: (error) => assert.fail(String(error)),
      queueDebounceMs: 0,
    });
  });
  afterEach(async () => {
    publisher.close();
    await t.close();
  });

  const control = (id: string) => published.filter((p) => p.topic === topics.conversation(id, 'control')).map((p) => p.payload);

  it('one read of the agent for both announces of a resolve that gives the slot to the head', async () => {
    const agent = await makeAgent(t.ctx, { status: 'online', capacity: 1, name: 'Ada' });
    const held = await openConversation(t.ctx, { customer: { id: 'held' } });
    const waiting = await openConversation(t.ctx, { customer: { id: 'waiting' } });
    assert.equal(held.conversation.agent_id, agent.id);
    assert.equal(waiting.conversation.state, 'queued');

    await closeConversation(ctx, held.conversation.id, { reason: 'agent' }, SYSTEM);
    await publisher.idle();

    const [closed] = control(held.conversation.id);
    const [ready] = control(waiting.conversation.id);
    assert.equal(closed?.instruction, 'session/closed');
    assert.deepEqual(closed.sessionInfo.agent, { id: agent.id, name: 'Ada' });
    assert.equal(ready?.instruction, 'session/ready');
    assert.deepEqual(ready.sessionInfo.agent, { id: agent.id, name: 'Ada' });
    assert.equal(nameReads, 1, 'the two announces share one read of the name');

    // Known from then on; a rename (agent.updated) makes the next announce read it again.
    const next = await openConversation(t.ctx, { customer: { id: 'next' } });
    await closeConversation(ctx, waiting.conversation.id, { reason: 'agent' }, SYSTEM);
    await publisher.idle();
    assert.equal(nameReads, 1);
    await updateAgent(ctx, agent.id, { name: 'Ada L.' }, SYSTEM);
    await closeConversation(ctx, next.conversation.id, { reason: 'agent' }, SYSTEM);
    await publisher.idle();
    assert.equal(nameReads, 2);
    assert.deepEqual(control(next.conversation.id).at(-1).sessionInfo.agent, { id: agent.id, name: 'Ada L.' });
  });
});
