// Labels: the catalogue (GET/POST/PATCH/DELETE /api/v1/labels), a
// conversation's labels (PUT /api/v1/conversations/:id/labels), the label=
// filter of GET /api/v1/conversations and GET /api/v1/stats/labels.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, UNKNOWN_ID, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: labels', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const create = (token: string, body: unknown) => k.call('POST', '/api/v1/labels', { token, body });
  const put = (token: string, id: string, labels: unknown) => k.call('PUT', `/api/v1/conversations/${id}/labels`, { token, body: { labels } });
  const list = async (token: string, query: string) => {
    const res = await k.call('GET', `/api/v1/conversations${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { id: string }[]).map((c) => c.id);
  };

  async function scene() {
    const cast = await k.cast({ agentCapacity: 2 });
    const vip = (await create(cast.admin.token, { name: 'VIP', color: '#FFAA00' })).json();
    const refund = (await create(cast.admin.token, { name: 'refund', color: '#3366cc' })).json();
    const c = await k.open(cast.admin.token);
    const owner: User = c.agent_id === cast.agent.agent.id ? cast.agent : cast.other;
    const outsider: User = owner === cast.agent ? cast.other : cast.agent;
    return { ...cast, vip, refund, c, owner, outsider };
  }

  it('the label routes answer 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'GET', url: '/api/v1/labels' },
      { method: 'POST', url: '/api/v1/labels', body: { name: 'x', color: '#000000' } },
      { method: 'PATCH', url: `/api/v1/labels/${UNKNOWN_ID}`, body: { color: '#000000' } },
      { method: 'DELETE', url: `/api/v1/labels/${UNKNOWN_ID}` },
      { method: 'PUT', url: `/api/v1/conversations/${UNKNOWN_ID}/labels`, body: { labels: [] } },
      { method: 'GET', url: '/api/v1/stats/labels' },
    ]);
  });

  it('admins keep the catalogue (colour in lower case, names unique whatever their case); every agent reads it; others get 403', async () => {
    const { admin, supervisor, agent, vip } = await scene();
    assert.deepEqual([vip.name, vip.color], ['VIP', '#ffaa00']);
    const seen = (await k.call('GET', '/api/v1/labels', { token: agent.token })).json();
    assert.deepEqual(seen.map((l: { name: string }) => l.name), ['refund', 'VIP']);
    await k.unchanged(async () => {
      expectError(await create(admin.token, { name: 'vip', color: '#000000' }), 409, 'SB_LABEL_EXISTS');
      for (const who of [supervisor, agent]) expectError(await create(who.token, { name: 'new', color: '#000000' }), 403, 'SB_FORBIDDEN');
      expectError(await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: supervisor.token, body: { color: '#000000' } }), 403, 'SB_FORBIDDEN');
      expectInvalid(await create(admin.token, { name: 'x', color: 'red' }), 'color');
      expectInvalid(await create(admin.token, { name: 'a;b', color: '#000000' }), 'name');
      expectInvalid(await create(admin.token, { name: ' padded', color: '#000000' }), 'name');
      expectInvalid(await create(admin.token, { name: '', color: '#000000' }), 'name');
      expectError(await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { name: 'REFUND' } }), 409, 'SB_LABEL_EXISTS');
      expectError(await k.call('PATCH', `/api/v1/labels/${UNKNOWN_ID}`, { token: admin.token, body: { color: '#000000' } }), 404, 'SB_NOT_FOUND');
      expectError(await k.call('DELETE', `/api/v1/labels/${UNKNOWN_ID}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    });
  });

  it("PUT /labels replaces a conversation's labels, carries them in REST answers and records conversation.labels_changed with what changed", async () => {
    const { c, owner, vip, refund } = await scene();
    const res = await put(owner.token, c.id, ['vip', 'refund']);
    assert.equal(res.statusCode, 200, res.body);
    // the catalogue's spelling, in its order
    assert.deepEqual(res.json().labels, ['refund', 'VIP']);
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: owner.token })).json().labels, ['refund', 'VIP']);
    assert.equal((await put(owner.token, c.id, ['refund'])).statusCode, 200);
    // no change, no event
    assert.equal((await put(owner.token, c.id, ['Refund'])).statusCode, 200);
    const events = await store().db.query<{ agent_id: string; data: { labels: { name: string; color: string }[]; added: string[]; removed: string[]; conversation: { labels: string[] } } }>(
      `select agent_id, data from events where type = 'conversation.labels_changed' and conversation_id = $1 order by id`,
      [c.id],
    );
    assert.equal(events.length, 2);
    assert.equal(events[0]!.agent_id, owner.agent.id);
    assert.deepEqual(events[0]!.data.labels.map((l) => [l.name, l.color]), [['refund', refund.color], ['VIP', vip.color]]);
    assert.deepEqual([events[0]!.data.added, events[0]!.data.removed, events[0]!.data.conversation.labels], [['refund', 'VIP'], [], ['refund', 'VIP']]);
    assert.deepEqual([events[1]!.data.added, events[1]!.data.removed, events[1]!.data.conversation.labels], [[], ['VIP'], ['refund']]);
    // later conversation events carry the labels too
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: owner.token, body: {} })).statusCode, 200);
    const [resolved] = await store().db.query<{ data: { conversation: { labels: string[] } } }>(`select data from events where type = 'conversation.resolved' and conversation_id = $1`, [c.id]);
    assert.deepEqual(resolved!.data.conversation.labels, ['refund']);
  });

  it("PUT /labels with an unknown label answers 400 naming it, on another agent's conversation 403, and changes nothing", async () => {
    const { c, owner, outsider } = await scene();
    assert.equal((await put(owner.token, c.id, ['VIP'])).statusCode, 200);
    await k.unchanged(async () => {
      const unknown = await put(owner.token, c.id, ['VIP', 'no-such-label']);
      expectError(unknown, 400, 'SB_UNKNOWN_LABEL', 'labels');
      assert.match(unknown.json().error.message, /"no-such-label"/);
      expectError(await put(outsider.token, c.id, ['refund']), 403, 'SB_FORBIDDEN');
      expectError(await put(owner.token, UNKNOWN_ID, ['refund']), 404, 'SB_NOT_FOUND');
      expectInvalid(await put(owner.token, MALFORMED_ID, ['refund']), 'id');
      expectInvalid(await put(owner.token, c.id, ['VIP', 'VIP']), 'labels');
      expectInvalid(await put(owner.token, c.id, 'VIP'), 'labels');
    });
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: owner.token })).json().labels, ['VIP']);
  });

  it("refuses another agent's conversation, and an unknown one, before taking the routing lock every assignment waits on", async () => {
    const { c, owner, outsider } = await scene();
    const db = k.t.ctx.db;
    const transaction = db.transaction;
    const locked: unknown[] = [];
    db.transaction = ((fn, options) => {
      if (options?.locks?.length) locked.push(options.locks);
      return transaction.call(db, fn, options);
    }) as typeof db.transaction;
    try {
      await k.unchanged(async () => {
        expectError(await put(outsider.token, c.id, ['refund']), 403, 'SB_FORBIDDEN');
        expectError(await put(outsider.token, UNKNOWN_ID, ['refund']), 404, 'SB_NOT_FOUND');
      });
      assert.deepEqual(locked, []);
      // (the owner's change takes it: the conversation is open)
      assert.equal((await put(owner.token, c.id, ['refund'])).statusCode, 200);
      assert.equal(locked.length, 1);
    } finally {
      db.transaction = transaction;
    }
  });

  it('GET /conversations?label= lists only conversations carrying it (whatever its case); an unknown label is a 400', async () => {
    const { admin, c, owner } = await scene();
    const other = await k.open(admin.token);
    assert.equal((await put(admin.token, c.id, ['VIP'])).statusCode, 200);
    assert.equal((await put(admin.token, other.id, ['refund'])).statusCode, 200);
    assert.deepEqual(await list(admin.token, '?label=vip'), [c.id]);
    assert.deepEqual(await list(admin.token, '?label=refund'), [other.id]);
    // an agent's listing stays their own
    assert.deepEqual(await list(owner.token, '?label=refund'), other.agent_id === owner.agent.id ? [other.id] : []);
    expectError(await k.call('GET', '/api/v1/conversations?label=nope', { token: admin.token }), 400, 'SB_UNKNOWN_LABEL', 'label');
  });

  it('renaming a label renames it on its conversations; deleting it takes it off them', async () => {
    const { admin, c, vip } = await scene();
    assert.equal((await put(admin.token, c.id, ['VIP', 'refund'])).statusCode, 200);
    const renamed = await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { name: 'Gold' } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token })).json().labels, ['Gold', 'refund'], 'in the catalogue\'s order by name');
    assert.deepEqual(await list(admin.token, '?label=gold'), [c.id]);
    assert.equal((await k.call('DELETE', `/api/v1/labels/${vip.id}`, { token: admin.token })).statusCode, 204);
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token })).json().labels, ['refund']);
  });

  it('renames and deletes racing PUTs leave every conversation with catalogue names only (no deadlock, nothing stale)', async () => {
    const { admin, vip, refund } = await scene();
    const conversations = [];
    for (let i = 0; i < 6; i++) conversations.push(await k.open(admin.token));
    const extra = (await create(admin.token, { name: 'temp', color: '#000000' })).json();
    const calls: Promise<unknown>[] = [];
    for (let round = 0; round < 4; round++) {
      for (const c of conversations) calls.push(put(admin.token, c.id, round % 2 === 0 ? ['VIP', 'refund', 'temp'] : ['refund']));
      calls.push(k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { name: `VIP${round}` } }));
    }
    calls.push(k.call('DELETE', `/api/v1/labels/${extra.id}`, { token: admin.token }));
    const answers = (await Promise.all(calls)) as { statusCode: number }[];
    // a PUT naming a label renamed or deleted meanwhile is refused whole; nothing else fails
    assert.ok(answers.every((a) => a.statusCode === 200 || a.statusCode === 204 || a.statusCode === 400), answers.map((a) => a.statusCode).join(','));
    const catalogue = new Set((await store().db.query<{ name: string }>('select name from labels')).map((r) => r.name));
    const rows = await store().db.query<{ labels: string[] }>('select labels from conversations');
    for (const row of rows) for (const name of row.labels) assert.ok(catalogue.has(name), `${name} is not in the catalogue`);
    assert.ok(catalogue.has(refund.name));
  });

  it('GET /stats/labels counts open and all conversations per label, zeros included, for supervisors and admins only', async () => {
    const { admin, supervisor, agent, c } = await scene();
    const other = await k.open(admin.token);
    await put(admin.token, c.id, ['VIP', 'refund']);
    await put(admin.token, other.id, ['refund']);
    await k.call('POST', `/api/v1/conversations/${other.id}/resolve`, { token: admin.token, body: {} });
    await create(admin.token, { name: 'unused', color: '#000000' });
    const stats = await k.call('GET', '/api/v1/stats/labels', { token: supervisor.token });
    assert.equal(stats.statusCode, 200, stats.body);
    assert.deepEqual(stats.json().map((s: { name: string; open: number; total: number }) => [s.name, s.open, s.total]), [['refund', 1, 2], ['unused', 0, 0], ['VIP', 1, 1]]);
    expectError(await k.call('GET', '/api/v1/stats/labels', { token: agent.token }), 403, 'SB_FORBIDDEN');
  });
});
