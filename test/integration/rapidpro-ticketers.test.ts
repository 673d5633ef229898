// The admin API for RapidPro ticketers: what an admin creates and hands to
// RapidPro (base URL ending in the UUID, secret), and what deleting one does.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { CONTRACT, createTicketer, mailroomFor, snapshot } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describeEachStore('RapidPro ticketers API', (store) => {
  let t: TestApp;
  let admin: string;

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store(), { env: { PUBLIC_URL: 'https://support.example.com/' } });
    admin = (await t.user('admin')).token;
  });
  afterEach(() => t.close());

  it('creates a ticketer with a base URL ending in its UUID and a RapidPro-style 32-character secret', async () => {
    const res = await t.call('POST', '/api/v1/ticketers', { token: admin, body: { name: 'Workspace A' } });
    assert.equal(res.statusCode, 201);
    const ticketer = res.json();
    assert.match(ticketer.uuid, UUID);
    assert.equal(ticketer.base_url, `https://support.example.com/api/v1/ticketers/${ticketer.uuid}`);
    assert.match(ticketer.secret, /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{32}$/);
    assert.equal(ticketer.name, 'Workspace A');
    assert.equal(ticketer.callback_url, null);
    const other = (await t.call('POST', '/api/v1/ticketers', { token: admin, body: {} })).json();
    assert.notEqual(other.secret, ticketer.secret);
  });

  it('accepts the secret RapidPro shows, and the ticketer then authenticates with it', async () => {
    const secret = 'PMgASmAH4ktSXG97';
    const ticketer = await createTicketer(t, admin, { secret });
    assert.equal(ticketer.secret, secret);
    const check = await mailroomFor(t, ticketer)('GET', 'secret.check');
    assert.equal(check.statusCode, 200);
  });

  it('lists, reads and renames ticketers; PATCH sets a new secret that mailroom must then use', async () => {
    const a = await createTicketer(t, admin, { name: 'A' });
    const b = await createTicketer(t, admin, { name: 'B' });
    const list = await t.call('GET', '/api/v1/ticketers', { token: admin });
    assert.deepEqual(list.json().map((x: { uuid: string }) => x.uuid), [a.uuid, b.uuid]);
    const one = await t.call('GET', `/api/v1/ticketers/${a.uuid}`, { token: admin });
    assert.equal(one.json().secret, a.secret);
    const patched = await t.call('PATCH', `/api/v1/ticketers/${a.uuid}`, { token: admin, body: { name: 'A2', secret: 'NEWSECRET2345678' } });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().name, 'A2');
    const call = mailroomFor(t, a);
    assert.equal((await call('GET', 'secret.check')).statusCode, 401);
    assert.equal((await call('GET', 'secret.check', undefined, { secret: 'NEWSECRET2345678' })).statusCode, 200);
  });

  it('builds the base URL from the request when PUBLIC_URL is not set', async () => {
    const plain = await testApp(store());
    try {
      const token = (await plain.user('admin')).token;
      const res = await plain.call('POST', '/api/v1/ticketers', { token, body: {}, headers: { host: 'chat.example.org:8443' } });
      assert.equal(res.json().base_url, `http://chat.example.org:8443/api/v1/ticketers/${res.json().uuid}`);
    } finally {
      await plain.close();
    }
  });

  it('is for admins only, and refuses a bad secret or unknown field without creating anything', async () => {
    const supervisor = (await t.user('supervisor')).token;
    assert.equal((await t.call('GET', '/api/v1/ticketers')).statusCode, 401);
    const forbidden = await t.call('POST', '/api/v1/ticketers', { token: supervisor, body: {} });
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.json().error.code, 'SB_FORBIDDEN');
    const before = await snapshot(store().db);
    for (const body of [{ secret: 'short' }, { secret: 'has a space in it' }, { secret: 12345678 }, { nme: 'typo' }]) {
      const res = await t.call('POST', '/api/v1/ticketers', { token: admin, body });
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().error.code, 'SB_VALIDATION');
    }
    assert.deepEqual(await snapshot(store().db), before);
    const missing = await t.call('GET', '/api/v1/ticketers/00000000-0000-4000-8000-000000000000', { token: admin });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'SB_NOT_FOUND');
  });

  it('deleting a ticketer abandons its open rooms, and its base URL stops answering', async () => {
    const ticketer = await createTicketer(t, admin);
    const call = mailroomFor(t, ticketer);
    const room = (await call('GET', 'room', CONTRACT.room)).json().id as string;
    const deleted = await t.call('DELETE', `/api/v1/ticketers/${ticketer.uuid}`, { token: admin });
    assert.equal(deleted.statusCode, 204);
    const conversation = (await t.call('GET', `/api/v1/conversations/${room}`, { token: admin })).json();
    assert.equal(conversation.state, 'abandoned');
    assert.equal(conversation.resolve_reason, 'ticketer_deleted');
    const after = await call('GET', 'secret.check');
    assert.equal(after.statusCode, 404);
    assert.deepEqual(after.json(), { error: `ticketer "${ticketer.uuid}" does not exist` });
    assert.equal((await t.call('DELETE', `/api/v1/ticketers/${ticketer.uuid}`, { token: admin })).statusCode, 404);
  });
});
