// The webhook endpoints API: admin only, clear 4xx naming the field at
// fault, secrets shown once and never listed, private targets refused.
import assert from 'node:assert/strict';
import { before, beforeEach, it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore } from '../helpers/stores.js';
import { resetWebhooks } from '../helpers/webhook-receiver.js';

// A public literal address: no DNS needed to accept it.
const PUBLIC = 'https://93.184.215.14/hooks';

describeEachStore('webhook endpoints API', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let admin: { token: string };
  let agent: { token: string; agent: { id: string } };
  let other: { token: string; agent: { id: string } };

  before(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    t = await testApp(store(), { now: clock.now });
    admin = await t.user('admin');
    agent = await t.user('agent', { status: 'online', capacity: 1 });
    other = await t.user('agent', { status: 'online', capacity: 1 });
  });
  beforeEach(async () => {
    await resetWebhooks(store().db);
  });

  const create = (body: unknown, token = admin.token) => t.call('POST', '/api/v1/webhooks', { token, body });

  function expectField(res: { statusCode: number; body: string; json(): unknown }, field: string, code = 'SB_VALIDATION') {
    assert.equal(res.statusCode, 400, res.body);
    const { error } = res.json() as { error: { code: string; field: string; message: string } };
    assert.equal(error.code, code, res.body);
    assert.equal(error.field, field, res.body);
    assert.ok(error.message.length > 0);
  }

  it('creates an endpoint, shows a generated secret once, and never lists it', async () => {
    const res = await create({ url: PUBLIC, events: ['session_state_open', 'conversation.created'], app_code: 'APP' });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json() as { id: string; secret: string; verify_ssl: boolean; enabled: boolean; app_code: string; events: string[] };
    assert.match(created.secret, /^whsec_/);
    assert.equal(created.verify_ssl, true);
    assert.equal(created.enabled, true);
    assert.deepEqual(created.events, ['session_state_open', 'conversation.created']);

    const given = await create({ url: PUBLIC, events: ['session_state_close'], secret: "It's a Secret to Everybody", verify_ssl: false });
    assert.equal(given.statusCode, 201, given.body);
    assert.equal(given.json().secret, "It's a Secret to Everybody");

    const list = await t.call('GET', '/api/v1/webhooks', { token: admin.token });
    assert.equal(list.statusCode, 200);
    assert.equal((list.json() as unknown[]).length, 2);
    const one = await t.call('GET', `/api/v1/webhooks/${created.id}`, { token: admin.token });
    const patched = await t.call('PATCH', `/api/v1/webhooks/${created.id}`, { token: admin.token, body: { app_code: null } });
    for (const r of [list, one, patched]) {
      assert.ok(!r.body.includes(created.secret), 'the generated secret is not in the answer');
      assert.ok(!r.body.includes("It's a Secret"), 'the given secret is not in the answer');
      assert.ok(!r.body.includes('"secret"'), 'no secret field at all');
    }
    assert.equal(patched.json().app_code, null);
  });

  it('changes, rotates, disables and deletes an endpoint', async () => {
    const { id, secret } = (await create({ url: PUBLIC, events: ['session_state_open'] })).json() as { id: string; secret: string };
    const patched = await t.call('PATCH', `/api/v1/webhooks/${id}`, { token: admin.token, body: { events: ['message.created'], verify_ssl: false, enabled: false } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual(patched.json().events, ['message.created']);
    assert.equal(patched.json().enabled, false);

    const rotated = await t.call('POST', `/api/v1/webhooks/${id}/rotate-secret`, { token: admin.token, body: { grace_seconds: 60 } });
    assert.equal(rotated.statusCode, 200, rotated.body);
    assert.notEqual(rotated.json().secret, secret);
    assert.equal(rotated.json().previous_secret_expires_at, new Date(clock.now().getTime() + 60_000).toISOString());
    clock.advance(60_001);
    const noBody = await t.call('POST', `/api/v1/webhooks/${id}/rotate-secret`, { token: admin.token });
    assert.equal(noBody.statusCode, 200, noBody.body);

    const ping = await t.call('POST', `/api/v1/webhooks/${id}/ping`, { token: admin.token });
    assert.equal(ping.statusCode, 409, 'a disabled endpoint is not pinged');
    assert.equal(ping.json().error.code, 'SB_WEBHOOK_DISABLED');

    const deliveries = await t.call('GET', `/api/v1/webhooks/${id}/deliveries?limit=10`, { token: admin.token });
    assert.equal(deliveries.statusCode, 200);
    assert.deepEqual(deliveries.json(), []);

    assert.equal((await t.call('DELETE', `/api/v1/webhooks/${id}`, { token: admin.token })).statusCode, 204);
    assert.equal((await t.call('GET', `/api/v1/webhooks/${id}`, { token: admin.token })).statusCode, 404);
    assert.equal((await t.call('DELETE', `/api/v1/webhooks/${id}`, { token: admin.token })).statusCode, 404);
  });

  it('answers bad input with 400 naming the field', async () => {
    expectField(await create({ events: ['session_state_open'] }), 'url');
    expectField(await create({ url: 'ftp://example.com/x', events: ['session_state_open'] }), 'url');
    expectField(await create({ url: 'not a url', events: ['session_state_open'] }), 'url');
    expectField(await create({ url: 'https://u:p@example.com/', events: ['session_state_open'] }), 'url');
    expectField(await create({ url: PUBLIC }), 'events');
    expectField(await create({ url: PUBLIC, events: [] }), 'events');
    expectField(await create({ url: PUBLIC, events: 'session_state_open' }), 'events');
    expectField(await create({ url: PUBLIC, events: ['session_state_open', 'no.such_event'] }), 'events.1');
    expectField(await create({ url: PUBLIC, events: ['session_state_open', 'session_state_open'] }), 'events');
    expectField(await create({ url: PUBLIC, events: ['session_state_open'], secret: 'short' }), 'secret');
    expectField(await create({ url: PUBLIC, events: ['session_state_open'], secret: 'whsec_%%%%%%%%%%%%' }), 'secret');
    expectField(await create({ url: PUBLIC, events: ['session_state_open'], verify_ssl: 'no' }), 'verify_ssl');
    expectField(await create({ url: PUBLIC, events: ['session_state_open'], enabled: 1 }), 'enabled');
    expectField(await create({ url: PUBLIC, events: ['session_state_open'], colour: 'blue' }), 'colour');
    const { id } = (await create({ url: PUBLIC, events: ['session_state_open'] })).json() as { id: string };
    expectField(await t.call('PATCH', `/api/v1/webhooks/${id}`, { token: admin.token, body: { events: ['bogus'] } }), 'events.0');
    expectField(await t.call('PATCH', `/api/v1/webhooks/${id}`, { token: admin.token, body: { url: 'gopher://x' } }), 'url');
    assert.equal((await t.call('PATCH', `/api/v1/webhooks/${id}`, { token: admin.token, body: {} })).statusCode, 400);
    expectField(await t.call('POST', `/api/v1/webhooks/${id}/rotate-secret`, { token: admin.token, body: { grace_seconds: -1 } }), 'grace_seconds');
    assert.equal((await t.call('GET', '/api/v1/webhooks/not-a-uuid', { token: admin.token })).statusCode, 400);
    assert.equal((await t.call('GET', `/api/v1/webhooks/${id}/deliveries?limit=0`, { token: admin.token })).statusCode, 400);
    assert.equal((await t.call('POST', '/api/v1/deliveries/abc/redeliver', { token: admin.token })).statusCode, 400);
    expectField(await t.call('GET', '/api/v1/deliveries/99999999999999999999', { token: admin.token }), 'id');
    expectField(await t.call('GET', `/api/v1/webhooks/${id}/deliveries?before=99999999999999999999`, { token: admin.token }), 'before');
    const rows = await store().db.query<{ n: number }>('select count(*)::int as n from webhook_endpoints');
    assert.equal(rows[0]!.n, 1, 'nothing but the one good endpoint was stored');
  });

  it('refuses private, loopback and link-local targets while ALLOW_PRIVATE_WEBHOOK_TARGETS is off', async () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://10.0.0.5/hook',
      'http://192.168.1.10/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://0.0.0.0/hook',
      'http://metadata.google.internal/',
    ]) {
      expectField(await create({ url, events: ['session_state_open'] }), 'url', 'SB_WEBHOOK_TARGET_PRIVATE');
    }
    const { id } = (await create({ url: PUBLIC, events: ['session_state_open'] })).json() as { id: string };
    expectField(await t.call('PATCH', `/api/v1/webhooks/${id}`, { token: admin.token, body: { url: 'http://127.0.0.1/' } }), 'url', 'SB_WEBHOOK_TARGET_PRIVATE');
  });

  it('is for admins only', async () => {
    const { id } = (await create({ url: PUBLIC, events: ['session_state_open'] })).json() as { id: string };
    const endpoint = { url: PUBLIC, events: ['session_state_open'] };
    for (const [method, url, body] of [
      ['POST', '/api/v1/webhooks', endpoint],
      ['GET', '/api/v1/webhooks', undefined],
      ['GET', `/api/v1/webhooks/${id}`, undefined],
      ['PATCH', `/api/v1/webhooks/${id}`, endpoint],
      ['DELETE', `/api/v1/webhooks/${id}`, undefined],
      ['POST', `/api/v1/webhooks/${id}/ping`, undefined],
      ['POST', `/api/v1/webhooks/${id}/rotate-secret`, {}],
      ['GET', `/api/v1/webhooks/${id}/deliveries`, undefined],
      ['GET', '/api/v1/deliveries/1', undefined],
      ['POST', '/api/v1/deliveries/1/redeliver', undefined],
    ] as const) {
      assert.equal((await t.call(method, url, { token: agent.token, ...(body ? { body } : {}) })).statusCode, 403, `${method} ${url} as an agent`);
      assert.equal((await t.call(method, url, body ? { body } : {})).statusCode, 401, `${method} ${url} without a token`);
    }
  });

  it('lets an agent ask for an external message on their own conversation only', async () => {
    const { conversation } = await openConversation(t.ctx, { customer: { id: 'ext-1' } });
    const mine = conversation.agent_id === agent.agent.id ? agent : other;
    const notMine = mine === agent ? other : agent;
    const ok = await t.call('POST', `/api/v1/conversations/${conversation.id}/external-messages`, { token: mine.token, body: { text: 'hello outside' } });
    assert.equal(ok.statusCode, 202, ok.body);
    assert.equal(ok.json().text, 'hello outside');
    const [event] = await store().db.query<{ data: { text: string; agent_id: string } }>(
      "select data from events where type = 'external_message.requested' and conversation_id = $1",
      [conversation.id],
    );
    assert.equal(event!.data.text, 'hello outside');
    assert.equal(event!.data.agent_id, mine.agent.id);
    const denied = await t.call('POST', `/api/v1/conversations/${conversation.id}/external-messages`, { token: notMine.token, body: { text: 'x' } });
    assert.equal(denied.statusCode, 403);
    expectField(await t.call('POST', `/api/v1/conversations/${conversation.id}/external-messages`, { token: mine.token, body: {} }), 'text');
    expectField(await t.call('POST', `/api/v1/conversations/${conversation.id}/external-messages`, { token: mine.token, body: { text: '' } }), 'text');
    const missing = await t.call('POST', '/api/v1/conversations/00000000-0000-4000-8000-000000000000/external-messages', { token: admin.token, body: { text: 'x' } });
    assert.equal(missing.statusCode, 404);
  });
});
