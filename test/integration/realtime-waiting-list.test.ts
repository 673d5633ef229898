// Issue #22 (P3): the realtime publisher's waiting list read again only where
// it changed (src/realtime/waiting-list.ts). After each kind of change — none,
// a priority, an SLA breach, a conversation queued, one leaving, the clock
// passing a skills relaxation and a sticky wait's end, an agent's capacity —
// the list published on events/queue (its JSON as sent) is the one listWaiting
// reads whole, and the refresh reads again the columns of the changed
// conversations only.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import { Assignments } from '../../src/realtime/access.js';
import { encodePayload } from '../../src/realtime/payloads.js';
import { createPublisher, type Publisher } from '../../src/realtime/publisher.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import { listWaiting } from '../../src/routing/queue.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

/** entries on events/queue: fewer than wait, so the length and oldest entry come from the queue past the list */
const LIST = 7;

describeEachStore('realtime: the waiting list read again where it changed', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let t: TestApp;
  let ctx: Ctx;
  let publisher: Publisher;
  let lists: { payload: any; json: string }[];
  /** rows of conversations' shown columns read (the statements that read customer names) */
  let rowsRead: number;
  const topics = topicsOf('sb');

  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    t = await testApp(store(), { now: clock.now });
    ctx = t.ctx;
    lists = [];
    rowsRead = 0;
    const counting = Object.create(ctx.db) as Ctx['db'];
    counting.query = async <Row>(text: string, params?: readonly unknown[]) => {
      const rows = await ctx.db.query<Row>(text, params);
      if (text.includes(`customer ->> 'name'`)) rowsRead += rows.length;
      return rows;
    };
    publisher = createPublisher({
      ctx: { ...ctx, db: counting },
      topics,
      assignments: new Assignments(),
      publish: async (topic, payload) => void (topic === topics.queueEvents() && lists.push({ payload, json: encodePayload(payload).toString() })),
      onError: (error) => assert.fail(String(error)),
      queueDebounceMs: 0,
      waitingListLimit: LIST,
      listSlice: 2,
    });
  });
  afterEach(async () => {
    await publisher.close();
    await t.close();
  });

  /** One refresh; its list against listWaiting's, read whole now; returns how many conversations' columns it read. */
  const refreshAndCheck = async (label: string): Promise<number> => {
    lists.length = 0;
    const before = rowsRead;
    publisher.onCommitted([{ type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: clock.now().toISOString() } as unknown as StoredEvent]);
    await publisher.idle();
    assert.equal(lists.length, 1, `${label}: one list`);
    const { payload, json } = lists[0]!;
    const read = rowsRead - before;
    assert.equal(json, JSON.stringify(payload), `${label}: the JSON sent is the payload's`);
    const whole = await listWaiting(ctx, LIST);
    const iso = (at: Date | null) => (at ? new Date(at).toISOString() : null);
    assert.deepEqual(
      JSON.parse(json).waiting,
      whole.head.map(({ row, queue }) => ({
        id: row.id,
        channel: row.channel,
        department: row.department,
        priority: row.priority,
        customer: row.customer,
        queued_at: iso(row.queued_at),
        position: queue.position,
        expected_wait_seconds: queue.expected_wait_seconds,
        sla_due_at: iso(row.sla_due_at),
        first_response_at: iso(row.first_response_at),
        sla_breached_at: iso(row.sla_breached_at),
      })),
      `${label}: the list as read whole`,
    );
    assert.equal(payload.length, whole.length, `${label}: length`);
    return read;
  };

  it('equals the list read whole after every kind of change, and reads only the changed conversations again', async () => {
    // Agents full (their load at capacity, so every expected wait counts slots): sales
    // with French 1 slot, sales 3, no department 2 (holding sticky waits).
    const french = await makeAgent(ctx, { departments: ['sales'], capacity: 1 });
    const sales = await makeAgent(ctx, { departments: ['sales'], capacity: 3 });
    const other = await makeAgent(ctx, { capacity: 2 });
    await ctx.db.query(`update agents set skills = '{"fr": 1}'::jsonb where id = $1`, [french.id]);
    const ids: string[] = [];
    const open = async (n: number, department?: string) => {
      clock.advance(1000);
      const { conversation } = await openConversation(ctx, { customer: { id: `customer-${n}`, name: `Customer ${n}` }, department });
      assert.equal(conversation.state, 'queued');
      ids.push(conversation.id);
      return conversation.id;
    };
    for (let n = 0; n < 10; n++) await open(n, n % 3 === 0 ? undefined : 'sales');
    await ctx.db.query(`update agents set status = 'online', load = capacity`);
    // French required, dropped after 60 s (conversations 1 and 2); a sticky wait for `other` for 120 s (3)
    await ctx.db.query(`update conversations set required_skills = '{"fr": 1}'::jsonb, skills_relax_after_s = 60 where id = any ($1::uuid[])`, [[ids[1], ids[2]]]);
    await ctx.db.query(`update conversations set sticky_agent_id = $2, sticky_until = $3 where id = $1`, [ids[3], other.id, new Date(clock.now().getTime() + 120_000)]);

    assert.equal(await refreshAndCheck('first'), LIST, 'the first refresh reads the list');
    const waits = (await listWaiting(ctx, LIST)).head.map((e) => e.queue.expected_wait_seconds);
    assert.ok(new Set(waits).size > 2, `terms that differ give waits that differ: ${waits}`);
    assert.equal(await refreshAndCheck('unchanged'), 0, 'an unchanged list is not read again');

    await ctx.db.query(`update conversations set priority = 5 where id = $1`, [ids[8]]);
    assert.equal(await refreshAndCheck('a priority'), 1);
    await ctx.db.query(`update conversations set sla_breached_at = $2 where id = $1`, [ids[2], clock.now()]);
    assert.equal(await refreshAndCheck('an SLA breach'), 1);
    await ctx.db.query(`update conversations set priority = 9 where id = $1`, [await open(10, 'sales')]);
    assert.equal(await refreshAndCheck('a conversation queued at the head'), 1);
    await closeConversation(ctx, ids[0]!, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    assert.equal(await refreshAndCheck('one left'), 1, 'the one that moved into the list');

    clock.advance(61_000);
    assert.equal(await refreshAndCheck('skills relaxed'), 0);
    clock.advance(60_000);
    assert.equal(await refreshAndCheck('the sticky wait over'), 0);
    await ctx.db.query(`update agents set capacity = 6, load = 6 where id = $1`, [sales.id]);
    assert.equal(await refreshAndCheck('an agent’s capacity'), 0);
  });
});
