import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// MQTT keeps a connection's publishes in order; the embedded broker handles
// the packets of one socket read together, and each message is stored on its
// own database connection. A customer's messages sent back to back must still
// be stored, and reach the agent, in the order they were sent.

describeEachStore('order of one connection’s messages on the embedded broker', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  async function chat(customerId: string) {
    const agentRow = await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const agent = await http('POST', '/api/v1/auth/login', { email: agentRow.email, password: PASSWORD });
    const session = (await http('POST', '/session', { customer: { id: customerId } })).body as { sessionId: string; sessionTopic: string; token: string };
    const customer = await connect(session.token);
    const agentClient = await connect(agent.body.token as string);
    assert.deepEqual(await agentClient.subscribe(`${session.sessionTopic}/messages`), [1]);
    return { session, customer, agentClient };
  }

  const stored = async (conversationId: string, like: string) =>
    (await server.ctx.db.query<{ text: string }>('select text from messages where conversation_id = $1 and text like $2 order by id', [conversationId, like])).map((r) => r.text);

  it('stores and relays 40 messages written in one go in the order sent', async () => {
    const { session, customer, agentClient } = await chat('order-40');
    const sent = Array.from({ length: 40 }, (_, i) => `m${i}`);
    // written in one go, as a client typing fast or flushing its offline queue does
    await Promise.all(sent.map((content) => customer.client.publishAsync(`${session.sessionTopic}/messages`, JSON.stringify({ message: { content } }), { qos: 1 })));
    assert.deepEqual(await stored(session.sessionId, 'm%'), sent);
    await agentClient.next(`${session.sessionTopic}/messages`, (p) => p.message?.content === 'm39');
    const relayed = agentClient.received.filter((r) => r.topic === `${session.sessionTopic}/messages`).map((r) => r.payload.message.content);
    assert.deepEqual(relayed, sent);
  });

  it('stores two messages sent back to back in the order sent, try after try', async () => {
    const { session, customer } = await chat('order-2');
    const swapped: number[] = [];
    for (let k = 0; k < 20; k++) {
      await Promise.all([0, 1].map((i) => customer.client.publishAsync(`${session.sessionTopic}/messages`, JSON.stringify({ message: { content: `t${k}-${i}` } }), { qos: 1 })));
      if ((await stored(session.sessionId, `t${k}-%`))[0] !== `t${k}-0`) swapped.push(k);
    }
    assert.deepEqual(swapped, [], 'tries whose second message was stored first');
  });

  it('goes on with the next message after one is refused', async () => {
    const { session, customer } = await chat('order-fail');
    const topic = `${session.sessionTopic}/messages`;
    // a refused payload (answered with message/rejected), then a good one, in one go
    await Promise.all([
      customer.client.publishAsync(topic, JSON.stringify({ message: {} }), { qos: 1 }),
      customer.client.publishAsync(topic, JSON.stringify({ message: { content: 'after a refusal' } }), { qos: 1 }),
    ]);
    assert.deepEqual(await stored(session.sessionId, 'after%'), ['after a refusal']);
    assert.equal(customer.client.connected, true);
    const rejected = await customer.next(`${session.sessionTopic}/client/control`, (p) => p.instruction === 'message/rejected', 2_000);
    assert.equal(rejected.error.code, 'SB_VALIDATION');
  });

  it('forgets nothing of a connection that left mid-line: a new one of the same customer is served at once', async () => {
    const { session, customer } = await chat('order-gone');
    const topic = `${session.sessionTopic}/messages`;
    for (let i = 0; i < 10; i++) customer.client.publish(topic, JSON.stringify({ message: { content: `g${i}` } }), { qos: 1 });
    await customer.end();
    const again = await connect(session.token);
    await again.client.publishAsync(topic, JSON.stringify({ message: { content: 'back' } }), { qos: 1 });
    const texts = await stored(session.sessionId, '%');
    assert.equal(texts.at(-1), 'back');
    // what did arrive of the first connection arrived in order
    const first = texts.filter((t) => t.startsWith('g'));
    assert.deepEqual(first, first.slice().sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
  });
});
