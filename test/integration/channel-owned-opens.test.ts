// A Qiscus room or a RapidPro ticket is opened only by its own channel: the
// core API refuses to open one, whoever asks, so no agent can take a real
// room's or ticket's place (and have Switchboard close the real room in
// Qiscus, or mailroom's own open answered 409).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { expectInvalid } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { CONTRACT, createTicketer, mailroomFor, snapshot, type Mailroom } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';

const ROLES = ['agent', 'supervisor', 'admin'] as const;

describeEachStore('POST /api/v1/conversations and Qiscus rooms', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  it('refuses channel qiscus with 400 naming channel, to every role; the real room is then allocated and never resolved on anyone\'s say-so', async () => {
    const h = await harness();
    fake.addAgents(1);
    for (const role of ROLES) {
      const { token } = await h.t.user(role, { status: 'online' });
      const res = await h.t.call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'me' }, channel: 'qiscus', external_ref: '274083256' } });
      expectInvalid(res, 'channel', role);
      assert.match(res.json().error.message, /^channel must not be qiscus: those conversations are opened only by Qiscus' agent-allocation webhook; this API opens widget, api, mqtt, offline$/);
    }
    const [opened] = await store().db.query<{ n: number }>('select count(*)::int as n from conversations');
    assert.equal(opened!.n, 0, 'a refused open left a conversation');

    assert.equal((await h.webhook('274083256')).statusCode, 200);
    await h.settle();
    assert.equal(fake.rooms.get('274083256')?.length, 1, 'the real room went to a Qiscus agent');
    assert.deepEqual(fake.markedResolved, []);
  });
});

describeEachStore('POST /api/v1/conversations and RapidPro tickets', (store) => {
  let t: TestApp;
  let mailroom: Mailroom;
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    mailroom = mailroomFor(t, await createTicketer(t, (await t.user('admin')).token));
  });
  afterEach(() => t.close());

  it("refuses channel rapidpro with 400 naming channel, to every role; mailroom's own open of the ticket then succeeds", async () => {
    const users = [];
    for (const role of ROLES) users.push({ role, token: (await t.user(role, { status: 'online' })).token });
    const before = await snapshot(store().db);
    for (const { role, token } of users) {
      const res = await t.call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'me' }, channel: 'rapidpro', external_ref: CONTRACT.room.ticketID } });
      expectInvalid(res, 'channel', role);
      assert.match(res.json().error.message, /^channel must not be rapidpro: those conversations are opened only by RapidPro's mailroom/);
    }
    assert.deepEqual(await snapshot(store().db), before);
    const res = await mailroom('GET', 'room', CONTRACT.room);
    assert.equal(res.statusCode, 201, res.body);
  });

  it('still opens conversations of the channels it serves', async () => {
    const { token } = await t.user('admin');
    for (const channel of ['api', 'widget', 'mqtt', 'offline']) {
      const res = await t.call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'me' }, channel, external_ref: 'ref-1' } });
      assert.equal(res.statusCode, 201, `${channel}: ${res.body}`);
      assert.equal(res.json().channel, channel);
    }
  });
});
