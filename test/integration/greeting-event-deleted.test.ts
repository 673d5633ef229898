// POST /api/v1/greetings/:id/events (anyone, the widget) for a greeting an
// admin deletes at that moment: 404 SB_NOT_FOUND, as for a greeting that does
// not exist (docs/api.md), and nothing counted; not a 500 from the insert's
// foreign key meeting the committed delete. The race needs a second
// connection holding the delete open (PostgreSQL); on both stores, a post
// after the delete.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eachTestApp, testApp, type TestApp } from '../helpers/app.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

const GREETING = { name: 'Hi', message: 'Hello there', trigger: {} };

async function aGreeting(t: TestApp): Promise<string> {
  const { token } = await t.user('admin');
  const created = await t.call('POST', '/api/v1/greetings', { token, body: GREETING });
  assert.equal(created.statusCode, 201, created.body);
  return created.json().id as string;
}

function assertNotFound(res: { statusCode: number; body: string; json(): { error: { code: string } } }) {
  assert.equal(res.statusCode, 404, res.body);
  assert.equal(res.json().error.code, 'SB_NOT_FOUND');
}

describe('a greeting event while the greeting is deleted in another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  for (const kind of ['shown', 'opened'] as const) {
    it(`answers a "${kind}" that waited for the delete with 404 SB_NOT_FOUND and counts nothing`, async () => {
      const id = await aGreeting(t);
      if (kind === 'opened') assert.equal((await t.call('POST', `/api/v1/greetings/${id}/events`, { body: { kind: 'shown', visitor_id: 'v-12345678' } })).statusCode, 200);
      // the admin's delete, not yet committed
      await holder().query('begin');
      await holder().query('delete from greetings where id = $1', [id]);
      const posted = t.call('POST', `/api/v1/greetings/${id}/events`, { body: { kind, visitor_id: 'v-12345678' } });
      await waitingOnLock(store().db, 'greeting_events');
      await holder().query('commit');
      assertNotFound(await posted);
      const [row] = await store().db.query<{ n: number }>('select count(*)::int as n from greeting_events');
      assert.equal(row!.n, 0);
    });
  }
});

describeEachStore('a greeting event after the greeting was deleted', (store) => {
  const t = eachTestApp(store);

  it('answers 404 SB_NOT_FOUND for "shown" and "opened" alike', async () => {
    const id = await aGreeting(t());
    assert.equal((await t().call('POST', `/api/v1/greetings/${id}/events`, { body: { kind: 'shown', visitor_id: 'v-12345678' } })).statusCode, 200);
    const { token } = await t().user('admin');
    assert.equal((await t().call('DELETE', `/api/v1/greetings/${id}`, { token })).statusCode, 204);
    for (const kind of ['shown', 'opened']) assertNotFound(await t().call('POST', `/api/v1/greetings/${id}/events`, { body: { kind, visitor_id: 'v-12345678' } }));
  });
});
