// Closing the real-time layer waits for the publisher to send what was
// committed before, but under a steady stream of changes (the sweeper and
// the channels commit until after it, src/server.ts) the publisher is never
// idle: a queue refresh is always pending. The wait is bounded, so a server
// stops; once closed, the publisher schedules nothing. Waiting for what was
// handed over (flushed) ends within the stream.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import { loadRealtimeConfig } from '../../src/realtime/config.js';
import { CLOSE_WAIT_MS, createRealtime, type Realtime } from '../../src/realtime/index.js';
import type { Db } from '../../src/store/db.js';
import { describeEachStore } from '../helpers/stores.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('realtime: close under a steady stream of changes', (store) => {
  it('ends within its bound while queue changes keep coming, and refreshes nothing after', async () => {
    await store().reset();
    // Each refresh starts with its walk of the queue, which takes a while
    // here (a loaded machine): changes keep coming meanwhile, so when one
    // refresh ends the next is already due.
    let walks = 0;
    const db = store().db;
    const query = (async (text: string, params?: unknown[]) => {
      if (text.includes('flags as materialized')) {
        walks += 1;
        await sleep(30);
      }
      return db.query(text, params);
    }) as Db['query'];
    let realtime: Realtime | undefined;
    const ctx: Ctx = {
      db: new Proxy(db, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key, target)) }),
      now: () => new Date(),
      onCommitted: (events) => realtime?.onCommitted(events),
    };
    const errors: unknown[] = [];
    realtime = await createRealtime({
      ctx,
      config: loadRealtimeConfig({ MQTT_TCP_PORT: '0' }),
      sessionTtlSeconds: 3600,
      onError: (error) => errors.push(error),
      sweepIntervalMs: 0,
    });
    const change = () =>
      realtime!.onCommitted([{ type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: new Date().toISOString() } as unknown as StoredEvent]);
    const stream = setInterval(change, 2);
    try {
      change();
      await sleep(300);
      assert.ok(walks > 0, 'the stream refreshes the queue');
      // What was handed over is flushed within the stream (DELETE /session waits for it); idleness never comes
      const flushed = await Promise.race([realtime.publisher.flushed().then(() => true), sleep(2_000).then(() => false)]);
      assert.equal(flushed, true, 'flushed ends under the stream');
      const idle = await Promise.race([realtime.publisher.idle().then(() => true), sleep(500).then(() => false)]);
      assert.equal(idle, false, 'idle does not: a bounded wait on it left its loop behind');
      const started = performance.now();
      const closing = realtime.close().then(() => performance.now() - started);
      const took = await Promise.race([closing, sleep(CLOSE_WAIT_MS + 4_000).then(() => Infinity)]);
      assert.ok(took < CLOSE_WAIT_MS + 2_000, `close took ${took} ms`);
      // The stream goes on after close: nothing is scheduled for it.
      const walksAtClose = walks;
      await sleep(400);
      assert.equal(walks, walksAtClose, 'no refresh after close');
    } finally {
      clearInterval(stream);
    }
    assert.deepEqual(errors, []);
  });
});
