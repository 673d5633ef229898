import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation } from '../../src/conversations/lifecycle.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// An open that finds an agent with room writes its conversation once,
// already assigned or offered (sb_open_conversation's fast path asks the
// claim about the row in memory before inserting it); one that queues
// writes it once, queued. Inserting it queued and then updating it wrote a
// second row version and a second round of entries in every index on
// conversations (issue #22, item 3).
// Counted by a row trigger the test lays on conversations (the statistics
// views are no help: PostgreSQL 15 reports a session's counts late,
// summed over several transactions).
describeEachStore('routing: an open writes its conversation once', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let ctx: Ctx;
  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    ctx = { db: store().db, now: clock.now };
    await ctx.db.exec(`
      create table if not exists test_conversation_writes (op text not null);
      create or replace function test_conversation_written() returns trigger language plpgsql as $$
      begin
        insert into test_conversation_writes values (tg_op);
        return null;
      end
      $$;
      drop trigger if exists test_conversation_written on conversations;
      create trigger test_conversation_written after insert or update on conversations
        for each row execute function test_conversation_written();`);
  });

  /** Opens through sb_open_conversation in a transaction of its own; the row and what the transaction wrote to conversations. */
  const open = async (customer: string, department: string | null = null, verified = false) =>
    ctx.db.transaction(async (tx) => {
      await tx.query('delete from test_conversation_writes');
      const [opened] = await tx.query<{ id: string; state: string }>(
        `select (o.opened).id, (o.opened).state from sb_open_conversation('api', null, $1, jsonb_build_object('id', $1::text), $2, 0, $3, $4, null) o`,
        [customer, department, clock.now(), verified],
      );
      const [written] = await tx.query<{ inserted: number; updated: number }>(
        `select count(*) filter (where op = 'INSERT')::int as inserted, count(*) filter (where op = 'UPDATE')::int as updated
           from test_conversation_writes`,
      );
      await tx.query('delete from test_conversation_writes');
      return { id: opened!.id, state: opened!.state, written: { inserted: written!.inserted, updated: written!.updated } };
    });
  const row = async (id: string) => (await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const load = async (id: string) => (await ctx.db.query<{ load: number }>('select load from agents where id = $1', [id]))[0]!.load;
  const route = (department: string, settings: Record<string, unknown>) =>
    ctx.db.query('insert into department_routing (department, settings) values ($1, $2)', [department, settings]);

  it('assigns at once with one insert, the agent counting it', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const opened = await open('c-1');
    assert.deepEqual(opened.written, { inserted: 1, updated: 0 });
    const c = await row(opened.id);
    assert.equal(c.state, 'assigned');
    assert.equal(c.agent_id, agent.id);
    assert.equal(c.assigned_at?.getTime(), clock.now().getTime());
    assert.equal(await load(agent.id), 1);
  });

  it('offers at once with one insert in an offer-mode department, the offer running from the open', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 20 });
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const opened = await open('c-1', 'sales');
    assert.deepEqual(opened.written, { inserted: 1, updated: 0 });
    const c = await row(opened.id);
    assert.equal(c.state, 'offered');
    assert.equal(c.agent_id, agent.id);
    assert.equal(c.assigned_at, null);
    assert.equal(c.offer_expires_at?.getTime(), clock.now().getTime() + 20_000);
    assert.equal(await load(agent.id), 1);
  });

  it('queues with one insert when nobody has room, and the next close gives it away', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const first = await open('c-1');
    const second = await open('c-2');
    assert.equal(second.state, 'queued');
    assert.deepEqual(second.written, { inserted: 1, updated: 0 });
    assert.equal((await row(second.id)).agent_id, null);
    await closeConversation(ctx, first.id, { reason: 'agent' }, SYSTEM);
    assert.equal((await row(second.id)).state, 'assigned');
    assert.equal((await row(second.id)).agent_id, agent.id);
  });
});
