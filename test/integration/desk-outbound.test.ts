// Notes and labels as the outside world gets them: webhooks deliver them
// under their own event types, and RapidPro — which carries an agent's
// messages to the customer — never gets a note. Workers are driven with
// tick() on a fake clock.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { rapidproOutbound } from '../../src/channels/rapidpro/producer.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { startFakeMailroom, type FakeMailroom } from '../helpers/fake-mailroom.js';
import { startFakeQiscus } from '../helpers/fake-qiscus.js';
import { qiscusHarness } from '../helpers/qiscus-harness.js';
import { CONTRACT, createTicketer, mailroomFor, type Mailroom, type TestTicketer } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, testWorker, type Receiver } from '../helpers/webhook-receiver.js';

describeEachStore('notes and labels outbound', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let admin: string;
  let agent: string;

  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    t = await testApp(store(), { now: clock.now, tokenTtlSeconds: 60 * 86_400, env: { ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true' } });
    admin = (await t.user('admin')).token;
    agent = (await t.user('agent', { status: 'online', capacity: 5 })).token;
  });
  afterEach(async () => {
    await t.close();
  });

  const post = async (url: string, body: unknown, token = agent, status = 201) => {
    const res = await t.call('POST', url, { token, body });
    assert.equal(res.statusCode, status, res.body);
    return res.json();
  };

  it('a note reaches no RapidPro callback; the reply around it does', async () => {
    let ticketer: TestTicketer;
    let mailroom: FakeMailroom | undefined;
    let worker: OutboundWorker | undefined;
    try {
      ticketer = await createTicketer(t, admin);
      const call: Mailroom = mailroomFor(t, ticketer);
      mailroom = await startFakeMailroom({ uuid: ticketer.uuid, secret: () => ticketer.secret });
      mailroom.tickets.add(CONTRACT.room.ticketID);
      assert.equal((await call('PUT', 'settings', { webhook: { url: mailroom.url } })).statusCode, 204);
      worker = testWorker(t.ctx, { extra: rapidproOutbound({ random: () => 0.5 }) });
      const opened = await call('GET', 'room', { ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, token: '10000' } });
      assert.equal(opened.statusCode, 201, opened.body);
      const room = opened.json().id as string;
      await post(`/api/v1/conversations/${room}/notes`, { text: 'NOTE: customer already called twice' });
      await post(`/api/v1/conversations/${room}/messages`, { text: 'We are on it' });
      const note = await post(`/api/v1/conversations/${room}/notes`, { text: 'NOTE: escalate if needed' });
      assert.equal((await t.call('PATCH', `/api/v1/conversations/${room}/notes/${note.id}`, { token: agent, body: { text: 'NOTE: edited' } })).statusCode, 200);
      const result = await worker.tick();
      assert.equal(result.delivered, 1);
      assert.deepEqual(mailroom.handled, [{ type: 'agent-message', ticketID: CONTRACT.room.ticketID, visitor: { token: '10000' }, data: { text: 'We are on it' } }]);
      assert.ok(!mailroom.requests.some((r) => JSON.stringify(r).includes('NOTE:')), 'no request to mailroom carries a note');
    } finally {
      await worker?.stop();
      await mailroom?.close();
    }
  });

  it('a note and labels on a Qiscus room send Qiscus nothing', async () => {
    const fake = await startFakeQiscus();
    const h = await qiscusHarness(store(), fake);
    try {
      fake.addAgents(1);
      assert.equal((await h.webhook('room-note')).statusCode, 200);
      await h.settle();
      const [room] = await store().db.query<{ id: string }>(`select id from conversations where external_ref = 'room-note' and state = 'assigned'`);
      assert.ok(room, 'the room was assigned');
      const before = fake.requests.length;
      const supervisor = await h.t.user('supervisor');
      const admin = await h.t.user('admin');
      assert.equal((await h.t.call('POST', '/api/v1/labels', { token: admin.token, body: { name: 'VIP', color: '#ffaa00' } })).statusCode, 201);
      const note = await h.t.call('POST', `/api/v1/conversations/${room.id}/notes`, { token: supervisor.token, body: { text: 'NOTE: for agents only' } });
      assert.equal(note.statusCode, 201, note.body);
      assert.equal((await h.t.call('PUT', `/api/v1/conversations/${room.id}/labels`, { token: supervisor.token, body: { labels: ['VIP'] } })).statusCode, 200);
      await h.settle();
      assert.deepEqual(fake.requests.slice(before).map((r) => `${r.method} ${r.path}`).filter((r) => !r.includes('/available_agents')), []);
      assert.ok(!fake.requests.some((r) => r.form.toString().includes('NOTE') || r.query.toString().includes('NOTE')));
    } finally {
      await h.close();
      await fake.close();
    }
  });

  it('webhooks deliver note.created/updated/deleted and conversation.labels_changed as their own types, never as message.created; Gitple tags are the labels', async () => {
    const receiver: Receiver = await startReceiver(() => secrets);
    const secrets: string[] = [];
    const worker = testWorker(t.ctx);
    try {
      const { secret } = await endpointFor(t.ctx, receiver, {
        events: ['message.created', 'note.created', 'note.updated', 'note.deleted', 'conversation.labels_changed', 'session_state_close'],
      });
      secrets.push(secret);
      await post('/api/v1/labels', { name: 'VIP', color: '#ffaa00' }, admin);
      const c = await post('/api/v1/conversations', { customer: { id: 'cust-1', name: 'Kim' } }, admin);
      await post(`/api/v1/conversations/${c.id}/messages`, { text: 'Hello Kim' });
      const note = await post(`/api/v1/conversations/${c.id}/notes`, { text: 'Kim is a VIP' });
      assert.equal((await t.call('PATCH', `/api/v1/conversations/${c.id}/notes/${note.id}`, { token: agent, body: { text: 'Kim is a gold VIP' } })).statusCode, 200);
      assert.equal((await t.call('DELETE', `/api/v1/conversations/${c.id}/notes/${note.id}`, { token: agent })).statusCode, 204);
      assert.equal((await t.call('PUT', `/api/v1/conversations/${c.id}/labels`, { token: agent, body: { labels: ['VIP'] } })).statusCode, 200);
      assert.equal((await t.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: agent, body: {} })).statusCode, 200);
      await worker.tick();
      assert.deepEqual(receiver.problems, []);
      const names = receiver.accepted.map((r) => r.json.type);
      assert.deepEqual(names, ['message.created', 'note.created', 'note.updated', 'note.deleted', 'conversation.labels_changed', 'session_state_close']);
      // Gitple's session tags are the labels
      assert.deepEqual((receiver.accepted[5]!.json.session as { tags: string[] }).tags, ['VIP']);
      const created = receiver.accepted[1]!.json.data as { note: { id: number; private: boolean; text: string; sender_id: string } };
      assert.deepEqual([created.note.id, created.note.private, created.note.text], [note.id, true, 'Kim is a VIP']);
      assert.ok(!JSON.stringify(receiver.accepted[0]!.json).includes('VIP'), 'the message.created delivery carries no note');
      const labels = receiver.accepted[4]!.json.data as { labels: { name: string; color: string }[]; added: string[]; conversation: { labels: string[] } };
      assert.deepEqual([labels.labels, labels.added, labels.conversation.labels], [[{ ...labels.labels[0], name: 'VIP', color: '#ffaa00' }], ['VIP'], ['VIP']]);
    } finally {
      await worker.stop();
      await receiver.close();
    }
  });
});
