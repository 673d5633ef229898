// A room whose agent list Qiscus refuses (a 4xx) three times is given up
// (docs/qiscus.md, "What happens to a room", step 4). Found by review
// (2026-11-26): the give-up closed the room whatever its state, so a room
// that another process's pass assigned while this one's third refusal was on
// its way was abandoned with its agent in it; and each pass wrote the count
// it had read plus one, so two processes refused at once counted one refusal.
// Two harnesses on one store stand for two processes; the fake holds a
// refusal until the test lets it go. On PostgreSQL the refusal lands while
// the other process's decision on the room is open, and the give-up waits
// for it (a check that took no lock saw the room still queued, and the
// close then waited for the room's row and closed it assigned); PGlite has
// one connection: the decision commits, then the refusal lands.
//
// Found by review (2026-11-26): the give-up read the count of every failed
// list, timeouts and 401s included, so a room that had waited out a login
// outage was given up at its first refusal ("refused 4 times"). Refusals are
// now counted apart (list_refusals), in a row: a list Qiscus answers ends it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LOCKS } from '../../src/store/db.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { invariantViolations } from '../helpers/invariants.js';
import { settledOrWaiting } from '../helpers/lock-waits.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { afterEachStatement } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';

const AGENTS = '/api/v2/admin/service/available_agents';
const REFUSAL = { status: 403, body: { status: 403, errors: 'You may not list the agents of this room' } };
const DOWN = { status: 503, body: { status: 503, errors: 'Service Unavailable' } };

