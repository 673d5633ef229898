import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { toConversation, type ConversationRow } from '../../src/conversations/model.js';
import type { StoredEvent } from '../../src/events/event.js';
import { listEvents } from '../../src/events/outbox.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// The routing functions (src/store/migrations/routing/functions.sql) build their events' payloads in
// SQL (sb_conversation_json); readers depend on them being exactly what
// toConversation makes of the same row.
describeEachStore('routing functions', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let committed: StoredEvent[];
  let ctx: Ctx;
  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    committed = [];
    ctx = { db: store().db, now: clock.now, onCommitted: (events) => committed.push(...events) };
  });

  const row = async (id: string) => (await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const logged = async () => (await listEvents(ctx.db, 0, 1000)).filter((e) => e.type.startsWith('conversation.'));

  it('logs the same payloads toConversation makes, and hands the listeners what the log holds', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    clock.advance(1234);
    const customer = { id: 'c-1', name: 'Ada', fields: { plan: 'gold' } };
    const first = (await openConversation(ctx, { customer, priority: 2, external_ref: 'r-1', channel: 'api' })).conversation;
    clock.advance(1);
    const second = (await openConversation(ctx, { customer: { id: 'c-2', email: null }, department: null })).conversation;
    assert.equal(first.state, 'assigned');
    assert.equal(second.state, 'queued');
    clock.advance(5);
    const closed = await closeConversation(ctx, first.id, { reason: 'agent', note: 'done' }, SYSTEM);

    const firstArrived = { ...first, state: 'queued' as const, agent_id: null, assigned_at: null };
    const secondNow = await row(second.id);
    const expected = [
      ['conversation.created', first.id, null, { conversation: toConversation(firstArrived) }],
      ['conversation.assigned', first.id, agent.id, { conversation: toConversation(first) }],
      ['conversation.created', second.id, null, { conversation: toConversation(second) }],
      ['conversation.queued', second.id, null, { conversation: toConversation(second), reason: 'new' }],
      ['conversation.resolved', first.id, agent.id, { conversation: toConversation(closed), by: null }],
      ['conversation.assigned', second.id, agent.id, { conversation: toConversation(secondNow) }],
    ];
    const inLog = await logged();
    assert.deepEqual(
      inLog.map((e) => [e.type, e.conversation_id, e.agent_id, e.data]),
      expected,
    );
    assert.equal(secondNow.state, 'assigned');
    const heard = committed.filter((e) => e.type.startsWith('conversation.'));
    assert.deepEqual(
      heard.map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]),
      inLog.map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]),
    );
  });

  it('answers a repeated open with the open conversation and writes nothing', async () => {
    const first = await openConversation(ctx, { customer: { id: 'c' }, channel: 'api', external_ref: 'x' });
    const before = (await logged()).length;
    const again = await openConversation(ctx, { customer: { id: 'c' }, channel: 'api', external_ref: 'x' });
    assert.equal(again.created, false);
    assert.equal(again.conversation.id, first.conversation.id);
    assert.equal((await logged()).length, before);
  });
});
