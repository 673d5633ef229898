// A row waits while an earlier pending row of its ordering key exists. When
// that row leaves 'pending' by an attempt's record, the worker that recorded
// it looks behind it (FOLLOWED). When it leaves any other way — cancelled
// (a Qiscus resolve whose room is open again, an assignment whose room
// closed, an endpoint disabled, a ticketer deleted, plain SQL) or deleted —
// nothing looked, and the row behind waited for the poll. The triggers of
// migrations 0075 and 0076 wake the workers as such a change commits. Every worker here
// polls once a minute and no wait reaches ten seconds: a row sent was sent
// by a wake-up.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { assignMessageId, roomOrderingKey } from '../../src/channels/qiscus/constants.js';
import { closeRoom } from '../../src/channels/qiscus/rooms.js';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { claim, CLAIM_STATEMENTS, enqueue, record, type NewOutbound } from '../../src/events/outbound/outbox.js';
import type { SendOutcome, SendRequest } from '../../src/events/outbound/send.js';
import { createOutboundWorker, type OutboundWorker } from '../../src/events/outbound/worker.js';
import { OUTBOX_CHANNEL, type Db, type Listening } from '../../src/store/db.js';
import { heldOpen } from '../helpers/held-open.js';
import { describeEachStore } from '../helpers/stores.js';

const POLL_MS = 60_000;
/** Far below the poll: what happens within it was woken. */
const PROMPTLY_MS = 10_000;
/** Long enough for a wake-up to have been heard, had there been one. */
const QUIET_MS = 300;

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + PROMPTLY_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not within ${PROMPTLY_MS} ms (the poll is ${POLL_MS} ms): ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS));

const request = (messageId: string, orderingKey: string | null = 'room-1', producer = 'test'): NewOutbound => ({
  producer,
  messageId,
  name: 'x',
  orderingKey,
  url: 'http://receiver.example.test/in',
  headers: { 'x-message': messageId },
  body: Buffer.from('{}'),
  maxAttempts: 3,
});

