// An allocation pass hands its assign_agent calls straight to the running
// outbound worker (issue #22: webhook → assign_agent p99): claimed in the
// pass's own transaction, sent as it commits, without waiting for the
// worker's next claim. What must hold: each call goes once, and a room's
// calls still go in order (a remove_agent still pending holds its room's
// next assign_agent back).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CLAIM_STATEMENTS } from '../../src/events/outbound/outbox.js';
import { OUTBOX_CHANNEL } from '../../src/store/db.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const ASSIGN = '/api/v1/admin/service/assign_agent';
const REMOVE = '/api/v1/admin/service/remove_agent';

describeEachStore('Qiscus assign_agent handed over by the allocation pass', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const outbound = (name: string) =>
    store().db.query<{ id: number; room: string; state: string; attempts: number; leased: boolean; logged: number }>(
      `select o.id, convert_from(o.body, 'UTF8') as room, o.state, o.attempts, o.next_attempt_at > $2 as leased,
              (select count(*)::int from outbound_attempts a where a.request_id = o.id) as logged
         from outbound_requests o where o.name = $1 order by o.id`,
      [name, h.clock.now()],
    );
  const roomCalls = () =>
    fake.requests.filter((r) => r.path === ASSIGN || r.path === REMOVE).map((r) => [r.path === ASSIGN ? 'assign' : 'remove', r.form.get('room_id'), Number(r.form.get('agent_id'))]);

  it('claims the calls in the pass that decided them, so they are on their way when it returns, and sends each once', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['h1', 'h2', 'h3']) await h.webhook(room);
    // the worker runs (as in the server), the allocator's loop does not: this pass is the only one
    h.worker.start();
    const pass = await h.channel.allocator.pass();
    assert.equal(pass.assigned, 3);
    // The fake clock stands still: a row the worker's claim took would be leased too, but no claim
    // has run since the pass committed (it waits for a wake-up that comes after this read is sent).
    const handed = await outbound('assign_agent');
    assert.equal(handed.length, 3);
    for (const row of handed) assert.ok(row.leased || row.state === 'delivered', `${row.room} was left for the worker's claim: ${JSON.stringify(row)}`);

    // a bound, not a timing claim: a loaded CI machine may take seconds
    assert.ok(await h.until(async () => (await outbound('assign_agent')).every((r) => r.state === 'delivered' && r.logged === 1), 30_000), 'the calls were not all recorded delivered');
    // the worker's claims ran meanwhile (the commits woke them): none sent a handed-over call again
    assert.deepEqual(
      fake.requests.filter((r) => r.path === ASSIGN).map((r) => r.form.get('room_id')).sort(),
      ['h1', 'h2', 'h3'],
    );
    assert.deepEqual((await outbound('assign_agent')).map((r) => [r.state, r.attempts, r.logged]), [['delivered', 1, 1], ['delivered', 1, 1], ['delivered', 1, 1]]);
  });

  it('claims a pass past its destination\'s cap and holds the rest until a slot frees: no call waits for a record and a claim', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 100 }, token: (await h.t.user('admin')).token });
    fake.addAgents(2);
    // more rooms than the worker's 64 slots (its cap on one destination too): the first 64 calls hang until released
    const rooms = Array.from({ length: 70 }, (_, i) => `c${i}`);
    for (const room of rooms) await h.webhook(room);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    fake.inject(ASSIGN, ...rooms.map(() => ({ until: gate })));
    h.worker.start();
    const pass = await h.channel.allocator.pass();
    assert.equal(pass.assigned, 70);
    // Every slot is taken by a hanging call, so no claim can take anything now: the 6 past the cap are
    // leased because the pass claimed them too, and are held by the worker for the first free slots.
    const handed = await outbound('assign_agent');
    assert.equal(handed.length, 70);
    assert.deepEqual(handed.filter((r) => !r.leased).map((r) => r.room), [], 'calls past the cap were left for a claim after a record');
    const arrived = () => fake.requests.filter((r) => r.path === ASSIGN).length;
    assert.ok(await h.until(() => arrived() === 64, 30_000), `${arrived()} calls arrived, not the worker's 64 slots`);

    release();
    assert.ok(await h.until(async () => (await outbound('assign_agent')).every((r) => r.state === 'delivered' && r.logged === 1), 30_000), 'the calls were not all recorded delivered');
    const sent = fake.requests.filter((r) => r.path === ASSIGN).map((r) => r.form.get('room_id'));
    assert.equal(sent.length, 70, 'a call went twice');
    assert.deepEqual([...new Set(sent)].sort(), [...rooms].sort());
  });

  it('records the handed-over calls without a claim after each record: nothing waits behind them', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['n1', 'n2', 'n3']) await h.webhook(room);
    // the worker's claims, counted from here (it reads ctx.db at each call)
    const db = h.t.ctx.db;
    let claims = 0;
    h.t.ctx.db = { ...db, query: (text, params) => ((claims += CLAIM_STATEMENTS.has(text) ? 1 : 0), db.query(text, params)) } as typeof db;
    h.worker.start();
    assert.equal((await h.channel.allocator.pass()).assigned, 3);
    assert.ok(await h.until(async () => (await outbound('assign_agent')).every((r) => r.state === 'delivered' && r.logged === 1), 30_000), 'the calls were not all recorded delivered');
    await h.worker.stop();
    // Two claims at most: the worker's start and the pass's commit (onCommitted, as this harness wires it) each wake one. A record used to
    // kick another every time, though no row of these rooms waited behind those recorded (a room's next call does:
    // see below).
    assert.ok(claims <= 2, `${claims} claims ran`);
  });

  it('leaves a room whose remove_agent is still pending to the worker: its assign_agent goes after the removal', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1; // a1 is the first pick
    await h.webhook('r1');
    await h.settle();
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id]]);
    a1!.is_available = false;
    fake.inject(REMOVE, { status: 503 });
    const supervisor = await h.t.user('supervisor');
    const [{ id }] = (await store().db.query<{ id: string }>(`select id from conversations where external_ref = 'r1'`)) as [{ id: string }];
    assert.equal((await h.t.call('POST', `/api/v1/conversations/${id}/requeue`, { token: supervisor.token })).statusCode, 200);
    // the removal is tried once and answered 503: pending, its retry a second away on the fake clock
    await h.worker.tick();
    assert.deepEqual((await outbound('remove_agent')).map((r) => [r.state, r.attempts]), [['pending', 1]]);

    h.worker.start();
    // The call the pass leaves is a claim's to find, in any process: its commit wakes the workers (migration 0055).
    let notified = 0;
    const listening = await store().db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1) });
    const pass = await h.channel.allocator.pass();
    assert.equal(pass.assigned, 1);
    assert.ok(await h.until(() => notified > 0, 30_000), "the pass left a call unclaimed and woke no worker");
    await listening.close();
    const [, reassign] = await outbound('assign_agent');
    assert.ok(reassign, 'the room was not assigned again');
    assert.deepEqual([reassign.state, reassign.attempts, reassign.leased], ['pending', 0, false], 'the pass claimed an assign_agent its room\'s removal holds back');

    h.clock.advance(1_500); // the removal's retry comes after 1 s ± 10 %
    h.worker.wake();
    assert.ok(await h.until(() => fake.assigned.length === 2, 30_000), `the room did not reach a2: ${JSON.stringify(roomCalls())}`);
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['assign', 'r1', a2!.id]]);
    assert.deepEqual(fake.rooms.get('r1'), [a2!.id]);
  });

  it('a call whose process died after the pass committed is sent, once, by another worker when its lease ends', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['x1', 'x2']) await h.webhook(room);
    // A worker that leases the calls and dies before sending any: its hand-over drops what it is given.
    const LEASE_MS = 5_000;
    let dropped = 0;
    h.channel.producer.attach?.({
      slots: (now) => ({ limit: 64, leaseUntil: new Date(now.getTime() + LEASE_MS), producers: ['qiscus'] }),
      send: (rows) => ((dropped += rows.length), Promise.resolve()),
    });
    assert.equal((await h.channel.allocator.pass()).assigned, 2);
    assert.equal(dropped, 2, 'the pass handed over fewer calls than it leased');
    assert.deepEqual((await outbound('assign_agent')).map((r) => [r.state, r.attempts, r.leased]), [['pending', 0, true], ['pending', 0, true]]);
    h.channel.producer.attach?.(undefined);

    // Another worker (this harness's, never started, so never attached): nothing to take while the lease holds.
    await h.worker.tick();
    assert.equal(fake.assigned.length, 0, 'a leased call was sent before its lease ended');
    h.clock.advance(LEASE_MS + 1);
    await h.worker.tick();
    await h.worker.tick();
    assert.deepEqual(fake.requests.filter((r) => r.path === ASSIGN).map((r) => r.form.get('room_id')).sort(), ['x1', 'x2']);
    assert.deepEqual((await outbound('assign_agent')).map((r) => [r.state, r.attempts, r.logged]), [['delivered', 1, 1], ['delivered', 1, 1]]);
  });
});
