// Issue #22 (P1): resolves with a backlog waiting. Each close hands the freed
// slot to the head of what the agent serves, read from the index heads (their
// departments' and the department-less queue's), not from a sort of the whole
// backlog; the places and expected waits of those still waiting follow every
// resolve. Against an order written out independently of the engine's, on a
// clock the test moves.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { DEFAULT_HANDLE_TIME_S, listQueue } from '../../src/routing/queue.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import { eachTestOnClockedApp, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';

interface Waiting {
  id: string;
  department: string | null;
  priority: number;
  /** order of arrival */
  n: number;
}

describeEachStore('queue: resolves with a backlog', (store) => {
  let clock: FakeClock;
  let ctx: Ctx;
  eachTestOnClockedApp(store, (fresh) => ({ clock, ctx } = fresh));

  const open = async (customer: string, department: string | null, priority = 0) => {
    clock.advance(1000);
    const { conversation } = await openConversation(ctx, { customer: { id: customer }, department, priority, customer_verified: true });
    return conversation;
  };
  const holding = async (agent: AgentRow) =>
    (await ctx.db.query<{ id: string }>(`select id from conversations where agent_id = $1 and state = 'assigned'`, [agent.id]))[0]?.id ?? null;
  /** the queue's order, worked out here: priority, then arrival */
  const inServingOrder = (list: Waiting[]) => [...list].sort((a, b) => b.priority - a.priority || a.n - b.n);

  it('each resolve gives the slot to the head across the agent’s department and the department-less queue, and every place and wait follows', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const first = await open('first', null);
    assert.equal(first.agent_id, agent.id);
    // Behind full capacity: department-less and sales conversations, priorities mixed,
    // so the head alternates between the two parts and moves past later arrivals.
    let waiting: Waiting[] = [];
    for (let n = 0; n < 24; n++) {
      const department = n % 2 === 0 ? null : 'sales';
      const priority = (n * 7) % 3;
      const c = await open(`backlog-${n}`, department, priority);
      assert.equal(c.state, 'queued');
      waiting.push({ id: c.id, department, priority, n });
    }

    const handled: number[] = [];
    let heldSince = clock.now().getTime() - 24_000;
    let holds = first.id;
    for (let step = 0; step <= 24; step++) {
      // places: the rank in its own department's queue (department-less ones form theirs)
      const expected = new Map<string, number>();
      for (const department of [null, 'sales']) {
        inServingOrder(waiting.filter((w) => w.department === department)).forEach((w, i) => expected.set(w.id, i + 1));
      }
      const handleS = handled.length === 0 ? DEFAULT_HANDLE_TIME_S : handled.reduce((s, x) => s + x, 0) / handled.length;
      const whole = await listQueue(ctx);
      const given = await listQueue(ctx, { conversationIds: waiting.map((w) => w.id) });
      assert.deepEqual(
        whole.map((q) => q.row.id),
        inServingOrder(waiting).map((w) => w.id),
        `step ${step}: the whole queue in serving order`,
      );
      for (const [how, list] of [['whole', whole], ['given', given]] as const) {
        assert.equal(list.length, waiting.length, `step ${step} (${how}): everyone waiting is listed`);
        for (const { row, queue } of list) {
          const position = expected.get(row.id)!;
          assert.equal(queue.position, position, `step ${step} (${how}): place of ${row.id}`);
          // the one agent is full: nobody is taken at once, one slot frees at a time
          assert.equal(queue.expected_wait_seconds, Math.round(position * handleS), `step ${step} (${how}): wait of ${row.id}`);
        }
      }

      clock.advance(1000);
      const closed = await closeConversation(ctx, holds, { reason: 'agent' }, { id: agent.id, role: agent.role });
      assert.equal(closed.state, 'resolved');
      handled.push((clock.now().getTime() - heldSince) / 1000);
      heldSince = clock.now().getTime();
      const next = await holding(agent);
      const [head] = inServingOrder(waiting);
      assert.equal(next, head?.id ?? null, `step ${step}: the freed slot went to the head of the queue`);
      if (head) {
        holds = head.id;
        waiting = waiting.filter((w) => w.id !== head.id);
      }
      assert.deepEqual(await invariantViolations(ctx.db), [], `step ${step}`);
    }
    assert.equal(waiting.length, 0);
    assert.equal((await listQueue(ctx)).length, 0);
  });
});
