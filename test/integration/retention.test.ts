// What is kept only as history goes after its time: finished deliveries
// after DELIVERY_LOG_DAYS, dead login tokens at once. Work is never history:
// a delivery still being retried stays however old, and a live token keeps
// working.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { startRetentionSweeper } from '../../src/retention/sweeper.js';
import type { Db } from '../../src/store/db.js';
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

  /** `n` finished deliveries made `days` ago, in one statement. */
  const history = async (n: number, days: number) => {
    await store().db.query(
      `insert into outbound_requests (producer, message_id, name, url, body, state, max_attempts, next_attempt_at, created_at)
       select 'webhook', 'old-' || g, 'conversation.created', 'https://93.184.215.14/hook', '{}'::bytea, 'delivered', 1, $2, $2
         from generate_series(1, $1::int) g`,
      [n, new Date(clock.now().getTime() - days * DAY)],
    );
  };
  const left = async () => (await store().db.query<{ n: number }>('select count(*)::int as n from outbound_requests'))[0]!.n;

  it('deletes a backlog of 25,000 old deliveries in one pass, batch after batch; on PGlite the table is vacuumed after', async () => {
    await history(25_000, 31);
    // a pass stopped at 20 batches of 1,000: 20,000 rows every 10 minutes was the most history could go at, for ever (found by review)
    assert.deepEqual(await sweeper(30).pass(), { outbound: 25_000, tokens: 0 });
    assert.equal(await left(), 0);
    if (store().kind === 'pglite') {
      // no autovacuum: the pass's VACUUM gives the empty pages back
      const [{ size } = { size: -1 }] = await store().db.query<{ size: number }>("select pg_relation_size('outbound_requests')::int as size");
      assert.equal(size, 0);
    }
  });

  it('stop() ends a pass after the batch in hand', async () => {
    await history(25_000, 31);
    const db = store().db;
    let batches = 0;
    let stopped: Promise<void> | undefined;
    const counting: Db = {
      ...db,
      async query(text, params) {
        const rows = await db.query(text, params);
        if (text.includes('delete from outbound_requests') && ++batches === 3) stopped = running.stop();
        return rows as never;
      },
    };
    const running = startRetentionSweeper(counting, { deliveryLogDays: 30, intervalMs: 5, now: clock.now }, (error) => {
      throw error;
    });
    while (stopped === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    await stopped;
    assert.equal(batches, 3);
    assert.equal(await left(), 22_000);
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
