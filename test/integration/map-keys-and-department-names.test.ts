// What a review found, through the API as an admin or agent sends it:
// - a map key holding a line break skipped its value's schema (TypeBox's
//   Record is patternProperties "^(.*)$", and `.` matches no line break):
//   business hours failed with 500 or stored a schedule GET then hid, and a
//   conversation stored a 100 kB customer field and an object as one;
// - a department name was counted three ways: 60 × 🏥 (60 characters, 120
//   UTF-16 units) was an agent's department but got Fastify's own 414 on its
//   routing and a 422 from business hours, which also refused " sales";
// - a webhook URL with CR LF was stored and shown as sent, and contacted
//   without them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { eachTestApp } from '../helpers/app.js';
import { describeEachStore } from '../helpers/stores.js';

const UTC_WEEK = { time_zone: 'UTC', weekly: { monday: [{ start: '09:00', end: '17:00' }] } };
const EMOJI_DEPARTMENT = '🏥'.repeat(60);

function expectInvalid(res: LightMyRequestResponse, field: string, message?: RegExp): void {
  assert.equal(res.statusCode, 400, res.body);
  const { error } = res.json();
  assert.equal(error.code, 'SB_VALIDATION', res.body);
  assert.equal(error.field, field, res.body);
  if (message) assert.match(error.message, message);
}

