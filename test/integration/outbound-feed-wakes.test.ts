// What a commit costs the outbound worker's feeds (issue #22: at 100–500
// Qiscus rooms/s every webhook commit wakes them). A feed that says what it
// enqueued and whether its page was full is not followed by a claim that can
// find nothing nor by a second page; the Qiscus removal feed says so, and a
// page that calls for nothing is one statement, not a transaction. A feed
// that says neither keeps the old, cautious behaviour. And a slot freed at a
// destination at its cap lets the next row go at once, not once the attempt
// that held it is recorded.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, beforeEach, it } from 'node:test';
import { feedRemovals } from '../../src/channels/qiscus/removals.js';
import type { Ctx } from '../../src/context.js';
import { enqueue } from '../../src/events/outbound/outbox.js';
import type { SendRequest } from '../../src/events/outbound/send.js';
import { createOutboundWorker, type Feed, type FeedResult, type OutboundWorker } from '../../src/events/outbound/worker.js';
import type { Db } from '../../src/store/db.js';
import { describeEachStore } from '../helpers/stores.js';

/** The store, noting each statement sent (a transaction as BEGIN, then its statements). */
function counting(db: Db): { db: Db; sent: string[] } {
  const sent: string[] = [];
  const note = (text: string) => sent.push(text.replace(/\s+/g, ' ').trim());
  return {
    sent,
    db: {
      kind: db.kind,
      query: (text, params) => (note(text), db.query(text, params)),
      exec: (text) => (note(text), db.exec(text)),
      transactOne: (text, params) => (note(text), db.transactOne(text, params)),
      transactOneThen: (text, params, after) => (note(text), note(after.text), db.transactOneThen(text, params, after)),
      transaction: (fn, options) => (
        note('BEGIN'),
        db.transaction((tx) => fn({ query: (text, params) => (note(text), tx.query(text, params)), exec: (text) => (note(text), tx.exec(text)) }), options)
      ),
      listen: (channel, handlers) => db.listen(channel, handlers),
      close: () => db.close(),
    },
  };
}

const isClaim = (text: string) => text.startsWith('with busy as') && text.includes('update outbound_requests');

