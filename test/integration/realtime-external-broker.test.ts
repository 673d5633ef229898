import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';

// The scale-out setup: two Switchboard processes on one PostgreSQL database
// and one external MQTT broker (Mosquitto on this machine kind). A customer
// talks to one process, the agent to the other; the broker carries the chat.

const MQTT_URL = process.env.TEST_MQTT_URL;
const DATABASE_URL = process.env.TEST_DATABASE_URL;

describe('real-time chat through an external broker shared by two processes', { skip: !MQTT_URL || !DATABASE_URL ? 'needs TEST_MQTT_URL and TEST_DATABASE_URL (.ci/run sets both when the services answer)' : false }, () => {
  let database: ScratchDatabase;
  const servers: ServerProcess[] = [];
  const clients: TestMqttClient[] = [];
  // a base topic of this run's own, so parallel runs on one broker do not meet
  const base = `sbtest${process.pid}${Date.now().toString(36)}`;

  before(async () => {
    database = await createScratchDatabase(DATABASE_URL!, 'sb_mqtt');
    const env = { DATABASE_URL: database.url, MQTT_URL: MQTT_URL!, MQTT_BASE_TOPIC: base, ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password' };
    // The first applies the migrations; the second finds them applied.
    servers.push(await startServerProcess({ env }));
    servers.push(await startServerProcess({ env }));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.kill()));
    await database?.drop();
  });

  const http = async (server: ServerProcess, method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };

  it('queues, assigns, chats both ways and resolves, each message stored once', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const admin = await http(a, 'POST', '/api/v1/auth/login', { email: 'admin@example.test', password: 'admin password' });
    const created = await http(a, 'POST', '/api/v1/agents', { name: 'Ada', email: 'ada@example.test', password: 'agent password', role: 'agent', capacity: 1 }, admin.body.token);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const agentId = created.body.id as string;
    const login = await http(b, 'POST', '/api/v1/auth/login', { email: 'ada@example.test', password: 'agent password' });
    const agentToken = login.body.token as string;

    const agent = await connectMqtt(MQTT_URL!, agentToken, { username: agentId });
    clients.push(agent);
    await agent.subscribe(`${base}/client/attendants/assign/${agentId}`);
    // online by heartbeat over MQTT, handled by whichever process takes it
    await agent.publish(`${base}/server/attendants/online`, { attendantInfo: { id: agentId } });
    assert.equal((await http(b, 'PATCH', '/api/v1/agents/me', { status: 'online' }, agentToken)).status, 200);

    const session = await http(a, 'POST', '/session', { customer: { id: 'ext-1', name: 'Grace' } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const { sessionId, sessionTopic, token } = session.body as { sessionId: string; sessionTopic: string; token: string };
    assert.ok(sessionTopic.startsWith(`${base}/`));
    const customer = await connectMqtt(MQTT_URL!, token, { username: sessionId });
    clients.push(customer);
    await customer.subscribe(`${sessionTopic}/#`);
    await customer.publish(`${base}/server/sessions/request`, { sessionTopic, sessionId, customerId: 'ext-1', requestID: 'x' });
    await customer.next(`${sessionTopic}/client/control`, (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agentId);
    await agent.next(`${base}/client/attendants/assign/${agentId}`, (p) => p.conversation.id === sessionId);

    await agent.subscribe(`${sessionTopic}/messages`);
    await customer.publish(`${sessionTopic}/messages`, { message: { content: 'hello from the widget' } });
    const stored = await agent.next(`${sessionTopic}/messages`, (p) => p.message.content === 'hello from the widget' && typeof p.message.id === 'number');
    assert.equal(stored.message.sender, 'customer');
    await agent.publish(`${sessionTopic}/messages`, { message: { content: 'hello from the console', from: agentId } });
    await customer.next(`${sessionTopic}/messages`, (p) => p.message.content === 'hello from the console' && typeof p.message.id === 'number');

    assert.equal((await http(b, 'POST', `/api/v1/conversations/${sessionId}/resolve`, {}, agentToken)).status, 200);
    await customer.next(`${sessionTopic}/client/control`, (p) => p.instruction === 'session/closed');

    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const { rows } = await db.query('select sender, text from messages where conversation_id = $1 order by id', [sessionId]);
      assert.deepEqual(rows, [
        { sender: 'customer', text: 'hello from the widget' },
        { sender: 'agent', text: 'hello from the console' },
      ]);
    } finally {
      await db.end();
    }
  });
});
