// RapidPro's room open and the widget session's end without the routing lock
// exclusive at BEGIN (issue #22, item 3): sb_open_room serializes the opens of
// one contact token on a lock of its own and leaves the routing lock to the
// open; sb_end_chat picks abandoned or resolved from the row as its close
// locks it. On both stores: mailroom's retries and stale rooms sent at once,
// deleteTicketer racing opens, and endSession racing an agent's resolve and
// itself. On PostgreSQL: both finish beside a shared holder of the lock, and
// a session end whose guess an assignment made wrong closes it resolved.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openRoom, type OpenedRoom } from '../../src/channels/rapidpro/tickets.js';
import { deleteTicketer } from '../../src/channels/rapidpro/ticketers.js';
import type { RoomRequest } from '../../src/channels/rapidpro/inbound.js';
import { AppError } from '../../src/errors.js';
import { endSession, startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { createTicketer } from '../helpers/rapidpro.js';
import { settlesWithin } from '../helpers/routing-app.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

const room = (ticketId: string, token: string): RoomRequest => ({ ticketId, token, department: null, priority: 0, customFields: {} });

async function roomsOf(t: TestApp): Promise<{ ticket_id: string; token: string; state: string; reason: string | null; conversation_id: string }[]> {
  return t.ctx.db.query(
    `select t.ticket_id, t.visitor_token as token, c.state, c.resolve_reason as reason, c.conversation_id
       from rapidpro_tickets t join lateral (select id as conversation_id, state, resolve_reason from conversations where id = t.conversation_id) c on true
      order by t.ticket_id`,
  );
}

describeEachStore('RapidPro room opens and chat session ends, with the routing lock left to their functions', (store) => {
  let t: TestApp;
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
  });
  afterEach(async () => {
    await t.close();
  });

  it('tickets for one contact, each sent three times at once: one room a ticket, retries answered with it, one open room for the token, the others replaced', async () => {
    const admin = (await t.user('admin')).token;
    const ticketer = await createTicketer(t, admin);
    for (let i = 0; i < 2; i += 1) await makeAgent(t.ctx, { status: 'online', capacity: 2 });
    const tickets = ['t-a', 't-b', 't-c', 't-d'];
    // two contacts: c-1 gets four tickets at once, c-2 one, each sent three times
    const sends: { ticket: string; token: string; answer: Promise<OpenedRoom> }[] = [];
    for (const ticket of tickets) for (let k = 0; k < 3; k += 1) sends.push({ ticket, token: 'c-1', answer: openRoom(t.ctx, ticketer.uuid, room(ticket, 'c-1')) });
    for (let k = 0; k < 3; k += 1) sends.push({ ticket: 't-other', token: 'c-2', answer: openRoom(t.ctx, ticketer.uuid, room('t-other', 'c-2')) });
    const answers = await Promise.all(sends.map(async (s) => ({ ...s, opened: await s.answer })));

    const rooms = await roomsOf(t);
    assert.deepEqual(rooms.map((r) => r.ticket_id), [...tickets, 't-other'], 'one ticket row (one room) a ticket');
    for (const r of rooms) {
      const mine = answers.filter((a) => a.ticket === r.ticket_id);
      assert.deepEqual(new Set(mine.map((a) => a.opened.conversationId)), new Set([r.conversation_id]), `every answer for ${r.ticket_id} is its room`);
      assert.deepEqual(mine.map((a) => a.opened.created).sort(), [false, false, true], `${r.ticket_id}: created once, the retries not`);
    }
    const c1 = rooms.filter((r) => r.token === 'c-1');
    assert.equal(c1.filter((r) => r.state !== 'resolved').length, 1, 'one open room for the contact token');
    assert.equal(c1.filter((r) => r.state === 'resolved' && r.reason === 'replaced').length, 3, 'the older rooms closed as replaced');
    assert.notEqual(rooms.find((r) => r.token === 'c-2')!.state, 'resolved', "the other contact's room stays open");
    const [conversations] = await t.ctx.db.query<{ n: number; created: number; replaced: number }>(
      `select (select count(*)::int from conversations where channel = 'rapidpro') as n,
              (select count(*)::int from events where type = 'conversation.created') as created,
              (select count(*)::int from events where type = 'conversation.resolved' and data ->> 'by' is null
                  and data -> 'conversation' ->> 'resolve_reason' = 'replaced') as replaced`,
    );
    assert.deepEqual(conversations, { n: 5, created: 5, replaced: 3 }, 'no conversation but the rooms, each created once; RapidPro hears of each replaced room');
    assert.deepEqual(await invariantViolations(t.ctx.db), [], 'capacity, once and work conserving');
    assert.deepEqual(await overCapacity(t.ctx.db), []);
  });

  it("another ticketer's ticket is refused and leaves the contact's stale room open; deleting a ticketer racing its opens leaves no room open for it", async () => {
    const admin = (await t.user('admin')).token;
    const first = await createTicketer(t, admin);
    const second = await createTicketer(t, admin);
    await makeAgent(t.ctx, { status: 'online', capacity: 10 });
    await openRoom(t.ctx, first.uuid, room('shared-id', 'x-1'));
    const stale = await openRoom(t.ctx, second.uuid, room('old', 'y-1'));
    await assert.rejects(openRoom(t.ctx, second.uuid, room('shared-id', 'y-1')), (e: unknown) => e instanceof AppError && e.code === 'SB_RAPIDPRO_TICKET_CONFLICT');
    const [kept] = await t.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [stale.conversationId]);
    assert.equal(kept!.state, 'assigned', 'the refused ticket undid the close of the stale room');

    const opens = Array.from({ length: 6 }, (_, i) => openRoom(t.ctx, second.uuid, room(`r-${i}`, `z-${i % 3}`)).then(
      () => 'opened',
      (e: unknown) => (e instanceof AppError && e.status === 404 ? 'unknown' : Promise.reject(e)),
    ));
    const [outcomes] = await Promise.all([Promise.all(opens), deleteTicketer(t.ctx, second.uuid)]);
    for (const o of outcomes) assert.ok(o === 'opened' || o === 'unknown', String(o));
    const [left] = await t.ctx.db.query<{ open: number; tickets: number }>(
      `select (select count(*)::int from conversations where channel = 'rapidpro' and state in ('queued', 'offered', 'assigned')) as open,
              (select count(*)::int from rapidpro_tickets where ticketer_uuid = $1) as tickets`,
      [second.uuid],
    );
    assert.deepEqual(left, { open: 1, tickets: 0 }, "only the first ticketer's room is open; nothing of the deleted one is left");
    assert.deepEqual(await invariantViolations(t.ctx.db), []);
  });

  it('a session end racing an agent resolve and a second end closes the conversation once: resolved when assigned, abandoned when never', async () => {
    const admin = (await t.user('admin')).token;
    const agent = await makeAgent(t.ctx, { status: 'online', capacity: 3 });
    const served = await Promise.all(Array.from({ length: 3 }, (_, i) => startSession(t.ctx, { customer: { id: `s-${i}` } }, 3600)));
    const waiting = await Promise.all(Array.from({ length: 2 }, (_, i) => startSession(t.ctx, { customer: { id: `q-${i}` } }, 3600)));
    assert.deepEqual(served.map((s) => s.conversation.state), ['assigned', 'assigned', 'assigned']);
    assert.deepEqual(waiting.map((s) => s.conversation.state), ['queued', 'queued']);

    const resolves: number[] = [];
    await Promise.all([
      ...served.flatMap(({ conversation: c }) => [
        endSession(t.ctx, c.id),
        endSession(t.ctx, c.id),
        t.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: admin, body: {} }).then((r) => resolves.push(r.statusCode)),
      ]),
      ...waiting.flatMap(({ conversation: c }) => [endSession(t.ctx, c.id), endSession(t.ctx, c.id)]),
    ]);
    for (const s of resolves) assert.ok(s === 200 || s === 409, `resolve answered ${s}`);

    const rows = await t.ctx.db.query<{ id: string; state: string; reason: string; assigned: boolean; ended: boolean; closes: number }>(
      `select c.id, c.state, c.resolve_reason as reason, c.assigned_at is not null as assigned, s.ended_at is not null as ended,
              (select count(*)::int from events e where e.conversation_id = c.id and e.type in ('conversation.resolved', 'conversation.abandoned')) as closes
         from conversations c join customer_sessions s on s.conversation_id = c.id`,
    );
    for (const r of rows) {
      assert.equal(r.ended, true, `${r.id}: its session token ended`);
      assert.equal(r.closes, 1, `${r.id}: closed once`);
      // each of the waiting ones may have been given the slot a served one freed before its own end
      assert.equal(r.state, r.assigned ? 'resolved' : 'abandoned', `${r.id}: resolved if ever assigned, abandoned if never (${r.state}, ${r.reason})`);
    }
    for (const { conversation: c } of waiting) {
      const [r] = rows.filter((x) => x.id === c.id);
      if (r!.state === 'abandoned') assert.equal(r!.reason, 'customer');
    }
    const [load] = await t.ctx.db.query<{ load: number }>('select load from agents where id = $1', [agent.id]);
    assert.equal(load!.load, 0, 'every slot freed once');
    // ending again changes nothing
    await endSession(t.ctx, served[0]!.conversation.id);
    const [again] = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from events where conversation_id = $1 and type in ('conversation.resolved', 'conversation.abandoned')`, [served[0]!.conversation.id]);
    assert.equal(again!.n, 1);
    assert.deepEqual(await invariantViolations(t.ctx.db), []);
  });
});

describe('RapidPro opens and session ends beside another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { holder: lockHolder } = eachTestWithLockHolder(async (store) => {
    t = await testApp(store);
    return () => t.close();
  });

  it('a RapidPro open with room and a session end run while another transaction holds the lock shared; a ticket replacing a stale room waits for it', async () => {
    const holder = lockHolder();
    const admin = (await t.user('admin')).token;
    const ticketer = await createTicketer(t, admin);
    await makeAgent(t.ctx, { status: 'online', capacity: 5 });
    const session = await startSession(t.ctx, { customer: { id: 'ends' } }, 3600);
    assert.equal(session.conversation.state, 'assigned');
    await holder.query('begin');
    await holder.query('select pg_advisory_xact_lock_shared(7301001)');

    const opened = openRoom(t.ctx, ticketer.uuid, room('beside', 'b-1'));
    assert.ok(await settlesWithin(opened, 5_000), 'the RapidPro open (an agent has room, no stale room) did not wait');
    assert.equal((await opened).created, true);
    const retried = openRoom(t.ctx, ticketer.uuid, room('beside', 'b-1'));
    assert.ok(await settlesWithin(retried, 5_000), 'the retry did not wait');
    assert.equal((await retried).created, false);
    const ended = endSession(t.ctx, session.conversation.id);
    assert.ok(await settlesWithin(ended, 5_000), 'the session end (its agent has nothing queued) did not wait');

    // The control: a new ticket for b-1 closes its room first, which takes the lock exclusive.
    const replacing = openRoom(t.ctx, ticketer.uuid, room('newer', 'b-1'));
    await waitingOnLock(t.ctx.db, 'sb_open_room'); // a ticket replacing a stale room waits for the shared holder
    await holder.query('commit');
    assert.equal((await replacing).created, true);
    const rooms = await roomsOf(t);
    assert.deepEqual(rooms.map((r) => [r.ticket_id, r.state, r.reason]), [['beside', 'resolved', 'replaced'], ['newer', 'assigned', null]]);
    const [c] = await t.ctx.db.query<{ state: string; reason: string }>('select state, resolve_reason as reason from conversations where id = $1', [session.conversation.id]);
    assert.deepEqual(c, { state: 'resolved', reason: 'customer' });
    assert.deepEqual(await invariantViolations(t.ctx.db), []);
  });

  it('a session end whose conversation is assigned between its guess and its close closes it resolved, not abandoned', async () => {
    const holder = lockHolder();
    const agent = await makeAgent(t.ctx, { capacity: 1 });
    const session = await startSession(t.ctx, { customer: { id: 'late' } }, 3600);
    assert.equal(session.conversation.state, 'queued', 'nobody online: it waits');
    // Another routing transaction holds the lock exclusive and gives the conversation to the agent:
    // the end reads it queued (no lock), guesses abandoned, and its close waits for the lock.
    await holder.query('begin');
    await holder.query('select pg_advisory_xact_lock(7301001)');
    await holder.query(`update agents set status = 'online', load = 1 where id = $1`, [agent.id]);
    await holder.query(`update conversations set state = 'assigned', agent_id = $2, assigned_at = now(), updated_at = now() where id = $1`, [session.conversation.id, agent.id]);
    const ended = endSession(t.ctx, session.conversation.id);
    await waitingOnLock(t.ctx.db, 'sb_end_chat'); // the close waits for the exclusive holder
    await holder.query('commit');
    await ended;
    const [row] = await t.ctx.db.query<{ state: string; reason: string; load: number; events: string[] }>(
      `select c.state, c.resolve_reason as reason, a.load,
              array(select e.type from events e where e.conversation_id = c.id and e.type in ('conversation.resolved', 'conversation.abandoned')) as events
         from conversations c, agents a where c.id = $1 and a.id = $2`,
      [session.conversation.id, agent.id],
    );
    assert.deepEqual(row, { state: 'resolved', reason: 'customer', load: 0, events: ['conversation.resolved'] });
  });
});
