// The channel entry points that no longer take the routing lock exclusive at
// BEGIN (issue #22, items 1 and 3): the widget's chat session start, the
// offline message, RapidPro's close, and the Qiscus allocator's decisions.
// Each now holds the lock only as its routing function takes it (shared on
// the fast paths) or, for the allocator, shared with the rows it decides on
// locked. On both stores: which mode a session start holds, and the three
// promises (capacity, once, work conserving) with all of them at once —
// widget sessions started and ended, Qiscus webhooks each sent three times
// at once, resolves, offline messages and overlapping allocation passes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import { endSession, startSession } from '../../src/realtime/sessions.js';
import { sessionGate } from '../../src/realtime/session-limits.js';
import type { Queryable } from '../../src/store/db.js';
import { testApp } from '../helpers/app.js';
import { startFakeQiscus, type FakeQiscus } from '../helpers/fake-qiscus.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { eachTestWithFakeQiscus, qiscusHarness, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { CONTRACT, createTicketer, mailroomFor } from '../helpers/rapidpro.js';
import { settlesWithin } from '../helpers/routing-app.js';
import { describeEachStore, openTestStore, storeKinds, type TestStore } from '../helpers/stores.js';

/** The modes of the routing lock (7301001) this transaction holds. */
async function routingLockModes(tx: Queryable): Promise<string[]> {
  const rows = await tx.query<{ mode: string }>(
    `select mode from pg_locks where locktype = 'advisory' and objid = 7301001 and pid = pg_backend_pid() and granted order by mode`,
  );
  return rows.map((r) => r.mode);
}


// Limits on (high): the address lock the gate takes after the open is part of what runs concurrently.
const SESSION_ENV = { SESSION_RATE_LIMIT: '10000', SESSION_MAX_OPEN_PER_ADDRESS: '10000' };
const LIMITS = { perMinute: 10_000, maxOpen: 10_000 };

