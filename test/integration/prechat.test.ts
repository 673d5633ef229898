// Issue #18, item 5: the pre-chat form. Admins define it (PUT
// /api/v1/prechat-form, 400 naming the field of a bad definition, nothing
// changed); anyone reads it (the widget, before a session); POST /session
// takes the answers, checked by the same rules (src/prechat/rules.ts): valid
// ones land on the conversation (name, email, phone, department, custom
// fields) and in its events and webhook payloads; an invalid one is a 400
// naming prechat.<key>, and no conversation, session or event is created.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { payloadFor } from '../../src/events/webhooks/payloads.js';
import { buildApp, type App } from '../../src/http/app.js';
import { loadRealtimeConfig } from '../../src/realtime/config.js';
import { createRealtime, type Realtime } from '../../src/realtime/index.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

const FORM = [
  { key: 'name', label: 'Your name', type: 'text', required: true },
  { key: 'email', label: 'Email', type: 'email', required: true },
  { key: 'phone', label: 'Phone', type: 'phone' },
  { key: 'department', label: 'Topic', type: 'select', required: true, options: ['sales', 'support'] },
  { key: 'plan', label: 'Plan', type: 'select', required: true, options: ['free', 'gold'] },
  { key: 'order', label: 'Order number', type: 'text', pattern: 'ORD-[0-9]{4}', max_length: 8 },
  { key: 'seats', label: 'Seats', type: 'number' },
  { key: 'consent', label: 'I accept the terms', type: 'checkbox', required: true },
];

const GOOD = { name: 'Ada', email: 'ada@example.com', phone: '+44 20 7946 0000', department: 'sales', plan: 'gold', order: 'ORD-1234', seats: 12, consent: true };

