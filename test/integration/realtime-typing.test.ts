import assert from 'node:assert/strict';
import { it } from 'node:test';
import { updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// Issue #17 item 6: typing indicators over `conversations/<id>/typing`,
// between the customer and the agent holding the conversation, relayed by the
// embedded broker with a payload rebuilt from the identity, never stored, and
// refused to anyone else (on the embedded broker and through /mqtt/acl).

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('typing indicators over MQTT', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));
  const login = async (options: Parameters<typeof makeAgent>[1]) => {
    const agent = await makeAgent(server.ctx, options);
    const answer = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(answer.status, 200);
    return { agent, token: answer.body.token as string };
  };
  const startChat = async (customerId: string) => {
    const answer = await http('POST', '/session', { customer: { id: customerId } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body as { sessionId: string; sessionTopic: string; token: string };
  };
  const stored = async (conversationId: string) => {
    const [row] = await server.ctx.db.query<{ messages: number; events: number }>(
      `select (select count(*)::int from messages where conversation_id = $1) as messages,
              (select count(*)::int from events where conversation_id = $1) as events`,
      [conversationId],
    );
    return row!;
  };

  /** Dana, online, holding customer `customerId`'s new chat; both connected, the customer subscribed to its typing topic. */
  const agentAndCustomer = async (customerId: string) => {
    const { agent, token } = await login({ status: 'online', capacity: 1, name: 'Dana Agent' });
    const chat = await startChat(customerId);
    const typing = `${chat.sessionTopic}/typing`;
    const customer = await connect(chat.token);
    const console_ = await connect(token);
    assert.deepEqual(await customer.subscribe(typing), [1]);
    return { agent, chat, typing, customer, console_ };
  };

  it('relays typing both ways with a payload rebuilt from the identity, and stores nothing', async () => {
    const { agent, chat, typing, customer, console_ } = await agentAndCustomer('t1');
    assert.deepEqual(await console_.subscribe(typing), [1]);
    const before = await stored(chat.sessionId);

    // The name comes from the agent's identity, not from what the client claims.
    await console_.publish(typing, { typing: true, name: 'Someone Else', extra: 'x'.repeat(100) });
    const seen = await customer.next(typing, (p) => p.sender === 'agent');
    assert.deepEqual(seen, { typing: true, sender: 'agent', name: 'Dana Agent' });

    await customer.publish(typing, { typing: true });
    assert.deepEqual(await console_.next(typing, (p) => p.sender === 'customer'), { typing: true, sender: 'customer' });
    await customer.publish(typing, { typing: false });
    assert.deepEqual(await console_.next(typing, (p) => p.sender === 'customer' && p.typing === false), { typing: false, sender: 'customer' });

    await sleep(100);
    assert.deepEqual(await stored(chat.sessionId), before, 'no message and no event for typing');
    assert.ok(agent.id);
  });

  it("names the agent as stored when they type, a rename since their token was cached included", async () => {
    const { agent, typing, customer, console_ } = await agentAndCustomer('t4');
    await console_.publish(typing, { typing: true });
    assert.deepEqual(await customer.next(typing, (p) => p.sender === 'agent'), { typing: true, sender: 'agent', name: 'Dana Agent' });

    // a rename sends no auth notice: the token stays cached
    await updateAgent(server.ctx, agent.id, { name: 'Dana Renamed' }, SYSTEM);
    await console_.publish(typing, { typing: false });
    assert.deepEqual(await customer.next(typing, (p) => p.sender === 'agent' && p.typing === false), { typing: false, sender: 'agent', name: 'Dana Renamed' });
  });

  it('refuses typing from a third party: another agent, a supervisor (who may watch but not type), another customer', async () => {
    await login({ status: 'online', capacity: 1 });
    const chat = await startChat('t2');
    const typing = `${chat.sessionTopic}/typing`;
    const customer = await connect(chat.token);
    assert.deepEqual(await customer.subscribe(typing), [1]);

    const other = await login({ status: 'online', capacity: 1 });
    const supervisor = await login({ role: 'supervisor' });
    const otherChat = await startChat('t3');
    for (const token of [other.token, supervisor.token, otherChat.token]) {
      const intruder = await connect(token);
      // MQTT 3.1.1 refuses a publish by closing the connection.
      const closed = new Promise<void>((resolve) => intruder.client.once('close', () => resolve()));
      intruder.client.publish(typing, JSON.stringify({ typing: true }), { qos: 1 });
      await closed;
    }
    await sleep(150);
    assert.equal(customer.received.filter((r) => r.topic === typing).length, 0, 'nothing reached the customer');
    // A supervisor may still follow the conversation, typing included.
    const watcher = await connect(supervisor.token);
    assert.deepEqual(await watcher.subscribe(typing), [1]);
  });

  it('answers a malformed typing payload on the sender’s own control topic and relays nothing', async () => {
    const { token } = await login({ status: 'online', capacity: 1 });
    const chat = await startChat('t4');
    const typing = `${chat.sessionTopic}/typing`;
    const customer = await connect(chat.token);
    assert.deepEqual(await customer.subscribe(`${chat.sessionTopic}/client/control`), [1]);
    const console_ = await connect(token);
    assert.deepEqual(await console_.subscribe(typing), [1]);
    await customer.publish(typing, { typing: 'yes' });
    const rejected = await customer.next(`${chat.sessionTopic}/client/control`, (p) => p.instruction === 'message/rejected');
    assert.equal(rejected.error.field, 'typing');
    await sleep(150);
    assert.equal(console_.received.filter((r) => r.topic === typing).length, 0);
  });

  it('drops typing signals beyond a few per second per connection', async () => {
    const { token } = await login({ status: 'online', capacity: 1 });
    const chat = await startChat('t5');
    const typing = `${chat.sessionTopic}/typing`;
    const customer = await connect(chat.token);
    const console_ = await connect(token);
    assert.deepEqual(await console_.subscribe(typing), [1]);
    const started = performance.now();
    for (let i = 0; i < 20; i += 1) await customer.publish(typing, { typing: true });
    // 5 a second, in windows of a second: the burst spans as many windows as it took seconds, and one more
    const windows = Math.floor((performance.now() - started) / 1000) + 2;
    await sleep(300);
    const relayed = console_.received.filter((r) => r.topic === typing).length;
    assert.ok(relayed >= 1 && relayed <= 5 * windows, `relayed ${relayed} of 20 sent in under ${windows - 1} s`);
    if (windows <= 3) assert.ok(relayed < 20, 'some were dropped');
    assert.ok(customer.client.connected, 'a burst costs the customer nothing but the extra signals');
  });

  it('lets an external broker relay typing only for the customer and the holder (POST /mqtt/acl)', async () => {
    const { agent, token } = await login({ status: 'online', capacity: 1 });
    const chat = await startChat('t6');
    const other = await login({ status: 'online', capacity: 1 });
    const supervisor = await login({ role: 'supervisor' });
    const typing = `${chat.sessionTopic}/typing`;
    const sbToken = async (username: string, password: string, clientid: string) =>
      (await http('POST', '/mqtt/auth', { username, password, clientid })).body.client_attrs.sb_token as string;
    const acl = async (username: string, sb: string, action: string) =>
      (await http('POST', '/mqtt/acl', { username, clientid: `${username}-x`, token: sb, topic: typing, action })).body.result as string;
    assert.equal(await acl(agent.id, await sbToken(agent.id, token, `${agent.id}-x`), 'publish'), 'allow');
    assert.equal(await acl(chat.sessionId, await sbToken(chat.sessionId, chat.token, `${chat.sessionId}-x`), 'publish'), 'allow');
    assert.equal(await acl(other.agent.id, await sbToken(other.agent.id, other.token, `${other.agent.id}-x`), 'publish'), 'deny');
    const sup = await sbToken(supervisor.agent.id, supervisor.token, `${supervisor.agent.id}-x`);
    assert.equal(await acl(supervisor.agent.id, sup, 'publish'), 'deny');
    assert.equal(await acl(supervisor.agent.id, sup, 'subscribe'), 'allow');
  });
});