describeEachStore('channel callers under the routing lock as their functions take it', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness | undefined;
  let openHarness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness: openHarness } = fresh));

  it('a widget session start holds the routing lock shared when an agent has room, and when it queues with the agent locked full', async () => {
    h = await openHarness({ env: SESSION_ENV });
    const ctx = h.t.ctx;
    await makeAgent(ctx, { status: 'online', capacity: 1 });
    const real = sessionGate(LIMITS, 60_000, '10.9.0.1');
    const seen: string[][] = [];
    // The gate runs inside the session's transaction, after the open: what the transaction holds there is what it commits with.
    const gate = { admit: async (tx: Queryable, id: string, now: Date) => (seen.push(await routingLockModes(tx)), real.admit(tx, id, now)) };
    const first = await startSession(ctx, { customer: { id: 'w-1' } }, 3600, gate);
    const second = await startSession(ctx, { customer: { id: 'w-2' } }, 3600, gate);
    assert.equal(first.conversation.state, 'assigned');
    assert.equal(second.conversation.state, 'queued');
    assert.deepEqual(seen, [['ShareLock'], ['ShareLock']], 'shared on the fast path, and when the open queues (row-level: concurrency-capacity-rows.test.ts)');
    const [sessions] = await ctx.db.query<{ n: number; addressed: number }>(
      `select count(*)::int as n, count(*) filter (where client_address is not null)::int as addressed from customer_sessions`,
    );
    assert.deepEqual(sessions, { n: 2, addressed: 2 }, 'each session has its token row, marked with its address, in the open\'s transaction');
    assert.deepEqual(await invariantViolations(ctx.db, { now: h.clock.now() }), []);
  });

  it('widget sessions, Qiscus webhooks sent three times at once, resolves, offline messages and allocation passes at once keep the promises', async () => {
    h = await openHarness({ env: SESSION_ENV });
    const harness = h;
    const ctx = harness.t.ctx;
    for (let i = 0; i < 3; i += 1) await makeAgent(ctx, { status: 'online', capacity: 2 });
    fake.addAgents(3);
    const admin = (await harness.t.user('admin')).token;
    const failures: string[] = [];
    const expect = (what: string, status: number, wanted: number[], body: string) => {
      if (!wanted.includes(status)) failures.push(`${what}: ${status} ${body}`);
    };
    const rooms = Array.from({ length: 12 }, (_, i) => `room-${i}`);

    const widget = async (i: number) => {
      // what POST /session and DELETE /session run (src/realtime/session-routes.ts), the address gate included
      const { conversation } = await startSession(ctx, { customer: { id: `w-${i}`, name: `W ${i}` } }, 3600, sessionGate(LIMITS, 60_000, `10.8.0.${i % 4}`));
      const sessionId = conversation.id;
      if (i % 3 === 0) {
        await endSession(ctx, sessionId);
      } else if (i % 3 === 1) {
        const resolved = await harness.t.call('POST', `/api/v1/conversations/${sessionId}/resolve`, { token: admin, body: {} });
        expect('resolve', resolved.statusCode, [200], resolved.body);
      }
    };
    const qiscusRoom = async (room: string, n: number) => {
      const answers = await Promise.all([harness.webhook(room), harness.webhook(room), harness.webhook(room)]);
      for (const a of answers) expect('allocation webhook', a.statusCode, [200], a.body);
      await harness.channel.allocator.pass();
      if (n % 4 === 0) {
        const resolved = await harness.resolve(room);
        expect('mark_as_resolved webhook', resolved.statusCode, [200], resolved.body);
      }
    };
    const offline = async (i: number) => {
      const left = await harness.t.call('POST', '/api/v1/offline-messages', { body: { name: `O ${i}`, email: `o${i}@example.test`, message: 'call me back' } });
      expect('offline message', left.statusCode, [201], left.body);
    };

    await Promise.all([
      ...Array.from({ length: 24 }, (_, i) => widget(i)),
      ...rooms.map((room, n) => qiscusRoom(room, n)),
      ...Array.from({ length: 4 }, (_, i) => offline(i)),
      ...Array.from({ length: 3 }, () => harness.channel.allocator.pass()),
    ]);
    await harness.settle();
    assert.deepEqual(failures, []);

    const db = ctx.db;
    assert.deepEqual(await invariantViolations(db, { now: harness.clock.now() }), [], 'capacity, once and work conserving');
    assert.deepEqual(await overCapacity(db), []);
    const perRoom = await db.query<{ room: string; conversations: number; created: number }>(
      `select c.external_ref as room, count(distinct c.id)::int as conversations,
              (select count(*)::int from events e where e.type = 'conversation.created' and e.conversation_id = any (array_agg(c.id))) as created
         from conversations c where c.channel = 'qiscus' group by c.external_ref order by c.external_ref`,
    );
    assert.deepEqual(
      perRoom.map((r) => [r.room, r.conversations, r.created]),
      [...rooms].sort().map((room) => [room, 1, 1]),
      'each room, its webhook sent three times at once, is one conversation, created once',
    );
    const assigns = new Map<string, number>();
    for (const a of fake.assigned) assigns.set(String(a.room_id), (assigns.get(String(a.room_id)) ?? 0) + 1);
    for (const [room, n] of assigns) assert.equal(n, 1, `room ${room} was given an agent once, whatever passes overlapped`);
    for (const [id, { load, open }] of await harness.loads()) {
      assert.equal(load, open, `mirror ${id}: its load is the rooms it holds`);
      assert.ok(load <= 2, `mirror ${id} holds ${load}, over max_customers 2`);
    }
    const [widgets] = await db.query<{ sessions: number; conversations: number }>(
      `select (select count(*)::int from customer_sessions) as sessions, (select count(*)::int from conversations where channel = 'widget') as conversations`,
    );
    assert.deepEqual(widgets, { sessions: 24, conversations: 24 }, 'every session started has its conversation and its token row, and nothing else');
  });

  it('RapidPro: a ticket re-sent at once gets one room, and room.close sent at once closes it once, its slot to the waiting room', async () => {
    const t = await testApp(store());
    try {
      const admin = (await t.user('admin')).token;
      const mailroom = mailroomFor(t, await createTicketer(t, admin));
      const agent = await makeAgent(t.ctx, { status: 'online', capacity: 1 });
      const opens = await Promise.all(Array.from({ length: 4 }, () => mailroom('POST', 'room', CONTRACT.room)));
      for (const o of opens) assert.ok([200, 201].includes(o.statusCode), o.body);
      const ids = new Set(opens.map((o) => o.json().id as string));
      assert.equal(ids.size, 1, 'the retries got the first room back');
      const other = { ...CONTRACT.room, ticketID: 'cccccccc-3e2f-4a93-aece-b05d2fdcde0c', visitor: { ...CONTRACT.room.visitor, token: '7654321', contactUUID: '6d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f' } };
      const waiting = await mailroom('POST', 'room', other);
      assert.equal(waiting.statusCode, 201, waiting.body);
      const closes = await Promise.all(Array.from({ length: 6 }, () => mailroom('POST', 'room.close', CONTRACT.close)));
      // every copy is 204 (a close of a room already over is, so mailroom never keeps the ticket open); one of them closed it
      assert.deepEqual(
        closes.map((c) => c.statusCode),
        [204, 204, 204, 204, 204, 204],
        closes.map((c) => c.body).join(' | '),
      );
      const [resolved] = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from events where type = 'conversation.resolved'`);
      assert.equal(resolved!.n, 1, 'closed once');
      const [row] = await t.ctx.db.query<{ load: number; state: string; agent_id: string }>(
        `select a.load, c.state, c.agent_id from agents a, conversations c where a.id = $1 and c.id = $2`,
        [agent.id, waiting.json().id],
      );
      assert.deepEqual(row, { load: 1, state: 'assigned', agent_id: agent.id }, 'the freed slot went to the waiting room, once');
      const [counted] = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from conversations where channel = 'rapidpro'`);
      assert.equal(counted!.n, 2);
      assert.deepEqual(await invariantViolations(t.ctx.db), []);
    } finally {
      await t.close();
    }
  });
});

