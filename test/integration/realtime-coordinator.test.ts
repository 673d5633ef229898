import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { issueToken } from '../../src/agents/tokens.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { loadRealtimeConfig } from '../../src/realtime/config.js';
import { createRealtime, type Realtime } from '../../src/realtime/index.js';
import { startSession } from '../../src/realtime/sessions.js';
import { makeAgent } from '../helpers/fixtures.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// The real-time layer on its own, over plain MQTT, with a clock the test
// moves and the memory bounds lowered, so keep-alive expiry and what happens
// beyond the bounds can be seen without waiting or creating 200,000 chats.

const KEEP_ALIVE_MS = 60_000;

describeEachStore('session coordinator on a test clock, with lowered memory bounds', (store) => {
  let realtime: Realtime | undefined;
  let clock = 0;
  const clients: TestMqttClient[] = [];
  const errors: unknown[] = [];

  beforeEach(async () => {
    await store().reset();
    clock = Date.now();
    errors.length = 0;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await realtime?.close();
    realtime = undefined;
    assert.deepEqual(errors, []);
  });

  async function start(limits?: { trackedConversations?: number; waitingList?: number }) {
    const ctx: Ctx = { db: store().db, now: () => new Date(clock), onCommitted: (events) => realtime?.onCommitted(events) };
    realtime = await createRealtime({
      ctx,
      config: loadRealtimeConfig({ MQTT_TCP_PORT: '0', SESSION_KEEP_ALIVE_TIME: String(KEEP_ALIVE_MS) }),
      sessionTtlSeconds: 3600,
      onError: (error) => errors.push(error),
      sweepIntervalMs: 0,
      ...(limits ? { limits } : {}),
    });
    const url = `mqtt://127.0.0.1:${(realtime.broker as { tcpAddress?: { port: number } }).tcpAddress!.port}`;
    const connect = async (token: string) => {
      const client = await connectMqtt(url, token);
      clients.push(client);
      return client;
    };
    const t = realtime.topics;
    return {
      ctx,
      t,
      async agent(capacity: number) {
        const agent = await makeAgent(ctx, { status: 'online', capacity });
        const { token } = await issueToken(ctx.db, agent.id, ctx.now(), 3600);
        return { agent, client: await connect(token) };
      },
      async customer(id: string) {
        const { conversation, token } = await startSession(ctx, { customer: { id } }, 3600);
        const client = await connect(token);
        assert.deepEqual(await client.subscribe(`${t.session(conversation.id)}/#`), [1]);
        await client.publish(t.full('server/sessions/request'), { sessionId: conversation.id });
        return { id: conversation.id, control: t.conversation(conversation.id, 'control'), client };
      },
    };
  }

  it('keeps a session whose customer sends keep-alives, and aborts the silent one', async () => {
    const rt = await start();
    await rt.agent(2);
    const talking = await rt.customer('alive');
    const silent = await rt.customer('silent');
    for (const c of [talking, silent]) await c.client.next(c.control, (p) => p.instruction === 'session/ready');

    clock += 2 * KEEP_ALIVE_MS;
    await talking.client.publish(rt.t.full('server/sessions/online'), { sessionId: talking.id });
    assert.deepEqual(await realtime!.expireSessions(), [silent.id]);
    await silent.client.next(silent.control, (p) => p.instruction === 'session/aborted/expired' && p.sessionInfo.reason === 'expired');
    const state = async (id: string) => (await rt.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [id]))[0]!.state;
    assert.equal(await state(talking.id), 'assigned');
    assert.equal(await state(silent.id), 'abandoned');

    // once it goes silent too, it ends the same way
    clock += 2 * KEEP_ALIVE_MS;
    assert.deepEqual(await realtime!.expireSessions(), [talking.id]);
    await talking.client.next(talking.control, (p) => p.instruction === 'session/aborted/expired');
  });

  it('still delivers to the agent of a conversation the holder map forgot: it asks the database', async () => {
    const rt = await start({ trackedConversations: 2 });
    const { agent, client: agentClient } = await rt.agent(3);
    const chats = [await rt.customer('f1'), await rt.customer('f2'), await rt.customer('f3')];
    for (const c of chats) {
      const ready = await c.client.next(c.control, (p) => p.instruction === 'session/ready');
      assert.equal(ready.sessionInfo.agent.id, agent.id);
    }
    // each subscription reads the holder again and pushes another out: three chats, room for two
    for (const c of chats) assert.deepEqual(await agentClient.subscribe(rt.t.conversation(c.id, 'messages')), [1]);
    for (const [i, c] of chats.entries()) {
      await c.client.publish(rt.t.conversation(c.id, 'messages'), { message: { content: `hello ${i}` } });
      await agentClient.next(rt.t.conversation(c.id, 'messages'), (p) => p.message.content === `hello ${i}`);
    }
  });

  it('tells every waiting customer their place, beyond the waiting list published to agents', async () => {
    const rt = await start({ waitingList: 1 });
    const { agent, client: agentClient } = await rt.agent(1);
    await agentClient.subscribe(rt.t.queueEvents());
    const served = await rt.customer('w0');
    await served.client.next(served.control, (p) => p.instruction === 'session/ready');
    const waiting = [await rt.customer('w1'), await rt.customer('w2'), await rt.customer('w3')];
    for (const [i, c] of waiting.entries()) {
      await c.client.next(c.control, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === i + 1);
    }
    const list = await agentClient.next(rt.t.queueEvents(), (p) => p.length === 3);
    assert.deepEqual(list.waiting.map((w: { id: string }) => w.id), [waiting[0]!.id]);

    await closeConversation(rt.ctx, served.id, { state: 'resolved', reason: 'agent' }, { id: agent.id, role: 'agent' });
    await waiting[0]!.client.next(waiting[0]!.control, (p) => p.instruction === 'session/ready');
    // the last in line, beyond the published list, still hears that they moved up
    await waiting[1]!.client.next(waiting[1]!.control, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 1);
    await waiting[2]!.client.next(waiting[2]!.control, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 2);
    await closeConversation(rt.ctx, waiting[0]!.id, { state: 'resolved', reason: 'agent' }, SYSTEM);
    await waiting[2]!.client.next(waiting[2]!.control, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 1);
  });

  it('counts the rooms of other channels in a waiting customer\'s place, when the queue is longer than the list', async () => {
    const rt = await start({ waitingList: 1 });
    const { agent, client: agentClient } = await rt.agent(1);
    await agentClient.subscribe(rt.t.queueEvents());
    const served = await rt.customer('m0');
    await served.client.next(served.control, (p) => p.instruction === 'session/ready');
    // an API room waits first: no customer listens on its control topic, but it is ahead in line
    const { conversation: room } = await openConversation(rt.ctx, { customer: { id: 'api-room' }, channel: 'api' });
    clock += 1_000;
    const customer = await rt.customer('m1');
    await customer.client.next(customer.control, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 2);
    const list = await agentClient.next(rt.t.queueEvents(), (p) => p.length === 2);
    assert.deepEqual(list.waiting.map((w: { id: string }) => w.id), [room.id]);
    assert.equal(list.longest_wait_seconds, 1);

    // `next` searches everything received: the list of one published while only
    // the API room waited would match below. Only what the close causes counts.
    agentClient.received.length = 0;
    await closeConversation(rt.ctx, served.id, { state: 'resolved', reason: 'agent' }, { id: agent.id, role: 'agent' });
    await customer.client.next(customer.control, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 1);
    const shorter = await agentClient.next(rt.t.queueEvents(), (p) => p.length === 1);
    assert.deepEqual(shorter.waiting.map((w: { id: string }) => w.id), [customer.id]);
  });
});
