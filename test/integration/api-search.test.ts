// GET /api/v1/search (issue #17, item 5): full-text over messages and the
// customer's id, name and email, with filters, paging and the agents' access
// rule (conversations they hold or held).
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, type User } from '../helpers/api-kit.js';
import { startSession } from '../../src/realtime/sessions.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

interface Result {
  conversation: { id: string; state: string; agent_id: string | null; department: string | null; customer: { id: string; name: string | null; email: string | null }; queue_position: number | null };
  message: { id: number; conversation_id: string; text: string | null; sender: string; created_at: string } | null;
}

describeEachStore('api: search', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const find = async (token: string, query: string) => {
    const res = await k.call('GET', `/api/v1/search?${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { results: Result[] }).results;
  };
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

  it('gives a found message its files as signed links, as GET messages does (a browser cannot send the token)', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const { conversation } = await startSession(k.t.ctx, { customer: { id: 'search-files' } }, 3600);
    const { body, headers } = multipartFile('file', 'a.png', 'image/png', PNG);
    const up = await k.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token: agent.token, body, headers });
    assert.equal(up.statusCode, 201, up.body);
    const sent = await k.call('POST', `/api/v1/conversations/${conversation.id}/messages`, { token: agent.token, body: { text: 'zebrainvoice', attachments: [{ id: up.json().id }] } });
    assert.equal(sent.statusCode, 201, sent.body);
    const [hit] = await find(agent.token, 'q=zebrainvoice');
    const url = (hit!.message as unknown as { attachments: { url: string }[] }).attachments[0]!.url;
    assert.match(url, /\?expires=\d+&sig=/, `search answered ${url}`);
    assert.equal((await k.call('GET', url)).statusCode, 200, 'the link opens without a token');
  });

  /**
   * Billing agent Bea and sales agent Sam, each with a conversation of their
   * department: Ana Lima's (billing) and Carlos Souza's (sales). Messages a
   * minute apart, so the order of hits is known.
   */
  async function scene() {
    const admin = await k.user('admin');
    const supervisor = await k.user('supervisor');
    const bea = await k.user('agent', { status: 'online', departments: ['billing'], capacity: 5 });
    const sam = await k.user('agent', { status: 'online', departments: ['sales'], capacity: 5 });
    const ana = await k.open(admin.token, { customer: { id: 'cust-ana-7', name: 'Ana Lima', email: 'Ana.Lima@mail.example' }, department: 'billing' });
    const carlos = await k.open(admin.token, { customer: { id: 'cust-carlos-9', name: 'Carlos Souza', email: 'carlos@mail.example' }, department: 'sales' });
    assert.equal(ana.agent_id, bea.agent.id);
    assert.equal(carlos.agent_id, sam.agent.id);
    const say = async (who: User, conversation: string, text: string, sender: 'agent' | 'customer' = 'agent') => {
      k.clock.advance(60_000);
      const res = await k.call('POST', `/api/v1/conversations/${conversation}/messages`, { token: who.token, body: sender === 'agent' ? { text } : { text, sender } });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: number };
    };
    const m1 = await say(admin, ana.id, 'My refund for order 4711 never arrived', 'customer');
    const m2 = await say(bea, ana.id, 'Sorry! I am checking the refund now');
    const m3 = await say(admin, carlos.id, 'Quero saber o preço do plano anual', 'customer');
    const m4 = await say(sam, carlos.id, 'The refund policy is 30 days');
    return { admin, supervisor, bea, sam, ana, carlos, m1, m2, m3, m4, say };
  }

  it('answers 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [{ method: 'GET', url: '/api/v1/search?q=refund' }]);
  });

  it('finds messages by a word, newest first, each with its conversation and the message id to open it at', async () => {
    const s = await scene();
    const results = await find(s.admin.token, q({ q: 'refund' }));
    assert.deepEqual(
      results.map((r) => r.message?.id),
      [s.m4.id, s.m2.id, s.m1.id],
    );
    assert.deepEqual(
      results.map((r) => r.conversation.id),
      [s.carlos.id, s.ana.id, s.ana.id],
    );
    assert.equal(results[2]!.message!.text, 'My refund for order 4711 never arrived');
    assert.equal(results[2]!.message!.conversation_id, s.ana.id);
    assert.equal(results[2]!.conversation.customer.name, 'Ana Lima');
    // case does not matter; every word must be there; a number is a word
    assert.deepEqual((await find(s.admin.token, q({ q: 'REFUND order' }))).map((r) => r.message?.id), [s.m1.id]);
    assert.deepEqual((await find(s.admin.token, q({ q: '4711' }))).map((r) => r.message?.id), [s.m1.id]);
    // web-search syntax: a phrase, or, -word
    assert.deepEqual((await find(s.admin.token, q({ q: '"checking the refund"' }))).map((r) => r.message?.id), [s.m2.id]);
    assert.deepEqual((await find(s.admin.token, q({ q: '"refund checking"' }))).length, 0);
    assert.deepEqual((await find(s.admin.token, q({ q: 'refund -policy -sorry' }))).map((r) => r.message?.id), [s.m1.id]);
    assert.deepEqual((await find(s.admin.token, q({ q: 'preço or arrived' }))).map((r) => r.message?.id), [s.m3.id, s.m1.id]);
    // no stemming (text configuration `simple`): words are found as written, in any language
    assert.deepEqual((await find(s.admin.token, q({ q: 'refunds' }))).length, 0);
    assert.deepEqual((await find(s.admin.token, q({ q: 'PREÇO' }))).map((r) => r.message?.id), [s.m3.id]);
    assert.deepEqual(await find(s.admin.token, q({ q: 'nothing-like-this' })), []);
  });

  it('finds conversations by the customer’s name, email and id, with message null', async () => {
    const s = await scene();
    for (const term of ['Lima', 'ana lima', 'ana.lima@mail.example', 'ANA.LIMA@MAIL.EXAMPLE', 'cust-ana-7']) {
      const results = await find(s.admin.token, q({ q: term }));
      assert.deepEqual(
        results.map((r) => [r.conversation.id, r.message]),
        [[s.ana.id, null]],
        term,
      );
    }
    // a customer id that is not made of words is matched whole
    const odd = await k.open(s.admin.token, { customer: { id: '+62 (812) 555/01' }, department: 'billing' });
    assert.deepEqual((await find(s.admin.token, q({ q: '+62 (812) 555/01' }))).map((r) => r.conversation.id), [odd.id]);
    // so is the longest id a channel stores (a Qiscus customer's e-mail, 500 characters)
    const email = `${'long.name'.repeat(54)}@mail.example`;
    assert.equal(email.length, 499);
    const { conversation: long } = await startSession(k.t.ctx, { customer: { id: email } }, 3600);
    assert.deepEqual((await find(s.admin.token, q({ q: email }))).map((r) => r.conversation.id), [long.id]);
    // a customer match and message matches together, newest first
    await s.say(s.bea, s.ana.id, 'Lima is a lovely city');
    const both = await find(s.admin.token, q({ q: 'lima' }));
    assert.deepEqual(both.map((r) => r.message === null), [false, true]);
  });

  it('filters by state, agent, department and date range, and pages with limit and offset', async () => {
    const s = await scene();
    const ids = async (params: Record<string, string>) => (await find(s.admin.token, q({ q: 'refund', ...params }))).map((r) => r.message?.id);
    assert.deepEqual(await ids({ department: 'billing' }), [s.m2.id, s.m1.id]);
    assert.deepEqual(await ids({ department: 'sales' }), [s.m4.id]);
    assert.deepEqual(await ids({ agent: s.sam.agent.id }), [s.m4.id]);
    assert.deepEqual(await ids({ agent: s.bea.agent.id, department: 'sales' }), []);
    // the agent filter narrows customer matches too
    const lima = async (agent: string) => (await find(s.admin.token, q({ q: 'lima', agent }))).map((r) => [r.conversation.id, r.message]);
    assert.deepEqual(await lima(s.bea.agent.id), [[s.ana.id, null]]);
    assert.deepEqual(await lima(s.sam.agent.id), []);
    const resolved = await k.call('POST', `/api/v1/conversations/${s.carlos.id}/resolve`, { token: s.sam.token, body: {} });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.deepEqual(await ids({ state: 'resolved' }), [s.m4.id]);
    assert.deepEqual(await ids({ state: 'assigned' }), [s.m2.id, s.m1.id]);
    assert.deepEqual(await ids({ state: 'queued' }), []);
    // the date range is the time of the message: from inclusive, to exclusive
    const times = await find(s.admin.token, q({ q: 'refund' }));
    const at = (id: number) => times.find((r) => r.message?.id === id)!.message!.created_at;
    assert.deepEqual(await ids({ from: at(s.m2.id) }), [s.m4.id, s.m2.id]);
    assert.deepEqual(await ids({ to: at(s.m2.id) }), [s.m1.id]);
    assert.deepEqual(await ids({ from: at(s.m1.id), to: at(s.m4.id) }), [s.m2.id, s.m1.id]);
    // paging
    assert.deepEqual(await ids({ limit: '2' }), [s.m4.id, s.m2.id]);
    assert.deepEqual(await ids({ limit: '2', offset: '2' }), [s.m1.id]);
    assert.deepEqual(await ids({ offset: '3' }), []);
  });

  it('filters by label, whatever its case, for messages and customer matches; a rename follows', async () => {
    const s = await scene();
    const made = await k.call('POST', '/api/v1/labels', { token: s.admin.token, body: { name: 'Refunds', color: '#aa3300' } });
    assert.equal(made.statusCode, 201, made.body);
    await k.call('POST', '/api/v1/labels', { token: s.admin.token, body: { name: 'Unused', color: '#00aa33' } });
    const put = await k.call('PUT', `/api/v1/conversations/${s.ana.id}/labels`, { token: s.bea.token, body: { labels: ['refunds'] } });
    assert.equal(put.statusCode, 200, put.body);
    const ids = async (who: User, params: Record<string, string>) => (await find(who.token, q({ q: 'refund', ...params }))).map((r) => r.message?.id);
    assert.deepEqual(await ids(s.admin, { label: 'REFUNDS' }), [s.m2.id, s.m1.id]);
    assert.deepEqual(await ids(s.admin, { label: 'Unused' }), []);
    assert.deepEqual(await ids(s.admin, { label: 'Refunds', department: 'sales' }), []);
    // an agent's search keeps its scope: Sam never held Ana's conversation
    assert.deepEqual(await ids(s.bea, { label: 'Refunds' }), [s.m2.id, s.m1.id]);
    assert.deepEqual(await ids(s.sam, { label: 'Refunds' }), []);
    const customers = await find(s.admin.token, q({ q: 'lima', label: 'refunds' }));
    assert.deepEqual(customers.map((r) => [r.conversation.id, r.message]), [[s.ana.id, null]]);
    assert.deepEqual(await find(s.admin.token, q({ q: 'carlos', label: 'refunds' })), []);
    const renamed = await k.call('PATCH', `/api/v1/labels/${made.json().id}`, { token: s.admin.token, body: { name: 'Money back' } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.deepEqual(await ids(s.admin, { label: 'money back' }), [s.m2.id, s.m1.id]);
    expectError(await k.call('GET', `/api/v1/search?${q({ q: 'refund', label: 'Refunds' })}`, { token: s.admin.token }), 400, 'SB_UNKNOWN_LABEL', 'label');
  });

  it('shows a waiting conversation with its place in the queue', async () => {
    const s = await scene();
    const waiting = await k.open(s.admin.token, { customer: { id: 'cust-wait-1', name: 'Wanda Waiting' }, department: 'nobody-here' });
    assert.equal(waiting.state, 'queued');
    const [hit] = await find(s.supervisor.token, q({ q: 'wanda' }));
    assert.equal(hit!.conversation.id, waiting.id);
    assert.equal(hit!.conversation.queue_position, 1);
  });

  it('lets an agent find only conversations they hold or held; supervisors and admins find all', async () => {
    const s = await scene();
    const convs = async (who: User, term: string) => [...new Set((await find(who.token, q({ q: term }))).map((r) => r.conversation.id))].sort();
    assert.deepEqual(await convs(s.bea, 'refund'), [s.ana.id]);
    assert.deepEqual(await convs(s.sam, 'refund'), [s.carlos.id]);
    assert.deepEqual(await convs(s.bea, 'carlos'), [], 'by customer name');
    assert.deepEqual(await convs(s.bea, 'cust-carlos-9'), [], 'by customer id');
    assert.deepEqual(await convs(s.bea, 'carlos@mail.example'), [], 'by customer email');
    assert.deepEqual(await convs(s.bea, '"preço do plano"'), []);
    // filters never widen what an agent sees
    assert.deepEqual(await convs(s.bea, 'refund'), [s.ana.id]);
    assert.deepEqual((await find(s.bea.token, q({ q: 'refund', agent: s.sam.agent.id }))).length, 0);
    for (const overseer of [s.supervisor, s.admin]) assert.deepEqual(await convs(overseer, 'refund'), [s.ana.id, s.carlos.id].sort());
    // Bea transfers Ana to Sam: Sam holds it now and finds it; Bea held it and still does
    const moved = await k.call('POST', `/api/v1/conversations/${s.ana.id}/transfer`, { token: s.bea.token, body: { agent_id: s.sam.agent.id } });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.deepEqual(await convs(s.sam, 'refund'), [s.ana.id, s.carlos.id].sort());
    assert.deepEqual(await convs(s.bea, 'refund'), [s.ana.id]);
    assert.deepEqual(await convs(s.bea, 'lima'), [s.ana.id]);
    // a third agent who never held either finds nothing
    const newcomer = await k.user('agent', { status: 'online', departments: ['vip'] });
    assert.deepEqual(await find(newcomer.token, q({ q: 'refund' })), []);
    assert.deepEqual(await find(newcomer.token, q({ q: 'Ana' })), []);

    // private notes only where the agent may read the notes: a note written after Ana went to Sam is not Bea's to find
    const before = await k.call('POST', `/api/v1/conversations/${s.ana.id}/notes`, { token: s.sam.token, body: { text: 'zanzibar: the courier lost it' } });
    assert.equal(before.statusCode, 201, before.body);
    const note = await k.call('POST', `/api/v1/conversations/${s.ana.id}/notes`, { token: s.supervisor.token, body: { text: 'zanzibar: Bea promised too much, escalate' } });
    assert.equal(note.statusCode, 201, note.body);
    assert.equal((await k.call('GET', `/api/v1/conversations/${s.ana.id}/messages`, { token: s.bea.token })).statusCode, 403, 'Bea may not read the notes');
    assert.deepEqual(await find(s.bea.token, q({ q: 'zanzibar' })), []);
    assert.deepEqual(
      (await find(s.sam.token, q({ q: 'zanzibar' }))).map((r) => [r.conversation.id, r.message?.text]),
      [
        [s.ana.id, 'zanzibar: Bea promised too much, escalate'],
        [s.ana.id, 'zanzibar: the courier lost it'],
      ],
    );
    // Bea still finds the chat's messages, and the customer, as before
    assert.deepEqual(await convs(s.bea, 'refund'), [s.ana.id]);
  });

  it('indexes a message when it is written; a message with only attachments is not a hit', async () => {
    const s = await scene();
    const res = await k.call('POST', `/api/v1/conversations/${s.ana.id}/messages`, { token: s.bea.token, body: { attachments: [{ type: 'image', url: 'https://cdn.example.test/refund.png' }] } });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual((await find(s.bea.token, q({ q: 'refund' }))).map((r) => r.message?.id), [s.m2.id, s.m1.id]);
    assert.equal(await k.count('message_search'), await k.count('messages', 'text is not null'));
    const fresh = await s.say(s.bea, s.ana.id, 'kangaroo');
    assert.deepEqual((await find(s.bea.token, q({ q: 'kangaroo' }))).map((r) => r.message?.id), [fresh.id]);
  });

  it('answers 400 naming the field to a missing, empty, blank or oversized q and to bad filters, changing nothing', async () => {
    const s = await scene();
    const bad = async (query: string, field: string) => {
      const res = await k.call('GET', `/api/v1/search?${query}`, { token: s.admin.token });
      expectInvalid(res, field, query.slice(0, 60));
    };
    await k.unchanged(async () => {
      await bad('', 'q');
      await bad('q=', 'q');
      await bad('q=%20%20%20', 'q');
      await bad('q=%E2%80%8B%E3%85%A4', 'q'); // a zero-width space and a Hangul filler: nothing to see
      await bad(q({ q: 'x'.repeat(501) }), 'q');
      await bad(q({ q: 'refund', state: 'lost' }), 'state');
      await bad(q({ q: 'refund', agent: 'not-a-uuid' }), 'agent');
      await bad(q({ q: 'refund', agent: `urn:uuid:${s.ana.id}` }), 'agent');
      await bad(q({ q: 'refund', department: '' }), 'department');
      await bad(q({ q: 'refund', from: 'yesterday' }), 'from');
      await bad(q({ q: 'refund', to: '2026-13-01T00:00:00Z' }), 'to');
      await bad(q({ q: 'refund', from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' }), 'to');
      await bad(q({ q: 'refund', from: '2026-11-01T00:00:00Z', to: '2026-11-01T00:00:00Z' }), 'to');
      await bad(q({ q: 'refund', limit: '0' }), 'limit');
      await bad(q({ q: 'refund', limit: '101' }), 'limit');
      await bad(q({ q: 'refund', offset: '-1' }), 'offset');
      await bad(q({ q: 'refund', offset: '1001' }), 'offset');
      await bad(q({ q: 'refund', label: '' }), 'label');
      await bad(q({ q: 'refund', label: 'x'.repeat(201) }), 'label');
      expectError(await k.call('GET', `/api/v1/search?${q({ q: 'refund', label: 'vip' })}`, { token: s.admin.token }), 400, 'SB_UNKNOWN_LABEL', 'label');
      await bad(q({ q: 'refund\u0000' }), 'q');
    });
    // hostile words are only words
    for (const term of ["' OR '1'='1", "'; drop table messages; --", '!!! & | :* <->', '\\', '"unclosed']) {
      assert.deepEqual(await find(s.admin.token, q({ q: term })), [], term);
    }
    assert.equal(await k.count('messages'), 4);
    expectError(await k.call('GET', '/api/v1/search?q=refund', {}), 401, 'SB_UNAUTHORIZED');
  });
});
