// Canned responses: GET/POST /api/v1/canned-responses, PATCH/DELETE
// /api/v1/canned-responses/:id — shared ones for admins and supervisors to
// manage, personal ones for their owner only.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, UNKNOWN_ID } from '../helpers/api-kit.js';
import { afterEachStatement } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: canned responses', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const create = (token: string, body: unknown) => k.call('POST', '/api/v1/canned-responses', { token, body });
  const list = async (token: string, query = '') => {
    const res = await k.call('GET', `/api/v1/canned-responses${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { shortcut: string; scope: string }[]).map((c) => `${c.scope}:${c.shortcut}`);
  };

  it('the canned-response routes answer 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'GET', url: '/api/v1/canned-responses' },
      { method: 'POST', url: '/api/v1/canned-responses', body: { shortcut: 'hi', text: 'Hello', scope: 'personal' } },
      { method: 'PATCH', url: `/api/v1/canned-responses/${UNKNOWN_ID}`, body: { text: 'x' } },
      { method: 'DELETE', url: `/api/v1/canned-responses/${UNKNOWN_ID}` },
    ]);
  });

  it('supervisors and admins add shared ones that everyone lists; each agent lists only their own personal ones', async () => {
    const { admin, supervisor, agent, other } = await k.cast();
    const shared = await create(supervisor.token, { shortcut: 'hello', text: 'Hello {{customer.name}}, I am {{agent.name}}.', scope: 'shared' });
    assert.equal(shared.statusCode, 201, shared.body);
    assert.deepEqual([shared.json().scope, shared.json().owner_id], ['shared', null]);
    assert.equal((await create(admin.token, { shortcut: 'bye', text: 'Goodbye!', scope: 'shared' })).statusCode, 201);
    const mine = await create(agent.token, { shortcut: 'refund', text: 'Your refund is on its way.', scope: 'personal' });
    assert.equal(mine.statusCode, 201, mine.body);
    assert.equal(mine.json().owner_id, agent.agent.id);
    // the same shortcut, personal to someone else: no clash
    assert.equal((await create(other.token, { shortcut: 'refund', text: 'Refunds take 5 days.', scope: 'personal' })).statusCode, 201);
    assert.deepEqual(await list(agent.token), ['shared:bye', 'shared:hello', 'personal:refund']);
    assert.deepEqual(await list(admin.token), ['shared:bye', 'shared:hello']);
    assert.deepEqual(await list(agent.token, '?scope=personal'), ['personal:refund']);
    assert.deepEqual(await list(agent.token, '?q=WAY'), ['personal:refund']);
    assert.deepEqual(await list(agent.token, '?q=he'), ['shared:hello']);
  });

  it('an agent gets 403 for shared ones, a duplicate shortcut 409, bad input 400; nothing changes', async () => {
    const { supervisor, agent } = await k.cast();
    const shared = (await create(supervisor.token, { shortcut: 'hello', text: 'Hello', scope: 'shared' })).json();
    const mine = (await create(agent.token, { shortcut: 'mine', text: 'Mine', scope: 'personal' })).json();
    await k.unchanged(async () => {
      expectError(await create(agent.token, { shortcut: 'x', text: 'x', scope: 'shared' }), 403, 'SB_FORBIDDEN');
      // who may comes before what: a blank text does not turn the refusal into a 400
      expectError(await create(agent.token, { shortcut: 'x', text: '  ', scope: 'shared' }), 403, 'SB_FORBIDDEN');
      expectError(await k.call('PATCH', `/api/v1/canned-responses/${shared.id}`, { token: agent.token, body: { text: '  ' } }), 403, 'SB_FORBIDDEN');
      expectInvalid(await k.call('PATCH', `/api/v1/canned-responses/${mine.id}`, { token: agent.token, body: { text: '  ' } }), 'text');
      expectError(await k.call('PATCH', `/api/v1/canned-responses/${shared.id}`, { token: agent.token, body: { text: 'changed' } }), 403, 'SB_FORBIDDEN');
      expectError(await k.call('DELETE', `/api/v1/canned-responses/${shared.id}`, { token: agent.token }), 403, 'SB_FORBIDDEN');
      expectError(await create(supervisor.token, { shortcut: 'HELLO', text: 'again', scope: 'shared' }), 409, 'SB_SHORTCUT_TAKEN');
      expectError(await create(agent.token, { shortcut: 'Mine', text: 'again', scope: 'personal' }), 409, 'SB_SHORTCUT_TAKEN');
      expectError(await k.call('PATCH', `/api/v1/canned-responses/${UNKNOWN_ID}`, { token: agent.token, body: { text: 'x' } }), 404, 'SB_NOT_FOUND');
      expectInvalid(await create(agent.token, { shortcut: 'has space', text: 'x', scope: 'personal' }), 'shortcut');
      expectInvalid(await create(agent.token, { shortcut: '/slash', text: 'x', scope: 'personal' }), 'shortcut');
      expectInvalid(await create(agent.token, { shortcut: 'ok', text: '', scope: 'personal' }), 'text');
      expectInvalid(await create(agent.token, { shortcut: 'ok', text: 'x', scope: 'team' }), 'scope');
      expectInvalid(await create(agent.token, { shortcut: 'ok', text: 'x' }), 'scope');
      expectInvalid(await k.call('PATCH', `/api/v1/canned-responses/${mine.id}`, { token: agent.token, body: {} }), 'body');
    });
  });

  it('an agent holds at most 500 personal ones and there are at most 1000 shared: one more is 422 SB_CANNED_LIMIT, even sent at once; a delete makes room', async () => {
    const { supervisor, agent, other } = await k.cast();
    const fill = (owner: string | null, n: number) =>
      store().db.query(
        `insert into canned_responses (scope, owner_id, shortcut, text, created_at, updated_at)
         select $1, $2, 'filled' || i, 'Answer ' || i, now(), now() from generate_series(1, $3::int) as i`,
        [owner === null ? 'shared' : 'personal', owner, n],
      );
    await fill(agent.agent.id, 497);
    // Three free places, five asking for them at once: three get one. Each
    // create waits after its count for the others to have counted too (up to
    // 300 ms: under the lock they cannot), so none may insert on a stale count.
    const ctx = k.t.ctx;
    const db = ctx.db;
    let counted = 0;
    ctx.db = afterEachStatement(db, async (text) => {
      if (!/count\(\*\)/.test(text)) return;
      counted += 1;
      for (let waited = 0; counted < 5 && waited < 300; waited += 10) await new Promise((r) => setTimeout(r, 10));
    });
    let sent;
    try {
      sent = await Promise.all([1, 2, 3, 4, 5].map((i) => create(agent.token, { shortcut: `rush${i}`, text: 'Rushed', scope: 'personal' })));
    } finally {
      ctx.db = db;
    }
    assert.deepEqual(sent.map((r) => r.statusCode).sort(), [201, 201, 201, 422, 422]);
    assert.equal(await k.count('canned_responses', `owner_id = '${agent.agent.id}'`), 500);
    await k.unchanged(async () => {
      const refused = await create(agent.token, { shortcut: 'one-more', text: 'One more', scope: 'personal' });
      expectError(refused, 422, 'SB_CANNED_LIMIT', 'scope');
      assert.match(refused.json().error.message, /500 personal canned responses/);
    });
    // another agent's are their own
    assert.equal((await create(other.token, { shortcut: 'one-more', text: 'One more', scope: 'personal' })).statusCode, 201);
    const [oldest] = await store().db.query<{ id: string }>(`select id from canned_responses where owner_id = $1 and shortcut = 'filled1'`, [agent.agent.id]);
    assert.equal((await k.call('DELETE', `/api/v1/canned-responses/${oldest!.id}`, { token: agent.token })).statusCode, 204);
    assert.equal((await create(agent.token, { shortcut: 'one-more', text: 'One more', scope: 'personal' })).statusCode, 201);

    await fill(null, 1000);
    await k.unchanged(async () => expectError(await create(supervisor.token, { shortcut: 'shared-more', text: 'More', scope: 'shared' }), 422, 'SB_CANNED_LIMIT', 'scope'));
  });

  it("someone else's personal ones do not exist for you, an admin included: 404, nothing changes", async () => {
    const { admin, supervisor, agent, other } = await k.cast();
    const mine = (await create(agent.token, { shortcut: 'mine', text: 'Mine', scope: 'personal' })).json();
    await k.unchanged(async () => {
      for (const who of [other, supervisor, admin]) {
        expectError(await k.call('PATCH', `/api/v1/canned-responses/${mine.id}`, { token: who.token, body: { text: 'taken over' } }), 404, 'SB_NOT_FOUND');
        expectError(await k.call('PATCH', `/api/v1/canned-responses/${mine.id}`, { token: who.token, body: { text: ' ' } }), 404, 'SB_NOT_FOUND');
        expectError(await k.call('DELETE', `/api/v1/canned-responses/${mine.id}`, { token: who.token }), 404, 'SB_NOT_FOUND');
        assert.deepEqual(await list(who.token), []);
      }
    });
  });

  it('owners edit and delete their personal ones; supervisors and admins the shared ones; a rename onto a taken shortcut is 409', async () => {
    const { admin, supervisor, agent } = await k.cast();
    const shared = (await create(supervisor.token, { shortcut: 'hello', text: 'Hello', scope: 'shared' })).json();
    await create(supervisor.token, { shortcut: 'bye', text: 'Bye', scope: 'shared' });
    const mine = (await create(agent.token, { shortcut: 'mine', text: 'Mine', scope: 'personal' })).json();
    const edited = await k.call('PATCH', `/api/v1/canned-responses/${mine.id}`, { token: agent.token, body: { shortcut: 'thanks', text: 'Thank you!' } });
    assert.equal(edited.statusCode, 200, edited.body);
    assert.deepEqual([edited.json().shortcut, edited.json().text], ['thanks', 'Thank you!']);
    assert.equal((await k.call('PATCH', `/api/v1/canned-responses/${shared.id}`, { token: admin.token, body: { text: 'Hi!' } })).json().text, 'Hi!');
    await k.unchanged(async () => {
      expectError(await k.call('PATCH', `/api/v1/canned-responses/${shared.id}`, { token: admin.token, body: { shortcut: 'BYE' } }), 409, 'SB_SHORTCUT_TAKEN');
    });
    assert.equal((await k.call('DELETE', `/api/v1/canned-responses/${mine.id}`, { token: agent.token })).statusCode, 204);
    assert.equal((await k.call('DELETE', `/api/v1/canned-responses/${shared.id}`, { token: supervisor.token })).statusCode, 204);
    assert.deepEqual(await list(agent.token), ['shared:bye']);
  });
});