describeEachStore('outbox: the row behind one that leaves without an attempt', (store) => {
  let worker: OutboundWorker | undefined;
  let listening: Listening | undefined;
  beforeEach(() => store().reset());
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await listening?.close();
    listening = undefined;
  });

  const ctx = (): Ctx => ({ db: store().db, now: () => new Date() });
  /** claims the worker has finished */
  let claims = 0;

  /** A running worker with producer `test`, polling once a minute, noting what it sent. */
  async function started(): Promise<string[]> {
    claims = 0;
    const db = store().db;
    const counted: Db = {
      ...db,
      query: async (text, params) => {
        const rows = await db.query(text, params);
        if (CLAIM_STATEMENTS.has(text)) claims += 1;
        return rows as never;
      },
    };
    const sent: string[] = [];
    const sendFn = async (req: SendRequest): Promise<SendOutcome> => {
      sent.push(req.headers['x-message']!);
      return { status: 200, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 };
    };
    worker = createOutboundWorker({ ...ctx(), db: counted }, {
      producers: { test: { prepare: async () => (rows) => ({ headers: new Map(rows.map((row) => [row.id, {}])) }) } },
      concurrency: 8,
      timeoutMs: 5_000,
      pollMs: POLL_MS,
      allowPrivate: true,
      sendFn,
    });
    worker.start();
    // the start's own pass has nothing to do; let it end
    await quiet();
    return sent;
  }

  /**
   * `first` waiting for its retry an hour away, `second` behind it on its key:
   * the claim woken by their commit sends neither. Returns first's id.
   */
  async function waitingBehind(sent: string[], first: NewOutbound = request('first')): Promise<number> {
    const [id] = await store().db.transaction(async (tx) => {
      const ids = await enqueue(tx, [first, request('second', first.orderingKey)], new Date());
      await tx.query(`update outbound_requests set next_attempt_at = $2 where id = $1`, [ids[0], new Date(Date.now() + 3_600_000)]);
      return ids;
    });
    await quiet();
    assert.deepEqual(sent, [], 'second waits behind first');
    return id!;
  }

  it('is sent at once when the row ahead is cancelled by SQL', async () => {
    const sent = await started();
    const first = await waitingBehind(sent);
    await store().db.query(`update outbound_requests set state = 'cancelled', last_error = 'by hand' where id = $1`, [first]);
    await until('second, once first is cancelled', () => sent.includes('second'));
    assert.deepEqual(sent, ['second']);
  });

  it('is sent at once when the row ahead is deleted', async () => {
    const sent = await started();
    const first = await waitingBehind(sent);
    await store().db.query(`delete from outbound_requests where id = $1`, [first]);
    await until('second, once first is deleted', () => sent.includes('second'));
  });

  it("is sent at once when its room's unconfirmed assignment is cancelled as the room closes", async () => {
    const sent = await started();
    const { conversation } = await openConversation(ctx(), { customer: { id: 'c-1', name: 'Ana' }, channel: 'qiscus', external_ref: 'room-7' });
    // Qiscus has not taken the assignment yet (it is being retried); the call behind it is this worker's
    await waitingBehind(sent, { ...request(assignMessageId(conversation.id), roomOrderingKey('room-7'), 'qiscus'), name: 'assign_agent' });
    assert.equal(await closeRoom(ctx(), conversation.id, { state: 'abandoned', reason: 'system' }), true);
    await until('second, once the assignment is cancelled', () => sent.includes('second'));
    const [assignment] = await store().db.query<{ state: string }>(`select state from outbound_requests where message_id = $1`, [assignMessageId(conversation.id)]);
    assert.equal(assignment!.state, 'cancelled');
  });

  // The look behind runs as the cancelling transaction commits, not as its statement ends: a row
  // committed in between was passed by by the claim its own commit woke (the row ahead was still pending).
  it('is sent at once when it was committed while the transaction cancelling the row ahead was still open', async (t) => {
    if (store().kind === 'pglite') return t.skip('one connection: nothing commits while a transaction is open');
    const sent = await started();
    const [first] = await store().db.transaction(async (tx) => {
      const ids = await enqueue(tx, [request('first')], new Date());
      await tx.query(`update outbound_requests set next_attempt_at = $2 where id = $1`, [ids[0], new Date(Date.now() + 3_600_000)]);
      return ids;
    });
    await quiet();
    const holder = heldOpen(store().db, (tx) => tx.query(`update outbound_requests set state = 'cancelled' where id = $1`, [first]));
    await holder.ran;
    const before = claims;
    await store().db.transaction((tx) => enqueue(tx, [request('second')], new Date()));
    await until("the claim woken by second's commit", () => claims > before);
    assert.equal(sent.length, 0, 'second waits: first is still pending to that claim');
    holder.release();
    await holder.done;
    await until('second, once the cancel commits', () => sent.includes('second'));
  });

  it("a cancel notifies once, at its commit, and an attempt's record never does", async () => {
    const db = store().db;
    let notified = 0;
    listening = await db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1) });
    const now = new Date();
    const slots = { limit: 8, leaseUntil: new Date(now.getTime() + 60_000), producers: ['test'] };

    // delivered, with a row behind it: the recording worker's own look (FOLLOWED) is the wake-up
    await db.transaction((tx) => enqueue(tx, [request('a1', 'key-a'), request('a2', 'key-a')], now));
    const [a1] = await claim(db, now, slots);
    assert.equal(a1!.message_id, 'a1');
    await quiet();
    let before = notified;
    const recorded = await record(
      db,
      [{ id: a1!.id, attemptsBefore: 0, startedAt: now, durationMs: 1, status: 200, excerpt: null, error: null, requestHeaders: {}, outcome: 'delivered', nextAttemptAt: null }],
      now,
    );
    assert.equal(recorded.followed, true);
    await quiet();
    assert.equal(notified, before, 'RECORD of a delivery sends no NOTIFY');

    // a whole key cancelled at once (an endpoint disabled): one NOTIFY for the transaction, not one a row
    const many = Array.from({ length: 200 }, (_, i) => request(`b${i}`, 'key-b'));
    await db.transaction((tx) => enqueue(tx, many, now));
    await quiet();
    before = notified;
    await db.query(`update outbound_requests set state = 'cancelled' where ordering_key = 'key-b'`);
    await until('the NOTIFY of the bulk cancel', () => notified > before);
    await quiet();
    assert.equal(notified, before + 1, 'one NOTIFY for the transaction');

    // cancelled in a transaction with a row behind it: at the commit, not before
    const [c1] = await db.transaction((tx) => enqueue(tx, [request('c1', 'key-c'), request('c2', 'key-c')], now));
    await quiet();
    before = notified;
    await db.transaction(async (tx) => {
      await tx.query(`update outbound_requests set state = 'cancelled' where id = $1`, [c1]);
      await quiet();
      assert.equal(notified, before, 'not before the commit');
    });
    await until('the NOTIFY of the cancel', () => notified === before + 1);
  });
});
