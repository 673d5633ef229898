// Issue #22 (resolve p99): a resolve that hands its agent's slot to the
// queue's head is announced twice on control topics (the resolved
// conversation's session/closed, the head's session/ready), both naming the
// same agent and started together. The publisher reads that agent's name
// once for both, not once each; a rename is read again. Every agent's name
// comes in one read, not one read per agent (a third of the creates of
// bench/creates-http.ts made one). A rename another process makes shows as
// its notice arrives (migration 0070), or, while this process cannot hear
// the notices, once the names are that read's maximum age old.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { updateAgent } from '../../src/agents/agents.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { AGENT_NAMES_MAX_AGE_MS } from '../../src/realtime/agent-names.js';
import type { Publisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import type { Db } from '../../src/store/db.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';
import { recordingPublisher } from '../helpers/recording-publisher.js';

/** a read of one agent's name, or of every agent's */
const NAME_READ = /select (id, )?name from agents/;

describeEachStore('realtime: agent names on the control topics', (store) => {
  let t: TestApp;
  let publisher: Publisher;
  let published: { topic: string; payload: any }[];
  let nameReads: number;
  /** the publisher's clock, ms */
  let clock: number;
  /** the publisher's context: its store counts the name reads, its commits go to the publisher */
  let ctx: Ctx;
  const topics = topicsOf('sb');

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    published = [];
    nameReads = 0;
    clock = Date.parse('2026-11-25T12:00:00Z');
    const db: Db = {
      ...t.ctx.db,
      query: (text, params) => {
        if (NAME_READ.test(text)) nameReads += 1;
        return t.ctx.db.query(text, params);
      },
    };
    ctx = { ...t.ctx, db, now: () => new Date(clock), onCommitted: (events) => publisher.onCommitted(events) };
    publisher = recordingPublisher(ctx, topics, published, { queueDebounceMs: 0 });
  });
  afterEach(async () => {
    await publisher.close();
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

  it("one read for every agent's name, not one per agent", async () => {
    const agents = [await makeAgent(t.ctx, { status: 'online', capacity: 1, name: 'Ada' }), await makeAgent(t.ctx, { status: 'online', capacity: 1, name: 'Grace' })];
    const opened = [await openConversation(t.ctx, { customer: { id: 'one' } }), await openConversation(t.ctx, { customer: { id: 'two' } })];
    for (const { conversation } of opened) await publisher.announce(conversation);

    const named = opened.map(({ conversation }) => control(conversation.id).at(-1).sessionInfo.agent);
    const byId = new Map(agents.map((a) => [a.id, a.name]));
    assert.equal(new Set(named.map((a) => a.id)).size, 2, 'one conversation each');
    for (const agent of named) assert.equal(agent.name, byId.get(agent.id));
    assert.equal(nameReads, 1);
  });

  /** Polls until `check` holds: another process's change is heard through its notice. */
  async function eventually(check: () => Promise<boolean>, what: string) {
    const until = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > until) assert.fail(`not within 5 s: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Renames `id` through another app on the same database: its agent.updated never reaches this publisher. */
  async function renameElsewhere(id: string, name: string) {
    const other = await testApp(store());
    try {
      await updateAgent(other.ctx, id, { name }, SYSTEM);
    } finally {
      await other.close();
    }
  }

  /** Ada, holding a conversation; `named` announces it and says the name the announce carried. */
  async function heldByAda() {
    const agent = await makeAgent(t.ctx, { status: 'online', capacity: 1, name: 'Ada' });
    const { conversation } = await openConversation(t.ctx, { customer: { id: 'held' } });
    const named = async () => {
      await publisher.announce(conversation);
      return control(conversation.id).at(-1).sessionInfo.agent.name as string;
    };
    return { agent, named };
  }

  it('a rename another process makes shows at the next announce once its notice arrives (migration 0070)', async () => {
    const { agent, named } = await heldByAda();
    assert.equal(await named(), 'Ada');
    // hearing the notices, the names read do not age: once the listening
    // connection is up, an announce a maximum age later reads nothing
    await eventually(async () => {
      clock += AGENT_NAMES_MAX_AGE_MS;
      const before = nameReads;
      await named();
      return nameReads === before;
    }, 'the names are kept while the notices are heard');

    await renameElsewhere(agent.id, 'Ada L.');
    await eventually(async () => (await named()) === 'Ada L.', 'the rename shows without the clock moving');
    const before = nameReads;
    assert.equal(await named(), 'Ada L.');
    assert.equal(nameReads, before, 'read once after the notice');
  });

  it('without the notices (no listening connection), a rename another process makes shows once the names read are their maximum age old', async () => {
    await publisher.close();
    const deaf: Db = { ...ctx.db, listen: () => Promise.reject(new Error('no listening connection')) };
    publisher = recordingPublisher({ ...ctx, db: deaf }, topics, published, { queueDebounceMs: 0 });
    const { agent, named } = await heldByAda();
    assert.equal(await named(), 'Ada');

    await renameElsewhere(agent.id, 'Ada L.');
    clock += AGENT_NAMES_MAX_AGE_MS - 1;
    assert.equal(await named(), 'Ada', 'names are not read again for every announce');
    clock += 1;
    assert.equal(await named(), 'Ada L.');
    assert.equal(nameReads, 2);
  });
});
