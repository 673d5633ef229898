// Issue #22 (resolve p99): under a stream of queue changes the realtime
// publisher refreshed the waiting list every 25–40 ms, each refresh a few ms
// of the event loop that answers the resolves and of PostgreSQL. A refresh
// now starts a minimum gap after the last one started (docs/realtime.md):
// during a burst the refreshes are that far apart, the last state is still
// published, and a change after a quiet spell goes out after the debounce,
// not the gap.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import type { Db } from '../../src/store/db.js';
import { Assignments } from '../../src/realtime/access.js';
import { createPublisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import { eachTestApp } from '../helpers/app.js';
import { describeEachStore } from '../helpers/stores.js';

const GAP = 200;
const BURST = 30;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('realtime: queue refreshes a minimum gap apart', (store) => {
  const app = eachTestApp(store);

  it('spaces refreshes by the gap during a burst, publishes the burst’s last state, and a quiet change after the debounce', async () => {
    const t = app();
    // when each refresh started: its walk of the queue is its first statement
    const walks: number[] = [];
    const db = t.ctx.db;
    const query = ((text: string, params?: unknown[]) => {
      if (text.includes('flags as materialized')) walks.push(performance.now());
      return db.query(text, params);
    }) as Db['query'];
    const ctx: Ctx = { ...t.ctx, db: new Proxy(db, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key, target)) }) };
    const topics = topicsOf('sb');
    const lists: { at: number; length: number }[] = [];
    const publisher = createPublisher({
      ctx,
      topics,
      assignments: new Assignments(),
      publish: async (topic, payload: any) => void (topic === topics.queueEvents() && lists.push({ at: performance.now(), length: payload.length })),
      onError: (error) => assert.fail(String(error)),
      queueRefreshGapMs: GAP,
      // the gap alone: the spacing (3 × the last refresh) would put a quiet change past the gap on a
      // loaded machine, where a refresh takes 70 ms instead of 10 (a CI suspect)
      queueRefreshSpacing: 0,
    });
    const change = () => publisher.onCommitted([{ type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: new Date().toISOString() } as unknown as StoredEvent]);
    try {
      const started = performance.now();
      for (let i = 0; i < BURST; i++) {
        await openConversation(t.ctx, { customer: { id: `customer-${i}` } });
        change();
        await sleep(15);
      }
      const burstMs = performance.now() - started;
      await publisher.idle();

      assert.equal(lists.at(-1)!.length, BURST, 'the last list has every conversation of the burst');
      assert.ok(lists.length >= 2, `${lists.length} lists`);
      // a timer may fire a millisecond or two early against performance.now()
      for (let i = 1; i < walks.length; i++) assert.ok(walks[i]! - walks[i - 1]! >= GAP - 10, `refresh ${i} started ${Math.round(walks[i]! - walks[i - 1]!)} ms after the one before`);
      assert.ok(lists.length <= Math.ceil(burstMs / GAP) + 1, `${lists.length} refreshes in a burst of ${Math.round(burstMs)} ms`);

      // quiet for longer than the gap: the next change waits for the debounce only
      await sleep(GAP + 50);
      await openConversation(t.ctx, { customer: { id: 'after-quiet' } });
      const before = lists.length;
      const changed = performance.now();
      change();
      await publisher.idle();
      assert.equal(lists.length, before + 1);
      assert.equal(lists.at(-1)!.length, BURST + 1);
      assert.ok(lists.at(-1)!.at - changed < GAP, `a quiet change was published ${Math.round(lists.at(-1)!.at - changed)} ms after it`);
    } finally {
      await publisher.close();
    }
  });
});
