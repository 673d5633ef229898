// POST and GET /api/v1/conversations/:id/messages
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, rawJson, UNKNOWN_ID, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: messages', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const post = (token: string, id: string, body: unknown) => k.call('POST', `/api/v1/conversations/${id}/messages`, { token, body });
  const list = (token: string, id: string, query = '') => k.call('GET', `/api/v1/conversations/${id}/messages${query}`, { token });

  /** the cast, and one conversation assigned to `owner` (the other agent is the outsider) */
  async function scene() {
    const cast = await k.cast({ agentCapacity: 1 });
    const c = await k.open(cast.admin.token);
    const owner: User = c.agent_id === cast.agent.agent.id ? cast.agent : cast.other;
    const outsider: User = owner === cast.agent ? cast.other : cast.agent;
    return { ...cast, c, owner, outsider };
  }

  it('both message routes answer 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/messages`, body: { text: 'hello' } },
      { method: 'GET', url: `/api/v1/conversations/${UNKNOWN_ID}/messages` },
    ]);
  });

  it('POST /messages by the assigned agent answers 201 with the stored message and records message.created', async () => {
    const { c, owner } = await scene();
    const res = await post(owner.token, c.id, { text: 'Hello, how can I help?' });
    assert.equal(res.statusCode, 201, res.body);
    const m = res.json();
    assert.equal(typeof m.id, 'number');
    assert.deepEqual(
      [m.conversation_id, m.sender, m.sender_id, m.text, m.attachments, m.created_at, m.read_at],
      [c.id, 'agent', owner.agent.id, 'Hello, how can I help?', [], k.clock.now().toISOString(), null],
    );
    const [event] = await store().db.query<{ agent_id: string; data: { message: { id: number; text: string } } }>(
      `select agent_id, data from events where type = 'message.created' and conversation_id = $1`,
      [c.id],
    );
    assert.equal(event?.agent_id, owner.agent.id);
    assert.deepEqual([event?.data.message.id, event?.data.message.text], [m.id, 'Hello, how can I help?']);
  });

  it('POST /messages with a client_message_id sent again stores it once: 200 with the stored message, no second event; another sender\'s id is 400', async () => {
    const { c, owner, admin } = await scene();
    const id = '0B7C6F1E-5D3A-4C2B-9E8F-1A2B3C4D5E6F';
    const first = await post(owner.token, c.id, { text: 'Your refund is on its way', client_message_id: id });
    assert.equal(first.statusCode, 201, first.body);
    const events = () => k.count('events', `type = 'message.created' and conversation_id = '${c.id}'`);
    const before = await events();
    await k.unchanged(async () => {
      // the answer was lost; the relay sends it again, the id in another case
      const again = await post(owner.token, c.id, { text: 'Your refund is on its way', client_message_id: id.toLowerCase() });
      assert.equal(again.statusCode, 200, again.body);
      assert.deepEqual(again.json(), first.json());
      // the same id from another sender is not theirs to repeat
      expectInvalid(await post(admin.token, c.id, { text: 'hijack', sender: 'bot', client_message_id: id }), 'client_message_id');
      expectInvalid(await post(owner.token, c.id, { text: 'x', client_message_id: 'not-a-uuid' }), 'client_message_id');
    });
    assert.equal(await events(), before, 'no second message.created');
    // without an id, or with a new one, each POST is a message of its own
    assert.equal((await post(owner.token, c.id, { text: 'Your refund is on its way' })).statusCode, 201);
    assert.equal((await post(owner.token, c.id, { text: 'Your refund is on its way', client_message_id: '1b7c6f1e-5d3a-4c2b-9e8f-1a2b3c4d5e6f' })).statusCode, 201);
    assert.equal((await list(owner.token, c.id)).json().length, 3);
    // closed since: the retry still gets its stored message
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: owner.token, body: {} })).statusCode, 200);
    const late = await post(owner.token, c.id, { text: 'Your refund is on its way', client_message_id: id });
    assert.equal(late.statusCode, 200, late.body);
    assert.equal(late.json().id, first.json().id);
  });

  it('POST /messages takes attachments with or without text', async () => {
    const { c, owner } = await scene();
    const image = { type: 'image', url: 'https://cdn.example.test/a.png' };
    const only = await post(owner.token, c.id, { attachments: [image] });
    assert.equal(only.statusCode, 201, only.body);
    assert.deepEqual([only.json().text, only.json().attachments], [null, [image]]);
    const both = await post(owner.token, c.id, { text: 'see file', attachments: [image, { type: 'file', url: 'https://cdn.example.test/b.pdf' }] });
    assert.equal(both.statusCode, 201);
    assert.equal(both.json().attachments.length, 2);
  });

  it('POST /messages lets supervisors and admins post as customer, system or bot, on any open conversation, queued ones included', async () => {
    const { admin, supervisor } = await k.cast({ agentCapacity: 0 });
    const queued = await k.open(admin.token);
    assert.equal(queued.state, 'queued');
    for (const [who, sender] of [[supervisor, 'customer'], [admin, 'system'], [supervisor, 'bot'], [admin, 'agent']] as const) {
      const res = await post(who.token, queued.id, { text: `as ${sender}`, sender });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().sender, sender);
      assert.equal(res.json().sender_id, sender === 'agent' ? who.agent.id : null);
    }
  });

  it('POST /messages answers 403 to an agent posting as someone else, on someone else\'s or a queued conversation, changing nothing', async () => {
    const { admin, c, owner, outsider } = await scene();
    await k.open(admin.token);
    const queued = await k.open(admin.token, {}, 201);
    await k.unchanged(async () => {
      for (const sender of ['customer', 'system', 'bot']) expectError(await post(owner.token, c.id, { text: 'hi', sender }), 403, 'SB_FORBIDDEN', undefined, sender);
      expectError(await post(outsider.token, c.id, { text: 'hi' }), 403, 'SB_FORBIDDEN', undefined, 'someone else\'s');
      assert.equal(queued.state, 'queued');
      expectError(await post(owner.token, queued.id, { text: 'hi' }), 403, 'SB_FORBIDDEN', undefined, 'queued');
    });
  });

  it('POST /messages on a resolved conversation answers 409 SB_CONVERSATION_CLOSED, changing nothing', async () => {
    const { admin, c, owner } = await scene();
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: owner.token, body: {} })).statusCode, 200);
    await k.unchanged(async () => {
      expectError(await post(owner.token, c.id, { text: 'one more thing' }), 409, 'SB_CONVERSATION_CLOSED');
      expectError(await post(admin.token, c.id, { text: 'one more thing', sender: 'customer' }), 409, 'SB_CONVERSATION_CLOSED');
    });
  });

  it('POST /messages answers 400 naming the field for a missing text, mistyped or unknown fields, bad attachments and invalid JSON; 404 and 400 for ids', async () => {
    const { admin, c } = await scene();
    await k.unchanged(async () => {
      expectInvalid(await post(admin.token, c.id, {}), 'text', 'neither text nor attachments');
      expectInvalid(await post(admin.token, c.id, { sender: 'bot' }), 'text', 'only a sender');
      expectInvalid(await post(admin.token, c.id, { text: '' }), 'text', 'empty text');
      expectInvalid(await post(admin.token, c.id, { text: 5 }), 'text', 'number text');
      expectInvalid(await post(admin.token, c.id, { text: 'x'.repeat(10_001) }), 'text', 'too long');
      expectInvalid(await post(admin.token, c.id, { text: 'hi', sender: 'robot' }), 'sender');
      expectInvalid(await post(admin.token, c.id, { text: 'hi', html: '<b>hi</b>' }), 'html');
      expectInvalid(await post(admin.token, c.id, { attachments: [] }), 'attachments', 'empty attachments');
      expectInvalid(await post(admin.token, c.id, { attachments: 'https://x.test/a.png' }), 'attachments');
      expectInvalid(await post(admin.token, c.id, { attachments: [{ type: 'image' }] }), 'attachments.0.url');
      expectInvalid(await post(admin.token, c.id, { attachments: [{ type: 'image', url: 'not a url' }] }), 'attachments.0.url');
      expectInvalid(await post(admin.token, c.id, { attachments: [{ type: 'image', url: 'https://x.test/a.png', size: 3 }] }), 'attachments.0.size');
      // http(s) only, as over MQTT (#16)
      for (const url of ['javascript:alert(document.cookie)', 'data:text/html,<script>alert(1)</script>', 'ftp://x.test/a.png', 'file:///etc/passwd', 'mailto:a@x.test']) {
        expectInvalid(await post(admin.token, c.id, { attachments: [{ type: 'file', url }] }), 'attachments.0.url', url);
      }
      expectError(await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: admin.token, ...rawJson('{"text": "unterminated}') }), 400, 'SB_INVALID_JSON');
      expectError(await post(admin.token, UNKNOWN_ID, { text: 'hi' }), 404, 'SB_NOT_FOUND');
      expectInvalid(await post(admin.token, MALFORMED_ID, { text: 'hi' }), 'id');
    });
  });

  it('POST /messages answers 400, not 500, for text with a NUL character', async () => {
    const { c, owner } = await scene();
    await k.unchanged(async () => {
      const res = await post(owner.token, c.id, { text: 'nul\u0000byte' });
      assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${res.body}`);
      expectInvalid(res, 'text');
    });
  });

  it('GET /messages lists a conversation\'s messages in order, pages with after and limit, and mixes in no other conversation', async () => {
    const { admin, supervisor, c, owner } = await scene();
    const elsewhere = await k.open(admin.token);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      k.clock.advance(1000);
      ids.push((await post(i % 2 === 0 ? owner.token : admin.token, c.id, { text: `m${i}`, ...(i % 2 === 1 ? { sender: 'customer' } : {}) })).json().id);
      assert.equal((await post(admin.token, elsewhere.id, { text: `other ${i}` })).statusCode, 201);
    }
    for (const who of [owner, supervisor, admin]) {
      const res = await list(who.token, c.id);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json().map((m: { text: string }) => m.text), ['m0', 'm1', 'm2', 'm3', 'm4']);
      assert.deepEqual(res.json().map((m: { id: number }) => m.id), ids);
    }
    const firstPage = (await list(owner.token, c.id, '?limit=2')).json();
    assert.deepEqual(firstPage.map((m: { text: string }) => m.text), ['m0', 'm1']);
    const secondPage = (await list(owner.token, c.id, `?after=${firstPage[1].id}&limit=2`)).json();
    assert.deepEqual(secondPage.map((m: { text: string }) => m.text), ['m2', 'm3']);
    const rest = (await list(owner.token, c.id, `?after=${secondPage[1].id}`)).json();
    assert.deepEqual(rest.map((m: { text: string }) => m.text), ['m4']);
    assert.deepEqual((await list(owner.token, c.id, `?after=${ids[4]}`)).json(), []);
    assert.equal((await list(owner.token, c.id)).json()[1].sender, 'customer');
  });

  it('GET /messages: the agent who resolved a conversation can still read it; other agents cannot (403); 404 and 400 for ids', async () => {
    const { admin, c, owner, outsider } = await scene();
    assert.equal((await post(owner.token, c.id, { text: 'bye' })).statusCode, 201);
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: owner.token, body: {} })).statusCode, 200);
    assert.deepEqual((await list(owner.token, c.id)).json().map((m: { text: string }) => m.text), ['bye']);
    expectError(await list(outsider.token, c.id), 403, 'SB_FORBIDDEN');
    expectError(await list(admin.token, UNKNOWN_ID), 404, 'SB_NOT_FOUND');
    expectInvalid(await list(admin.token, MALFORMED_ID), 'id');
  });

  it('GET /messages answers 400 for a bad after or limit and unknown query parameters', async () => {
    const { admin, c } = await scene();
    expectInvalid(await list(admin.token, c.id, '?after=-1'), 'after');
    expectInvalid(await list(admin.token, c.id, '?after=first'), 'after');
    expectInvalid(await list(admin.token, c.id, '?after=1.5'), 'after');
    expectInvalid(await list(admin.token, c.id, '?limit=0'), 'limit');
    expectInvalid(await list(admin.token, c.id, '?limit=501'), 'limit');
    expectInvalid(await list(admin.token, c.id, '?order=desc'), 'order');
  });

  it('GET /messages answers 400 (or an empty page), not 500, for an after beyond the 64-bit id range', async () => {
    const { admin, c } = await scene();
    const res = await list(admin.token, c.id, '?after=99999999999999999999');
    assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${res.body}`);
    assert.ok(res.statusCode === 400 || (res.statusCode === 200 && res.json().length === 0), res.body);
  });
});
