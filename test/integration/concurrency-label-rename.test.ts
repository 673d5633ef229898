// A label rename racing a change of another label's skills on a conversation
// that carries both. The skills change recomputes the conversation's
// requirement under the routing lock; had the rename not waited for that lock
// too, the recomputation would read the rewritten labels against a catalogue
// from before the rename, drop the renamed label's skills and hand the
// conversation to an agent without them. PostgreSQL only: PGlite has one
// connection, so the two never overlap there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { updateAgent } from '../../src/agents/agents.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { storeKinds } from '../helpers/stores.js';

describe('a label rename against another label\'s skills change [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  it('keeps the renamed label\'s skills in the conversation\'s requirement, and nobody without them gets it', async () => {
    const { token: admin } = await t.user('admin');
    const { agent } = await t.user('agent', { capacity: 5 });
    const x = await t.call('POST', '/api/v1/labels', { token: admin, body: { name: 'es', color: '#112233', required_skills: { spanish: 3 } } });
    assert.equal(x.statusCode, 201, x.body);
    const y = await t.call('POST', '/api/v1/labels', { token: admin, body: { name: 'vip', color: '#112233', required_skills: { billing: 1 } } });
    assert.equal(y.statusCode, 201, y.body);
    const opened = await t.call('POST', '/api/v1/conversations', { token: admin, body: { customer: { id: 'c1' } } });
    assert.equal(opened.statusCode, 201, opened.body);
    const id = opened.json().id as string;
    const put = await t.call('PUT', `/api/v1/conversations/${id}/labels`, { token: admin, body: { labels: ['es', 'vip'] } });
    assert.equal(put.statusCode, 200, put.body);
    await updateAgent(t.ctx, agent.id, { status: 'online' }, SYSTEM);
    const before = (await store().db.query<{ state: string; required_skills: unknown }>('select state, required_skills from conversations where id = $1', [id]))[0]!;
    assert.equal(before.state, 'queued');
    assert.deepEqual(before.required_skills, { spanish: 3, billing: 1 });

    // hold the rename just before its commit (its events' insert)
    await holder().query('begin');
    await holder().query('lock table events in share mode');
    const renaming = t.call('PATCH', `/api/v1/labels/${x.json().id}`, { token: admin, body: { name: 'es2' } });
    await waitingOnLock(store().db, 'insert into events');
    const reskilling = t.call('PATCH', `/api/v1/labels/${y.json().id}`, { token: admin, body: { required_skills: {} } });
    // both wait now: the rename on the held table, the skills change on the rename (its routing lock)
    await waitingOnLock(store().db, '', 5_000, 2);
    await holder().query('commit');
    const [renamed, reskilled] = await Promise.all([renaming, reskilling]);
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(reskilled.statusCode, 200, reskilled.body);
    const after = (await store().db.query<{ state: string; agent_id: string | null; labels: string[]; required_skills: unknown }>(
      'select state, agent_id, labels, required_skills from conversations where id = $1', [id]))[0]!;
    assert.deepEqual(after.labels, ['es2', 'vip']);
    assert.deepEqual(after.required_skills, { spanish: 3 }, 'es2 still requires spanish 3');
    assert.equal(after.state, 'queued', 'nobody with spanish 3 is online');
  });
});
