import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MESSAGE_BURST, MESSAGES_PER_SECOND, REQUEST_LIMITS } from '../../src/realtime/message-rate.js';
import type { Running } from '../../src/server.js';
import { makeAgent } from '../helpers/fixtures.js';
import type { TestMqttClient } from '../helpers/mqtt.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// Every customer publish that makes Switchboard work is taken from a budget
// of its session's, not only chat messages. Found by review: 1,000 session
// requests (each a keep-alive write, reads, a walk of the queue for the
// position and a publish) kept the server busy 22 s and none was refused;
// read receipts (each locking the conversation's row) had no limit either.

const FLOOD = 300;

describeEachStore('customer publish budgets', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  /** a widget chat, connected and following its control topic */
  const chat = async (customerId: string) => {
    const session = await http('POST', '/session', { customer: { id: customerId } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const body = session.body as { sessionId: string; sessionTopic: string; token: string; state: string };
    const client = await connect(body.token);
    const control = `${body.sessionTopic}/client/control`;
    assert.deepEqual(await client.subscribe(control), [1]);
    return { ...body, client, control };
  };
  const refusals = (c: TestMqttClient, control: string, topic: string) =>
    c.received.filter((r) => r.topic === control && r.payload.instruction === 'message/rejected' && r.payload.topic === topic).map((r) => r.payload.error);

  /** Sends `FLOOD` publishes at once; what was refused, once every refusal is in, and how long sending took. */
  async function flood(c: Awaited<ReturnType<typeof chat>>, topic: string, payload: (i: number) => unknown, allowed: (seconds: number) => number) {
    const started = Date.now();
    await Promise.all(Array.from({ length: FLOOD }, (_, i) => c.client.publish(topic, payload(i))));
    const seconds = (Date.now() - started) / 1000;
    // each refusal went out before its PUBACK; a moment for the last ones to arrive
    await c.client.next(c.control, () => refusals(c.client, c.control, topic).length >= FLOOD - allowed(seconds));
    const refused = refusals(c.client, c.control, topic);
    assert.ok(refused.length <= FLOOD - (allowed(0) - 1), `refused ${refused.length} of ${FLOOD}: the burst goes through`);
    for (const error of refused) assert.equal(error.code, 'SB_RATE_LIMITED');
    return { refused, seconds };
  }

  it('refuses a flood of session requests past a small budget, shared with channel requests; other chats are not touched', async () => {
    await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    await chat('first'); // takes the one slot
    const c = await chat('flooder');
    assert.equal(c.state, 'queued');
    const calm = await chat('calm');
    const request = 'switchboard/server/sessions/request';
    const { refused } = await flood(c, request, () => ({ sessionId: c.sessionId }), (s) => REQUEST_LIMITS.burst + Math.ceil(s * REQUEST_LIMITS.perSecond) + 1);
    assert.match(refused[0].message, /too many session and channel requests from this chat: at most 1 a second after a burst of 30; try again in \d+ s/);
    // each request admitted was answered with the chat's state
    const answers = () => c.client.received.filter((r) => r.topic === c.control && r.payload.instruction === 'session/update').length;
    await c.client.next(c.control, () => answers() >= FLOOD - refused.length);

    // a channel request takes from the same budget
    await c.client.publish('switchboard/server/channels/request', { responseTopic: `${c.sessionTopic}/channel` });
    await c.client.next(c.control, () => refusals(c.client, c.control, 'switchboard/server/channels/request').length === 1);

    // another chat has its own: its requests are answered
    for (let i = 0; i < 3; i++) await calm.client.publish(request, { sessionId: calm.sessionId });
    await calm.client.next(calm.control, () => calm.client.received.filter((r) => r.payload.instruction === 'session/update').length >= 3);
    assert.deepEqual(refusals(calm.client, calm.control, request), []);
    assert.ok(c.client.client.connected);
  });

  it('refuses a flood of read receipts past a budget of their own: the chat’s messages keep theirs', async () => {
    await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const c = await chat('reader');
    assert.equal(c.state, 'assigned');
    const viewed = `${c.sessionTopic}/messages/viewed`;
    const { refused } = await flood(c, viewed, (i) => ({ readMessages: [i + 1] }), (s) => MESSAGE_BURST + Math.ceil(s * MESSAGES_PER_SECOND) + 1);
    assert.match(refused[0].message, /^too many read receipts from this chat/);
    await c.client.publish(`${c.sessionTopic}/messages`, { message: { content: 'still heard' } });
    const [row] = await server.ctx.db.query<{ n: number }>("select count(*)::int as n from messages where conversation_id = $1 and text = 'still heard'", [c.sessionId]);
    assert.equal(row!.n, 1);
    assert.deepEqual(refusals(c.client, c.control, `${c.sessionTopic}/messages`), []);
  });

  it('refuses nothing a widget sends in a chat: its requests on reconnects, keep-alives, messages and receipts', async () => {
    await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const c = await chat('widget');
    for (let connect = 0; connect < 5; connect++) {
      await c.client.publish('switchboard/server/sessions/request', { sessionId: c.sessionId, sessionTopic: c.sessionTopic, customerId: 'widget', requestID: `r${connect}` });
      await c.client.publish('switchboard/server/sessions/online', { sessionId: c.sessionId });
      for (let m = 0; m < 5; m++) await c.client.publish(`${c.sessionTopic}/messages`, { message: { content: `m${connect}.${m}` } });
      await c.client.publish(`${c.sessionTopic}/messages/viewed`, { readMessages: [1] });
    }
    await c.client.publish('switchboard/server/channels/request', { responseTopic: `${c.sessionTopic}/channel` });
    assert.deepEqual(c.client.received.filter((r) => r.payload.instruction === 'message/rejected'), []);
    const [row] = await server.ctx.db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1', [c.sessionId]);
    assert.equal(row!.n, 25);
  });

  it('answers a shopper opening 25 pages of the host site in a row, each a new connection asking for its chat', async () => {
    await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const session = await http('POST', '/session', { customer: { id: 'shopper' } });
    const body = session.body as { sessionId: string; sessionTopic: string; token: string };
    for (let page = 0; page < 25; page++) {
      const tab = await connect(body.token);
      await tab.subscribe(`${body.sessionTopic}/#`);
      await tab.publish('switchboard/server/sessions/request', { sessionId: body.sessionId, sessionTopic: body.sessionTopic, customerId: 'shopper', requestID: `p${page}` });
      const control = `${body.sessionTopic}/client/control`;
      const answer = await tab.next(control, (p) => ['session/ready', 'session/update', 'message/rejected'].includes(String(p.instruction)));
      assert.equal(answer.instruction, 'session/ready', `page ${page}: ${JSON.stringify(answer)}`);
      await tab.end();
    }
  });
});
