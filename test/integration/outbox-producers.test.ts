// A process claims only the outbound rows it can send: those of the
// producers its worker has. Email (SMTP_URL) may be configured on some
// processes only; a process without it used to claim due email rows and
// cancel them for good ("no producer email in this process"). Now it leaves
// them to the processes that have email. The ordering-key rule still spans
// producers: a row waits behind an earlier pending row of its key, whoever
// sends that one.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { claimNew, enqueue, type NewOutbound } from '../../src/events/outbound/outbox.js';
import type { SendOutcome, SendRequest } from '../../src/events/outbound/send.js';
import { createOutboundWorker, type OutboundWorker, type Producer } from '../../src/events/outbound/worker.js';
import { describeEachStore } from '../helpers/stores.js';

/** A producer with nothing to sign. */
const plain: Producer = { prepare: async () => (rows) => ({ headers: new Map(rows.map((row) => [row.id, {}])) }) };

describeEachStore('outbox claims by producer', (store) => {
  beforeEach(() => store().reset());

  const ctx = (): Ctx => ({ db: store().db, now: () => new Date() });

  /** A worker with these producers whose requests all succeed, noting what it sent (by message id). */
  function worker(producers: readonly string[]): { worker: OutboundWorker; sent: string[] } {
    const sent: string[] = [];
    const sendFn = async (request: SendRequest): Promise<SendOutcome> => {
      sent.push(request.headers['x-message']!);
      return { status: 204, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 };
    };
    const w = createOutboundWorker(ctx(), {
      producers: Object.fromEntries(producers.map((name) => [name, plain])),
      concurrency: 8,
      timeoutMs: 5_000,
      pollMs: 60_000,
      allowPrivate: true,
      sendFn,
    });
    return { worker: w, sent };
  }

  const row = (producer: string, messageId: string, orderingKey: string | null = null): NewOutbound => ({
    producer,
    messageId,
    name: 'x',
    orderingKey,
    url: producer === 'email' ? 'mailto:team@example.test' : 'http://hooks.example.test/in',
    headers: { 'x-message': messageId },
    body: Buffer.from('{}'),
    maxAttempts: 3,
  });

  const states = async () =>
    Object.fromEntries(
      (await store().db.query<{ message_id: string; state: string; attempts: number; last_error: string | null }>(
        'select message_id, state, attempts, last_error from outbound_requests order by id',
      )).map((r) => [r.message_id, `${r.state}/${r.attempts}${r.last_error ? `/${r.last_error}` : ''}`]),
    );

  it("a worker without a producer never claims or cancels that producer's rows; a worker with it delivers them", async () => {
    await store().db.transaction((tx) =>
      enqueue(
        tx,
        [
          row('email', 'mail-1', 'conversation-1'),
          // behind mail-1 on its key: it waits for mail-1 whoever sends it
          row('webhook', 'hook-1', 'conversation-1'),
          row('email', 'mail-2'),
          row('webhook', 'hook-2'),
        ],
        new Date(),
      ),
    );

    const webhooksOnly = worker(['webhook']);
    await webhooksOnly.worker.tick();
    assert.deepEqual(webhooksOnly.sent, ['hook-2']);
    assert.deepEqual(await states(), {
      'mail-1': 'pending/0',
      'hook-1': 'pending/0',
      'mail-2': 'pending/0',
      'hook-2': 'delivered/1',
    });
    const logged = await store().db.query<{ n: number }>('select count(*)::int as n from outbound_attempts');
    assert.equal(logged[0]!.n, 1, 'nothing was logged for the email rows: they were never claimed');

    const withEmail = worker(['webhook', 'email']);
    await withEmail.worker.tick();
    assert.deepEqual([...withEmail.sent].sort(), ['hook-1', 'mail-1', 'mail-2']);
    assert.ok(withEmail.sent.indexOf('mail-1') < withEmail.sent.indexOf('hook-1'), 'hook-1 went after mail-1, its key');
    assert.deepEqual(await states(), {
      'mail-1': 'delivered/1',
      'hook-1': 'delivered/1',
      'mail-2': 'delivered/1',
      'hook-2': 'delivered/1',
    });
  });

  it('a feed claiming its fresh rows takes only those of the worker producers', async () => {
    const now = new Date();
    const claimed = await store().db.transaction(async (tx) => {
      const ids = await enqueue(tx, [row('email', 'mail-1'), row('webhook', 'hook-1')], now);
      return claimNew(tx, ids, now, { limit: 10, leaseUntil: new Date(now.getTime() + 60_000), producers: ['webhook'] });
    });
    assert.deepEqual(claimed.map((r) => r.message_id), ['hook-1']);
    const due = await store().db.query<{ message_id: string }>('select message_id from outbound_requests where next_attempt_at <= $1', [now]);
    assert.deepEqual(due.map((r) => r.message_id), ['mail-1'], 'the email row is left due, for a process with email');
  });
});