describeEachStore('outbound worker wake-ups', (store) => {
  let worker: OutboundWorker | undefined;
  beforeEach(async () => {
    await worker?.stop();
    worker = undefined;
    await store().reset();
  });
  // a failed test leaves its worker listening
  after(async () => {
    await worker?.stop();
    worker = undefined;
  });

  /** A worker over a counting store with one feed that reads `events` once per wake-up and reports `says`. */
  async function workerWith(says: Omit<FeedResult, 'read' | 'claimed'>) {
    const { db, sent } = counting(store().db);
    const ctx: Ctx = { db, now: () => new Date() };
    let events = 0;
    let feeds = 0;
    const feed: Feed = async () => {
      feeds += 1;
      const read = events;
      events = 0;
      return { read, claimed: [], ...says };
    };
    worker = createOutboundWorker(ctx, { producers: {}, feeds: [feed], concurrency: 4, timeoutMs: 10_000, pollMs: 3_600_000, allowPrivate: false });
    worker.start();
    // the start's own wake-up (one feed, one claim) is over
    await sleep(300);
    const before = { feeds, claims: sent.filter(isClaim).length };
    events = 3;
    worker.committed();
    // the claim lane gathers for 2 ms: 300 ms leaves any follow-up time to run, even on a loaded machine
    await sleep(300);
    return { feeds: feeds - before.feeds, claims: sent.filter(isClaim).length - before.claims };
  }

  it('a feed that enqueued nothing and read a short page runs once: no claim, no second page', async () => {
    assert.deepEqual(await workerWith({ enqueued: 0, more: false, waiting: false }), { feeds: 1, claims: 0 });
  });

  it('a feed that left rows unclaimed, or read a full page, is followed by the claim, or by another page', async () => {
    assert.deepEqual(await workerWith({ enqueued: 2, more: false, waiting: false }), { feeds: 1, claims: 1 });
    await worker?.stop();
    assert.deepEqual(await workerWith({ enqueued: 0, more: true, waiting: false }), { feeds: 2, claims: 0 });
    await worker?.stop();
    // a feed that says neither (the webhook fan-out, RapidPro) is followed by both, as before
    assert.deepEqual(await workerWith({}), { feeds: 2, claims: 1 });
  });

  it('the Qiscus removal feed reads a page that calls for nothing in one statement, and passes it', async () => {
    await store().db.query(`insert into events (type, data, created_at) select 'settings.changed', '{}', now() from generate_series(1, 2)`);
    const { db, sent } = counting(store().db);
    const ctx: Ctx = { db, now: () => new Date() };
    const first = await feedRemovals(ctx, 'http://qiscus.test/remove');
    assert.deepEqual([first.events, first.more, first.removals, first.waiting], [2, false, 0, false]);
    assert.equal(sent.length, 1, `one statement, not a transaction: ${JSON.stringify(sent.map((s) => s.slice(0, 40)))}`);
    assert.equal((await feedRemovals(ctx, 'http://qiscus.test/remove')).events, 0, 'the cursor was not moved past the page');
    // a full page says so: the worker looks again
    await store().db.query(`insert into events (type, data, created_at) select 'settings.changed', '{}', now() from generate_series(1, 3)`);
    const full = await feedRemovals(ctx, 'http://qiscus.test/remove', { pageSize: 2 });
    assert.deepEqual([full.events, full.more], [2, true]);
    assert.deepEqual([(await feedRemovals(ctx, 'http://qiscus.test/remove', { pageSize: 2 })).events], [1]);
  });

  it('a slot freed at a destination at its cap is filled at once, while the attempt that held it is still being recorded', async () => {
    const db = store().db;
    const now = new Date();
    await enqueue(
      db,
      ['a', 'b'].map((name) => ({ producer: 'test', messageId: name, name, url: 'http://receiver.test/calls', body: Buffer.from(name), maxAttempts: 3 })),
      now,
    );
    // Recording attempts waits for this gate: without the freed slot's own wake-up, nothing claims the second row meanwhile.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const gated: Db = {
      ...db,
      kind: db.kind,
      query: async (text, params) => {
        if (text.includes('insert into outbound_attempts')) await gate;
        return db.query(text, params);
      },
      transaction: (fn, options) => db.transaction(fn, options),
      transactOne: (text, params) => db.transactOne(text, params),
      listen: (channel, handlers) => db.listen(channel, handlers),
      exec: (text) => db.exec(text),
      close: () => db.close(),
    };
    const started: string[] = [];
    worker = createOutboundWorker({ db: gated, now: () => new Date() }, {
      producers: { test: { prepare: async () => (rows) => ({ headers: new Map(rows.map((r) => [r.id, {}])) }), trustedTargets: true } },
      concurrency: 4,
      perDestination: 1,
      timeoutMs: 10_000,
      pollMs: 3_600_000,
      allowPrivate: false,
      sendFn: async (request: SendRequest) => {
        started.push(Buffer.from(request.body).toString());
        await sleep(20);
        return { status: 200, excerpt: null, error: null, retryAfterMs: null, durationMs: 20 };
      },
    });
    try {
      worker.start();
      const deadline = Date.now() + 5_000;
      while (started.length < 2 && Date.now() < deadline) await sleep(20);
      assert.deepEqual(started, ['a', 'b'], 'the second call waited for the first one to be recorded');
    } finally {
      open();
    }
    await worker.stop();
    worker = undefined;
    const states = await db.query<{ state: string }>(`select state from outbound_requests order by id`);
    assert.deepEqual(states.map((r) => r.state), ['delivered', 'delivered']);
  });
});
