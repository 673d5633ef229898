// What a receiver answers is stored as text (outbound_attempts.response_excerpt), and PostgreSQL text holds
// no NUL. Found by review: a 200 "ok\0" (or any binary answer) made RECORD fail for its whole batch, so
// nothing of it was recorded and every row in it — other endpoints', other producers' — was sent again
// when its lease ended, forever.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { record } from '../../src/events/outbound/outbox.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore } from '../helpers/stores.js';
import { eachWebhookTest, testWorker } from '../helpers/webhook-receiver.js';

describeEachStore('outbound replies that PostgreSQL text cannot hold', (store) => {
  const clock = fakeClock();
  const w = eachWebhookTest(store, { now: clock.now, receivers: 2 });
  /** answers with what PostgreSQL text cannot hold */
  const bad = () => w.receivers[0]!;
  const good = () => w.receivers[1]!;

  const attempts = () =>
    store().db.query<{ request_id: number; status: number | null; response_excerpt: string | null; error: string | null }>(
      'select request_id, status, response_excerpt, error from outbound_attempts order by request_id, attempt',
    );

  it('records a 2xx whose answer holds a NUL byte, and the rest of its batch, and sends neither again', async () => {
    await w.endpoint({ events: ['conversation.created'] }, bad());
    await w.endpoint({ events: ['conversation.created'] }, good());
    bad().answer = () => ({ status: 200, body: 'ok\u0000' });
    await openConversation(w.ctx, { customer: { id: 'nul-1' } });
    const errors: string[] = [];
    const worker = testWorker(w.ctx, { onError: (e) => errors.push(String(e)) });
    await worker.tick();
    clock.advance(60_000); // past the lease (timeout 5 s + 30 s)
    await worker.tick();
    const rows = await store().db.query<{ state: string; attempts: number }>('select state, attempts from outbound_requests order by id');
    const info = JSON.stringify({ rows, errors, bad: bad().requests.length, good: good().requests.length });
    assert.deepEqual(rows, [{ state: 'delivered', attempts: 1 }, { state: 'delivered', attempts: 1 }], info);
    assert.deepEqual(errors, [], info);
    assert.equal(bad().requests.length, 1, `the NUL answer's delivery went once: ${info}`);
    assert.equal(good().requests.length, 1, `the well-behaved endpoint got its delivery once: ${info}`);
    const logged = await attempts();
    assert.equal(logged.length, 2, info);
    assert.ok(logged.some((a) => a.response_excerpt === 'ok\uFFFD'), `the NUL is kept as U+FFFD: ${JSON.stringify(logged)}`);
  });

  it('records a failure whose answer is binary (NUL, bytes that are not UTF-8), retried on its schedule', async () => {
    const binary = http.createServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0x00, 0xff, 0xfe, 0x41, 0xc3, 0x00, 0xed, 0xa0, 0x80, 0x42]));
    });
    await new Promise<void>((resolve) => binary.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(binary.address() as AddressInfo).port}/hooks`;
      await w.endpoint({ url, events: ['conversation.created'] });
      await openConversation(w.ctx, { customer: { id: 'binary-1' } });
      const errors: string[] = [];
      const worker = testWorker(w.ctx, { onError: (e) => errors.push(String(e)) });
      await worker.tick();
      const [row] = await store().db.query<{ state: string; attempts: number; last_status: number }>('select state, attempts, last_status from outbound_requests');
      assert.deepEqual(row, { state: 'pending', attempts: 1, last_status: 500 }, JSON.stringify(errors));
      const [logged] = await attempts();
      assert.equal(logged!.response_excerpt, '\uFFFD\uFFFD\uFFFDA\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDB');
    } finally {
      binary.closeAllConnections();
      await new Promise((resolve) => binary.close(resolve));
    }
  });

  it("records whatever a producer's transport reports: NUL and lone surrogates in the excerpt, the error and the headers", async () => {
    await w.endpoint({ events: ['conversation.created'] }, good());
    await openConversation(w.ctx, { customer: { id: 'transport-1' } });
    await openConversation(w.ctx, { customer: { id: 'transport-2' } });
    while ((await fanOut(w.ctx)).events > 0);
    const rows = await store().db.query<{ id: number }>('select id from outbound_requests order by id');
    assert.equal(rows.length, 2);
    const base = { startedAt: clock.now(), durationMs: 1, attemptsBefore: 0 };
    const recorded = await record(
      store().db,
      [
        { ...base, id: rows[0]!.id, status: 250, excerpt: '250 ok\u0000\uD800', error: null, requestHeaders: { 'x-a\u0000': 'b\u0000\uDC00' }, outcome: 'delivered', nextAttemptAt: null },
        { ...base, id: rows[1]!.id, status: null, excerpt: null, error: 'relay said \u0000\uDBFF', requestHeaders: {}, outcome: 'retry', nextAttemptAt: new Date(clock.now().getTime() + 5_000) },
      ],
      clock.now(),
    );
    assert.deepEqual(recorded.ids.map(Number).sort((a, b) => a - b), rows.map((r) => Number(r.id)));
    const logged = await attempts();
    assert.deepEqual(
      logged.map((a) => [a.response_excerpt, a.error]),
      [
        ['250 ok\uFFFD\uFFFD', null],
        [null, 'relay said \uFFFD\uFFFD'],
      ],
    );
    const [headers] = await store().db.query<{ request_headers: Record<string, string> }>('select request_headers from outbound_attempts where request_id = $1', [rows[0]!.id]);
    assert.deepEqual(headers!.request_headers, { 'x-a\uFFFD': 'b\uFFFD\uFFFD' });
    const [second] = await store().db.query<{ last_error: string }>('select last_error from outbound_requests where id = $1', [rows[1]!.id]);
    assert.equal(second!.last_error, 'relay said \uFFFD\uFFFD');
  });
});