describeEachStore('map keys and department names', (store) => {
  const t = eachTestApp(store);
  const storedHours = async () => (await store().db.query<{ hours: unknown }>('select hours from business_hours'))[0]?.hours ?? null;

  it('business hours: a department key with a line break is 400 naming it, whatever its schedule, and nothing is stored', async () => {
    const { call } = t();
    const { token } = await t().user('admin');
    const schedules = [
      5,
      null,
      { time_zone: 'UTC', weekly: { monday: 'x' } },
      { time_zone: 'UTC', weekly: {}, holidays: [{ date: '2026-01-01', name: 7 }] },
      { ...UTC_WEEK, unknown_field: 'x'.repeat(10_000) },
      UTC_WEEK,
    ];
    for (const key of ['a\nb', 'a\rb', 'a\u2028b', 'a\u2029b', 'tab\t']) {
      for (const schedule of schedules) {
        const res = await call('PUT', '/api/v1/business-hours', { token, body: { departments: { [key]: schedule } } });
        expectInvalid(res, `departments.${key}`, /^departments has the key "a\\(n|r|u2028|u2029)b"|^departments has the key "tab\\t"/);
        assert.match(res.json().error.message, /, which must be one line of text, without control characters$/);
      }
    }
    assert.equal(await storedHours(), null);
    // and a schedule of the wrong shape under a good name is the schema's 400 too, not a 500
    expectInvalid(await call('PUT', '/api/v1/business-hours', { token, body: { departments: { sales: null } } }), 'departments.sales', /must be of type object/);
  });

  it('business hours: a department is named as agents name it: 60 × 🏥 and " sales" have hours, 101 characters do not', async () => {
    const { call } = t();
    const { token } = await t().user('admin');
    const agent = await call('POST', '/api/v1/agents', {
      token,
      body: { name: 'A', email: 'a@example.com', password: 'correct horse battery staple 9', role: 'agent', departments: [EMOJI_DEPARTMENT, ' sales'] },
    });
    assert.equal(agent.statusCode, 201, agent.body);
    const saved = await call('PUT', '/api/v1/business-hours', { token, body: { departments: { [EMOJI_DEPARTMENT]: UTC_WEEK, ' sales': UTC_WEEK } } });
    assert.equal(saved.statusCode, 200, saved.body);
    assert.deepEqual(Object.keys(saved.json().departments).sort(), [' sales', EMOJI_DEPARTMENT].sort());
    const read = await call('GET', '/api/v1/business-hours', { token });
    assert.deepEqual(Object.keys(read.json().departments).sort(), [' sales', EMOJI_DEPARTMENT].sort());
    const tooLong = '🏥'.repeat(101);
    expectInvalid(await call('PUT', '/api/v1/business-hours', { token, body: { departments: { [tooLong]: UTC_WEEK } } }), `departments.${tooLong}`, /must NOT have more than 100 characters/);
  });

  it('a blank department is 400 naming it wherever a department is written, and nothing is stored (found by review)', async () => {
    const { call } = t();
    const { token } = await t().user('admin');
    const blank = ' \u200b ';
    const hours = await call('PUT', '/api/v1/business-hours', { token, body: { departments: { [blank]: UTC_WEEK } } });
    expectInvalid(hours, `departments.${blank}`);
    assert.equal(hours.json().error.message, `departments has the key ${JSON.stringify(blank)}, which must not be blank`);
    assert.equal(await storedHours(), null);
    expectInvalid(await call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'c-blank' }, department: blank } }), 'department', /^department must not be blank$/);
    const [row] = await store().db.query<{ n: number }>('select count(*)::int as n from conversations');
    assert.equal(row!.n, 0);
  });

  it('business hours: a department stored with a line break (before the rule) is still in the answer, not dropped by the serialiser', async () => {
    const { call } = t();
    const { token } = await t().user('admin');
    const schedule = { time_zone: 'UTC', weekly: { monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] }, holidays: [] };
    await store().db.query('insert into business_hours (id, hours, updated_at) values (true, $1::jsonb, now())', [JSON.stringify({ default: null, departments: { 'old\nname': schedule } })]);
    const read = await call('GET', '/api/v1/business-hours', { token });
    assert.equal(read.statusCode, 200, read.body);
    assert.deepEqual(read.json().departments, { 'old\nname': schedule });
  });

  it('conversations: a customer field key with a line break is checked like any other: no 100 kB text, no object', async () => {
    const { call } = t();
    const { token } = await t().user('agent');
    const { token: admin } = await t().user('admin');
    const open = (fields: Record<string, unknown>) => call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'c1', fields } } });
    expectInvalid(await open({ 'note\n': 'x'.repeat(100_000) }), 'customer.fields.note\n', /must NOT have more than 2000 characters/);
    expectInvalid(await open({ 'deep\u2028': { a: [1, 2] } }), 'customer.fields.deep\u2028', /must be of type string/);
    expectInvalid(await open({ ['k'.repeat(101)]: 'v' }), `customer.fields.${'k'.repeat(101)}`, /has the key "k+", which must NOT have more than 100 characters/);
    const [{ count }] = (await store().db.query<{ count: number }>('select count(*)::int as count from conversations')) as [{ count: number }];
    assert.equal(count, 0);
    // a key with a line break and a proper value is a customer's field like any other, and shown
    const ok = await open({ 'two\nlines': 'fine' });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.deepEqual(ok.json().customer.fields, { 'two\nlines': 'fine' });
    assert.deepEqual((await call('GET', `/api/v1/conversations/${ok.json().id}`, { token: admin })).json().customer.fields, { 'two\nlines': 'fine' });
  });

  it('department routing: a name the agents take is configurable; one too long is 400 SB_VALIDATION naming it, in the error envelope', async () => {
    const { call } = t();
    const { token } = await t().user('admin');
    const path = (name: string) => `/api/v1/departments/${encodeURIComponent(name)}/routing`;
    const put = await call('PUT', path(EMOJI_DEPARTMENT), { token, body: { mode: 'manual' } });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.json().department, EMOJI_DEPARTMENT);
    const got = await call('GET', path(EMOJI_DEPARTMENT), { token });
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.json().mode, 'manual');
    // over the schema's 100 characters: the schema's answer
    for (const name of ['x'.repeat(101), '🏥'.repeat(101)]) {
      expectInvalid(await call('PUT', path(name), { token, body: { mode: 'manual' } }), 'name', /params name must NOT have more than 100 characters/);
      expectInvalid(await call('GET', path(name), { token }), 'name', /params name must NOT have more than 100 characters/);
    }
    // as long as a request line may be (16 KiB): the same answer, not Fastify's 414 FST_ERR_MAX_PARAM_LENGTH
    for (const name of ['x'.repeat(16_000), '🏥'.repeat(1_500)]) {
      expectInvalid(await call('PUT', path(name), { token, body: { mode: 'manual' } }), 'name', /params name must NOT have more than 100 characters/);
      expectInvalid(await call('GET', path(name), { token }), 'name', /params name must NOT have more than 100 characters/);
    }
    // longer than the router takes (a server with a larger header limit): still named, in the envelope
    expectInvalid(await call('PUT', path('x'.repeat(70_000)), { token, body: { mode: 'manual' } }), 'name', /params name must NOT have more than 100 characters/);
    // a customer id up to its 500 characters (STORED_CUSTOMER_ID_MAX) reaches its route (it was the router's 414 over 100)
    const { token: agentToken } = await t().user('agent');
    const stats = await call('GET', `/api/v1/customers/${'c'.repeat(150)}/statistics`, { token: agentToken });
    assert.notEqual(stats.statusCode, 414, stats.body);
    assert.ok(stats.json().error === undefined || stats.json().error.code !== 'SB_VALIDATION', stats.body);
    expectInvalid(await call('GET', `/api/v1/customers/${'c'.repeat(16_000)}/statistics`, { token: agentToken }), 'customerId', /params customerId must NOT have more than 500 characters/);
    // a broken %-escape the router refuses is in the envelope too
    const broken = await call('GET', '/api/v1/departments/%E0%A4%A/routing', { token });
    assert.equal(broken.statusCode, 400, broken.body);
    assert.equal(broken.json().error.code, 'SB_BAD_REQUEST', broken.body);
  });

  it('webhooks: a URL with control characters or white space around it is 400 naming url, on create and on change', async () => {
    const { call } = t();
    const { token } = await t().user('admin');
    // a public literal address: no DNS, and nothing is sent
    const good = 'https://93.184.215.14/hook';
    const created = await call('POST', '/api/v1/webhooks', { token, body: { url: good, events: ['message.created'] } });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    const bad = [`${good}\r\nX-Evil: 1`, `${good}\n`, `https://93.184.\t215.14/hook`, `${good}\u0085x`, `${good}\u2028`, ` ${good}`, `${good} `, `\u00a0${good}`];
    for (const url of bad) {
      expectInvalid(await call('POST', '/api/v1/webhooks', { token, body: { url, events: ['message.created'] } }), 'url', /^url must not/);
      expectInvalid(await call('PATCH', `/api/v1/webhooks/${id}`, { token, body: { url } }), 'url', /^url must not/);
    }
    const rows = await store().db.query<{ url: string }>('select url from webhook_endpoints');
    assert.deepEqual(rows.map((r) => r.url), [good]);
    assert.equal((await call('GET', `/api/v1/webhooks/${id}`, { token })).json().url, good);
    // a space inside the path is no control character: it is sent percent-encoded, as shown
    const spaced = await call('PATCH', `/api/v1/webhooks/${id}`, { token, body: { url: `${good}/a b` } });
    assert.equal(spaced.statusCode, 200, spaced.body);
  });
});
