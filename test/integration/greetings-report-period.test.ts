// GET /api/v1/reports/greetings: per greeting "the visitors it was shown to in
// the period and, of those, how many started a chat" (docs/api.md). A chat
// opened just after midnight by a visitor shown the greeting just before
// counts on the day they were shown it, so an open rate never passes 100%
// and consecutive periods add up to the period that spans them.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('greetings report across a period boundary', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(Date.parse('2026-03-01T23:59:00Z'));
  });

  const report = async (token: string, from: string, to: string) => {
    const res = await k.call('GET', `/api/v1/reports/greetings?from=${from}&to=${to}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { rows: { greeting_id: string; shown: number; opened: number; open_rate: number | null }[]; total: { shown: number; opened: number; open_rate: number | null } };
  };

  it('counts an opened chat in the period its visitor was shown the greeting, never more opened than shown', async () => {
    const admin = await k.user('admin');
    const created = await k.call('POST', '/api/v1/greetings', { token: admin.token, body: { name: 'Hi', message: 'Hello', trigger: {} } });
    assert.equal(created.statusCode, 201, created.body);
    const post = async (kind: 'shown' | 'opened', visitor: string) => {
      const res = await k.call('POST', `/api/v1/greetings/${created.json().id}/events`, { body: { kind, visitor_id: visitor } });
      assert.equal(res.statusCode, 200, res.body);
    };
    // two visitors shown it on March 1st, just before midnight
    await post('shown', 'visitor-one');
    await post('shown', 'visitor-two');
    // both open a chat two minutes later, on March 2nd; a third visitor is shown it then and never opens one
    k.clock.set(Date.parse('2026-03-02T00:01:00Z'));
    await post('opened', 'visitor-one');
    await post('opened', 'visitor-two');
    await post('shown', 'visitor-three');

    assert.deepEqual((await report(admin.token, '2026-03-01', '2026-03-02')).total, { shown: 2, opened: 2, open_rate: 100 });
    const second = await report(admin.token, '2026-03-02', '2026-03-03');
    assert.deepEqual(second.total, { shown: 1, opened: 0, open_rate: 0 });
    assert.deepEqual(second.rows.map((r) => [r.shown, r.opened, r.open_rate]), [[1, 0, 0]]);
    assert.deepEqual((await report(admin.token, '2026-03-01', '2026-03-03')).total, { shown: 3, opened: 2, open_rate: 66.7 }, 'the two days add up');
  });
});
