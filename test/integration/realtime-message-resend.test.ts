import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import mqtt from 'mqtt';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// A chat message sent again with its clientMessageId is stored once. Found
// by review: when the link dropped after a PUBLISH left and before its
// PUBACK came back, mqtt.js (as the widget configures it) sent the message
// again on reconnect, and it was stored, and shown to the agent, twice.

describeEachStore('a message resent after a lost PUBACK', (store) => {
  let server: Running;
  let wsUrl = '';
  const { http, connect } = realServerForBlock(store, (started) => ({ server, wsUrl } = started));

  const chat = async (customerId: string) => {
    const agentRow = await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const agent = await http('POST', '/api/v1/auth/login', { email: agentRow.email, password: PASSWORD });
    const session = await http('POST', '/session', { customer: { id: customerId } });
    assert.equal(session.body.state, 'assigned');
    return { agentToken: agent.body.token as string, ...(session.body as { sessionId: string; sessionTopic: string; token: string }) };
  };
  const stored = async (conversationId: string) =>
    (await server.ctx.db.query<{ id: number; text: string | null; client_message_id: string | null }>('select id, text, client_message_id from messages where conversation_id = $1 order by id', [conversationId])).map((r) => ({ ...r, id: Number(r.id) }));

  /**
   * Publishes `payload` as the widget does (clean session, reconnecting),
   * dropping the link just after the PUBLISH leaves: mqtt.js sends it again
   * on reconnect. Resolves once it is acknowledged.
   */
  async function publishThroughDrop(s: { sessionId: string; sessionTopic: string; token: string }, payload: unknown) {
    const client = mqtt.connect(wsUrl, { username: s.sessionId, password: s.token, clientId: `${s.sessionId}-widget-${randomUUID().slice(0, 8)}`, protocolVersion: 4, clean: true, reconnectPeriod: 200 });
    await new Promise((resolve) => client.once('connect', resolve));
    let publishes = 0;
    client.on('packetsend', (packet: { cmd: string }) => {
      if (packet.cmd !== 'publish') return;
      publishes += 1;
      if (publishes === 1) setTimeout(() => (client as unknown as { stream: { destroy(): void } }).stream.destroy(), 2);
    });
    try {
      await new Promise<void>((resolve, reject) => client.publish(`${s.sessionTopic}/messages`, JSON.stringify(payload), { qos: 1 }, (error) => (error ? reject(error) : resolve())));
      assert.ok(publishes >= 2, `sent ${publishes} times: the link did not drop before the PUBACK`);
    } finally {
      client.end(true);
    }
  }

  it('stores a message whose PUBACK was lost once, and relays the stored copy again with its id', async () => {
    const s = await chat('resend-1');
    const agent = await connect(s.agentToken);
    assert.deepEqual(await agent.subscribe(`${s.sessionTopic}/messages`), [1]);
    const id = randomUUID();
    await publishThroughDrop(s, { message: { content: 'my order 123 is late', clientMessageId: id } });
    const rows = await stored(s.sessionId);
    assert.deepEqual(rows.map((r) => [r.text, r.client_message_id]), [['my order 123 is late', id]]);
    // the agent hears the one stored message (once, or again with the same id)
    await agent.next(`${s.sessionTopic}/messages`, (p) => p.message.content === 'my order 123 is late');
    const heard = agent.received.filter((r) => r.topic === `${s.sessionTopic}/messages`).map((r) => r.payload.message.id);
    assert.deepEqual([...new Set(heard)], [rows[0]!.id]);
    // the history shows it once, without the client's id
    const history = await http('GET', `/api/v1/conversations/${s.sessionId}/messages`, undefined, s.token);
    assert.equal(history.status, 200);
    assert.deepEqual(history.body.map((m: { text: string }) => m.text), ['my order 123 is late']);
    assert.equal('client_message_id' in history.body[0], false);
  });

  it('answers a copy sent again with the stored message, from any connection, at once or later, with files too', async () => {
    const s = await chat('resend-2');
    const customer = await connect(s.token);
    const messages = `${s.sessionTopic}/messages`;
    assert.deepEqual(await customer.subscribe(`${s.sessionTopic}/#`), [1]);
    const id = randomUUID();
    // two connections of the session send the same message at the same time
    const other = await connect(s.token);
    await Promise.all([customer.publish(messages, { message: { content: 'twice at once', clientMessageId: id } }), other.publish(messages, { message: { content: 'twice at once', clientMessageId: id.toUpperCase() } })]);
    await customer.publish(messages, { message: { content: 'twice at once', clientMessageId: id } });
    // another message with an id of its own is another message
    await customer.publish(messages, { message: { content: 'a second one', clientMessageId: randomUUID() } });
    // and one without an id is stored as sent
    await customer.publish(messages, { message: { content: 'no id' } });

    // an uploaded file's message, sent again: its file is the stored message's
    const { body, headers } = multipartFile('file', 'receipt.png', 'image/png', PNG);
    const uploaded = await fetch(`${server.url}/api/v1/conversations/${s.sessionId}/attachments`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, authorization: `Bearer ${s.token}` } });
    assert.equal(uploaded.status, 201, await uploaded.clone().text());
    const file = (await uploaded.json()) as { id: string };
    const withFile = { message: { attachments: [{ id: file.id }], clientMessageId: randomUUID() } };
    await customer.publish(messages, withFile);
    await customer.publish(messages, withFile);

    const rows = await stored(s.sessionId);
    assert.deepEqual(rows.map((r) => r.text), ['twice at once', 'a second one', 'no id', null]);
    assert.deepEqual(customer.received.filter((r) => r.payload.instruction === 'message/rejected'), []);
    // every copy was answered with the stored message: its id, relayed again
    await customer.next(messages, () => customer.received.filter((r) => r.topic === messages && r.payload.message.id === rows[0]!.id).length >= 3);
    await customer.next(messages, () => customer.received.filter((r) => r.topic === messages && r.payload.message.id === rows[3]!.id).length >= 2);
    const relayedFile = customer.received.filter((r) => r.topic === messages && r.payload.message.id === rows[3]!.id).map((r) => r.payload.message.attachments[0].id);
    assert.deepEqual(relayedFile, [file.id, file.id]);
  });

  it('refuses a clientMessageId that is not a uuid, or another sender’s message’s, storing nothing', async () => {
    const s = await chat('resend-3');
    const customer = await connect(s.token);
    const control = `${s.sessionTopic}/client/control`;
    assert.deepEqual(await customer.subscribe(control), [1]);
    const messages = `${s.sessionTopic}/messages`;
    await customer.publish(messages, { message: { content: 'x', clientMessageId: 'not-a-uuid' } });
    const bad = await customer.next(control, (p) => p.instruction === 'message/rejected');
    assert.deepEqual([bad.error.code, bad.error.field], ['SB_VALIDATION', 'message.clientMessageId']);

    const id = randomUUID();
    await customer.publish(messages, { message: { content: 'the customer’s', clientMessageId: id } });
    const agent = await connect(s.agentToken);
    const inbox = `switchboard/agents/${(await server.ctx.db.query<{ agent_id: string }>('select agent_id from conversations where id = $1', [s.sessionId]))[0]!.agent_id}/events`;
    assert.deepEqual(await agent.subscribe(inbox), [1]);
    await agent.publish(messages, { message: { content: 'the agent’s', clientMessageId: id } });
    const taken = await agent.next(inbox, (p) => p.instruction === 'message/rejected');
    assert.deepEqual([taken.error.code, taken.error.field], ['SB_VALIDATION', 'message.clientMessageId']);
    assert.deepEqual((await stored(s.sessionId)).map((r) => r.text), ['the customer’s']);
  });
});
