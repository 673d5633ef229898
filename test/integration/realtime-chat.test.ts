import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { tokenChangeHeard } from '../helpers/http.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// The chat as a customer and an agent live it, with real MQTT clients over
// WebSocket against the embedded broker of a real server.

describeEachStore('real-time chat over the embedded broker', (store) => {
  let server: Running;
  let wsUrl: string;
  const { http, connect } = realServerForBlock(store, (started) => ({ server, wsUrl } = started));
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

  it("moves a waiting customer's place up as the line ahead is served: 2 → 1, then ready", async () => {
    const { agent, token } = await agentOnline(1);
    const first = await startChat('q1');
    await first.customer.next(control(first.session.sessionTopic), (p) => p.instruction === 'session/ready');
    const second = await startChat('q2');
    await second.customer.next(control(second.session.sessionTopic), (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 1);
    const third = await startChat('q3');
    const waiting = await third.customer.next(control(third.session.sessionTopic), (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 2);
    assert.equal(typeof waiting.sessionInfo.expectedWaitSeconds, 'number');

    // the agent frees their slot: the second customer is served, the third moves up
    assert.equal((await http('POST', `/api/v1/conversations/${first.session.sessionId}/resolve`, {}, token)).status, 200);
    await second.customer.next(control(second.session.sessionTopic), (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agent.id);
    const movedUp = await third.customer.next(control(third.session.sessionTopic), (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 1);
    assert.equal(movedUp.sessionInfo.state, 'queued');
    assert.equal(typeof movedUp.sessionInfo.expectedWaitSeconds, 'number');
    assert.ok(movedUp.sessionInfo.expectedWaitSeconds < waiting.sessionInfo.expectedWaitSeconds, 'one place closer, a shorter expected wait');

    assert.equal((await http('POST', `/api/v1/conversations/${second.session.sessionId}/resolve`, {}, token)).status, 200);
    await third.customer.next(control(third.session.sessionTopic), (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agent.id);
    // the order of what the third customer heard: place 2, place 1, served
    const heard = third.customer.received
      .filter((r) => r.topic === control(third.session.sessionTopic))
      .map((r) => (r.payload.instruction === 'session/update' ? r.payload.sessionInfo.queuePosition : r.payload.instruction));
    assert.deepEqual(heard.filter((h, i) => h !== heard[i - 1]), [2, 1, 'session/ready']);
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
    // that keep-alives keep a session open is checked on a test clock in realtime-coordinator.test.ts
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

  it('a waiting chat transferred to an agent is told once: one assignment on their topic, one announcement to the customer', async () => {
    const vip = await makeAgent(server.ctx, { status: 'online', capacity: 1, departments: ['vip'] });
    const vipToken = (await http('POST', '/api/v1/auth/login', { email: vip.email, password: PASSWORD })).body.token as string;
    const boss = await makeAgent(server.ctx, { role: 'supervisor' });
    const bossToken = (await http('POST', '/api/v1/auth/login', { email: boss.email, password: PASSWORD })).body.token as string;
    const opened = await http('POST', '/session', { customer: { id: 'waiting-1' }, department: 'sales' });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const { sessionId, sessionTopic, token } = opened.body as { sessionId: string; sessionTopic: string; token: string };
    const customer = await connect(token);
    assert.deepEqual(await customer.subscribe(control(sessionTopic)), [1]);
    const console1 = await connect(vipToken);
    const assignTopic = `switchboard/client/attendants/assign/${vip.id}`;
    assert.deepEqual(await console1.subscribe(assignTopic), [1]);
    const moved = await http('POST', `/api/v1/conversations/${sessionId}/transfer`, { agent_id: vip.id }, bossToken);
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    await console1.next(assignTopic);
    await customer.next(control(sessionTopic), (p) => p?.instruction === 'session/ready');
    await server.realtime.publisher.idle();
    // time for a second copy, were there one
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(console1.received.filter((r) => r.topic === assignTopic).length, 1, 'one assignment');
    assert.equal(customer.received.filter((r) => r.topic === control(sessionTopic) && r.payload?.instruction === 'session/ready').length, 1, 'one announcement');
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

  it('tells a refused publish to its sender alone: the customer on their control topic, the agent in their inbox', async () => {
    const { agent, token } = await agentOnline(1);
    const { session, customer } = await startChat('r1');
    await customer.next(control(session.sessionTopic), (p) => p.instruction === 'session/ready');
    const agentClient = await connect(token);
    assert.deepEqual(await agentClient.subscribe(`${session.sessionTopic}/#`, `switchboard/agents/${agent.id}/events`), [1, 1]);

    await customer.publish(`${session.sessionTopic}/messages`, { message: { content: '' } });
    const mine = await customer.next(control(session.sessionTopic), (p) => p.instruction === 'message/rejected');
    assert.equal(mine.error.field, 'message.content');
    await agentClient.publish(`${session.sessionTopic}/messages`, { message: { content: 'x'.repeat(10_001) } });
    const theirs = await agentClient.next(`switchboard/agents/${agent.id}/events`, (p) => p.instruction === 'message/rejected');
    assert.deepEqual([theirs.topic, theirs.error.field], [`${session.sessionTopic}/messages`, 'message.content']);

    // a good message from each side after both refusals: once both arrived, any leak would have too
    await customer.publish(`${session.sessionTopic}/messages`, { message: { content: 'after' } });
    await agentClient.publish(`${session.sessionTopic}/messages`, { message: { content: 'reply' } });
    await agentClient.next(`${session.sessionTopic}/messages`, (p) => p.message.content === 'reply');
    await customer.next(`${session.sessionTopic}/messages`, (p) => p.message.content === 'reply');
    await agentClient.next(`${session.sessionTopic}/messages`, (p) => p.message.content === 'after');
    assert.deepEqual(agentClient.received.filter((r) => r.payload?.instruction === 'message/rejected' && r.topic !== `switchboard/agents/${agent.id}/events`), []);
    assert.equal(customer.received.filter((r) => r.payload?.instruction === 'message/rejected').length, 1);
  });

  it("refuses an agent's message to a Qiscus room, over HTTP and MQTT, with the reason, and stores nothing", async () => {
    const { agent, token } = await agentOnline(1);
    // opened as the Qiscus channel opens its rooms: the core API refuses channel qiscus
    const { conversation: room } = await openConversation(server.ctx, { customer: { id: 'qiscus-customer' }, channel: 'qiscus', external_ref: 'room-7' });
    assert.equal(room.agent_id, agent.id);

    const posted = await http('POST', `/api/v1/conversations/${room.id}/messages`, { text: 'hello from Switchboard' }, token);
    assert.equal(posted.status, 409);
    assert.equal(posted.body.error.code, 'SB_QISCUS_AGENT_MESSAGE');
    assert.match(posted.body.error.message, /Qiscus's own dashboard/);

    const agentClient = await connect(token);
    await agentClient.subscribe(`switchboard/agents/${agent.id}/events`);
    await agentClient.publish(`switchboard/conversations/${room.id}/messages`, { message: { content: 'hello over MQTT' } });
    const refused = await agentClient.next(`switchboard/agents/${agent.id}/events`, (p) => p.instruction === 'message/rejected');
    assert.equal(refused.error.code, 'SB_QISCUS_AGENT_MESSAGE');
    const [count] = await server.ctx.db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1', [room.id]);
    assert.equal(count!.n, 0);
    // a widget chat of the same agent still takes their messages
    assert.equal((await http('POST', `/api/v1/conversations/${room.id}/resolve`, {}, token)).status, 200);
    const { session } = await startChat('after-qiscus');
    assert.equal((await http('POST', `/api/v1/conversations/${session.sessionId}/messages`, { text: 'hi' }, token)).status, 201);
  });

  it("lets a supervisor subscribe to anything under the base topic, but not $SYS nor a share of Switchboard's own subscription", async () => {
    const agent = await makeAgent(server.ctx, { role: 'supervisor' });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const token = login.body.token as string;
    const outside = ['$SYS/#', '$share/switchboard/switchboard/server/#', '$share/switchboard/switchboard/conversations/+/messages', '#', 'elsewhere/x'];
    const inside = ['switchboard/#', 'switchboard/events/conversations', 'switchboard/conversations/+/messages'];
    // the embedded broker
    const watcher = await connect(token);
    assert.deepEqual(await watcher.subscribe(...outside, ...inside), [...outside.map(() => 128), ...inside.map(() => 1)]);
    // an external broker's authorizer
    const attribute = (await http('POST', '/mqtt/auth', { username: agent.id, password: token, clientid: `${agent.id}-web` })).body.client_attrs.sb_token as string;
    const acl = async (topic: string) =>
      (await http('POST', '/mqtt/acl', { username: agent.id, clientid: `${agent.id}-web`, token: attribute, topic, action: 'subscribe' })).body.result as string;
    for (const topic of outside) assert.equal(await acl(topic), 'deny', topic);
    for (const topic of inside) assert.equal(await acl(topic), 'allow', topic);
  });

  it('answers the EMQX authenticator and authorizer by live token, user name and the access rules', async () => {
    const a = await agentOnline(1);
    const b = await agentOnline(1);
    const { session } = await startChat('e1');
    const other = await startChat('e2');
    const auth = async (username: string, password: string) => (await http('POST', '/mqtt/auth', { username, password, clientid: `${username}-web` })).body;
    const acl = async (username: string, token: string | undefined, action: string, topic: string) =>
      (await http('POST', '/mqtt/acl', { username, clientid: `${username}-web`, ...(token !== undefined ? { token } : {}), topic, action })).body.result as string;

    // authentication: the token must be live and the user name its owner's
    const agentAuth = await auth(a.agent.id, a.token);
    assert.equal(agentAuth.result, 'allow');
    assert.match(agentAuth.client_attrs.sb_token, /^[0-9a-f]{64}$/);
    const customerAuth = await auth(session.sessionId, session.token);
    assert.equal(customerAuth.result, 'allow');
    assert.equal((await auth(a.agent.id, 'sbt_wrong')).result, 'deny');
    assert.equal((await auth(b.agent.id, a.token)).result, 'deny', "another agent's user name");
    assert.equal((await auth(other.session.sessionId, session.token)).result, 'deny', "another session's user name");
    assert.equal((await auth(a.agent.id, session.token)).result, 'deny');

    // the customer: their own session's topics only
    const c = customerAuth.client_attrs.sb_token as string;
    const sid = session.sessionId;
    assert.equal(await acl(sid, c, 'subscribe', `${session.sessionTopic}/#`), 'allow');
    assert.equal(await acl(sid, c, 'publish', `${session.sessionTopic}/messages`), 'allow');
    assert.equal(await acl(sid, c, 'publish', 'switchboard/server/sessions/request'), 'allow');
    for (const [action, topic] of [
      ['subscribe', `${other.session.sessionTopic}/#`],
      ['subscribe', '#'],
      ['subscribe', 'switchboard/#'],
      ['publish', `${session.sessionTopic}/client/control`],
      ['publish', `${other.session.sessionTopic}/messages`],
      ['publish', 'switchboard/server/attendants/online'],
      ['publish', `switchboard/server/attendants/online/${a.agent.id}`],
      ['publish', `switchboard/client/attendants/assign/${a.agent.id}`],
    ]) {
      assert.equal(await acl(sid, c, action!, topic!), 'deny', `${action} ${topic}`);
    }
    // a retained publish is nobody's: EMQX would hand it to every later subscriber (${retain} renders "true"/"false")
    const publishRetained = async (retain: unknown) =>
      (await http('POST', '/mqtt/acl', { username: sid, clientid: `${sid}-web`, token: c, topic: `${session.sessionTopic}/messages`, action: 'publish', retain })).body.result as string;
    assert.equal(await publishRetained('true'), 'deny');
    assert.equal(await publishRetained(true), 'deny');
    assert.equal(await publishRetained('false'), 'allow');
    assert.equal(await acl(sid, undefined, 'subscribe', `${session.sessionTopic}/#`), 'deny', 'without the token attribute');
    assert.equal(await acl(sid, '', 'subscribe', `${session.sessionTopic}/#`), 'deny', 'an empty attribute (EMQX before 5.7)');
    assert.equal(await acl(other.session.sessionId, c, 'subscribe', `${other.session.sessionTopic}/#`), 'deny', 'user name not the token’s');

    // agents: the conversations they hold, their own heartbeat topic; rights follow a transfer at once
    const [held] = await server.ctx.db.query<{ agent_id: string }>('select agent_id from conversations where id = $1', [sid]);
    const holder = held!.agent_id === a.agent.id ? a : b;
    const next = holder === a ? b : a;
    const holderAttr = (await auth(holder.agent.id, holder.token)).client_attrs.sb_token as string;
    const nextAttr = (await auth(next.agent.id, next.token)).client_attrs.sb_token as string;
    assert.equal(await acl(holder.agent.id, holderAttr, 'subscribe', `${session.sessionTopic}/messages`), 'allow');
    assert.equal(await acl(holder.agent.id, holderAttr, 'publish', `${session.sessionTopic}/messages`), 'allow');
    assert.equal(await acl(next.agent.id, nextAttr, 'subscribe', `${session.sessionTopic}/messages`), 'deny');
    assert.equal(await acl(holder.agent.id, holderAttr, 'publish', `switchboard/server/attendants/online/${holder.agent.id}`), 'allow');
    assert.equal(await acl(holder.agent.id, holderAttr, 'publish', `switchboard/server/attendants/online/${next.agent.id}`), 'deny', "another agent's heartbeat");
    await http('POST', `/api/v1/conversations/${other.session.sessionId}/resolve`, {}, next.token);
    assert.equal((await http('POST', `/api/v1/conversations/${sid}/transfer`, { agent_id: next.agent.id }, holder.token)).status, 200);
    assert.equal(await acl(holder.agent.id, holderAttr, 'subscribe', `${session.sessionTopic}/messages`), 'deny');
    assert.equal(await acl(holder.agent.id, holderAttr, 'publish', `${session.sessionTopic}/messages`), 'deny');
    assert.equal(await acl(next.agent.id, nextAttr, 'subscribe', `${session.sessionTopic}/messages`), 'allow');

    // a token revoked (logout) or expired after the connection was made loses every right
    assert.equal(await acl(next.agent.id, nextAttr, 'subscribe', 'switchboard/events/queue'), 'allow');
    assert.equal((await http('POST', '/api/v1/auth/logout', undefined, next.token)).status, 204);
    assert.equal(await acl(next.agent.id, nextAttr, 'subscribe', 'switchboard/events/queue'), 'deny');
    assert.equal(await acl(next.agent.id, nextAttr, 'publish', `${session.sessionTopic}/messages`), 'deny');
    assert.equal((await auth(next.agent.id, next.token)).result, 'deny');
    await server.ctx.db.query(`update auth_tokens set expires_at = now() - interval '1 second' where agent_id = $1`, [holder.agent.id]);
    assert.equal(await acl(holder.agent.id, holderAttr, 'subscribe', 'switchboard/events/queue'), 'deny');
    // Shortened by SQL, behind the server's back: its token cache drops the token when the notice arrives.
    await tokenChangeHeard(server.url, holder.token);
    assert.equal((await auth(holder.agent.id, holder.token)).result, 'deny');
    await server.ctx.db.query(`update customer_sessions set expires_at = now() - interval '1 second' where conversation_id = $1`, [sid]);
    assert.equal(await acl(sid, c, 'subscribe', `${session.sessionTopic}/#`), 'deny');
    assert.equal((await auth(sid, session.token)).result, 'deny');
  });

  it('takes an agent heartbeat on their own heartbeat topic, and disconnects one sent for another agent', async () => {
    const { agent, token } = await agentOnline(1);
    const other = await agentOnline(1);
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await server.ctx.db.query('update agents set last_seen_at = $2 where id = $1', [agent.id, anHourAgo]);
    const agentClient = await connect(token);
    await agentClient.publish(`switchboard/server/attendants/online/${agent.id}`, { attendantInfo: {} });
    const [after] = await server.ctx.db.query<{ last_seen_at: Date }>('select last_seen_at from agents where id = $1', [agent.id]);
    assert.ok(new Date(after!.last_seen_at).getTime() > anHourAgo.getTime() + 60_000, 'the heartbeat was recorded');
    const closed = new Promise<void>((resolve) => agentClient.client.once('close', () => resolve()));
    await agentClient.client.publishAsync(`switchboard/server/attendants/online/${other.agent.id}`, '{}', { qos: 0 });
    await closed;
  });

  it('refuses a connection without a live token', async () => {
    await assert.rejects(connectMqtt(wsUrl, 'sbt_not-a-token'));
    await assert.rejects(connectMqtt(wsUrl, 'sbc_not-a-session'));
  });
});