describeEachStore("a room whose agent list Qiscus refuses", (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const lists = () => fake.requests.filter((r) => r.path === AGENTS).length;
  const room = async () =>
    (
      await store().db.query<{ state: string; resolve_reason: string | null; fetch_failures: number; list_refusals: number; reason: string | null }>(
        `select c.state, c.resolve_reason, q.fetch_failures, q.list_refusals, q.reason
           from conversations c join qiscus_rooms q on q.conversation_id = c.id where c.external_ref = 'r1'`,
      )
    )[0]!;
  /** Qiscus refuses r1's list to a pass of `h`; then every process's clock passes the back-off. */
  const refusedOnce = async (h: QiscusHarness, all: readonly QiscusHarness[]) => {
    fake.inject(AGENTS, REFUSAL);
    assert.equal((await h.channel.allocator.pass()).closed, 0);
    for (const each of all) each.clock.advance(60_000);
  };
  const held = () => {
    let release!: () => void;
    const until = new Promise<void>((resolve) => (release = resolve));
    return { answer: { until, ...REFUSAL }, release };
  };

  it('gives the room up at the third refusal', async () => {
    const h = await harness();
    fake.addAgents(1);
    await h.webhook('r1');
    await refusedOnce(h, [h]);
    await refusedOnce(h, [h]);
    assert.equal((await room()).list_refusals, 2);
    fake.inject(AGENTS, REFUSAL);
    assert.equal((await h.channel.allocator.pass()).closed, 1);
    const given = await room();
    assert.deepEqual([given.state, given.resolve_reason], ['abandoned', 'qiscus_failed']);
    assert.match(given.reason ?? '', /^Qiscus refused to list the room's agents 3 times in a row: .*HTTP 403 You may not list the agents of this room/);
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('counts no failure but a refusal toward the give-up', async () => {
    const h = await harness();
    fake.addAgents(1);
    await h.webhook('r1');
    // Qiscus down for four passes, then the credentials refused for two
    for (let i = 0; i < 4; i += 1) {
      fake.inject(AGENTS, DOWN);
      await h.channel.allocator.pass();
      h.clock.advance(60_000);
    }
    const secret = fake.secret;
    fake.secret = 'rotated-in-qiscus';
    for (let i = 0; i < 2; i += 1) {
      await h.channel.allocator.pass();
      h.clock.advance(60_000);
    }
    fake.secret = secret;
    await refusedOnce(h, [h]);
    const waiting = await room();
    assert.deepEqual([waiting.state, waiting.fetch_failures, waiting.list_refusals], ['queued', 7, 1], 'the room was given up for failures that were no refusal');
    await refusedOnce(h, [h]);
    fake.inject(AGENTS, REFUSAL);
    assert.equal((await h.channel.allocator.pass()).closed, 1);
    assert.match((await room()).reason ?? '', /^Qiscus refused to list the room's agents 3 times in a row/);
  });

  it('starts the count again when Qiscus lists the room between refusals', async () => {
    const h = await harness();
    // an agent who is not available: the list is answered, the room keeps waiting
    fake.addAgents(1, { is_available: false });
    await h.webhook('r1');
    await refusedOnce(h, [h]);
    await refusedOnce(h, [h]);
    assert.equal((await h.channel.allocator.pass()).assigned, 0);
    assert.deepEqual([(await room()).state, (await room()).list_refusals], ['queued', 0]);
    await refusedOnce(h, [h]);
    await refusedOnce(h, [h]);
    const waiting = await room();
    assert.deepEqual([waiting.state, waiting.list_refusals], ['queued', 2], 'refusals apart were counted as in a row');
  });

  it('keeps a room another process assigned while its third refusal was on the way', async () => {
    const a = await harness();
    const b = await harness();
    const [agent] = fake.addAgents(1);
    await a.webhook('r1');
    await refusedOnce(a, [a, b]);
    await refusedOnce(a, [a, b]);
    const third = held();
    fake.inject(AGENTS, third.answer);
    const passingA = a.channel.allocator.pass();
    assert.ok(await a.until(() => lists() === 3));
    // Process B reads the room still waiting, is offered the agent, and assigns it.
    if (store().kind === 'pglite') {
      // one connection: B's decision commits, then A's refusal arrives
      assert.equal((await b.channel.allocator.pass()).assigned, 1);
      third.release();
    } else {
      // A's refusal arrives while B's decision, paused once it has locked the mirror and the room, is open
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const roomLocked = new Promise<void>((resolve) => (locked = resolve));
      b.t.ctx.db = afterEachStatement(b.t.ctx.db, async (text, _tx, options) => {
        if (text.includes('held.mirrors') && options?.locks?.some((l) => typeof l === 'object' && l.shared === LOCKS.routing)) {
          locked();
          await gate;
        }
      });
      const passingB = b.channel.allocator.pass();
      try {
        await roomLocked;
        third.release();
        // whatever it waits on (any statement of A's: B's is paused, not waiting)
        assert.equal(await settledOrWaiting(store().db, '', passingA), 'waiting', "A's refusal did not meet B's open decision");
      } finally {
        release();
      }
      assert.equal((await passingB).assigned, 1);
    }
    assert.equal((await passingA).closed, 0, 'A gave up a room B had assigned');
    const kept = await room();
    assert.equal(kept.state, 'assigned');
    assert.equal(kept.reason, null, "the refusal's note on a room no longer waiting");
    await b.worker.tick();
    assert.deepEqual(fake.assigned.map((x) => [x.room_id, x.agent_id]), [['r1', agent!.id]]);
    assert.deepEqual(await a.loads(), new Map([[String(agent!.id), { load: 1, open: 1 }]]));
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('counts two refusals when two processes are refused the room at once', async () => {
    const a = await harness();
    const b = await harness();
    fake.addAgents(1);
    await a.webhook('r1');
    await refusedOnce(a, [a, b]);
    const first = held();
    const second = held();
    fake.inject(AGENTS, first.answer, second.answer);
    const passingA = a.channel.allocator.pass();
    assert.ok(await a.until(() => lists() === 2));
    const passingB = b.channel.allocator.pass();
    assert.ok(await b.until(() => lists() === 3));
    first.release();
    second.release();
    const [passedA, passedB] = await Promise.all([passingA, passingB]);
    assert.equal(passedA.closed + passedB.closed, 1, 'the third refusal gives the room up, once');
    const given = await room();
    assert.deepEqual([given.state, given.resolve_reason, given.list_refusals], ['abandoned', 'qiscus_failed', 3]);
    assert.deepEqual(await invariantViolations(store().db), []);
  });
});
