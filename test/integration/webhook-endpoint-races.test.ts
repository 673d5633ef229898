// An admin's change to a webhook endpoint racing the outbox in another
// process: a fan-out page open while the URL changes, a worker's record of
// a batch while the endpoint is deleted. PostgreSQL only: on PGlite one
// connection runs one transaction at a time, and neither race exists.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { enqueue, record, type AttemptRecord } from '../../src/events/outbound/outbox.js';
import { createEndpoint } from '../../src/events/webhooks/endpoints.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { eachTestWithLockHolder, settledOrWaiting, waitingOnLock } from '../helpers/lock-waits.js';
import { pauseAfter } from '../helpers/statement-hook.js';
import { storeKinds } from '../helpers/stores.js';

const policy = { allowPrivate: true };
const delivered = (id: number): AttemptRecord => ({
  id,
  attemptsBefore: 0,
  startedAt: new Date(),
  durationMs: 5,
  status: 200,
  excerpt: 'ok',
  error: null,
  requestHeaders: {},
  outcome: 'delivered',
  nextAttemptAt: null,
});

describe('webhook endpoint changes racing the outbox [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  it('a new URL saved while a fan-out page is open: the page’s deliveries go to the new URL too', async () => {
    const admin = await t.user('admin');
    const { endpoint } = await createEndpoint(t.ctx, { url: 'https://93.184.215.14/old', events: ['conversation.created'] }, null, policy);
    await openConversation(t.ctx, { customer: { id: 'race-1' } });
    // the page has read the endpoints (old URL) and not yet written its deliveries
    const paused = pauseAfter(store().db, /^select id, url, events, verify_ssl/);
    const fanning = fanOut({ ...t.ctx, db: paused.db });
    await paused.arrived;
    const patching = t.call('PATCH', `/api/v1/webhooks/${endpoint.id}`, { token: admin.token, body: { url: 'https://93.184.215.14/new' } });
    // the change waits for the page, or (before) went through beside it
    await settledOrWaiting(store().db, 'outbox_cursors', patching);
    paused.resume();
    assert.ok((await fanning).deliveries > 0);
    const patched = await patching;
    assert.equal(patched.statusCode, 200, patched.body);
    const rows = await store().db.query<{ url: string; state: string }>('select url, state from outbound_requests');
    assert.deepEqual(
      rows.map((r) => [r.url, r.state]),
      [['https://93.184.215.14/new', 'pending']],
      'the delivery the page wrote waits for the new URL, not the one the admin left',
    );
  });

  it("an endpoint deleted while a fan-out page is open waits for the page: the other endpoints' deliveries are written, the deleted one's go with it", async () => {
    const admin = await t.user('admin');
    const { endpoint: gone } = await createEndpoint(t.ctx, { url: 'https://93.184.215.14/gone', events: ['conversation.created'] }, null, policy);
    await createEndpoint(t.ctx, { url: 'https://93.184.215.14/kept', events: ['conversation.created'] }, null, policy);
    await openConversation(t.ctx, { customer: { id: 'race-delete' } });
    const paused = pauseAfter(store().db, /^select id, url, events, verify_ssl/);
    const fanning = fanOut({ ...t.ctx, db: paused.db });
    await paused.arrived;
    const deleting = t.call('DELETE', `/api/v1/webhooks/${gone.id}`, { token: admin.token });
    // before, the delete went through beside the page, whose insert then broke on the foreign key, for every endpoint
    await settledOrWaiting(store().db, 'outbox_cursors', deleting);
    paused.resume();
    assert.equal((await fanning).deliveries, 2);
    assert.equal((await deleting).statusCode, 204);
    const rows = await store().db.query<{ url: string }>('select url from outbound_requests');
    assert.deepEqual(rows.map((r) => r.url), ['https://93.184.215.14/kept']);
  });

  it("an endpoint deleted while a worker records a batch holding one of its deliveries: the batch's others are recorded", async () => {
    const admin = await t.user('admin');
    const e = (await createEndpoint(t.ctx, { url: 'http://127.0.0.1:9/e', events: ['conversation.created'] }, null, policy)).endpoint;
    const f = (await createEndpoint(t.ctx, { url: 'http://127.0.0.1:9/f', events: ['conversation.created'] }, null, policy)).endpoint;
    const row = (endpointId: string, n: number) => ({
      producer: 'webhook',
      endpointId,
      messageId: `m${n}`,
      name: 'conversation.created',
      url: 'http://127.0.0.1:9/x',
      body: Buffer.from('{}'),
      maxAttempts: 10,
    });
    const [e1, e2, f1] = await enqueue(store().db, [row(e.id, 1), row(e.id, 2), row(f.id, 3)], new Date());
    // a third party holds E's second delivery, so the delete stops half way through E's rows
    await holder().query('begin');
    await holder().query('select 1 from outbound_requests where id = $1 for update', [e2]);
    const deleting = t.call('DELETE', `/api/v1/webhooks/${e.id}`, { token: admin.token });
    await waitingOnLock(store().db, 'where endpoint_id = $1 order by id for update');
    const recording = record(store().db, [delivered(f1!), delivered(e1!)], new Date());
    await waitingOnLock(store().db, 'attempts_before');
    await holder().query('commit');
    const [deleted, recorded] = await Promise.allSettled([deleting, recording]);
    assert.equal(deleted.status, 'fulfilled');
    assert.equal(deleted.value.statusCode, 204, deleted.value.body);
    assert.equal(recorded.status, 'fulfilled', `the record failed: ${String((recorded as PromiseRejectedResult).reason)}`);
    const rows = await store().db.query<{ id: number; state: string }>('select id, state from outbound_requests order by id');
    assert.deepEqual(rows.map((r) => [Number(r.id), r.state]), [[f1, 'delivered']], "E's deliveries went with it; F's is recorded");
    const attempts = await store().db.query<{ request_id: number }>('select request_id from outbound_attempts');
    assert.deepEqual(attempts.map((a) => Number(a.request_id)), [f1]);
  });
});
