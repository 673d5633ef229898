// What is kept only as history goes after its time: finished deliveries
// after DELIVERY_LOG_DAYS, dead login tokens at once. Work is never history:
// a delivery still being retried stays however old, and a live token keeps
// working.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { startRetentionSweeper } from '../../src/retention/sweeper.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore } from '../helpers/stores.js';
import { eachWebhookTest, testWorker } from '../helpers/webhook-receiver.js';

const DAY = 86_400_000;

describeEachStore('retention of delivery logs and tokens', (store) => {
  const clock = fakeClock();
  const w = eachWebhookTest(store, { now: clock.now, app: { tokenTtlSeconds: 3600 } });

  const sweeper = (deliveryLogDays: number, batch?: number) =>
    startRetentionSweeper(store().db, { deliveryLogDays, intervalMs: 3_600_000, now: clock.now, ...(batch ? { batch } : {}) }, (error) => {
      throw error;
    });

  /** The endpoint's delivery log as an admin reads it (signed in now: the clock jumps days, past any token's life). */
  async function deliveries(webhookId: string): Promise<Array<{ id: number; state: string }>> {
    const { token } = await w.t.user('admin');
    const res = await w.t.call('GET', `/api/v1/webhooks/${webhookId}/deliveries?limit=200`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  it('deletes finished deliveries older than DELIVERY_LOG_DAYS with their attempts, keeps newer ones and every one still retrying', async () => {
    const endpoint = await w.endpoint({ events: ['conversation.created'] });
    const worker = testWorker(w.ctx);

    // day 0: one delivered, one its receiver keeps refusing (retried for days)
    w.receivers[0]!.answer = (r) => ({ status: JSON.stringify(r.json).includes('old-retrying') ? 503 : 204 });
    await openConversation(w.ctx, { customer: { id: 'old-delivered' } });
    await openConversation(w.ctx, { customer: { id: 'old-retrying' } });
    await worker.tick();
    // day 29: one more delivered (and the refused one tried again)
    clock.advance(29 * DAY);
    await openConversation(w.ctx, { customer: { id: 'recent' } });
    await worker.tick();
    const before = await deliveries(endpoint.id);
    assert.deepEqual(before.map((d) => d.state).sort(), ['delivered', 'delivered', 'pending']);
    const oldest = Math.min(...before.map((d) => d.id));

    clock.advance(2 * DAY); // day 31
    const swept = await sweeper(30).pass();

    const after = await deliveries(endpoint.id);
    assert.deepEqual(
      after.map((d) => d.id),
      before.map((d) => d.id).filter((id) => id !== oldest),
      'the old delivered one goes; the one still retrying and the recent one stay',
    );
    assert.equal(swept.outbound, 1);
    const res = await w.t.call('GET', `/api/v1/deliveries/${oldest}`, { token: (await w.t.user('admin')).token });
    assert.equal(res.statusCode, 404);
    const [{ n } = { n: -1 }] = await store().db.query<{ n: number }>('select count(*)::int as n from outbound_attempts where request_id = $1', [oldest]);
    assert.equal(n, 0, 'its attempts went with it');
  });

  it('keeps every delivery with DELIVERY_LOG_DAYS=0, and works through more than one batch', async () => {
    const endpoint = await w.endpoint({ events: ['conversation.created'] });
    const worker = testWorker(w.ctx);
    for (let i = 0; i < 5; i++) await openConversation(w.ctx, { customer: { id: `c${i}` } });
    await worker.tick();
    assert.equal((await deliveries(endpoint.id)).length, 5);
    clock.advance(400 * DAY);
    assert.equal((await sweeper(0).pass()).outbound, 0);
    assert.equal((await deliveries(endpoint.id)).length, 5);
    assert.equal((await sweeper(30, 2).pass()).outbound, 5);
    assert.equal((await deliveries(endpoint.id)).length, 0);
  });

  it('deletes expired and revoked login tokens; a live one still signs in', async () => {
    const live = await w.t.user('agent');
    const revoked = await w.t.user('agent');
    assert.equal((await w.t.call('POST', '/api/v1/auth/logout', { token: revoked.token })).statusCode, 204);
    clock.advance(30 * 60_000);
    const expiring = await w.t.user('agent');
    clock.advance(31 * 60_000); // the first two were issued 61 minutes ago: expired (TTL 1 h), the third has 29 minutes left
    const kept = await w.t.user('admin');
    const { tokens } = await sweeper(30).pass();
    assert.equal(tokens, 2, 'the revoked one and the expired one');
    const [{ n } = { n: -1 }] = await store().db.query<{ n: number }>('select count(*)::int as n from auth_tokens');
    assert.equal(n, 2);
    for (const token of [expiring.token, kept.token]) {
      assert.equal((await w.t.call('GET', '/api/v1/agents/me', { token })).statusCode, 200);
    }
    assert.equal((await w.t.call('GET', '/api/v1/agents/me', { token: live.token })).statusCode, 401);
  });
});