describeEachStore('pre-chat form', (store) => {
  const clock = fakeClock(Date.parse('2026-03-01T09:00:00Z'));
  const ctx: () => Ctx = () => ({ db: store().db, now: clock.now, onCommitted: () => undefined });
  let app: App;
  let realtime: Realtime;

  before(async () => {
    const c = ctx();
    realtime = await createRealtime({ ctx: c, config: loadRealtimeConfig({}), sessionTtlSeconds: 3600, onError: (e) => assert.fail(String(e)), sweepIntervalMs: 0 });
    app = await buildApp({ ctx: c, config: { ...loadConfig({}), logLevel: 'silent' as const }, metrics: createMetrics(c.db, c.now), realtime });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await realtime.close();
  });
  beforeEach(async () => {
    await store().reset();
  });

  const call = (method: 'GET' | 'PUT' | 'POST', url: string, options: { token?: string; body?: unknown } = {}) =>
    app.inject({ method, url, headers: options.token ? { authorization: `Bearer ${options.token}` } : {}, ...(options.body !== undefined ? { payload: options.body as object } : {}) });
  const user = async (role: 'admin' | 'supervisor' | 'agent', status: 'online' | 'offline' = 'offline', departments: string[] = []) => {
    const agent = await makeAgent(ctx(), { role, status, capacity: 5, departments });
    return { agent, token: (await issueToken(store().db, agent.id, clock.now(), 3600)).token };
  };
  const counts = async () => {
    const [row] = await store().db.query<{ conversations: number; sessions: number; events: number; form: string | null }>(
      `select (select count(*)::int from conversations) as conversations, (select count(*)::int from customer_sessions) as sessions,
              (select count(*)::int from events) as events, (select fields::text from prechat_form) as form`,
    );
    return row!;
  };
  const define = async (fields: unknown[]) => {
    const admin = await user('admin');
    const res = await call('PUT', '/api/v1/prechat-form', { token: admin.token, body: { fields } });
    assert.equal(res.statusCode, 200, res.body);
    return admin;
  };
  const expect400 = (res: { statusCode: number; body: string; json(): { error: { code: string; field?: string; message: string } } }, field: string, message: RegExp) => {
    assert.equal(res.statusCode, 400, res.body);
    const { error } = res.json();
    assert.equal(error.code, 'SB_VALIDATION', res.body);
    assert.equal(error.field, field, res.body);
    assert.match(error.message, message);
  };

  it('has no form until an admin defines one; everyone reads it, the definition comes back spelled out, an empty list removes it', async () => {
    const none = await call('GET', '/api/v1/prechat-form');
    assert.equal(none.statusCode, 200, none.body);
    assert.deepEqual(none.json(), { fields: [] });

    const admin = await user('admin');
    const put = await call('PUT', '/api/v1/prechat-form', { token: admin.token, body: { fields: FORM } });
    assert.equal(put.statusCode, 200, put.body);
    const read = await call('GET', '/api/v1/prechat-form');
    assert.deepEqual(read.json(), put.json());
    assert.deepEqual(read.json().fields[0], { key: 'name', label: 'Your name', type: 'text', required: true, max_length: null, pattern: null, options: [] });
    assert.deepEqual(read.json().fields.map((f: { key: string }) => f.key), FORM.map((f) => f.key), 'in the admin\'s order');

    const [event] = await store().db.query<{ data: { changed: { prechat_form: { fields: unknown[] } }; by: string } }>(
      "select data from events where type = 'settings.changed' order by id desc limit 1",
    );
    assert.equal(event!.data.by, admin.agent.id);
    assert.equal(event!.data.changed.prechat_form.fields.length, FORM.length);

    const cleared = await call('PUT', '/api/v1/prechat-form', { token: admin.token, body: { fields: [] } });
    assert.equal(cleared.statusCode, 200, cleared.body);
    assert.deepEqual((await call('GET', '/api/v1/prechat-form')).json(), { fields: [] });
  });

  it('lets only admins replace the form', async () => {
    for (const role of ['agent', 'supervisor'] as const) {
      const { token } = await user(role);
      const res = await call('PUT', '/api/v1/prechat-form', { token, body: { fields: FORM } });
      assert.equal(res.statusCode, 403, `${role}: ${res.body}`);
    }
    assert.equal((await call('PUT', '/api/v1/prechat-form', { body: { fields: FORM } })).statusCode, 401);
    assert.equal((await counts()).form, null);
  });

  it('refuses a bad definition with 400 naming the field and the problem, and keeps the form as it was', async () => {
    const admin = await define(FORM);
    const before = await counts();
    const cases: [unknown[], string, RegExp][] = [
      [[{ key: 'plan', label: 'A', type: 'text' }, { key: 'plan', label: 'B', type: 'text' }], 'fields[1].key', /repeats the key "plan"/],
      [[{ key: 'plan', label: 'Plan', type: 'select' }], 'fields[0].options', /at least one choice/],
      [[{ key: 'plan', label: 'Plan', type: 'select', options: ['a', 'a'] }], 'fields[0].options[1]', /repeats the choice "a"/],
      [[{ key: 'order', label: 'Order', type: 'text', pattern: 'ORD-[0-9' }], 'fields[0].pattern', /not a valid regular expression/],
      [[{ key: 'seats', label: 'Seats', type: 'number', pattern: '\\d+' }], 'fields[0].pattern', /text fields only/],
      [[{ key: 'seats', label: 'Seats', type: 'number', options: ['1'] }], 'fields[0].options', /select fields only/],
      [[{ key: 'seats', label: 'Seats', type: 'checkbox', max_length: 3 }], 'fields[0].max_length', /text, email and phone/],
      [[{ key: 'email', label: 'Email', type: 'text' }], 'fields[0].type', /must be email for the key email/],
      [[{ key: 'Plan', label: 'Plan', type: 'text' }], 'fields[0].key', /lowercase letter/],
      [[{ key: 'plan', label: '   ', type: 'text' }], 'fields[0].label', /blank/],
    ];
    for (const [fields, field, message] of cases) {
      expect400(await call('PUT', '/api/v1/prechat-form', { token: admin.token, body: { fields } }), field, message);
    }
    // shapes the schema refuses: an unknown type, an unknown property
    const badType = await call('PUT', '/api/v1/prechat-form', { token: admin.token, body: { fields: [{ key: 'x', label: 'X', type: 'date' }] } });
    assert.equal(badType.statusCode, 400, badType.body);
    const extra = await call('PUT', '/api/v1/prechat-form', { token: admin.token, body: { fields: [{ key: 'x', label: 'X', type: 'text', colour: 'red' }] } });
    assert.equal(extra.statusCode, 400, extra.body);
    assert.deepEqual(await counts(), before, 'the form and the event log are unchanged');
  });

  it('opens a chat with valid answers: name, email, phone and department on the conversation, the rest in customer.fields, in its events and webhook payloads', async () => {
    await define(FORM);
    const { agent, token } = await user('admin', 'online', ['sales']);
    const res = await call('POST', '/session', { body: { customer: { id: 'cust-1', name: 'ignored: the answer wins' }, department: 'support', prechat: { ...GOOD, email: '  ada@example.com ' } } });
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().sessionId;
    const conversation = (await call('GET', `/api/v1/conversations/${id}`, { token })).json();
    assert.deepEqual(conversation.customer, {
      id: 'cust-1',
      name: 'Ada',
      email: 'ada@example.com',
      phone: '+44 20 7946 0000',
      fields: { plan: 'gold', order: 'ORD-1234', seats: '12', consent: 'true' },
    });
    assert.equal(conversation.department, 'sales', 'the department answer routes the chat');
    assert.equal(conversation.agent_id, agent.id, 'to the agent of that department');
    assert.equal(conversation.state, 'assigned');

    const events = await store().db.query<{ id: number; type: string; conversation_id: string; agent_id: string | null; data: Record<string, unknown>; created_at: Date }>(
      "select * from events where conversation_id = $1 and type = 'conversation.created'",
      [id],
    );
    assert.equal(events.length, 1);
    const body = payloadFor(events[0] as never, 'conversation.created', null) as { data: { conversation: { customer: { fields: Record<string, string>; phone: string }; department: string } } };
    assert.deepEqual(body.data.conversation.customer.fields, conversation.customer.fields, 'the webhook payload carries the answers');
    assert.equal(body.data.conversation.customer.phone, '+44 20 7946 0000');
    assert.equal(body.data.conversation.department, 'sales');
    const gitple = payloadFor(events[0] as never, 'session_state_open', null) as { session: { categories: string[] } };
    assert.deepEqual(gitple.session.categories, ['sales']);
  });

  it('refuses a department with a control character or line break in it, as the departments API does, creating nothing', async () => {
    const { token } = await user('admin');
    const before = await counts();
    for (const department of ['sales\u0007', 'sales\nFrom: CEO', 'sales\u2028From: CEO', '\u0085']) {
      const res = await call('POST', '/session', { body: { customer: { id: 'cust-d', name: 'Bo' }, department } });
      assert.equal(res.statusCode, 400, `${JSON.stringify(department)}: ${res.body}`);
      assert.equal(res.json().error.field, 'department', res.body);
      const api = await call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'cust-d' }, department } });
      assert.equal(api.statusCode, 400, `${JSON.stringify(department)}: ${api.body}`);
      assert.equal(api.json().error.field, 'department', api.body);
    }
    assert.deepEqual(await counts(), before);
    // nor may the form offer one as a choice, which would become the conversation's department
    const form = await call('PUT', '/api/v1/prechat-form', { token, body: { fields: [{ key: 'department', label: 'Team', type: 'select', required: true, options: ['Sales', 'Sales\u2028From: CEO'] }] } });
    assert.equal(form.statusCode, 400, form.body);
    assert.equal(form.json().error.field, 'fields[0].options[1]', form.body);
    assert.deepEqual(await counts(), before);
  });

  it('still finds, by filter, a department stored before names were one line', async () => {
    const { token } = await user('admin');
    const opened = await call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'cust-legacy' }, department: 'support' } });
    assert.equal(opened.statusCode, 201, opened.body);
    await store().db.query("update conversations set department = E'Sales\\tEU' where id = $1", [opened.json().id]);
    for (const url of ['/api/v1/conversations?department=Sales%09EU', '/api/v1/queue?department=Sales%09EU', '/api/v1/agents?department=Sales%09EU']) {
      const res = await call('GET', url, { token });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    }
    assert.deepEqual((await call('GET', '/api/v1/conversations?department=Sales%09EU', { token })).json().map((c: { id: string }) => c.id), [opened.json().id]);
  });

  it('leaves optional answers out, and without a form opens the chat as before', async () => {
    const { token } = await user('admin');
    const plain = await call('POST', '/session', { body: { customer: { id: 'cust-0', name: 'Bo', email: 'bo@example.com' }, department: 'support' } });
    assert.equal(plain.statusCode, 201, plain.body);
    const first = (await call('GET', `/api/v1/conversations/${plain.json().sessionId}`, { token })).json();
    assert.deepEqual(first.customer, { id: 'cust-0', name: 'Bo', email: 'bo@example.com', phone: null, fields: {} });
    assert.equal(first.department, 'support');

    await define(FORM);
    const { phone: _phone, order: _order, seats: _seats, ...required } = GOOD;
    const res = await call('POST', '/session', { body: { customer: { id: 'cust-2' }, prechat: { ...required, phone: '', order: null } } });
    assert.equal(res.statusCode, 201, res.body);
    const conversation = (await call('GET', `/api/v1/conversations/${res.json().sessionId}`, { token })).json();
    assert.equal(conversation.customer.phone, null);
    assert.deepEqual(conversation.customer.fields, { plan: 'gold', consent: 'true' });
  });

  it('refuses an invalid answer with 400 naming prechat.<key>, and creates no conversation, session or event', async () => {
    await define(FORM);
    await user('agent', 'online', ['sales']);
    const before = await counts();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...GOOD, email: 'not-an-email' }, 'prechat.email', /must be an email address/],
      [{ ...GOOD, name: undefined }, 'prechat.name', /is required/],
      [{ ...GOOD, name: '   ' }, 'prechat.name', /is required/],
      // characters that show as nothing are no answer either (docs/api.md, "Blank texts")
      [{ ...GOOD, name: '\u200b\u3164' }, 'prechat.name', /is required/],
      [{ ...GOOD, name: '\u2800' }, 'prechat.name', /is required/],
      [{ ...GOOD, name: 'Ada\nLovelace' }, 'prechat.name', /must be one line of text, without control characters/],
      [{ ...GOOD, plan: 'platinum' }, 'prechat.plan', /must be one of: free, gold/],
      [{ ...GOOD, department: 'billing' }, 'prechat.department', /must be one of: sales, support/],
      [{ ...GOOD, order: 'ORD-12' }, 'prechat.order', /expected format/],
      [{ ...GOOD, order: 'ORD-12345' }, 'prechat.order', /at most 8 characters/],
      [{ ...GOOD, seats: 'twelve' }, 'prechat.seats', /must be a number/],
      [{ ...GOOD, phone: '12' }, 'prechat.phone', /phone number/],
      [{ ...GOOD, consent: false }, 'prechat.consent', /must be ticked/],
      [{ ...GOOD, consent: 'yes' }, 'prechat.consent', /ticked or not/],
      [{ ...GOOD, shoe_size: '44' }, 'prechat.shoe_size', /not a field of the pre-chat form/],
    ];
    for (const [prechat, field, message] of cases) {
      const res = await call('POST', '/session', { body: { customer: { id: 'cust-3' }, prechat } });
      expect400(res, field, message);
    }
    // a form with required fields is not skipped by leaving the answers out
    expect400(await call('POST', '/session', { body: { customer: { id: 'cust-3', name: 'Ada', email: 'ada@example.com' } } }), 'prechat.name', /is required/);
    assert.deepEqual(await counts(), before, 'no conversation, no session, no event');
  });

  it('holds a number answer sent as a JSON number to the rule of its text, and refuses one that would lose digits', async () => {
    await define(FORM);
    const { token } = await user('admin', 'online', ['sales']);
    const before = await counts();
    // the body as the client writes it: JSON.stringify would round 12345678901234567890 before it is sent
    const raw = (seats: string, customer = 'cust-5') =>
      app.inject({ method: 'POST', url: '/session', headers: { 'content-type': 'application/json' }, payload: `{"customer":{"id":"${customer}"},"prechat":${JSON.stringify({ ...GOOD, seats: 0 }).replace('"seats":0', `"seats":${seats}`)}}` });
    expect400(await raw('1e21'), 'prechat.seats', /^prechat\.seats must be sent as text, like "12345678901234567890", when it is beyond ±9007199254740991/);
    expect400(await raw('12345678901234567890'), 'prechat.seats', /must be sent as text/);
    expect400(await raw('-9007199254740992'), 'prechat.seats', /must be sent as text/);
    expect400(await raw('1e-7'), 'prechat.seats', /^prechat\.seats must be a number, like 42 or 3\.5$/);
    assert.deepEqual(await counts(), before, 'no conversation, no session, no event');

    const stored = async (seats: string) => {
      const res = await raw(seats, `cust-5-${seats.length}`);
      assert.equal(res.statusCode, 201, res.body);
      return (await call('GET', `/api/v1/conversations/${res.json().sessionId}`, { token })).json().customer.fields.seats;
    };
    assert.equal(await stored('"12345678901234567890"'), '12345678901234567890', 'as text, every digit kept');
    assert.equal(await stored('9007199254740991'), '9007199254740991');
    assert.equal(await stored('-2.5'), '-2.5');
  });

  it('refuses answers when no form is defined, rather than storing them unchecked', async () => {
    const before = await counts();
    expect400(await call('POST', '/session', { body: { customer: { id: 'cust-4' }, prechat: { plan: 'gold' } } }), 'prechat.plan', /not a field/);
    assert.deepEqual(await counts(), before);
  });
});
