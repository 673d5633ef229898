// Issue #22 (resolve p99): the realtime publisher's queue refresh serialized
// its whole waiting list (800 entries, ~280 kB of JSON) in one piece, and a
// resolve whose reply was ready meanwhile waited for all of it. The list is
// now serialized a slice at a time with a turn of the event loop between
// slices, and what the broker sends is still exactly the payload's JSON.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { SYSTEM } from '../../src/agents/model.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import type { Db } from '../../src/store/db.js';
import { Assignments } from '../../src/realtime/access.js';
import { encodePayload } from '../../src/realtime/payloads.js';
import { createPublisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import { eachTestApp } from '../helpers/app.js';
import { describeEachStore } from '../helpers/stores.js';

const QUEUED = 7;

type Sent = { payload: any; bytes: string; turned: boolean };

/**
 * A publisher on `ctx`'s store whose queries call `answered(text)` as each
 * answers, and what it sent on the queue topic, each with `turned()` as it
 * was when sent.
 */
function watchedPublisher(ctx: Ctx, answered: (text: string) => void, turned: () => boolean, options: { queueRefreshGapMs?: number } = {}) {
  const db = ctx.db;
  const query = (async (text: string, params?: unknown[]) => {
    const rows = await db.query(text, params);
    answered(text);
    return rows;
  }) as Db['query'];
  const watched: Ctx = { ...ctx, db: new Proxy(db, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key, target)) }) };
  const topics = topicsOf('sb');
  const sent: Sent[] = [];
  const publisher = createPublisher({
    ctx: watched,
    topics,
    assignments: new Assignments(),
    publish: async (topic, payload) => {
      if (topic === topics.queueEvents()) sent.push({ payload, bytes: encodePayload(payload).toString('utf8'), turned: turned() });
    },
    onError: (error) => assert.fail(String(error)),
    queueDebounceMs: 0,
    listSlice: 2,
    ...options,
  });
  const refresh = async () => {
    publisher.onCommitted([{ type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: new Date().toISOString() } as unknown as StoredEvent]);
    await publisher.idle();
  };
  return { publisher, sent, refresh };
}

describeEachStore('realtime: the queue list serialized in slices', (store) => {
  const app = eachTestApp(store);

  it('the event loop turns while the list is serialized, and the bytes sent are the payload’s JSON', async () => {
    const t = app();
    for (let i = 0; i < QUEUED; i++) await openConversation(t.ctx, { customer: { id: `customer-${i}`, name: `Customer ${i}` }, priority: i % 3 });
    // Once the waiting list's rows are in hand, something else asks for a turn
    // of the event loop: a reply ready to go out while the refresh builds its list.
    let turned = false;
    const { publisher, sent, refresh } = watchedPublisher(
      t.ctx,
      (text) => {
        if (text.includes('flags as materialized')) setImmediate(() => (turned = true));
      },
      () => turned,
    );
    try {
      await refresh();
    } finally {
      await publisher.close();
    }
    assert.equal(sent.length, 1);
    const [{ payload, bytes, turned: turnedBefore }] = sent as [(typeof sent)[0]];
    assert.equal(payload.waiting.length, QUEUED);
    assert.ok(turnedBefore, 'the event loop turned between the rows read and the list published');
    // the same bytes as the payload's own JSON: keys, order, every entry
    assert.equal(bytes, JSON.stringify(payload));
    assert.deepEqual(
      payload.waiting.map((w: { customer: { id: string }; position: number }) => [w.customer.id, w.position]),
      [2, 5, 1, 4, 0, 3, 6].map((i, n) => [`customer-${i}`, n + 1]),
    );
  });

  it('a refresh with no new entry (only places changed) still turns the event loop while the list is made', async () => {
    const t = app();
    for (let i = 0; i < QUEUED; i++) await openConversation(t.ctx, { customer: { id: `customer-${i}`, name: `Customer ${i}` } });
    // Once a refresh's last statement (the agents' sums) answered, something
    // else asks for a turn of the event loop: nothing but the list is left to make.
    let turned = false;
    const { publisher, sent, refresh } = watchedPublisher(
      t.ctx,
      (text) => {
        if (text.includes('sb_queue_team')) {
          turned = false;
          setImmediate(() => (turned = true));
        }
      },
      () => turned,
      { queueRefreshGapMs: 0 },
    );
    const db = t.ctx.db;
    try {
      await refresh();
      // the head leaves: every other entry is as made by the first refresh, one place up
      const [head] = await db.query<{ id: string }>(`select id from conversations where state = 'queued' order by seq limit 1`);
      await closeConversation(t.ctx, head!.id, { state: 'abandoned', reason: 'left' }, SYSTEM);
      await refresh();
    } finally {
      await publisher.close();
    }
    assert.equal(sent.length, 2);
    const second = sent[1]!;
    assert.deepEqual(
      second.payload.waiting.map((w: { customer: { id: string }; position: number }) => [w.customer.id, w.position]),
      [1, 2, 3, 4, 5, 6].map((i, n) => [`customer-${i}`, n + 1]),
    );
    assert.equal(second.bytes, JSON.stringify(second.payload));
    assert.ok(second.turned, 'the event loop turned while the list of entries already made was joined');
  });
});
