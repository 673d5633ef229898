import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { makeAgent } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// With an external broker (Mosquitto on this machine kind) the process reads
// the customers' publishes through its shared subscription, in the order the
// broker hands them over; one process alone stores a connection's messages
// in the order they were sent (several processes sharing the subscription
// cannot: docs/realtime.md, External broker).

const MQTT_URL = process.env.TEST_MQTT_URL;

describe('an external broker', { skip: !MQTT_URL ? 'needs TEST_MQTT_URL (.ci/run sets it when the broker answers)' : false }, () => {
  describeEachStore('order of one connection’s messages through an external broker', (store) => {
    let server: Running;
    const clients: TestMqttClient[] = [];
    // a base topic of this run's own, so parallel runs on one broker do not meet
    const base = `sbtest${process.pid}${Date.now().toString(36)}`;
    before(async () => {
      server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'silent', MQTT_URL, MQTT_BASE_TOPIC: base, ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password', SWEEP_INTERVAL: '60000' }), { db: store().db, keepDb: true });
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await server?.close();
    });

    async function customerOf(customerId: string) {
      await makeAgent(server.ctx, { status: 'online', capacity: 1 });
      const session = (await httpJson(server.url, 'POST', '/session', { customer: { id: customerId } })).body as { sessionId: string; sessionTopic: string; token: string };
      const customer = await connectMqtt(MQTT_URL!, session.token, { username: session.sessionId, clientId: `${session.sessionId}-widget-1` });
      clients.push(customer);
      return { session, customer };
    }

    /** the customer's stored messages whose text is like `like`, once `count` are there (or after 10 s) */
    async function stored(conversationId: string, like: string, count: number): Promise<string[]> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const rows = await server.ctx.db.query<{ text: string }>("select text from messages where conversation_id = $1 and sender = 'customer' and text like $2 order by id", [conversationId, like]);
        if (rows.length >= count || Date.now() > deadline) return rows.map((r) => r.text);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    it('stores 40 messages published in one go in the order sent', async () => {
      await store().reset();
      const { session, customer } = await customerOf('ext-40');
      const sent = Array.from({ length: 40 }, (_, i) => `m${i}`);
      await Promise.all(sent.map((content) => customer.client.publishAsync(`${session.sessionTopic}/messages`, JSON.stringify({ message: { content } }), { qos: 1 })));
      assert.deepEqual(await stored(session.sessionId, 'm%', sent.length), sent);
    });

    it('keeps handling a conversation’s messages after one is refused', async () => {
      await store().reset();
      const { session, customer } = await customerOf('ext-refused');
      assert.deepEqual(await customer.subscribe(`${session.sessionTopic}/client/control`), [1]);
      const topic = `${session.sessionTopic}/messages`;
      await Promise.all([
        customer.client.publishAsync(topic, JSON.stringify({ message: {} }), { qos: 1 }),
        customer.client.publishAsync(topic, JSON.stringify({ message: { content: 'after a refusal' } }), { qos: 1 }),
      ]);
      assert.deepEqual(await stored(session.sessionId, 'after%', 1), ['after a refusal']);
      const rejected = await customer.next(`${session.sessionTopic}/client/control`, (p) => p.instruction === 'message/rejected', 5_000);
      assert.equal(rejected.error.code, 'SB_VALIDATION');
    });
  });
});
