import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// The chat as a customer and an agent live it, with real MQTT clients over
// WebSocket against the embedded broker of a real server.

describeEachStore('real-time chat over the embedded broker', (store) => {
  let server: Running;
  let wsUrl: string;
  const clients: TestMqttClient[] = [];

  before(async () => {
    server = await startServer(
      loadConfig({ PORT: '0', LOG_LEVEL: 'silent', ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password', SWEEP_INTERVAL: '60000' }),
      { db: store().db, keepDb: true },
    );
    wsUrl = `${server.url.replace('http', 'ws')}/mqtt`;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await server.close();
  });
  beforeEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await store().reset();
  });

  const http = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  const connect = async (token: string) => {
    const client = await connectMqtt(wsUrl, token);
    clients.push(client);
    return client;
  };
  const agentOnline = async (capacity = 1) => {
    const agent = await makeAgent(server.ctx, { status: 'online', capacity });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(login.status, 200);
    return { agent, token: login.body.token as string };
  };
  const startChat = async (customerId: string) => {
    const session = await http('POST', '/session', { customer: { id: customerId, name: `Customer ${customerId}`, email: `${customerId}@example.test` } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const customer = await connect(session.body.token);
    assert.deepEqual(await customer.subscribe(`${session.body.sessionTopic}/#`), [1]);
    await customer.publish('switchboard/server/sessions/request', { sessionTopic: session.body.sessionTopic, sessionId: session.body.sessionId, customerId, requestID: 'r1' });
    return { session: session.body as { sessionId: string; sessionTopic: string; token: string; keepAliveTTL: number }, customer };
  };
  const control = (topic: string) => `${topic}/client/control`;

  it('queues a customer while agents are full, with their place, then connects them to the agent who frees up; both chat; the agent resolves', async () => {
    const { agent, token } = await agentOnline(1);
    const agentClient = await connect(token);
    await agentClient.subscribe(`switchboard/client/attendants/assign/${agent.id}`);
    const first = await startChat('c1');
    const assigned = await agentClient.next(`switchboard/client/attendants/assign/${agent.id}`, (p) => p.conversation.id === first.session.sessionId);
    assert.equal(assigned.sessionTopic, first.session.sessionTopic);
    await first.customer.next(control(first.session.sessionTopic), (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agent.id);

    // the agent is full: the second customer waits first in line
    const second = await startChat('c2');
    const update = await second.customer.next(control(second.session.sessionTopic), (p) => p.instruction === 'session/update');
    assert.equal(update.sessionInfo.state, 'queued');
    assert.equal(update.sessionInfo.queuePosition, 1);
    assert.equal(typeof update.sessionInfo.expectedWaitSeconds, 'number');

    // the first chat: messages both ways, stored before they are relayed
    assert.deepEqual(await agentClient.subscribe(`${first.session.sessionTopic}/messages`), [1]);
    await first.customer.publish(`${first.session.sessionTopic}/messages`, { message: { content: 'Hello, my order is late' } });
    const atAgent = await agentClient.next(`${first.session.sessionTopic}/messages`, (p) => p.message.content === 'Hello, my order is late');
    assert.equal(atAgent.message.sender, 'customer');
    assert.equal(atAgent.message.from, 'c1');
    assert.equal(typeof atAgent.message.id, 'number');
    await agentClient.publish(`${first.session.sessionTopic}/messages`, { message: { content: 'Let me check' } });
    const atCustomer = await first.customer.next(`${first.session.sessionTopic}/messages`, (p) => p.message.content === 'Let me check');
    assert.equal(atCustomer.message.from, agent.id);
    const history = await http('GET', `/api/v1/conversations/${first.session.sessionId}/messages`, undefined, first.session.token);
    assert.deepEqual(history.body.map((m: { text: string; sender: string }) => [m.sender, m.text]), [['customer', 'Hello, my order is late'], ['agent', 'Let me check']]);

    // read receipt from the customer reaches the agent and is stored
    await agentClient.subscribe(`${first.session.sessionTopic}/messages/viewed`);
    await first.customer.publish(`${first.session.sessionTopic}/messages/viewed`, { readMessages: [atCustomer.message.id] });
    const viewed = await agentClient.next(`${first.session.sessionTopic}/messages/viewed`);
    assert.deepEqual(viewed.readMessages, [atCustomer.message.id]);
    assert.equal(viewed.reader, 'customer');
    const [read] = await server.ctx.db.query<{ read_at: Date | null }>('select read_at from messages where id = $1', [atCustomer.message.id]);
    assert.notEqual(read!.read_at, null);

    // the agent resolves: the customer is told, and the waiting one gets the agent
    const resolved = await http('POST', `/api/v1/conversations/${first.session.sessionId}/resolve`, { note: 'shipped' }, token);
    assert.equal(resolved.status, 200);
    await first.customer.next(control(first.session.sessionTopic), (p) => p.instruction === 'session/closed' && p.sessionInfo.state === 'resolved');
    await second.customer.next(control(second.session.sessionTopic), (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agent.id);
    await agentClient.next(`switchboard/client/attendants/assign/${agent.id}`, (p) => p.conversation.id === second.session.sessionId);
  });

  it('lets a customer who reconnects fetch what they missed over HTTP', async () => {
    const { token } = await agentOnline(1);
    const { session, customer } = await startChat('c3');
    await customer.publish(`${session.sessionTopic}/messages`, { message: { content: 'first' } });
    const mine = await customer.next(`${session.sessionTopic}/messages`, (p) => p.message.content === 'first');
    await customer.end();
    for (const text of ['missed one', 'missed two']) {
      assert.equal((await http('POST', `/api/v1/conversations/${session.sessionId}/messages`, { text }, token)).status, 201);
    }
    const missed = await http('GET', `/api/v1/conversations/${session.sessionId}/messages?after=${mine.message.id}`, undefined, session.token);
    assert.equal(missed.status, 200);
    assert.deepEqual(missed.body.map((m: { text: string }) => m.text), ['missed one', 'missed two']);
    // a session token reads only its own conversation
    const other = await http('POST', '/session', { customer: { id: 'c4' } });
    assert.equal((await http('GET', `/api/v1/conversations/${session.sessionId}/messages`, undefined, other.body.token)).status, 403);
  });

  it('abandons a session whose customer stopped sending keep-alives, and says so', async () => {
    await agentOnline(1);
    const { session, customer } = await startChat('c5');
    await customer.next(control(session.sessionTopic), (p) => p.instruction === 'session/ready');
    await server.ctx.db.query(`update customer_sessions set last_seen_at = now() - interval '1 hour' where conversation_id = $1`, [session.sessionId]);
    assert.deepEqual(await server.realtime.expireSessions(), [session.sessionId]);
    await customer.next(control(session.sessionTopic), (p) => p.instruction === 'session/aborted/expired');
    const [row] = await server.ctx.db.query<{ state: string; resolve_reason: string }>('select state, resolve_reason from conversations where id = $1', [session.sessionId]);
    assert.deepEqual({ ...row }, { state: 'abandoned', resolve_reason: 'expired' });
    // keep-alives keep it open
    const live = await startChat('c6');
    await live.customer.publish('switchboard/server/sessions/online', { sessionId: live.session.sessionId });
    await live.customer.next(control(live.session.sessionTopic), (p) => p.instruction === 'session/update' || p.instruction === 'session/ready');
    assert.deepEqual(await server.realtime.expireSessions(), []);
  });

  it('tells the customer when nobody is online instead of letting them wait', async () => {
    const { session, customer } = await startChat('c7');
    await customer.next(control(session.sessionTopic), (p) => p.instruction === 'session/aborted/unavailableAttendants');
    const [row] = await server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [session.sessionId]);
    assert.equal(row!.state, 'abandoned');
  });

  it('refuses a bad message with a reason on the control topic and stores nothing', async () => {
    await agentOnline(1);
    const { session, customer } = await startChat('c8');
    for (const [payload, field] of [
      ['not json', 'payload'],
      [{ message: { content: '' } }, 'message.content'],
      [{ message: { content: 'x'.repeat(10_001) } }, 'message.content'],
      [{ message: {} }, 'message.content'],
      [{ message: { content: 'hi', from: 'someone-else' } }, 'message.from'],
      [{ text: 'hi' }, 'message'],
    ] as const) {
      await customer.publish(`${session.sessionTopic}/messages`, payload);
      const rejected = await customer.next(control(session.sessionTopic), (p) => p.instruction === 'message/rejected' && !p.seen);
      rejected.seen = true;
      assert.equal(rejected.error.field, field, JSON.stringify(rejected));
    }
    const [count] = await server.ctx.db.query<{ n: number }>('select count(*)::int as n from messages');
    assert.equal(count!.n, 0);
    // the connection survives and the next good message goes through
    await customer.publish(`${session.sessionTopic}/messages`, { message: { content: 'fine now' } });
    await customer.next(`${session.sessionTopic}/messages`, (p) => p.message?.content === 'fine now');
  });

  it('enforces the ACL: no other session, no wildcards, no control topics; an agent loses a conversation the moment it is transferred', async () => {
    const a = await agentOnline(1);
    const b = await agentOnline(1);
    const { session, customer } = await startChat('c9');
    const other = await startChat('c10');
    assert.deepEqual(await customer.subscribe(`${other.session.sessionTopic}/messages`, 'switchboard/#', '#', 'switchboard/conversations/+/messages', `switchboard/client/attendants/assign/${a.agent.id}`), [128, 128, 128, 128, 128]);
    assert.deepEqual(await customer.subscribe(`${session.sessionTopic}/messages`), [1]);

    // who holds the first chat?
    const [held] = await server.ctx.db.query<{ agent_id: string }>('select agent_id from conversations where id = $1', [session.sessionId]);
    const holder = held!.agent_id === a.agent.id ? a : b;
    const next = holder === a ? b : a;
    const holderClient = await connect(holder.token);
    const nextClient = await connect(next.token);
    assert.deepEqual(await holderClient.subscribe(`${session.sessionTopic}/messages`), [1]);
    assert.deepEqual(await nextClient.subscribe(`${session.sessionTopic}/messages`), [128]);

    // the other agent is full with the other chat; free them so the transfer can land
    await http('POST', `/api/v1/conversations/${other.session.sessionId}/resolve`, {}, next.token);
    const transferred = await http('POST', `/api/v1/conversations/${session.sessionId}/transfer`, { agent_id: next.agent.id }, holder.token);
    assert.equal(transferred.status, 200, JSON.stringify(transferred.body));
    assert.deepEqual(await nextClient.subscribe(`${session.sessionTopic}/messages`), [1]);
    await customer.publish(`${session.sessionTopic}/messages`, { message: { content: 'after the transfer' } });
    await nextClient.next(`${session.sessionTopic}/messages`, (p) => p.message.content === 'after the transfer');
    await customer.next(`${session.sessionTopic}/messages`, (p) => p.message.content === 'after the transfer');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(holderClient.received.filter((r) => r.payload?.message?.content === 'after the transfer').length, 0);

    // a customer publishing on a control topic is disconnected, and nothing reaches the topic
    const closed = new Promise<void>((resolve) => customer.client.once('close', () => resolve()));
    await customer.client.publishAsync(`${session.sessionTopic}/client/control`, JSON.stringify({ instruction: 'session/ready' }), { qos: 0 });
    await closed;
    assert.equal(nextClient.received.filter((r) => r.topic.endsWith('/client/control')).length, 0);
  });

  it('answers an older client asking for a channel on its response topic, only under its own session', async () => {
    await agentOnline(1);
    const { session, customer } = await startChat('c11');
    await customer.publish('switchboard/server/channels/request', { userRequesting: 'c11', responseTopic: `${session.sessionTopic}/channel` });
    assert.deepEqual(await customer.next(`${session.sessionTopic}/channel`), { sessionTopic: session.sessionTopic, sessionId: session.sessionId });
    for (const responseTopic of [`${session.sessionTopic}/messages`, 'switchboard/conversations/00000000-0000-4000-8000-000000000000/x']) {
      await customer.publish('switchboard/server/channels/request', { responseTopic });
      const rejected = await customer.next(control(session.sessionTopic), (p) => p.instruction === 'message/rejected' && !p.seen);
      rejected.seen = true;
      assert.equal(rejected.error.field, 'responseTopic');
    }
  });

  it("closes an agent's connection when they log out, so its rights end with the token", async () => {
    const { token } = await agentOnline(1);
    const agentClient = await connect(token);
    const closed = new Promise<void>((resolve) => agentClient.client.once('close', () => resolve()));
    assert.equal((await http('POST', '/api/v1/auth/logout', undefined, token)).status, 204);
    await closed;
    await assert.rejects(connectMqtt(wsUrl, token));
  });

  it('refuses a connection without a live token', async () => {
    await assert.rejects(connectMqtt(wsUrl, 'sbt_not-a-token'));
    await assert.rejects(connectMqtt(wsUrl, 'sbc_not-a-session'));
  });
});
