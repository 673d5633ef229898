// Mailroom's calls to a ticketer's base URL: tickets become conversations
// the engine routes, contact messages become customer messages, and every
// bad request gets a 4xx {"error":"…"} that changes nothing.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { CONTRACT, createTicketer, mailroomFor, snapshot, type Mailroom, type TestTicketer } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('RapidPro mailroom endpoints', (store) => {
  let t: TestApp;
  let admin: string;
  let ticketer: TestTicketer;
  let mailroom: Mailroom;

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    admin = (await t.user('admin')).token;
    ticketer = await createTicketer(t, admin);
    mailroom = mailroomFor(t, ticketer);
  });
  afterEach(() => t.close());

  const conversation = async (id: string) => (await t.call('GET', `/api/v1/conversations/${id}`, { token: admin })).json();
  const messages = async (id: string) => (await t.call('GET', `/api/v1/conversations/${id}/messages`, { token: admin })).json();

  it('opens a room for the contract request (GET with a body) and the engine assigns it like any conversation', async () => {
    const agent = await makeAgent(t.ctx, { status: 'online', capacity: 2 });
    const res = await mailroom('GET', 'room', CONTRACT.room);
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    const { id } = res.json();
    const room = await conversation(id);
    assert.equal(room.channel, 'rapidpro');
    assert.equal(room.external_ref, CONTRACT.room.ticketID);
    assert.equal(room.state, 'assigned');
    assert.equal(room.agent_id, agent.id);
    assert.deepEqual(room.customer, {
      id: '5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f',
      name: 'Ryan Lewis',
      email: 'foo@bar.com',
      phone: '+12024561111',
      fields: {},
    });
  });

  it("takes the seed's spellings, department, priority and custom fields, and shows the fields to the agent", async () => {
    const sales = await makeAgent(t.ctx, { status: 'online', departments: ['Foo'] });
    const res = await mailroom('POST', 'room', {
      ticketId: '11137eb1-c831-4ddc-ba26-0bb77837f15e',
      priority: 'high',
      sessionStart: '2020-07-17 10:28',
      visitor: {
        token: '1234',
        contactUuid: '88ff1e41-c1f8-4637-af8e-d56acbde9171',
        deparment: 'Foo',
        name: 'John Doe',
        customFields: { foo: 'bar', plan: 'gold', age: 42 },
      },
    });
    assert.equal(res.statusCode, 201);
    const room = await conversation(res.json().id);
    assert.equal(room.external_ref, '11137eb1-c831-4ddc-ba26-0bb77837f15e');
    assert.equal(room.customer.id, '88ff1e41-c1f8-4637-af8e-d56acbde9171');
    assert.equal(room.department, 'Foo');
    assert.equal(room.priority, 5);
    assert.equal(room.agent_id, sales.id);
    assert.deepEqual(room.customer.fields, { foo: 'bar', plan: 'gold', age: '42' });
    // the assigned agent sees them too
    const agentToken = (await t.call('POST', '/api/v1/auth/login', { body: { email: sales.email, password: 'correct horse' } })).json().token;
    const seen = await t.call('GET', `/api/v1/conversations/${room.id}`, { token: agentToken });
    assert.deepEqual(seen.json().customer.fields, { foo: 'bar', plan: 'gold', age: '42' });
  });

  it('refuses a department with a line break or control character (400 naming it, no room); an empty or blank one is none', async () => {
    for (const [field, value] of [['department', 'Foo\nBar'], ['deparment', 'Foo\u2028Bar'], ['department', 'Foo\u0007']] as const) {
      const res = await mailroom('POST', 'room', { ticketId: '11137eb1-c831-4ddc-ba26-0bb77837f15f', visitor: { token: '1235', [field]: value } });
      assert.equal(res.statusCode, 400, `${field} ${JSON.stringify(value)}: ${res.body}`);
      assert.match(res.body, new RegExp(`visitor.${field}`));
    }
    assert.equal((await t.ctx.db.query("select id from conversations where channel = 'rapidpro'")).length, 0);
    const res = await mailroom('POST', 'room', { ticketId: '11137eb1-c831-4ddc-ba26-0bb77837f15f', visitor: { token: '1235', department: '' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((await conversation(res.json().id)).department, null);
    // one that shows as nothing is none too: no department the console lists blank
    for (const [i, blank] of [' ', '\u200b', '\u3164', '\u2800 \u200d'].entries()) {
      const res = await mailroom('POST', 'room', { ticketId: `21137eb1-c831-4ddc-ba26-0bb77837f1${i}f`, visitor: { token: `124${i}`, department: blank } });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal((await conversation(res.json().id)).department, null, JSON.stringify(blank));
    }
  });

  it('gives a contact without a name a room labelled with their token', async () => {
    const res = await mailroom('GET', 'room', { visitor: { token: '987' }, ticketID: 'c9a2b1e0-0000-4000-8000-000000000001' });
    assert.equal(res.statusCode, 201);
    const room = await conversation(res.json().id);
    assert.equal(room.customer.name, 'RapidPro contact 987');
    assert.equal(room.customer.id, `rapidpro:${ticketer.uuid}:987`);
    assert.equal(room.state, 'queued');
  });

  it('answers a retried ticketID with the same room and opens nothing more', async () => {
    const first = await mailroom('GET', 'room', CONTRACT.room);
    const before = await snapshot(store().db);
    const again = await mailroom('GET', 'room', CONTRACT.room);
    assert.equal(again.statusCode, 201);
    assert.deepEqual(again.json(), first.json());
    assert.deepEqual(await snapshot(store().db), before);
  });

  it("closes a contact's stale room when a new ticket arrives for their token, and routes their messages to the new one", async () => {
    const old = (await mailroom('GET', 'room', CONTRACT.room)).json().id;
    const fresh = await mailroom('GET', 'room', { ...CONTRACT.room, ticketID: 'aaaaaaaa-3e2f-4a93-aece-b05d2fdcde0c' });
    assert.equal(fresh.statusCode, 201);
    assert.notEqual(fresh.json().id, old);
    const stale = await conversation(old);
    assert.equal(stale.state, 'resolved');
    assert.equal(stale.resolve_reason, 'replaced');
    assert.equal((await conversation(fresh.json().id)).state, 'queued');
    await mailroom('POST', 'visitor-message', { visitor: { token: '1234567' }, text: 'still there?' });
    assert.equal((await messages(fresh.json().id)).length, 1);
    assert.equal((await messages(old)).length, 0);
  });

  it('stores a contact message with text and attachments as a customer message of the room', async () => {
    const room = (await mailroom('GET', 'room', CONTRACT.room)).json().id;
    const res = await mailroom('POST', 'visitor-message', CONTRACT.message);
    assert.equal(res.statusCode, 201);
    assert.match(res.json().id, /^\d+$/);
    const onlyImage = await mailroom('POST', 'visitor-message', { visitor: { token: '1234567' }, attachments: [CONTRACT.message.attachments[0]] });
    assert.equal(onlyImage.statusCode, 201);
    // some forks send bare URLs
    const urls = await mailroom('POST', 'visitor-message', { visitor: { token: '1234567' }, attachments: ['https://link.to/doc.pdf', CONTRACT.message.attachments[1]] });
    assert.equal(urls.statusCode, 201, urls.body);
    const stored = await messages(room);
    assert.deepEqual(
      stored.map((m: { id: number; sender: string; text: string | null; attachments: unknown[] }) => [String(m.id), m.sender, m.text, m.attachments]),
      [
        [res.json().id, 'customer', "It's urgent", CONTRACT.message.attachments],
        [onlyImage.json().id, 'customer', null, [CONTRACT.message.attachments[0]]],
        [urls.json().id, 'customer', null, [{ type: 'application/pdf', url: 'https://link.to/doc.pdf' }, CONTRACT.message.attachments[1]]],
      ],
    );
  });

  it('closes the room on room.close (GET with a body, or POST) with 204 and no body', async () => {
    const room = (await mailroom('GET', 'room', CONTRACT.room)).json().id;
    const res = await mailroom('GET', 'room.close', CONTRACT.close);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    const closed = await conversation(room);
    assert.equal(closed.state, 'resolved');
    assert.equal(closed.resolve_reason, 'rapidpro');
    const second = (await mailroom('POST', 'room', { ...CONTRACT.room, ticketID: 'bbbbbbbb-3e2f-4a93-aece-b05d2fdcde0c' })).json().id;
    assert.equal((await mailroom('POST', 'room.close', CONTRACT.close)).statusCode, 204);
    assert.equal((await conversation(second)).state, 'resolved');
  });

  it('answers secret.check with 200 {} and keeps the callback URL RapidPro sets', async () => {
    const check = await mailroom('GET', 'secret.check');
    assert.equal(check.statusCode, 200);
    assert.deepEqual(check.json(), {});
    const url = `https://rapidpro.example.com/mr/tickets/types/rocketchat/event_callback/${ticketer.uuid}`;
    const put = await mailroom('PUT', 'settings', { webhook: { url } });
    assert.equal(put.statusCode, 204);
    assert.equal(put.body, '');
    const got = await mailroom('GET', 'settings');
    assert.deepEqual(got.json(), { webhook: { url } });
    const admin_view = (await t.call('GET', `/api/v1/ticketers/${ticketer.uuid}`, { token: admin })).json();
    assert.equal(admin_view.callback_url, url);
  });

  it("refuses a ticket another ticketer holds open (409) rather than handing over that contact's room", async () => {
    await mailroom('GET', 'room', CONTRACT.room);
    const other = mailroomFor(t, await createTicketer(t, admin));
    const before = await snapshot(store().db);
    const res = await other('GET', 'room', CONTRACT.room);
    assert.equal(res.statusCode, 409);
    assert.match(res.json().error, /already has an open conversation/);
    assert.deepEqual(await snapshot(store().db), before);
  });

  it('answers a wrong method with 405, an Allow header and {"error":"…"}, for every endpoint under the base URL', async () => {
    const cases: [Parameters<Mailroom>[0], string, string][] = [
      ['POST', 'secret.check', 'GET, HEAD'],
      ['POST', 'settings', 'GET, PUT, HEAD'],
      ['PUT', 'room', 'GET, POST, HEAD'],
      ['PUT', 'room.close', 'GET, POST, HEAD'],
      ['GET', 'visitor-message', 'POST'],
    ];
    for (const [method, endpoint, allow] of cases) {
      const res = await mailroom(method, endpoint, method === 'GET' ? undefined : {});
      assert.equal(res.statusCode, 405, `${method} ${endpoint}`);
      assert.equal(res.headers.allow, allow);
      assert.deepEqual(Object.keys(res.json()), ['error']);
      assert.match(res.json().error, new RegExp(`^${endpoint.replace('.', '\\.')} does not take ${method}`));
    }
  });

  // One test for these, so the file stays quick: each case only reads.
  const offEndpoint: { name: string; send: (m: Mailroom, t: TestTicketer, tApp: TestApp) => ReturnType<Mailroom>; status: number; error: RegExp }[] = [
    { name: 'an unknown endpoint', send: (m) => m('GET', 'rooms', CONTRACT.room), status: 404, error: /^no endpoint "rooms" under this ticketer; mailroom calls secret\.check, settings, room, room\.close, visitor-message$/ },
    { name: 'a nested unknown endpoint', send: (m) => m('POST', 'room/close', CONTRACT.close), status: 404, error: /no endpoint "room\/close"/ },
    { name: 'a wrong method', send: (m) => m('PUT', 'room', CONTRACT.room), status: 405, error: /^room does not take PUT: use GET or POST$/ },
    { name: 'an unknown endpoint with a wrong token', send: (m) => m('GET', 'rooms', CONTRACT.room, { secret: 'WRONGWRONGWRONGWRONG' }), status: 401, error: /token does not match ticketer/ },
    { name: 'a wrong method without a token', send: (m) => m('DELETE', 'room', undefined, { secret: null }), status: 401, error: /send Authorization: Token <secret>/ },
    {
      name: 'a wrong method for an unknown ticketer',
      send: (_m, tk, tApp) => mailroomFor(tApp, { ...tk, base: '/api/v1/ticketers/00000000-0000-4000-8000-000000000000' })('PUT', 'room', CONTRACT.room),
      status: 404,
      error: /ticketer "00000000-0000-4000-8000-000000000000" does not exist/,
    },
    {
      name: 'an attachment that is neither a URL nor an object',
      send: (m) => m('POST', 'visitor-message', { visitor: { token: '1234567' }, attachments: [5] }),
      status: 400,
      error: /^attachments\.0 must be a URL, or an object with type and url$/,
    },
    {
      name: 'an attachment object without a url',
      send: (m) => m('POST', 'visitor-message', { visitor: { token: '1234567' }, attachments: [{ type: 'image/png' }] }),
      status: 400,
      error: /^attachments\.0\.url is required$/,
    },
    {
      name: 'an attachment URL that is not a web URL',
      send: (m) => m('POST', 'visitor-message', { visitor: { token: '1234567' }, attachments: ['ftp://files.example/a.png'] }),
      status: 400,
      error: /^attachments\.0 must be an http or https URL/,
    },
  ];

  it('refuses what no endpoint takes (unknown endpoint, wrong method, odd attachments) with {"error":"…"} after the token check, changing nothing', async () => {
    await mailroom('GET', 'room', { ...CONTRACT.room, ticketID: 'cccccccc-3e2f-4a93-aece-b05d2fdcde0c' });
    const before = await snapshot(store().db);
    for (const refusal of offEndpoint) {
      const res = await refusal.send(mailroom, ticketer, t);
      assert.equal(res.statusCode, refusal.status, `${refusal.name}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json()), ['error'], refusal.name);
      assert.match(res.json().error, refusal.error, refusal.name);
    }
    assert.deepEqual(await snapshot(store().db), before);
  });

  // Each: what mailroom (or someone else) sends, the status, and words the error must contain.
  const refusals: { name: string; send: (m: Mailroom, t: TestTicketer, tApp: TestApp) => ReturnType<Mailroom>; status: number; error: RegExp }[] = [
    { name: 'a wrong token', send: (m) => m('GET', 'room', CONTRACT.room, { secret: 'WRONGWRONGWRONGWRONG' }), status: 401, error: /token does not match ticketer/ },
    { name: 'no Authorization', send: (m) => m('GET', 'room', CONTRACT.room, { secret: null }), status: 401, error: /send Authorization: Token <secret>/ },
    {
      name: 'a Bearer token instead of Token',
      send: (m, tk) => m('POST', 'visitor-message', CONTRACT.message, { secret: null, headers: { authorization: `Bearer ${tk.secret}` } }),
      status: 401,
      error: /Token/,
    },
    {
      name: 'an unknown ticketer',
      send: (_m, tk, tApp) => mailroomFor(tApp, { ...tk, base: '/api/v1/ticketers/00000000-0000-4000-8000-000000000000' })('GET', 'room', CONTRACT.room),
      status: 404,
      error: /ticketer "00000000-0000-4000-8000-000000000000" does not exist/,
    },
    {
      name: 'a ticketer id that is no UUID',
      send: (_m, tk, tApp) => mailroomFor(tApp, { ...tk, base: '/api/v1/ticketers/not-a-uuid' })('GET', 'secret.check'),
      status: 404,
      error: /does not exist/,
    },
    {
      name: 'a message for an unknown visitor token',
      send: (m) => m('POST', 'visitor-message', { visitor: { token: '10000' }, text: "It's urgent" }),
      status: 404,
      error: /^Could not find a room for visitor token: 10000$/,
    },
    { name: 'room.close for an unknown visitor token', send: (m) => m('GET', 'room.close', { visitor: { token: '10000' } }), status: 404, error: /^Could not find a room for visitor token: 10000$/ },
    { name: 'an empty message', send: (m) => m('POST', 'visitor-message', { visitor: { token: '1234567' } }), status: 400, error: /text or attachments is required/ },
    { name: 'blank text and no attachments', send: (m) => m('POST', 'visitor-message', { visitor: { token: '1234567' }, text: '  ', attachments: [] }), status: 400, error: /text or attachments is required/ },
    { name: 'malformed JSON on GET room', send: (m) => m('GET', 'room', '{"visitor":{"token":"1"'), status: 400, error: /not valid JSON/ },
    { name: 'malformed JSON on POST visitor-message', send: (m) => m('POST', 'visitor-message', '{"visitor":'), status: 400, error: /not valid JSON/ },
    { name: 'an oversize GET room body', send: (m) => m('GET', 'room', JSON.stringify({ ...CONTRACT.room, pad: 'x'.repeat(1_100_000) })), status: 413, error: /too large/ },
    { name: 'an oversize POST message body', send: (m) => m('POST', 'visitor-message', { ...CONTRACT.message, text: 'x'.repeat(1_100_000) }), status: 413, error: /too large/ },
    { name: 'GET room without a body', send: (m) => m('GET', 'room'), status: 400, error: /body must be a JSON object/ },
    { name: 'a room without ticketID', send: (m) => m('GET', 'room', { visitor: { token: '1' } }), status: 400, error: /^ticketID is required$/ },
    { name: 'a room without visitor.token', send: (m) => m('GET', 'room', { ticketID: 'x', visitor: { name: 'A' } }), status: 400, error: /^visitor\.token is required$/ },
    { name: 'ticketID and ticketId that differ', send: (m) => m('GET', 'room', { ...CONTRACT.room, ticketId: 'other' }), status: 400, error: /ticketID and ticketId differ/ },
    // a contact UUID is a verified customer id: another shape could claim a widget customer's
    {
      name: 'a contactUUID that is no UUID',
      send: (m) => m('GET', 'room', { ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, contactUUID: 'cust-42' } }),
      status: 400,
      error: /^visitor\.contactUUID must be a UUID \(RapidPro's contact UUID\), not "cust-42"$/,
    },
    { name: 'a contactUuid that is no UUID', send: (m) => m('GET', 'room', { ...CONTRACT.room, visitor: { token: '5', contactUuid: 'web-1' } }), status: 400, error: /^visitor\.contactUuid must be a UUID/ },
    { name: 'an unknown priority', send: (m) => m('GET', 'room', { ...CONTRACT.room, priority: 'extreme' }), status: 400, error: /priority must be one of/ },
    { name: 'a GET body that is not JSON', send: (m) => m('GET', 'room', 'ticket=1', { headers: { 'content-type': 'text/plain' } }), status: 415, error: /Unsupported Media Type/ },
    {
      name: 'an attachment that is not a web URL',
      send: (m) => m('POST', 'visitor-message', { visitor: { token: '1234567' }, attachments: [{ type: 'image/png', url: 'javascript:alert(1)' }] }),
      status: 400,
      error: /attachments\.0\.url must be an http or https URL/,
    },
    { name: 'a NUL character in a name', send: (m) => m('GET', 'room', { ...CONTRACT.room, visitor: { token: '5', name: 'a\u0000b' } }), status: 400, error: /visitor\.name contains a NUL/ },
    { name: 'settings without a URL', send: (m) => m('PUT', 'settings', { webhook: {} }), status: 400, error: /^webhook\.url is required$/ },
    { name: 'a private callback URL', send: (m) => m('PUT', 'settings', { webhook: { url: 'http://127.0.0.1:9/mr' } }), status: 400, error: /webhook\.url points at a private/ },
  ];

  for (const refusal of refusals) {
    it(`refuses ${refusal.name} with ${refusal.status} {"error":"…"} and changes nothing`, async () => {
      // an open room to address, so "nothing changes" is checked against something
      await mailroom('GET', 'room', { ...CONTRACT.room, ticketID: 'cccccccc-3e2f-4a93-aece-b05d2fdcde0c' });
      const before = await snapshot(store().db);
      const res = await refusal.send(mailroom, ticketer, t);
      assert.equal(res.statusCode, refusal.status, res.body);
      const body = res.json();
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(typeof body.error, 'string');
      assert.match(body.error, refusal.error);
      assert.deepEqual(await snapshot(store().db), before);
    });
  }
});
