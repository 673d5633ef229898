// Who opens the Qiscus settings endpoints (an admin token only: the webhook
// secret sits in the webhook URLs every Qiscus dashboard admin sees), and the
// qiscus channel refusing required skills its allocator would never honour.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, HARNESS_WEBHOOK_SECRET, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('Qiscus settings: admin token only; no skills on the qiscus channel', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  it('refuses the webhook secret on the three settings endpoints, in a header or the URL (401 in the envelope), and changes nothing', async () => {
    h = await harness({ login: true });
    const admin = await h.t.user('admin');
    // the secret is good: the webhooks take it
    const hook = await h.t.call('POST', `/api/v1/webhook/agent_allocation?secret=${HARNESS_WEBHOOK_SECRET}`, { body: { room_id: 'r1' } });
    assert.equal(hook.statusCode, 200, hook.body);
    const calls: ['GET' | 'POST', string, unknown][] = [
      ['GET', '/api/v1/settings/max_customers', undefined],
      ['POST', '/api/v1/settings/max_customers', { max_customers: 1 }],
      ['POST', '/api/v1/settings/set_mark_as_resolved', { endpoint: 'https://attacker.example/hook', enable: true }],
    ];
    const before = fake.requests.length;
    for (const [method, url, body] of calls) {
      for (const [how, path, headers] of [
        ['header', url, { 'x-webhook-secret': HARNESS_WEBHOOK_SECRET }],
        ['URL', `${url}?secret=${HARNESS_WEBHOOK_SECRET}`, {}],
      ] as const) {
        const res = await h.t.call(method, path, { headers, ...(body ? { body } : {}) });
        assert.equal(res.statusCode, 401, `${method} ${url}, secret in the ${how}: ${res.body}`);
        assert.deepEqual(Object.keys(res.json()).sort(), ['data', 'message', 'status']);
        assert.equal(res.json().status, 401);
        assert.equal(res.json().data, null);
        assert.match(res.json().message, /admin token/, `${method} ${url}, secret in the ${how}`);
      }
    }
    assert.equal(fake.requests.length - before, 0, 'no call reached Qiscus');
    const read = await h.t.call('GET', '/api/v1/settings/max_customers', { token: admin.token });
    assert.deepEqual(read.json(), { status: 200, message: 'Success', data: { max_customers: 2 } }, 'max_customers is unchanged');
    const changes = await store().db.query(`select 1 from events where type = 'settings.changed'`);
    assert.equal(changes.length, 0);
    // an admin token still opens them, with or without the secret beside it
    const set = await h.t.call('POST', '/api/v1/settings/max_customers', { token: admin.token, headers: { 'x-webhook-secret': HARNESS_WEBHOOK_SECRET }, body: { max_customers: 3 } });
    assert.deepEqual(set.json(), { status: 200, message: 'Successfully updated', data: { max_customers: 3 } });
  });

  it('refuses required_skills on the qiscus channel with 400 SB_VALIDATION naming the field; {} is accepted and other channels keep theirs', async () => {
    h = await harness();
    fake.addAgents(1);
    const admin = await h.t.user('admin');
    const put = await h.t.call('PUT', '/api/v1/channels/qiscus/routing', { token: admin.token, body: { required_skills: { spanish: 5 } } });
    assert.equal(put.statusCode, 400, put.body);
    assert.equal(put.json().error.code, 'SB_VALIDATION');
    assert.equal(put.json().error.field, 'required_skills');
    assert.match(put.json().error.message, /^required_skills cannot be set for the qiscus channel: Qiscus picks among its own agents, who carry no skills/);
    const read = await h.t.call('GET', '/api/v1/channels/qiscus/routing', { token: admin.token });
    assert.deepEqual(read.json(), { channel: 'qiscus', required_skills: {} }, 'nothing was stored');

    // a room then goes to the agent Qiscus offers, requiring nothing
    assert.equal((await h.webhook('1001')).statusCode, 200);
    await h.settle();
    const [room] = await store().db.query<{ state: string; required_skills: unknown }>(`select state, required_skills from conversations where external_ref = '1001'`);
    assert.deepEqual(room, { state: 'assigned', required_skills: {} });

    const clear = await h.t.call('PUT', '/api/v1/channels/qiscus/routing', { token: admin.token, body: { required_skills: {} } });
    assert.equal(clear.statusCode, 200, clear.body);
    const widget = await h.t.call('PUT', '/api/v1/channels/widget/routing', { token: admin.token, body: { required_skills: { spanish: 1 } } });
    assert.equal(widget.statusCode, 200, widget.body);
    assert.deepEqual(widget.json(), { channel: 'widget', required_skills: { spanish: 1 } });
  });
});
