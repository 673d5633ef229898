// Where and with what a waiting callback goes once RapidPro's side changes:
// the callback URL is the ticketer's as it is when the attempt goes (a feed
// page read before PUT settings committed queued its callbacks with the URL
// before, and PUT settings re-targets only the rows it sees), and a secret an
// admin corrects brings the callbacks mailroom refused (401) forward, as a
// new URL does, rather than leaving them to a retry hours away. Found by
// review (2026-12); each failed before.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { feedCallbacks } from '../../src/channels/rapidpro/feed.js';
import { rapidproOutbound } from '../../src/channels/rapidpro/producer.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { startFakeMailroom, type FakeMailroom } from '../helpers/fake-mailroom.js';
import { CONTRACT, createTicketer, mailroomFor, type Mailroom, type TestTicketer } from '../helpers/rapidpro.js';
import { pauseAfter } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';
import { testWorker } from '../helpers/webhook-receiver.js';

const TICKET = CONTRACT.room.ticketID;
const HOUR = 3_600_000;

describeEachStore('RapidPro callbacks after the ticketer changes', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let admin: string;
  let agent: string;
  let ticketer: TestTicketer;
  let call: Mailroom;
  let mailroom: FakeMailroom;
  /** the secret mailroom checks callbacks against: RapidPro's */
  let rapidproSecret: string;
  let worker: OutboundWorker;

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store(), { now: clock.now, tokenTtlSeconds: 60 * 86_400, env: { ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true' } });
    admin = (await t.user('admin')).token;
    agent = (await t.user('agent', { status: 'online', capacity: 5 })).token;
    ticketer = await createTicketer(t, admin);
    rapidproSecret = ticketer.secret;
    call = mailroomFor(t, ticketer);
    mailroom = await startFakeMailroom({ uuid: ticketer.uuid, secret: () => rapidproSecret });
    mailroom.tickets.add(TICKET);
    // the poll an hour away: only a commit's wake-up (as the server wires it) or a tick sends
    worker = testWorker(t.ctx, { extra: rapidproOutbound({ random: () => 0.5 }), pollMs: HOUR });
    const committed = t.ctx.onCommitted;
    t.ctx.onCommitted = (events) => {
      committed?.(events);
      worker.wake();
    };
  });
  afterEach(async () => {
    await worker.stop();
    await mailroom.close();
    await t.close();
  });

  async function replyInNewRoom(text: string): Promise<void> {
    const opened = await call('GET', 'room', { ...CONTRACT.room, ticketID: TICKET });
    assert.equal(opened.statusCode, 201, opened.body);
    const res = await t.call('POST', `/api/v1/conversations/${opened.json().id as string}/messages`, { token: agent, body: { text } });
    assert.equal(res.statusCode, 201, res.body);
  }
  const connect = async () => assert.equal((await call('PUT', 'settings', { webhook: { url: mailroom.url } })).statusCode, 204);
  const callbacks = async () => (await t.call('GET', `/api/v1/ticketers/${ticketer.uuid}/callbacks`, { token: admin })).json();
  const until = async (done: () => boolean, ms = 5_000) => {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return done();
  };

  it("sends a callback queued with a URL the ticketer no longer has to the ticketer's URL as it is when the attempt goes", async () => {
    await connect();
    await replyInNewRoom('to the new place');
    assert.equal((await feedCallbacks(t.ctx)).callbacks, 1);
    // As a feed page read before PUT settings committed leaves it: the row kept the URL before (none here).
    assert.equal((await t.ctx.db.query(`update outbound_requests set url = '' where producer = 'rapidpro' returning id`)).length, 1);
    await worker.tick();
    assert.deepEqual(mailroom.handled.map((c) => c.data?.text), ['to the new place']);
    const [callback] = await callbacks();
    assert.equal(callback.state, 'delivered');
  });

  it('sends the callbacks of a feed page read while RapidPro set its URL (PostgreSQL: the two commit side by side)', async () => {
    // one connection: PGlite runs the two one after the other
    if (store().kind !== 'postgres') return;
    await replyInNewRoom('queued meanwhile');
    // the feed has read its page, the ticketer without a URL yet; RapidPro's PUT settings commits before the feed does
    const paused = pauseAfter(t.ctx.db, /left join rapidpro_ticketers k/);
    const fed = feedCallbacks({ ...t.ctx, db: paused.db });
    await paused.arrived;
    await connect();
    paused.resume();
    assert.equal((await fed).callbacks, 1);
    await worker.tick();
    assert.deepEqual(mailroom.handled.map((c) => c.data?.text), ['queued meanwhile'], 'the callback waits for a retry, at no URL');
  });

  it('sends the callbacks mailroom refused for the secret at once when an admin sets the right one, not at their next retry', async () => {
    await connect();
    rapidproSecret = 'RAPIDPROSECRET0123456789abcdefgh';
    await replyInNewRoom('after the 401');
    await worker.tick();
    assert.deepEqual(mailroom.requests.map((r) => r.status), [401]);
    // mailroom kept refusing it for a while: its next attempt is hours away
    for (const wait of [5_000, 5 * 60_000, 30 * 60_000]) {
      clock.advance(wait);
      await worker.tick();
    }
    const [waiting] = await callbacks();
    assert.deepEqual([waiting.state, waiting.last_status], ['pending', 401]);
    assert.ok(new Date(waiting.next_attempt_at).getTime() - clock.now().getTime() >= HOUR, `next attempt ${waiting.next_attempt_at}`);
    // the worker runs as the server's does; the clock stands still: only the PATCH can make it due
    worker.start();
    const res = await t.call('PATCH', `/api/v1/ticketers/${ticketer.uuid}`, { token: admin, body: { secret: rapidproSecret } });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(await until(() => mailroom.handled.length === 1), 'the callback waits for its retry hours away');
    assert.deepEqual(mailroom.handled.map((c) => c.data?.text), ['after the 401']);
    assert.equal(mailroom.requests.at(-1)!.headers.authorization, `Token ${rapidproSecret}`);
  });
});
