import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { httpJson } from '../helpers/http.js';
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

  const http = (server: ServerProcess, method: string, path: string, body?: unknown, token?: string) => httpJson(server.url, method, path, body, token);

  it('brings the agent online by MQTT heartbeat, queues the second customer with their place, chats, resolves and serves the next', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const admin = await http(a, 'POST', '/api/v1/auth/login', { email: 'admin@example.test', password: 'admin password' });
      const created = await http(a, 'POST', '/api/v1/agents', { name: 'Ada', email: 'ada@example.test', password: 'agent password', role: 'agent', capacity: 1 }, admin.body.token);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const agentId = created.body.id as string;
      const login = await http(b, 'POST', '/api/v1/auth/login', { email: 'ada@example.test', password: 'agent password' });
      const agentToken = login.body.token as string;
      // Ada was online and her keep-alive ran out (what the sweeper leaves behind): only a heartbeat brings her back.
      await db.query(`update agents set status = 'offline', resume_status = 'online' where id = $1`, [agentId]);

      const agent = await connectMqtt(MQTT_URL!, agentToken, { username: agentId });
      clients.push(agent);
      await agent.subscribe(`${base}/client/attendants/assign/${agentId}`, `${base}/agents/${agentId}/events`);
      // her own heartbeat topic, handled by whichever process takes it; no REST call
      await agent.publish(`${base}/server/attendants/online/${agentId}`, { attendantInfo: {} });
      const deadline = Date.now() + 10_000;
      while ((await http(a, 'GET', '/api/v1/agents/me', undefined, agentToken)).body.status !== 'online') {
        assert.ok(Date.now() < deadline, 'the heartbeat did not bring the agent back online');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      const start = async (server: ServerProcess, customerId: string) => {
        const session = await http(server, 'POST', '/session', { customer: { id: customerId, name: customerId } });
        assert.equal(session.status, 201, JSON.stringify(session.body));
        const { sessionId, sessionTopic, token } = session.body as { sessionId: string; sessionTopic: string; token: string };
        assert.ok(sessionTopic.startsWith(`${base}/`));
        const customer = await connectMqtt(MQTT_URL!, token, { username: sessionId });
        clients.push(customer);
        await customer.subscribe(`${sessionTopic}/#`);
        await customer.publish(`${base}/server/sessions/request`, { sessionTopic, sessionId, customerId, requestID: customerId });
        return { sessionId, sessionTopic, customer };
      };
      const first = await start(a, 'ext-1');
      await first.customer.next(`${first.sessionTopic}/client/control`, (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agentId);
      await agent.next(`${base}/client/attendants/assign/${agentId}`, (p) => p.conversation.id === first.sessionId);

      // Ada is full: the second customer, on the other process, waits first in line
      const second = await start(b, 'ext-2');
      const update = await second.customer.next(`${second.sessionTopic}/client/control`, (p) => p.instruction === 'session/update');
      assert.deepEqual([update.sessionInfo.state, update.sessionInfo.queuePosition, typeof update.sessionInfo.expectedWaitSeconds], ['queued', 1, 'number']);

      await agent.subscribe(`${first.sessionTopic}/messages`);
      await first.customer.publish(`${first.sessionTopic}/messages`, { message: { content: 'hello from the widget' } });
      const stored = await agent.next(`${first.sessionTopic}/messages`, (p) => p.message.content === 'hello from the widget' && typeof p.message.id === 'number');
      assert.equal(stored.message.sender, 'customer');
      // the customer cannot pass a message off as the agent's: it is refused, and the agent is told
      await first.customer.publish(`${first.sessionTopic}/messages`, { message: { content: 'forged', from: agentId } });
      const refused = await agent.next(`${base}/agents/${agentId}/events`, (p) => p.instruction === 'message/rejected');
      assert.equal(refused.error.code, 'SB_FORBIDDEN');
      // agents write on widget chats over HTTP, on either process
      assert.equal((await http(b, 'POST', `/api/v1/conversations/${first.sessionId}/messages`, { text: 'hello from the console' }, agentToken)).status, 201);
      await first.customer.next(`${first.sessionTopic}/messages`, (p) => p.message.content === 'hello from the console' && typeof p.message.id === 'number');

      assert.equal((await http(b, 'POST', `/api/v1/conversations/${first.sessionId}/resolve`, {}, agentToken)).status, 200);
      await first.customer.next(`${first.sessionTopic}/client/control`, (p) => p.instruction === 'session/closed');
      await second.customer.next(`${second.sessionTopic}/client/control`, (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agentId);
      await agent.next(`${base}/client/attendants/assign/${agentId}`, (p) => p.conversation.id === second.sessionId);

      const { rows } = await db.query('select sender, sender_id, text from messages where conversation_id = $1 order by id', [first.sessionId]);
      assert.deepEqual(rows, [
        { sender: 'customer', sender_id: 'ext-1', text: 'hello from the widget' },
        { sender: 'agent', sender_id: agentId, text: 'hello from the console' },
      ]);
    } finally {
      await db.end();
    }
  });
});
