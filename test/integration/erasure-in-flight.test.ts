// An erasure meets outbound work already under way: a webhook delivery in
// flight (its receiver's reply, which may echo the payload, comes after the
// erasure), a redelivery copying a body the erasure is redacting, and a
// ping or redelivery queued as its endpoint is disabled. Each is started,
// paused at its most awkward point, the other side is run, and the outcome
// is read from the database and the receiver: the order of the two sides is
// the one thing the test cannot choose, so it checks what must hold either way.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { addMessage } from '../../src/conversations/messages.js';
import { redeliver, ping } from '../../src/events/webhooks/deliveries.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { eraseConversation } from '../../src/erasure/erase.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { waitingOnLock } from '../helpers/lock-waits.js';
import { pauseAfter } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, testWorker, type Receiver } from '../helpers/webhook-receiver.js';

const NAME = 'Erin Example';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('erasure and outbound work in flight', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let ctx: Ctx;
  let receiver: Receiver;
  let admin: { token: string };
  const secrets: string[] = [];

  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    clock.set(Date.parse('2026-03-02T09:00:00Z'));
    t = await testApp(store(), { now: clock.now });
    ctx = t.ctx;
    receiver = await startReceiver(() => secrets);
    admin = await t.user('admin');
  });
  afterEach(async () => {
    await receiver.close();
    await t.close();
  });

  async function endpoint() {
    const { endpoint: row, secret } = await endpointFor(ctx, receiver, { events: ['message.created', 'conversation.resolved'] });
    secrets.push(secret);
    return row;
  }

  /** A resolved conversation whose events hold the customer's name and IBAN, fanned out to the endpoint. */
  async function resolvedChat() {
    const agent = await t.user('agent', { status: 'online', capacity: 5 });
    const session = await startSession(ctx, { customer: { id: 'erin-1', name: NAME } }, 3600);
    const id = session.conversation.id;
    await addMessage(ctx, id, { sender: 'customer', sender_id: 'erin-1', text: `my IBAN is ${IBAN}` }, { id: null, role: 'system' });
    const resolved = await t.call('POST', `/api/v1/conversations/${id}/resolve`, { token: agent.token, body: {} });
    assert.equal(resolved.statusCode, 200, resolved.body);
    while ((await fanOut(ctx)).events > 0);
    return id;
  }

  const erase = async (id: string) => {
    const res = await t.call('DELETE', `/api/v1/conversations/${id}`, { token: admin.token });
    assert.equal(res.statusCode, 200, res.body);
  };

  /** What the outbox keeps of the erased conversation's events: bodies and the attempts' replies. */
  async function outboxOf(id: string) {
    return store().db.query<{ request_id: number; body: string; response_excerpt: string | null; status: number | null }>(
      `select o.id as request_id, convert_from(o.body, 'UTF8') as body, a.response_excerpt, a.status
         from outbound_requests o left join outbound_attempts a on a.request_id = o.id
        where o.event_id in (select e.id from events e where e.conversation_id = $1)
        order by o.id, a.id`,
      [id],
    );
  }

  it('a delivery in flight when the erasure runs: its reply, echoing the payload, is not kept, nor a later retry’s', async () => {
    await endpoint();
    const id = await resolvedChat();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const sent = new Promise<void>((r) => (arrived = r));
    // the receiver echoes what it got, refusing it (a retry follows)
    receiver.answer = (r) => {
      arrived();
      return released.then(() => ({ status: 500, body: r.body }));
    };
    const worker = testWorker(ctx);
    const ticking = worker.tick();
    await sent;
    assert.ok(receiver.requests[0]!.body.includes(IBAN), 'the delivery in flight carries the message');
    await erase(id);
    release();
    await ticking;

    clock.advance(60 * 60_000);
    await worker.tick();
    assert.ok(receiver.requests.length >= 2, `a retry went after the erasure: ${receiver.requests.length}`);
    assert.ok(!receiver.requests.at(-1)!.body.includes(IBAN), 'the retry carries the redacted payload');
    const rows = await outboxOf(id);
    const attempts = rows.filter((r) => r.status !== null);
    assert.ok(attempts.length >= 2, `attempts logged: ${JSON.stringify(rows)}`);
    assert.deepEqual(
      attempts.map((a) => [a.status, a.response_excerpt]),
      attempts.map(() => [500, null]),
      'each attempt keeps its status, none the reply',
    );
    for (const r of rows) assert.ok(!r.body.includes(IBAN) && !r.body.includes(NAME), `row ${r.request_id} is redacted`);
  });

  /** The signature headers of the erased conversation's message.created attempts as logged, and the body as kept. */
  async function loggedSignatures(id: string) {
    const [row] = await store().db.query<{ request_id: number; body: string; headers: Record<string, string> }>(
      `select o.id as request_id, convert_from(o.body, 'UTF8') as body, a.request_headers as headers
         from outbound_requests o join outbound_attempts a on a.request_id = o.id
        where o.name = 'message.created' and o.event_id in (select e.id from events e where e.conversation_id = $1)`,
      [id],
    );
    return row!;
  }

  it('the attempt log keeps no signature: after the erasure, nothing in it confirms a guess of the erased text', async () => {
    await endpoint();
    const id = await resolvedChat();
    await testWorker(ctx).tick();
    const sent = receiver.accepted.find((r) => r.body.includes(IBAN))!;
    assert.ok(sent.headers['x-hub-signature'] && sent.headers['webhook-signature'], 'the receiver got both signatures');
    const before = await loggedSignatures(id);
    for (const name of ['x-hub-signature', 'webhook-signature']) assert.equal(before.headers[name], '[redacted]', name);
    assert.equal(before.headers['webhook-id'], sent.headers['webhook-id'], 'what identifies the attempt stays');
    await erase(id);
    const after = await loggedSignatures(id);
    assert.ok(!after.body.includes(IBAN), 'the body is redacted');
    // An admin (who can read the endpoint's secret) fills the redacted fields with a guess, signs it and
    // compares: the right guess is the body as sent, whose signatures must be nowhere in the log.
    const mac = `sha256=${createHmac('sha256', secrets.at(-1)!).update(sent.body).digest('hex')}`;
    assert.equal(mac, sent.headers['x-hub-signature']);
    const logged = JSON.stringify(after.headers);
    for (const signature of [mac, ...String(sent.headers['webhook-signature']).split(' ')]) assert.ok(!logged.includes(signature), `${signature} in ${logged}`);
  });

  it('signatures an older release logged are taken out of the erased conversation’s attempts, and only of those', async () => {
    await endpoint();
    const id = await resolvedChat();
    const other = (await startSession(ctx, { customer: { id: 'olga-1', name: 'Olga' } }, 3600)).conversation.id;
    await addMessage(ctx, other, { sender: 'customer', sender_id: 'olga-1', text: 'hello' }, { id: null, role: 'system' });
    while ((await fanOut(ctx)).events > 0);
    await testWorker(ctx).tick();
    // as the attempt log was written before it stopped keeping them
    for (const r of receiver.accepted) {
      await store().db.query(
        `update outbound_attempts a set request_headers = a.request_headers || jsonb_build_object('x-hub-signature', $2::text, 'webhook-signature', $3::text)
           from outbound_requests o where o.id = a.request_id and o.message_id = $1`,
        [r.headers['webhook-id'], r.headers['x-hub-signature'], r.headers['webhook-signature']],
      );
    }
    const sent = receiver.accepted.find((r) => r.body.includes(IBAN) && r.body.includes(id))!;
    assert.equal((await loggedSignatures(id)).headers['x-hub-signature'], sent.headers['x-hub-signature']);
    await erase(id);
    const erased = await loggedSignatures(id);
    assert.deepEqual([erased.headers['x-hub-signature'], erased.headers['webhook-signature']], ['[redacted]', '[redacted]']);
    assert.equal(erased.headers['webhook-id'], sent.headers['webhook-id']);
    const kept = receiver.accepted.find((r) => r.body.includes(other) && r.body.includes('message.created'))!;
    assert.equal((await loggedSignatures(other)).headers['x-hub-signature'], kept.headers['x-hub-signature'], 'a conversation not erased keeps its log as it was');
  });

  it('a reply recorded while the erasure holds the row: the record waits for it, and keeps no reply', async () => {
    await endpoint();
    const id = await resolvedChat();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const sent = new Promise<void>((r) => (arrived = r));
    receiver.answer = (r) => {
      arrived();
      return released.then(() => ({ status: 200, body: r.body }));
    };
    const ticking = testWorker(ctx).tick();
    await sent;
    // the erasure, held after it marked the rows, before its commit
    const paused = pauseAfter(store().db, /set erased = true/);
    const erasing = eraseConversation({ ...ctx, db: paused.db }, id, SYSTEM);
    await paused.arrived;
    release();
    // the attempt ends and its record waits for the erasure's locks (PostgreSQL) or its connection (PGlite)
    if (store().kind === 'postgres') await waitingOnLock(store().db, 'with r as');
    else await sleep(500);
    paused.resume();
    await erasing;
    await ticking;
    const attempts = (await outboxOf(id)).filter((r) => r.status !== null);
    assert.ok(attempts.length >= 1, 'the delivery in flight is logged');
    assert.deepEqual(
      attempts.map((a) => [a.status, a.response_excerpt]),
      attempts.map(() => [200, null]),
      'the deliveries are logged, without the echo',
    );
  });

  it('a redelivery copying a body as the erasure redacts it: the copy is redacted too, and sends nothing erased', async () => {
    await endpoint();
    const id = await resolvedChat();
    await testWorker(ctx).tick();
    const [original] = await store().db.query<{ id: number }>("select id from outbound_requests where name = 'message.created'");
    const paused = pauseAfter(store().db, /from outbound_requests where id = \$1/);
    const copying = redeliver({ ...ctx, db: paused.db }, original!.id);
    await paused.arrived;
    const erasing = erase(id);
    // the erasure runs through, or waits for the redelivery: both orders must end redacted
    await Promise.race([erasing, sleep(1_000)]);
    paused.resume();
    const copy = await copying;
    await erasing;
    assert.equal(copy.redelivery_of, original!.id);
    const rows = await outboxOf(id);
    assert.ok(rows.some((r) => r.request_id === copy.id), 'the copy is one of the event’s deliveries');
    for (const r of rows) assert.ok(!r.body.includes(IBAN) && !r.body.includes(NAME), `row ${r.request_id} is redacted: ${r.body}`);
    const before = receiver.requests.length;
    await testWorker(ctx).tick();
    const later = receiver.requests.slice(before);
    assert.ok(later.length >= 1, 'the redelivery went');
    for (const r of later) assert.ok(!r.body.includes(IBAN) && !r.body.includes(NAME), `what went after the erasure is redacted: ${r.body}`);
  });

  it('a redelivery asked for after the erasure: it goes redacted, and its reply is not kept either', async () => {
    await endpoint();
    const id = await resolvedChat();
    await testWorker(ctx).tick();
    const [original] = await store().db.query<{ id: number }>("select id from outbound_requests where name = 'message.created'");
    await erase(id);
    receiver.answer = (r) => ({ status: 200, body: `echo ${r.body}` });
    const again = await t.call('POST', `/api/v1/deliveries/${original!.id}/redeliver`, { token: admin.token });
    assert.equal(again.statusCode, 202, again.body);
    await testWorker(ctx).tick();
    assert.ok(!receiver.requests.at(-1)!.body.includes(IBAN), 'the copy is redacted');
    const [attempt] = await store().db.query<{ status: number; response_excerpt: string | null }>('select status, response_excerpt from outbound_attempts where request_id = $1', [again.json().id]);
    assert.deepEqual([attempt!.status, attempt!.response_excerpt], [200, null]);
  });

  for (const kind of ['ping', 'redelivery'] as const) {
    it(`a ${kind} queued as its endpoint is disabled: cancelled with the rest, never sent`, async () => {
      const hook = await endpoint();
      await resolvedChat();
      await testWorker(ctx).tick();
      const before = receiver.requests.length;
      const [original] = await store().db.query<{ id: number }>("select id from outbound_requests where name = 'message.created'");
      const paused = pauseAfter(store().db, /from webhook_endpoints where id = \$1/);
      const queuing = kind === 'ping' ? ping({ ...ctx, db: paused.db }, hook.id) : redeliver({ ...ctx, db: paused.db }, original!.id);
      await paused.arrived;
      const disabling = t.call('PATCH', `/api/v1/webhooks/${hook.id}`, { token: admin.token, body: { enabled: false } });
      await Promise.race([disabling, sleep(1_000)]);
      paused.resume();
      const queued = await queuing;
      assert.equal((await disabling).statusCode, 200);
      const [row] = await store().db.query<{ state: string; last_error: string | null }>('select state, last_error from outbound_requests where id = $1', [queued.id]);
      assert.deepEqual([row!.state, row!.last_error], ['cancelled', 'the endpoint was disabled']);
      clock.advance(60_000);
      await testWorker(ctx).tick();
      assert.equal(receiver.requests.length, before, 'nothing goes to a disabled endpoint');
    });
  }
});
