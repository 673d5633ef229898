// The lock order (top of src/store/migrations/routing/functions.sql; docs/architecture.md,
// "Lock order") on the exclusive routing paths that lock an agent's row and a
// conversation's: a manual pick (sb_pick), a transfer to an agent (sb_transfer_conversation,
// the target) and the sweep's offer expiry (sb_expire_offers). The routing lock, held
// exclusive, keeps every other routing change out, but not the writes that take no routing
// lock. One of them locks an agent before a conversation: an agent's first read marker on a
// conversation (src/unread/unread.ts, markReadUpTo) key-shares the agent's row, then the
// conversation's, by its two foreign keys (checked in that order, the order the constraints
// were made). Under the old order (the conversation, then the agent: bf227d6) a path holding
// the conversation while it waited for the agent met a marker holding the agent while it
// waited for the conversation: a deadlock. The path waits for the agent here behind a
// heartbeat held open (the one write of an agent row without the routing lock,
// src/agents/agents.ts), so the marker starts while the path is stalled at that point.
//
// PostgreSQL: that interleaving, on three connections; both finish, the marker first (it
// waits for nothing the path holds), nothing is 'deadlock detected', the promises hold.
// PGlite has one connection: the same changes one after another, in the order they commit on
// PostgreSQL (the marker, the heartbeat, the change), with the same outcome.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import pg from 'pg';
import { heartbeat } from '../../src/agents/agents.js';
import type { AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { openConversation, transferConversation } from '../../src/conversations/lifecycle.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { changeDepartmentRouting } from '../../src/routing/department-settings.js';
import { pickConversation } from '../../src/routing/pick.js';
import { sweep } from '../../src/routing/sweep.js';
import { markReadUpTo } from '../../src/unread/unread.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { settledOrWaiting } from '../helpers/lock-waits.js';
import { describeEachStore, type TestStore } from '../helpers/stores.js';

/**
 * Runs routing change `change` (whose SQL names `changeText`) beside agent `agentId`'s first
 * read marker on conversation `conversationId`, interleaved as above on PostgreSQL, and
 * returns what the change returned and the marker's position.
 */
async function beside<T>(store: TestStore, agentId: string, conversationId: string, changeText: string, change: () => Promise<T>): Promise<{ changed: T; marker: number }> {
  const db = store.db;
  const mark = () => markReadUpTo(db, agentId, conversationId, null, new Date());
  if (store.kind === 'pglite') {
    const marker = await mark();
    await heartbeat({ db, now: () => new Date() }, agentId);
    return { changed: await change(), marker };
  }
  const holder = new pg.Client({ connectionString: store.url });
  await holder.connect();
  try {
    await holder.query('begin');
    // heartbeat()'s write of the agent's row, held open: no key update, so a key share passes it, a FOR UPDATE waits
    const beat = await holder.query(`update agents set last_seen_at = now() where id = $1 and deleted_at is null and status <> 'offline'`, [agentId]);
    assert.equal(beat.rowCount, 1);
    const changing = change();
    const outcomes: Promise<unknown>[] = [changing];
    assert.equal(await settledOrWaiting(db, changeText, changing), 'waiting', "the change waits for the agent's row");
    const marking = mark();
    outcomes.push(marking);
    const markerRan = await settledOrWaiting(db, 'conversation_reads', marking);
    await holder.query('commit');
    const settled = await Promise.allSettled(outcomes);
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    assert.deepEqual(failures, [], 'both finish: no deadlock detected, nothing failed');
    assert.equal(markerRan, 'settled', 'the marker waited for nothing the stalled change held: it had locked no conversation yet');
    return { changed: await changing, marker: await marking };
  } finally {
    await holder.end();
  }
}

describeEachStore('the exclusive paths lock the agent before the conversation', (store) => {
  let ctx: Ctx;
  let supervisor: AgentRow;
  beforeEach(async () => {
    await store().reset();
    ctx = { db: store().db, now: () => new Date() };
    supervisor = await makeAgent(ctx, { role: 'supervisor' });
  });

  const open = async (department: string, customer: string): Promise<ConversationRow> =>
    (await openConversation(ctx, { customer: { id: customer }, department })).conversation;
  const row = async (id: string) => (await store().db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const readers = async (id: string) =>
    (await store().db.query<{ agent_id: string }>('select agent_id from conversation_reads where conversation_id = $1', [id])).map((r) => r.agent_id);
  const holds = async () => {
    assert.deepEqual(await invariantViolations(store().db), []);
    assert.deepEqual(await overCapacity(store().db), []);
  };

  it("a manual pick beside the picker's read marker on the conversation: both finish", async () => {
    await changeDepartmentRouting(ctx, 'desk', { mode: 'manual', manual_order: 'any' }, null);
    const a = await makeAgent(ctx, { status: 'online', capacity: 2, departments: ['desk'] });
    const c = await open('desk', 'waiting');
    assert.equal(c.state, 'queued');

    const { changed } = await beside(store(), a.id, c.id, 'sb_pick', () => pickConversation(ctx, c.id, { id: a.id, role: 'agent' }));
    assert.deepEqual([changed.state, changed.agent_id], ['assigned', a.id]);
    assert.deepEqual(await readers(c.id), [a.id]);
    assert.equal((await row(c.id)).agent_id, a.id);
    await holds();
  });

  it("a transfer to an agent beside that agent's read marker on the conversation: both finish", async () => {
    const a = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const c = await open('sales', 'moving');
    assert.equal(c.agent_id, a.id);
    const b = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });

    const { changed } = await beside(store(), b.id, c.id, 'sb_transfer_conversation', () =>
      transferConversation(ctx, c.id, { agent_id: b.id }, { id: supervisor.id, role: 'supervisor' }),
    );
    assert.deepEqual([changed.state, changed.agent_id], ['assigned', b.id]);
    assert.deepEqual(await readers(c.id), [b.id]);
    const loads = await store().db.query<{ id: string; load: number }>('select id, load from agents where id = any ($1::uuid[])', [[a.id, b.id]]);
    assert.deepEqual(Object.fromEntries(loads.map((l) => [l.id, l.load])), { [a.id]: 0, [b.id]: 1 });
    await holds();
  });

  it("the sweep's offer expiry beside the offered agent's read marker on the offer: both finish", async () => {
    await changeDepartmentRouting(ctx, 'offers', { mode: 'offer', offer_timeout_s: 10, offer_expiries_before_away: 3 }, null);
    const a = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['offers'] });
    const c = await open('offers', 'offered');
    assert.deepEqual([c.state, c.agent_id], ['offered', a.id]);

    // the sweep of 11 s later: the offer has run out, the agent's keep-alive (30 s) has not
    const later = { db: store().db, now: () => new Date(Date.now() + 11_000) };
    const { changed } = await beside(store(), a.id, c.id, 'sb_sweep_step', () => sweep(later));
    assert.equal(changed.offersExpired, 1);
    const after = await row(c.id);
    assert.equal(after.state, 'queued', 'back in the queue; the agent who let it expire is not offered it again at once');
    assert.deepEqual(after.declined_by, [a.id]);
    assert.deepEqual(await readers(c.id), [a.id]);
    const events = await store().db.query<{ type: string }>('select type from events where conversation_id = $1 order by id', [c.id]);
    assert.ok(events.some((e) => e.type === 'conversation.offer_expired'));
    await holds();
  });
});
