// A conversation id in a path may be written in upper case (a uuid is
// case-insensitive), but the events of notes and labels carry the id as
// stored, in lower case, as every other event does: the in-process listeners
// (ctx.onCommitted: the realtime publisher, the metrics, the channels) and
// the MQTT note.* payloads a console matches on. And a label named twice in
// a PUT, whatever the case, is a 400 naming the second.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, it } from 'node:test';
import type { StoredEvent } from '../../src/events/outbox.js';
import type { Publisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import { expectInvalid } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { recordingPublisher, type Published } from '../helpers/recording-publisher.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('event ids from an upper-case path', (store) => {
  const topics = topicsOf('sb');
  let t: TestApp;
  let publisher: Publisher | undefined;
  const committed: StoredEvent[] = [];
  const published: Published = [];

  before(async () => {
    t = await testApp(store(), {
      // what the server hands every commit to (src/server.ts): here, the metrics, a record and the realtime publisher
      beforeApp: (ctx) => {
        const observe = ctx.onCommitted;
        ctx.onCommitted = (events) => {
          observe?.(events);
          committed.push(...events);
          publisher?.onCommitted(events);
        };
      },
    });
  });
  after(async () => {
    await t?.close();
  });
  // one publisher a test, closed before the store is
  beforeEach(async () => {
    await store().reset();
    committed.length = 0;
    published.length = 0;
    publisher = recordingPublisher(t.ctx, topics, published, { queueDebounceMs: 0 });
  });
  afterEach(async () => {
    const closing = publisher;
    publisher = undefined;
    await closing?.idle();
    await closing?.close();
  });

  /** An admin, an online agent and a conversation assigned to the agent. */
  async function scene() {
    const admin = await t.user('admin');
    const agent = await t.user('agent', { status: 'online', capacity: 1 });
    const res = await t.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'cust-case', name: 'Ana Lima' } } });
    assert.equal(res.statusCode, 201, res.body);
    const c = res.json() as { id: string; agent_id: string | null };
    assert.equal(c.agent_id, agent.agent.id);
    assert.match(c.id, /^[0-9a-f-]{36}$/, 'ids are answered in lower case');
    return { admin, agent, id: c.id, upper: c.id.toUpperCase() };
  }

  const ofTypes = (...types: string[]) => committed.filter((e) => types.includes(e.type));

  it('note.created, .updated and .deleted reach the listeners and the MQTT topics with the lower-case id', async () => {
    const { agent, id, upper } = await scene();
    const sent = await t.call('POST', `/api/v1/conversations/${upper}/messages`, { token: agent.token, body: { text: 'Hello' } });
    assert.equal(sent.statusCode, 201, sent.body);
    const created = await t.call('POST', `/api/v1/conversations/${upper}/notes`, { token: agent.token, body: { text: 'VIP; be nice' } });
    assert.equal(created.statusCode, 201, created.body);
    const note = created.json() as { id: number; conversation_id: string };
    assert.equal(note.conversation_id, id);
    const edited = await t.call('PATCH', `/api/v1/conversations/${upper}/notes/${note.id}`, { token: agent.token, body: { text: 'VIP; be very nice' } });
    assert.equal(edited.statusCode, 200, edited.body);
    const deleted = await t.call('DELETE', `/api/v1/conversations/${upper}/notes/${note.id}`, { token: agent.token });
    assert.equal(deleted.statusCode, 204, deleted.body);
    await publisher!.idle();

    // what the listeners were handed: the same id as message.created's and the log's
    const events = ofTypes('message.created', 'note.created', 'note.updated', 'note.deleted');
    assert.deepEqual(events.map((e) => [e.type, e.conversation_id]), [
      ['message.created', id],
      ['note.created', id],
      ['note.updated', id],
      ['note.deleted', id],
    ]);
    const logged = await store().db.query<{ type: string; conversation_id: string }>(
      `select type, conversation_id from events where type like 'note.%' order by id`,
    );
    assert.deepEqual(logged.map((e) => [e.type, e.conversation_id]), events.slice(1).map((e) => [e.type, e.conversation_id]));

    // what the console hears: the agent's inbox and the supervisors' topic
    for (const topic of [topics.agentEvents(agent.agent.id), topics.supervisorEvents('conversations')]) {
      const notes = published.filter((p) => p.topic === topic && String(p.payload.type).startsWith('note.'));
      assert.deepEqual(notes.map((p) => [p.payload.type, p.payload.conversation_id]), [
        ['note.created', id],
        ['note.updated', id],
        ['note.deleted', id],
      ], topic);
    }
  });

  it('conversation.labels_changed reaches the listeners with the lower-case id', async () => {
    const { admin, agent, id, upper } = await scene();
    assert.equal((await t.call('POST', '/api/v1/labels', { token: admin.token, body: { name: 'VIP', color: '#ffaa00' } })).statusCode, 201);
    const res = await t.call('PUT', `/api/v1/conversations/${upper}/labels`, { token: agent.token, body: { labels: ['vip'] } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { id: string }).id, id);
    await publisher!.idle();
    const events = ofTypes('conversation.labels_changed');
    assert.deepEqual(events.map((e) => [e.conversation_id, (e.data as { conversation: { id: string } }).conversation.id]), [[id, id]]);
    const heard = published.filter((p) => p.topic === topics.supervisorEvents('conversations') && p.payload.type === 'conversation.labels_changed');
    assert.deepEqual(heard.map((p) => p.payload.conversation.id), [id]);
  });

  it('every path uuid is taken in lower case: external messages and erasure reach the listeners with the stored id', async () => {
    const { admin, agent, id, upper } = await scene();
    const asked = await t.call('POST', `/api/v1/conversations/${upper}/external-messages`, { token: agent.token, body: { text: 'We called you' } });
    assert.equal(asked.statusCode, 202, asked.body);
    assert.equal((asked.json() as { conversation_id: string }).conversation_id, id);
    assert.equal((await t.call('POST', `/api/v1/conversations/${upper}/resolve`, { token: agent.token, body: {} })).statusCode, 200);
    const erased = await t.call('DELETE', `/api/v1/conversations/${upper}`, { token: admin.token });
    assert.equal(erased.statusCode, 200, erased.body);
    const events = ofTypes('external_message.requested', 'conversation.erased');
    assert.deepEqual(events.map((e) => [e.type, e.conversation_id]), [
      ['external_message.requested', id],
      ['conversation.erased', id],
    ]);
    assert.ok(events.every((e) => !JSON.stringify(e.data).includes(upper)), JSON.stringify(events.map((e) => e.data)));
    // the publisher takes an erasure in its stride (it carries no conversation) and tells the supervisors
    await publisher!.idle();
    const heard = published.filter((p) => p.topic === topics.supervisorEvents('conversations') && p.payload.type === 'conversation.erased');
    assert.deepEqual(heard.map((p) => p.payload.conversation_id ?? p.payload.id), [id]);
  });

  it('PUT /labels naming one label twice, whatever the case, answers 400 naming the second and changes nothing', async () => {
    const { admin, agent, id } = await scene();
    for (const name of ['VIP', 'refund']) {
      assert.equal((await t.call('POST', '/api/v1/labels', { token: admin.token, body: { name, color: '#ffaa00' } })).statusCode, 201);
    }
    const put = (labels: string[]) => t.call('PUT', `/api/v1/conversations/${id}/labels`, { token: agent.token, body: { labels } });
    assert.equal((await put(['refund'])).statusCode, 200);
    const before = committed.length;
    expectInvalid(await put(['VIP', 'vip']), 'labels[1]');
    expectInvalid(await put(['refund', 'VIP', 'Vip']), 'labels[2]');
    expectInvalid(await put(['vip', 'refund', 'REFUND', 'VIP']), 'labels[2]');
    // as typed twice: the schema's uniqueItems, as before
    expectInvalid(await put(['VIP', 'VIP']), 'labels');
    assert.equal(committed.length, before, 'no event');
    const [row] = await store().db.query<{ labels: string[] }>('select labels from conversations where id = $1', [id]);
    assert.deepEqual(row!.labels, ['refund']);
    // each once is fine, whatever the case
    const ok = await put(['vip', 'REFUND']);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual((ok.json() as { labels: string[] }).labels, ['refund', 'VIP']);
  });
});
