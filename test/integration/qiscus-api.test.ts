// The Qiscus endpoints as callers see them: the seeds' envelope, settings
// persisted across a restart, the webhook secret, set_mark_as_resolved
// relayed to Qiscus, every bad input answered 4xx with nothing changed, an
// inert channel when Qiscus is not configured, and errors posted to Slack.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { createLogger } from '../../src/channels/qiscus/log-stack.js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { testApp } from '../helpers/app.js';
import { qiscusEnv, type FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('Qiscus endpoints', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const counts = async () =>
    (await store().db.query<{ c: number; o: number }>(`select (select count(*)::int from conversations) as c, (select count(*)::int from outbound_requests) as o`))[0]!;

  it('reads and changes max_customers (admin token), persisted across a restart', async () => {
    h = await harness({ env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    const admin = await h.t.user('admin');
    let res = await h.t.call('GET', '/api/v1/settings/max_customers', { token: admin.token });
    assert.deepEqual(res.json(), { status: 200, message: 'Success', data: { max_customers: 2 } });
    res = await h.t.call('POST', '/api/v1/settings/max_customers', { token: admin.token, body: { max_customers: 5 } });
    assert.deepEqual(res.json(), { status: 200, message: 'Successfully updated', data: { max_customers: 5 } });
    res = await h.t.call('POST', '/api/v1/settings/max_customers', { token: admin.token, body: 'max_customers=7', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual(res.json().data, { max_customers: 7 });
    await h.close();
    const again = await testApp(store(), { env: {} });
    const me = await again.user('admin');
    res = await again.call('GET', '/api/v1/settings/max_customers', { token: me.token });
    assert.deepEqual(res.json().data, { max_customers: 7 });
    res = await again.call('GET', '/api/v1/settings', { token: me.token });
    assert.equal(res.json().max_customers, 7, 'the core uses the same persisted setting');
    await again.close();
  });

  it('refuses settings calls without an admin token', async () => {
    h = await harness({ env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    const agent = await h.t.user('agent');
    for (const [token, status] of [[undefined, 401], [agent.token, 403]] as const) {
      const res = await h.t.call('POST', '/api/v1/settings/max_customers', { ...(token ? { token } : {}), body: { max_customers: 9 } });
      assert.equal(res.statusCode, status);
      assert.equal(res.json().status, status);
      assert.equal(typeof res.json().message, 'string');
    }
    const wrong = await h.t.call('GET', '/api/v1/settings/max_customers', { headers: { 'x-webhook-secret': 'nope' } });
    assert.equal(wrong.statusCode, 401);
  });

  it('never takes the secret in the URL on settings calls (#16)', async () => {
    h = await harness({ env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    for (const [method, body] of [['GET', undefined], ['POST', { max_customers: 9 }]] as const) {
      const inUrl = await h.t.call(method, '/api/v1/settings/max_customers?secret=s3cret', body ? { body } : {});
      assert.equal(inUrl.statusCode, 401, `${method} with ?secret=`);
    }
    const setHook = await h.t.call('POST', '/api/v1/settings/set_mark_as_resolved?secret=s3cret', { body: { endpoint: 'https://sb.example/hook', enable: true } });
    assert.equal(setHook.statusCode, 401);
    assert.equal(fake.requests.length, 0);
    const admin = await h.t.user('admin');
    const read = await h.t.call('GET', '/api/v1/settings/max_customers', { token: admin.token });
    assert.equal(read.statusCode, 200);
    assert.equal(read.json().data.max_customers, 2, 'nothing was changed by the refused calls');
  });

  it('answers every bad input with a 4xx envelope naming the problem, and changes nothing', async () => {
    h = await harness();
    const admin = await h.t.user('admin');
    const cases: [string, string, unknown, RegExp][] = [
      ['/api/v1/webhook/agent_allocation', 'POST', { app_id: fake.appId }, /room_id is required/],
      ['/api/v1/webhook/agent_allocation', 'POST', { room_id: { id: 1 } }, /room_id has the wrong type/],
      ['/api/v1/webhook/agent_allocation', 'POST', { room_id: '' }, /^room_id must not be empty$/],
      ['/api/v1/webhook/agent_allocation', 'POST', { room_id: '   ' }, /^room_id must not be blank$/],
      ['/api/v1/webhook/mark_as_resolved', 'POST', { service: { room_id: '' } }, /^service.room_id must not be empty$/],
      // what the webhook cannot be acted on without stays exact; the rest is mended (see below)
      ['/api/v1/webhook/agent_allocation', 'POST', { room_id: '1\u0000' }, /^room_id contains a NUL character/],
      ['/api/v1/new_request', 'POST', { room_id: '1\uD83D' }, /^room_id contains a NUL character or invalid Unicode/],
      ['/api/v1/webhook/mark_as_resolved', 'POST', { service: { room_id: '1\u0000' } }, /^service.room_id contains a NUL character/],
      ['/api/v1/close_request', 'POST', { service: { room_id: '1', id: '9\uDC00' } }, /^service.id contains a NUL character or invalid Unicode/],
      ['/api/v1/webhook/agent_allocation', 'POST', { room_id: '1', app_id: 'someone-else' }, /app_id "someone-else" is not this allocator's app/],
      ['/api/v1/new_request', 'POST', '{"room_id":', /JSON/i],
      ['/api/v1/webhook/mark_as_resolved', 'POST', { service: {} }, /service.room_id is required/],
      ['/api/v1/close_request', 'POST', { room_id: '1' }, /service is required/],
      ['/api/v1/settings/max_customers', 'POST', { max_customers: 0 }, /max_customers must be a positive integer/],
      ['/api/v1/settings/max_customers', 'POST', { max_customers: 'five' }, /max_customers must be a positive integer.*"five"/],
      ['/api/v1/settings/max_customers', 'POST', { max_customers: 2.5 }, /max_customers must be a positive integer/],
      ['/api/v1/settings/max_customers', 'POST', {}, /max_customers is required/],
      ['/api/v1/settings/set_mark_as_resolved', 'POST', { endpoint: 'not a url', enable: true }, /endpoint/],
      ['/api/v1/settings/set_mark_as_resolved', 'POST', { endpoint: 'https://x.example/hook', enable: 'yes' }, /^enable must be true or false, got "yes"$/],
      ['/api/v1/settings/set_mark_as_resolved', 'POST', { endpoint: 'https://x.example/hook' }, /^enable is required$/],
    ];
    for (const [url, method, body, message] of cases) {
      const headers = { 'x-webhook-secret': h.secret!, ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}) };
      const res = await h.t.call(method as 'POST', url, { token: admin.token, body, headers });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${url} ${JSON.stringify(body)} → ${res.statusCode}`);
      const json = res.json();
      assert.equal(json.status, res.statusCode);
      assert.equal(json.data, null);
      assert.match(json.message, message, `${url} ${JSON.stringify(body)}`);
    }
    assert.deepEqual(await counts(), { c: 0, o: 0 });
    const res = await h.t.call('GET', '/api/v1/settings/max_customers', { token: admin.token });
    assert.equal(res.json().data.max_customers, 2);
    assert.equal(fake.requests.length, 0);
  });

  it('requires the webhook secret on webhooks when one is set, as ?secret= or X-Webhook-Secret', async () => {
    h = await harness({ env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    let res = await h.t.call('POST', '/api/v1/webhook/agent_allocation', { body: { room_id: 'r1' } });
    assert.equal(res.statusCode, 401);
    res = await h.t.call('POST', '/api/v1/webhook/agent_allocation', { body: { room_id: 'r1' }, headers: { 'x-webhook-secret': 's3cre' } });
    assert.equal(res.statusCode, 401);
    assert.match(res.json().message, /secret/);
    assert.deepEqual(await counts(), { c: 0, o: 0 });
    res = await h.t.call('POST', '/api/v1/webhook/agent_allocation?secret=s3cret', { body: { room_id: 'r1' } });
    assert.equal(res.statusCode, 200);
    res = await h.t.call('POST', '/api/v1/close_request', { body: { service: { room_id: 'r1' } }, headers: { 'x-webhook-secret': 's3cret' } });
    assert.deepEqual(res.json(), { status: 200, message: 'Room marked as resolved.', data: null });
  });

  it('refuses every webhook when no secret is set, unless QISCUS_ALLOW_UNSIGNED_WEBHOOKS=true (#16)', async () => {
    h = await harness({ env: { QISCUS_ALLOW_UNSIGNED_WEBHOOKS: 'false' } });
    assert.equal(h.secret, undefined);
    for (const url of ['/api/v1/webhook/agent_allocation', '/api/v1/new_request']) {
      const res = await h.t.call('POST', url, { body: { room_id: 'r1' } });
      assert.equal(res.statusCode, 401, url);
      assert.match(res.json().message, /QISCUS_WEBHOOK_SECRET is not set/);
      // a secret sent by a caller is no way in either: there is nothing to compare it with
      assert.equal((await h.t.call('POST', `${url}?secret=`, { body: { room_id: 'r1' } })).statusCode, 401);
    }
    for (const url of ['/api/v1/webhook/mark_as_resolved', '/api/v1/close_request']) {
      assert.equal((await h.t.call('POST', url, { body: { service: { room_id: 'r1' } } })).statusCode, 401, url);
    }
    assert.deepEqual(await counts(), { c: 0, o: 0 });
    await h.close();

    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    const env = { ...qiscusEnv(fake), QISCUS_ALLOW_UNSIGNED_WEBHOOKS: 'true' };
    const app = await buildApp({ ctx: { db: store().db, now: () => new Date() }, config: { ...loadConfig(env), logLevel: 'warn' }, metrics: createMetrics(store().db), logger: logger as never });
    try {
      assert.ok(lines.some((l) => /QISCUS_ALLOW_UNSIGNED_WEBHOOKS=true/.test(l) && JSON.parse(l).level === 40), 'start-up warns that the webhooks are open');
      const res = await app.inject({ method: 'POST', url: '/api/v1/webhook/agent_allocation', payload: { room_id: 'r1' } });
      assert.equal(res.statusCode, 200, res.body);
    } finally {
      await app.close();
    }
    assert.deepEqual(await counts(), { c: 1, o: 0 });
  });

  it('sets the mark-as-resolved webhook in Qiscus and answers with what Qiscus returned; a Qiscus error is a 502', async () => {
    h = await harness({ login: true });
    const admin = await h.t.user('admin');
    const body = { endpoint: 'https://sb.example/api/v1/webhook/mark_as_resolved', enable: true };
    let res = await h.t.call('POST', '/api/v1/settings/set_mark_as_resolved', { token: admin.token, body });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      status: 200,
      message: 'Successfully updated',
      data: {
        mark_as_resolved_webhook_url: 'https://sb.example/api/v1/webhook/mark_as_resolved',
        is_mark_as_resolved_webhook_enabled: true,
        allocate_agent_webhook_url: 'https://allocator.example/api/v1/webhook/agent_allocation',
        is_allocate_agent_webhook_enabled: true,
      },
    });
    const call = fake.requests.find((r) => r.path === '/api/v1/app/webhook/mark_as_resolved')!;
    assert.deepEqual(Object.fromEntries(call.form), { webhook_url: body.endpoint, is_webhook_enabled: 'true' });
    fake.inject('/api/v1/app/webhook/mark_as_resolved', { status: 500, body: { errors: { message: 'database on fire' } } });
    res = await h.t.call('POST', '/api/v1/settings/set_mark_as_resolved', { token: admin.token, body });
    assert.equal(res.statusCode, 502);
    assert.match(res.json().message, /HTTP 500 database on fire/);
    fake.inject('/api/v1/app/webhook/mark_as_resolved', 'hang');
    res = await h.t.call('POST', '/api/v1/settings/set_mark_as_resolved', { token: admin.token, body });
    assert.equal(res.statusCode, 502);
    assert.match(res.json().message, /no answer within \d+ ms/);
  });

  it('takes form-encoded bodies with "true"/"false" flags, as Laravel-style clients post them', async () => {
    h = await harness({ env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    const admin = await h.t.user('admin');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const endpoint = 'https://sb.example/api/v1/webhook/mark_as_resolved';
    for (const enable of ['true', 'false']) {
      const res = await h.t.call('POST', '/api/v1/settings/set_mark_as_resolved', {
        token: admin.token,
        body: new URLSearchParams({ endpoint, enable }).toString(),
        headers: form,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().data.is_mark_as_resolved_webhook_enabled, enable === 'true');
      assert.equal(fake.requests.at(-1)!.form.get('is_webhook_enabled'), enable);
    }
    const refused = await h.t.call('POST', '/api/v1/settings/set_mark_as_resolved', { token: admin.token, body: `endpoint=${encodeURIComponent(endpoint)}&enable=on`, headers: form });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().message, 'enable must be true or false, got "on"');
    const webhook = await h.t.call('POST', '/api/v1/webhook/agent_allocation?secret=s3cret', {
      body: new URLSearchParams({ app_id: fake.appId, room_id: 'form-1', name: 'Form', is_new_session: 'true', is_resolved: 'false', extras: '{"notes":null}' }).toString(),
      headers: form,
    });
    assert.deepEqual(webhook.json(), { status: 200, message: 'Successfully received.', data: null });
    assert.deepEqual(await counts(), { c: 1, o: 0 });
  });

  // Found by review (2026-11-29): the form parser was flat, so `service[room_id]` never became service.room_id.
  it('reads nested fields of a form-encoded body in brackets, as Laravel-style clients post them: a room opened and resolved by forms', async () => {
    h = await harness({ env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const opened = await h.t.call('POST', '/api/v1/webhook/agent_allocation?secret=s3cret', {
      body: 'app_id=' + fake.appId + '&room_id=form-2&name=Form&is_new_session=true&is_resolved=false&latest_service[id]=41&latest_service[is_resolved]=false',
      headers: form,
    });
    assert.deepEqual(opened.json(), { status: 200, message: 'Successfully received.', data: null });
    assert.deepEqual(await counts(), { c: 1, o: 0 });
    const [room] = await store().db.query<{ state: string }>(`select state from conversations where external_ref = 'form-2'`);
    assert.equal(room!.state, 'queued');

    const bad = await h.t.call('POST', '/api/v1/webhook/mark_as_resolved?secret=s3cret', { body: 'service=1&service[room_id]=form-2', headers: form });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.json().message, /^service\[room_id\] is both a value and a group of fields \(service\)$/);
    const ignored = await h.t.call('POST', '/api/v1/webhook/mark_as_resolved?secret=s3cret', { body: '__proto__[room_id]=form-2', headers: form });
    assert.equal(ignored.statusCode, 400, ignored.body);
    assert.match(ignored.json().message, /service is required/);
    assert.equal(({} as { room_id?: unknown }).room_id, undefined, 'no prototype was touched');
    assert.equal((await store().db.query<{ state: string }>(`select state from conversations where external_ref = 'form-2'`))[0]!.state, 'queued');

    const resolved = await h.t.call('POST', '/api/v1/webhook/mark_as_resolved?secret=s3cret', { body: 'service[room_id]=form-2&service[id]=41&service[notes]=done', headers: form });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.equal((await store().db.query<{ state: string }>(`select state from conversations where external_ref = 'form-2'`))[0]!.state, 'resolved');
  });

  it('lists rooms to admins only', async () => {
    h = await harness();
    const agent = await h.t.user('agent');
    assert.equal((await h.t.call('GET', '/api/v1/qiscus/rooms', { token: agent.token })).statusCode, 403);
    const admin = await h.t.user('admin');
    assert.equal((await h.t.call('GET', '/api/v1/qiscus/rooms?status=lost', { token: admin.token })).statusCode, 400);
  });

  it('is inert when Qiscus is not configured: webhooks answer 503 and record nothing', async () => {
    const t = await testApp(store(), { env: { QISCUS_WEBHOOK_SECRET: 's3cret' } });
    assert.equal(loadConfig({}).qiscus.api, null);
    const res = await t.call('POST', '/api/v1/webhook/agent_allocation', { body: { room_id: '1' }, headers: { 'x-webhook-secret': 's3cret' } });
    assert.equal(res.statusCode, 503);
    assert.match(res.json().message, /QISCUS_BASE_URL/);
    assert.deepEqual(await counts(), { c: 0, o: 0 });
    await t.close();
  });
});

it('posts error-level log events to a Slack incoming webhook with LOG_STACK=single,slack', async () => {
  const posts: { text: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posts.push(JSON.parse(body) as { text: string });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const config = loadConfig({ LOG_STACK: 'single,slack', LOG_SLACK_WEBHOOK_URL: url }).qiscus;
  const lines: string[] = [];
  const log = createLogger('info', config, { write: (line: string) => void lines.push(line) });
  log.info('all fine');
  log.error({ roomId: '42', err: new Error('assign_agent refused') }, 'Qiscus room could not be assigned');
  const deadline = Date.now() + 2_000;
  while (posts.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  server.close();
  assert.equal(lines.length, 2, 'both lines go to the single log');
  assert.equal(posts.length, 1, 'only the error goes to Slack');
  assert.match(posts[0]!.text, /^\*ERROR\* Qiscus room could not be assigned/);
  assert.match(posts[0]!.text, /Error: assign_agent refused/);
  assert.match(posts[0]!.text, /"roomId":"42"/);
  assert.throws(() => loadConfig({ LOG_STACK: 'single,slack' }), /LOG_SLACK_WEBHOOK_URL/);
  assert.throws(() => loadConfig({ QISCUS_BASE_URL: 'https://q.example' }), /QISCUS_APP_ID/);
  assert.throws(() => loadConfig({ QISCUS_BASE_URL: 'https://q.example', QISCUS_APP_ID: 'a' }), /QISCUS_SECRET/);
});