// PGlite has one connection: no second holder can be beside the first. The
// mode each path takes is observed on both stores above; here, on two
// connections, that none of them waits for a shared holder to finish.
describe('channel callers beside a shared holder of the routing lock [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  it('a widget start, an offline message, a Qiscus webhook and an allocation pass run while another transaction holds the lock shared, and so does a queueing open; an agent update waits for it', async () => {
    const store: TestStore = await openTestStore('postgres', { poolSize: 4 });
    const fake = await startFakeQiscus();
    const h = await qiscusHarness(store, fake, { env: SESSION_ENV });
    const holder = new pg.Client({ connectionString: store.url });
    await holder.connect();
    try {
      const ctx = h.t.ctx;
      const agent = await makeAgent(ctx, { status: 'online', capacity: 2 });
      fake.addAgents(1);
      const admin = (await h.t.user('admin')).token;
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock_shared(7301001)');

      const widget = startSession(ctx, { customer: { id: 'w-beside' } }, 3600, sessionGate(LIMITS, 60_000, '10.7.0.1'));
      assert.ok(await settlesWithin(widget, 5_000), 'the widget start (an agent has room) did not wait');
      assert.equal((await widget).conversation.state, 'assigned');
      const offline = h.t.call('POST', '/api/v1/offline-messages', { body: { name: 'O', email: 'o@example.test', message: 'call me back' } });
      assert.ok(await settlesWithin(offline, 5_000), 'the offline message (an agent has room) did not wait');
      assert.equal((await offline).statusCode, 201);
      const webhook = h.webhook('room-beside');
      assert.ok(await settlesWithin(webhook, 5_000), 'the Qiscus webhook did not wait');
      const pass = h.channel.allocator.pass();
      assert.ok(await settlesWithin(pass, 5_000), 'the allocation pass did not wait');
      assert.equal((await pass).assigned, 1, 'the pass gave the room its agent beside the shared holder');

      // The agent is full now, so this open queues: under the lock shared too, with the agent's row locked full.
      const queueing = h.t.call('POST', '/api/v1/conversations', { token: admin, body: { customer: { id: 'waits' } } });
      assert.ok(await settlesWithin(queueing, 5_000), 'the queueing open did not wait');
      const queued = await queueing;
      assert.equal(queued.statusCode, 201, queued.body);
      assert.equal(queued.json().state, 'queued');
      // The control: an agent's update needs the lock exclusive.
      const update = updateAgent(ctx, agent.id, { name: 'Renamed' }, SYSTEM);
      assert.equal(await settlesWithin(update, 1_000), false, "an agent's update waited for the shared holder");
      await holder.query('commit');
      assert.equal((await update).name, 'Renamed');
      const [row] = await ctx.db.query<{ load: number }>('select load from agents where id = $1', [agent.id]);
      assert.equal(row!.load, 2);
      await h.settle();
      assert.deepEqual(await invariantViolations(ctx.db, { now: h.clock.now() }), []);
    } finally {
      await holder.end();
      await h.close();
      await fake.close();
      await store.close();
    }
  });
});
