// Issue #22 (server CPU per new conversation): a conversation event goes
// to its agent's inbox and to the supervisors' with one payload, which
// carries the whole conversation, and the broker serialized it once per
// topic. It is serialized once, by the first publish that sends it (none
// when no topic has anyone to hear it: broker.ts); what is sent is still
// exactly its JSON.stringify.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { encodePayload } from '../../src/realtime/payloads.js';
import type { Publisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import { eachTestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';
import { recordingPublisher } from '../helpers/recording-publisher.js';

describeEachStore('realtime: a payload for several topics', (store) => {
  const app = eachTestApp(store);

  it("is serialized once for the agent's inbox and the supervisors', as JSON.stringify writes it", async () => {
    const t = app();
    const topics = topicsOf('sb');
    const published: { topic: string; payload: any }[] = [];
    let publisher: Publisher | undefined;
    const ctx: Ctx = { ...t.ctx, onCommitted: (events) => publisher?.onCommitted(events) };
    publisher = recordingPublisher(ctx, topics, published, { queueDebounceMs: 0 });
    try {
      const agent = await makeAgent(t.ctx, { status: 'online', capacity: 1 });
      const { conversation } = await openConversation(ctx, { customer: { id: 'c1' } });
      assert.equal(conversation.agent_id, agent.id);
      await publisher.idle();

      const assigned = (topic: string) => published.find((p) => p.topic === topic && p.payload.type === 'conversation.assigned')?.payload;
      const inbox = assigned(topics.agentEvents(agent.id));
      const supervisors = assigned(topics.supervisorEvents('conversations'));
      assert.ok(inbox && supervisors);
      assert.equal(inbox.conversation.id, conversation.id);

      const stringify = JSON.stringify;
      let serialized = 0;
      JSON.stringify = ((...args: Parameters<typeof stringify>) => {
        serialized += 1;
        return stringify(...args);
      }) as typeof stringify;
      let sent: string[];
      try {
        sent = [encodePayload(inbox).toString(), encodePayload(supervisors).toString()];
      } finally {
        JSON.stringify = stringify;
      }
      assert.equal(serialized, 1, 'serialized by the first publish, not per topic');
      assert.deepEqual(sent, [stringify(inbox), stringify(supervisors)]);
    } finally {
      await publisher.close();
    }
  });
});
