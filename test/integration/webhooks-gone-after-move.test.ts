// A 410 Gone speaks for the URL it came from. Found by review: an admin moved an endpoint off a URL
// that had started answering 410 (the old receiver being decommissioned); the attempt in flight to the
// OLD URL answered 410, and RECORD cancelled every pending delivery of the endpoint — already re-targeted
// to the new URL — and settle disabled the endpoint. docs/webhooks.md promises that an attempt in flight
// when the URL changes finishes first, and should it fail it is retried at once at the new URL.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { addMessage } from '../../src/conversations/messages.js';
import { getEndpoint, updateEndpoint } from '../../src/events/webhooks/endpoints.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { record } from '../../src/events/outbound/outbox.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, testWorker, type Receiver } from '../helpers/webhook-receiver.js';

describeEachStore('webhooks: a 410 from the URL an endpoint has left', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let ctx: Ctx;
  let receiver: Receiver;
  let secrets: string[] = [];
  let old: http.Server;
  let oldUrl: string;
  /** requests to the old URL, held until the test answers them */
  let held: http.ServerResponse[];
  let arrival: Promise<void>;

  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    t = await testApp(store(), { now: clock.now });
    ctx = t.ctx;
    secrets = [];
    receiver = await startReceiver(() => secrets);
    held = [];
    let arrived!: () => void;
    arrival = new Promise<void>((resolve) => (arrived = resolve));
    old = http.createServer((req, res) => {
      req.resume();
      held.push(res);
      arrived();
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    oldUrl = `http://127.0.0.1:${(old.address() as AddressInfo).port}/hooks`;
  });
  afterEach(async () => {
    old.closeAllConnections();
    await new Promise((resolve) => old.close(resolve));
    await receiver.close();
    await t.close();
  });

  /**
   * An endpoint on the old URL with conversation.created in flight to it and message.created waiting
   * behind it; the admin moves the endpoint to the receiver, then the old URL answers 410.
   */
  async function goneAfterMove(before?: () => Promise<void>) {
    const { endpoint: hook, secret } = await endpointFor(ctx, receiver, { url: oldUrl, events: ['conversation.created', 'message.created'] });
    secrets.push(secret);
    const { conversation } = await openConversation(ctx, { customer: { id: 'moving' } });
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'hello?' }, { id: null, role: 'system' });
    const disabled: string[] = [];
    const worker = testWorker(ctx, { onDisabled: (id, reason) => disabled.push(`${id}: ${reason}`) });
    await before?.();
    const first = worker.tick();
    await arrival;
    await updateEndpoint(ctx, hook.id, { url: receiver.url }, { allowPrivate: true });
    held.splice(0).forEach((res) => res.writeHead(410).end('gone'));
    const firstTick = await first;
    await worker.tick();
    const rows = await store().db.query<{ name: string; state: string; url: string; attempts: number }>('select name, state, url, attempts from outbound_requests order by id');
    const attempts = await store().db.query<{ name: string; status: number; started_at: Date }>(
      'select r.name, a.status, a.started_at from outbound_attempts a join outbound_requests r on r.id = a.request_id order by a.id',
    );
    const row = await getEndpoint(store().db, hook.id);
    return { hook, row, rows, attempts, firstTick, disabled, info: JSON.stringify({ rows, attempts, firstTick, enabled: row.enabled, reason: row.disabled_reason, disabled }) };
  }

  it('keeps the moved endpoint enabled and retries at once, at the new URL, what failed at the old one', async () => {
    const { row, rows, attempts, firstTick, disabled, info } = await goneAfterMove();
    assert.equal(row.enabled, true, `a 410 from the URL it left does not disable the endpoint: ${info}`);
    assert.deepEqual(disabled, [], info);
    assert.deepEqual(receiver.accepted.map((r) => r.json.type), ['conversation.created', 'message.created'], info);
    assert.deepEqual(rows.map((r) => [r.name, r.state, r.attempts]), [['conversation.created', 'delivered', 2], ['message.created', 'delivered', 1]], info);
    // The fake clock never moved: the retry went at once, not after its 5 s back-off, within the same tick.
    assert.deepEqual(
      attempts.map((a) => [a.name, a.status, new Date(a.started_at).getTime()]),
      [
        ['conversation.created', 410, clock.now().getTime()],
        ['conversation.created', 204, clock.now().getTime()],
        ['message.created', 204, clock.now().getTime()],
      ],
      info,
    );
    assert.deepEqual(firstTick, { delivered: 2, retried: 1, failed: 0, cancelled: 0 }, `the worker counts the 410 as a retry: ${info}`);
  });

  it('a 410 from the old URL on the last attempt fails that delivery alone: the endpoint stays enabled, the rest goes', async () => {
    const { row, rows, disabled, info } = await goneAfterMove(async () => {
      while ((await fanOut(ctx)).events > 0);
      assert.equal((await store().db.query('update outbound_requests set max_attempts = 1 returning id')).length, 2);
    });
    assert.equal(row.enabled, true, info);
    assert.deepEqual(disabled, [], info);
    assert.deepEqual(rows.map((r) => [r.name, r.state]), [['conversation.created', 'failed'], ['message.created', 'delivered']], info);
    assert.deepEqual(receiver.accepted.map((r) => r.json.type), ['message.created'], info);
  });

  it('a 410 from the URL the endpoint still has disables it and cancels what waits, as before', async () => {
    const { endpoint: hook, secret } = await endpointFor(ctx, receiver, { events: ['conversation.created', 'message.created'] });
    secrets.push(secret);
    const { conversation } = await openConversation(ctx, { customer: { id: 'staying' } });
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'hello?' }, { id: null, role: 'system' });
    receiver.answer = () => ({ status: 410 });
    await testWorker(ctx).tick();
    const rows = await store().db.query<{ state: string }>('select state from outbound_requests order by id');
    assert.deepEqual(rows.map((r) => r.state), ['failed', 'cancelled']);
    const row = await getEndpoint(store().db, hook.id);
    assert.equal(row.enabled, false);
    assert.match(row.disabled_reason!, /410/);
  });
  it('a 410 from the left URL in the same batch as a 410 from the current one: nothing of the endpoint is left pending', async () => {
    await endpointFor(ctx, receiver, { events: ['conversation.created', 'message.created'] });
    const { conversation } = await openConversation(ctx, { customer: { id: 'g-1' } });
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'one' }, { id: null, role: 'system' });
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'two' }, { id: null, role: 'system' });
    while ((await fanOut(ctx)).events > 0);
    const rows = await store().db.query<{ id: number; url: string }>('select id, url from outbound_requests order by id');
    assert.equal(rows.length, 3);
    const now = clock.now();
    const later = new Date(now.getTime() + 5_000);
    const base = { attemptsBefore: 0, startedAt: now, durationMs: 3, excerpt: 'gone', error: 'HTTP 410', requestHeaders: {}, status: 410, outcome: 'failed' as const, nextAttemptAt: later };
    // the first went to the URL the admin has just left, the second to the current one
    await record(ctx.db, [
      { ...base, id: Number(rows[0]!.id), url: 'http://old.example.invalid/hooks' },
      { ...base, id: Number(rows[1]!.id), url: rows[1]!.url },
    ], now);
    const after = await store().db.query<{ state: string; last_error: string | null }>('select state, last_error from outbound_requests order by id');
    assert.deepEqual(
      after.map((r) => [r.state, r.last_error]),
      [
        ['cancelled', 'the receiver answered 410 Gone'],
        ['failed', 'HTTP 410'],
        ['cancelled', 'the receiver answered 410 Gone'],
      ],
      'the endpoint said Gone: its row that would have been retried at once is cancelled with the one waiting',
    );
  });
  it('a 410 from the current URL cancels a row of the endpoint whose record in the same batch is stale', async () => {
    await endpointFor(ctx, receiver, { events: ['conversation.created', 'message.created'] });
    const { conversation } = await openConversation(ctx, { customer: { id: 'g-2' } });
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'one' }, { id: null, role: 'system' });
    while ((await fanOut(ctx)).events > 0);
    const rows = await store().db.query<{ id: number; url: string }>('select id, url from outbound_requests order by id');
    assert.equal(rows.length, 2);
    const now = clock.now();
    const base = { startedAt: now, durationMs: 3, excerpt: 'x', requestHeaders: {}, url: rows[0]!.url };
    await record(ctx.db, [
      { ...base, id: Number(rows[0]!.id), attemptsBefore: 0, status: 410, error: 'HTTP 410', outcome: 'failed' as const, nextAttemptAt: null },
      // its lease ran out and another claim's attempt was recorded since: this record speaks for nothing
      { ...base, id: Number(rows[1]!.id), attemptsBefore: 5, status: 500, error: 'HTTP 500', outcome: 'retry' as const, nextAttemptAt: new Date(now.getTime() + 60_000) },
    ], now);
    const after = await store().db.query<{ state: string }>('select state from outbound_requests order by id');
    assert.deepEqual(after.map((r) => r.state), ['failed', 'cancelled'], 'nothing of the endpoint is left pending');
  });
});
