// Webhook delivery end to end: events committed by the engine reach a local
// receiver signed, in order per conversation, through failures, restarts and
// a 410. Retries are driven with a fake clock and the worker's tick(), never
// by sleeping minutes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { SYSTEM } from '../../src/agents/model.js';
import { abandonUnserved, closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { expireSilentSessions } from '../../src/realtime/sessions.js';
import { addMessage } from '../../src/conversations/messages.js';
import { claim, record } from '../../src/events/outbound/outbox.js';
import { SUBSCRIBABLE_EVENTS } from '../../src/events/webhooks/catalog.js';
import { getEndpoint, rotateSecret, updateEndpoint } from '../../src/events/webhooks/endpoints.js';
import { requestExternalMessage } from '../../src/events/webhooks/external-message.js';
import { redeliver } from '../../src/events/webhooks/deliveries.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { multipartFile, PDF } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, testWorker, type Receiver } from '../helpers/webhook-receiver.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });

describeEachStore('webhook delivery', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let ctx: Ctx;
  let receiver: Receiver;
  let secrets: string[] = [];

  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
    t = await testApp(store(), { now: clock.now });
    ctx = t.ctx;
    secrets = [];
    receiver = await startReceiver(() => secrets);
  });
  afterEach(async () => {
    await receiver.close();
    await t.close();
  });

  async function endpoint(input: Parameters<typeof endpointFor>[2] = {}) {
    const { endpoint: row, secret } = await endpointFor(ctx, receiver, input);
    secrets.push(secret);
    return row;
  }

  /** Conversation ids of accepted deliveries, and for each the event ids in arrival order. */
  function arrivalsByConversation(received = receiver.accepted) {
    const by = new Map<string, number[]>();
    for (const r of received) {
      const conv = ((r.json.data as { conversation?: { id: string }; message?: { conversation_id: string } }) ?? {});
      const id = conv.conversation?.id ?? conv.message?.conversation_id ?? (r.json.session as { id: string } | undefined)?.id;
      if (!id) continue;
      by.set(id, [...(by.get(id) ?? []), Number(/^evt_(\d+)_/.exec(r.id)![1])]);
    }
    return by;
  }

  it('delivers Gitple and Switchboard payloads in the contract shapes, signed and verified by standardwebhooks and by hand', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 2 });
    const hook = await endpoint({ events: [...SUBSCRIBABLE_EVENTS], app_code: 'APP-1' });
    const { conversation } = await openConversation(ctx, {
      customer: { id: 'cust-1', name: 'Kim', email: 'kim@example.test', phone: '+82 10', fields: { lang: 'ko', identifier: 'ext-9', plan: 'gold' } },
    });
    clock.advance(1_000);
    await addMessage(ctx, conversation.id, { sender: 'agent', sender_id: agent.id, text: 'hello' }, actorOf(agent));
    await requestExternalMessage(ctx, conversation.id, 'AGENT_TYPED_MESSAGE', actorOf(agent));
    clock.advance(1_000);
    await closeConversation(ctx, conversation.id, { reason: 'agent', note: 'session note' }, actorOf(agent));

    const worker = testWorker(ctx);
    const result = await worker.tick();
    assert.deepEqual(receiver.problems, []);
    assert.equal(result.delivered, 9);
    assert.deepEqual(
      receiver.accepted.map((r) => r.id.replace(/^evt_\d+_/, '')),
      [
        'session_state_open',
        'conversation.created',
        'session_state_inprogress',
        'conversation.assigned',
        'message.created',
        'send_external_message',
        'external_message.requested',
        'session_state_close',
        'conversation.resolved',
      ],
    );
    const byName = (name: string) => receiver.accepted.find((r) => r.id.endsWith(`_${name}`))!;

    const close = byName('session_state_close').json;
    assert.deepEqual(Object.keys(close), ['triggerId', 'ctime', 'appCode', 'type', 'session']);
    assert.equal(close.triggerId, byName('session_state_close').id, 'triggerId is the webhook-id');
    assert.equal(close.appCode, 'APP-1');
    assert.equal(close.ctime, clock.now().toISOString());
    const session = close.session as Record<string, unknown>;
    assert.deepEqual(Object.keys(session), [
      'id', 'openTime', 'inprogressTime', 'closeTime', 'reason', 'userId', 'userGroups', 'assigneeType', 'assigneeId', 'categories', 'tags', 'note', 'meta',
    ]);
    assert.deepEqual(session, {
      id: conversation.id,
      openTime: new Date(conversation.created_at).toISOString(),
      inprogressTime: new Date(conversation.created_at).toISOString(),
      closeTime: clock.now().toISOString(),
      reason: 'agent',
      userId: 'cust-1',
      userGroups: [],
      assigneeType: 'agent',
      assigneeId: agent.id,
      categories: [],
      tags: [],
      note: 'session note',
      meta: [],
    });
    const open = byName('session_state_open').json.session as Record<string, unknown>;
    assert.equal(open.inprogressTime, null, 'null until it happens');
    assert.equal(open.closeTime, null);
    assert.equal(open.assigneeId, null);

    const external = byName('send_external_message').json;
    assert.deepEqual(Object.keys(external), ['triggerId', 'ctime', 'appCode', 'type', 'from', 'to', 'message']);
    assert.deepEqual(external.from, { type: 'agent', id: agent.id });
    assert.deepEqual(external.to, {
      type: 'user', id: 'cust-1', identifier: 'ext-9', anonymous: false, name: 'Kim', email: 'kim@example.test', phone: '+82 10', lang: 'ko', groups: [], tags: [], meta: { plan: 'gold' },
    });
    assert.deepEqual(external.message, { type: 'text/plain', content: 'AGENT_TYPED_MESSAGE' });

    const created = byName('conversation.created').json;
    assert.deepEqual(Object.keys(created), ['id', 'event_id', 'type', 'timestamp', 'app_code', 'data']);
    assert.equal((created.data as { conversation: { id: string } }).conversation.id, conversation.id);
    assert.equal((byName('message.created').json.data as { message: { text: string } }).message.text, 'hello');

    const admin = await t.user('admin');
    const res = await t.call('GET', `/api/v1/webhooks/${hook.id}/deliveries`, { token: admin.token });
    assert.equal(res.statusCode, 200, res.body);
    const deliveries = res.json() as { state: string; attempt_log: { status: number; duration_ms: number }[] }[];
    assert.equal(deliveries.length, 9);
    for (const d of deliveries) {
      assert.equal(d.state, 'delivered');
      assert.equal(d.attempt_log.length, 1);
      assert.equal(d.attempt_log[0]!.status, 204);
    }
  });

  it('gets everything to a receiver failing for a while (5xx, a timeout, connection refused), in order per conversation', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 5 });
    await makeAgent(ctx, { status: 'online', capacity: 5 });
    await endpoint({ events: ['conversation.created', 'conversation.assigned', 'message.created', 'conversation.resolved'] });
    const conversations: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { conversation } = await openConversation(ctx, { customer: { id: `c${i}` } });
      conversations.push(conversation.id);
    }
    for (let m = 0; m < 3; m++) {
      for (const id of conversations) await addMessage(ctx, id, { sender: 'customer', sender_id: null, text: `m${m}` }, { id: null, role: 'system' });
    }
    for (const id of conversations) await closeConversation(ctx, id, { reason: 'agent' }, { id: null, role: 'system' });
    const expected = 6 * (1 + 1 + 3 + 1);
    const worker = testWorker(ctx, { timeoutMs: 400 });

    receiver.answer = () => ({ status: 503, body: 'maintenance' });
    let r = await worker.tick();
    assert.equal(r.retried, 6, 'one attempt per conversation: the rest wait behind the first');

    clock.advance(5_000);
    receiver.answer = () => 'hang';
    r = await worker.tick();
    assert.equal(r.retried, 6);

    clock.advance(5 * 60_000);
    await receiver.close();
    r = await worker.tick();
    assert.equal(r.retried, 6);

    clock.advance(30 * 60_000);
    await receiver.listen();
    receiver.answer = () => ({ status: 200, body: 'ok' });
    r = await worker.tick();
    assert.equal(r.delivered, expected);
    assert.deepEqual(receiver.problems, []);

    assert.equal(receiver.accepted.length, expected, 'each delivery accepted once');
    assert.equal(new Set(receiver.accepted.map((a) => a.id)).size, expected);
    const arrivals = arrivalsByConversation();
    assert.equal(arrivals.size, 6);
    for (const [id, events] of arrivals) {
      assert.deepEqual(events, [...events].sort((a, b) => a - b), `conversation ${id} in event order`);
      assert.equal(events.length, 6);
    }
    const first = receiver.requests.filter((q) => q.id === receiver.accepted[0]!.id);
    assert.equal(first.length, 3, 'the 503 and the timeout reached the receiver with the same webhook-id; the refused one did not');

    const [row] = await store().db.query<{ id: number }>('select id from outbound_requests order by id limit 1');
    const log = await store().db.query<{ status: number | null; error: string | null }>(
      'select status, error from outbound_attempts where request_id = $1 order by id',
      [row!.id],
    );
    assert.deepEqual(log.map((a) => a.status), [503, null, null, 200]);
    assert.match(log[1]!.error!, /timeout/);
    assert.match(log[2]!.error!, /refused/);
  });

  it('loses nothing across a restart between attempts, or in the middle of one', async () => {
    await makeAgent(ctx, { status: 'online' });
    await endpoint({ events: ['conversation.created', 'conversation.assigned', 'message.created'] });
    const { conversation } = await openConversation(ctx, { customer: { id: 'r1' } });
    receiver.answer = () => ({ status: 500 });
    const before = testWorker(ctx);
    assert.equal((await before.tick()).retried, 1);
    await before.stop();
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'still there?' }, { id: null, role: 'system' });

    // A new process: its own context and worker, the same database.
    const ctx2: Ctx = { db: store().db, now: clock.now };
    receiver.answer = () => ({ status: 204 });
    clock.advance(5_000);
    const after = testWorker(ctx2);
    assert.equal((await after.tick()).delivered, 3);
    assert.deepEqual(receiver.accepted.map((r) => r.id.replace(/^evt_\d+_/, '')), ['conversation.created', 'conversation.assigned', 'message.created']);

    // A process that claims a delivery and dies before recording it.
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'again' }, { id: null, role: 'system' });
    const third = testWorker(ctx2);
    await third.tick();
    const claimedByTheDead = 1;
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'and again' }, { id: null, role: 'system' });
    // fan out without sending: the dead process's claim. The message is readable once every
    // older transaction on the server has ended (src/events/log.ts): on a busy server, a moment.
    for (const until = Date.now() + 60_000; (await fanOut(ctx2)).events === 0; ) {
      assert.ok(Date.now() < until, 'the fan-out never read the message');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const leased = await claim(store().db, clock.now(), { limit: 10, leaseUntil: new Date(clock.now().getTime() + 60_000), producers: ['webhook'] });
    assert.equal(leased.length, claimedByTheDead);
    assert.equal((await third.tick()).delivered, 0, 'a leased delivery is not sent twice');
    clock.advance(61_000);
    assert.equal((await third.tick()).delivered, 1, 'after the lease it is sent');
    assert.equal(receiver.accepted.length, 5);
    assert.deepEqual(receiver.problems, []);
  });

  it('disables an endpoint answering 410 Gone, cancels what waits for it, and tells the admins', async () => {
    await makeAgent(ctx, { status: 'online' });
    const gone = await endpoint({ events: ['conversation.created', 'message.created'] });
    const other = await startReceiver(() => secrets);
    try {
      const { endpoint: watcher, secret } = await endpointFor(ctx, other, { events: ['webhook.disabled'] });
      secrets.push(secret);
      const { conversation } = await openConversation(ctx, { customer: { id: 'g1' } });
      await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'x' }, { id: null, role: 'system' });
      receiver.answer = () => ({ status: 410 });
      const worker = testWorker(ctx);
      await worker.tick();
      const row = await getEndpoint(store().db, gone.id);
      assert.equal(row.enabled, false);
      assert.match(row.disabled_reason!, /410/);
      const states = await store().db.query<{ state: string }>('select state from outbound_requests where endpoint_id = $1 order by id', [gone.id]);
      assert.deepEqual(states.map((s) => s.state), ['failed', 'cancelled']);
      assert.equal(receiver.requests.length, 1);
      assert.equal(other.accepted.length, 1);
      assert.equal(other.accepted[0]!.json.type, 'webhook.disabled');
      assert.equal(((other.accepted[0]!.json.data as { webhook: { id: string } }).webhook).id, gone.id);
      assert.ok(!other.accepted[0]!.body.includes(secrets[0]!), 'the secret is not in the event');
      assert.deepEqual(other.problems, []);
      void watcher;

      await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'y' }, { id: null, role: 'system' });
      await worker.tick();
      assert.equal(receiver.requests.length, 1, 'nothing more for a disabled endpoint');
    } finally {
      await other.close();
    }
  });

  it("a 410 answered to an attempt whose lease ran out (its row sent again by another worker) cancels nothing of the endpoint's", async () => {
    const gone = await endpoint({ events: ['conversation.created', 'message.created'] });
    const { conversation } = await openConversation(ctx, { customer: { id: 'g2' } });
    await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'x' }, { id: null, role: 'system' });
    while ((await fanOut(ctx)).events > 0);
    const rows = await store().db.query<{ id: number }>('select id from outbound_requests where endpoint_id = $1 order by id', [gone.id]);
    assert.equal(rows.length, 2);
    // the row's lease ran out while this attempt went: another worker claimed it again and delivered it
    await store().db.query(`update outbound_requests set state = 'delivered', attempts = 1 where id = $1`, [rows[0]!.id]);
    const recorded = await record(
      store().db,
      [{ id: rows[0]!.id, attemptsBefore: 0, startedAt: clock.now(), durationMs: 1, status: 410, excerpt: null, error: 'HTTP 410', requestHeaders: {}, outcome: 'failed', nextAttemptAt: null }],
      clock.now(),
    );
    assert.deepEqual(recorded.ids, [], 'the stale attempt is not taken');
    const states = await store().db.query<{ state: string }>('select state from outbound_requests where endpoint_id = $1 order by id', [gone.id]);
    assert.deepEqual(states.map((s) => s.state), ['delivered', 'pending'], 'what waits for the endpoint still goes');
    assert.equal((await getEndpoint(store().db, gone.id)).enabled, true);
  });

  it('disables an endpoint whose deliveries have all failed for too long, and clears the record on success elsewhere', async () => {
    const failing = await endpoint({ events: ['conversation.created'] });
    await openConversation(ctx, { customer: { id: 'f1' } });
    receiver.answer = () => ({ status: 500 });
    const worker = testWorker(ctx, { disableAfterFailingMs: 60_000 });
    await worker.tick();
    assert.equal((await getEndpoint(store().db, failing.id)).failing_since?.toISOString(), clock.now().toISOString());
    clock.advance(5_000);
    await worker.tick();
    assert.equal((await getEndpoint(store().db, failing.id)).enabled, true, 'failing for 5 s is not yet too long');
    clock.advance(5 * 60_000);
    await worker.tick();
    const row = await getEndpoint(store().db, failing.id);
    assert.equal(row.enabled, false);
    assert.match(row.disabled_reason!, /failed since/);
    const [event] = await store().db.query<{ data: { reason: string } }>("select data from events where type = 'webhook.disabled'");
    assert.match(event!.data.reason, /failed since/);

    // Enabled again, it starts afresh; a success clears the failure record.
    await updateEndpoint(ctx, failing.id, { enabled: true }, { allowPrivate: true });
    assert.equal((await getEndpoint(store().db, failing.id)).failing_since, null);
    receiver.answer = () => ({ status: 500 });
    await openConversation(ctx, { customer: { id: 'f2' } });
    await worker.tick();
    assert.notEqual((await getEndpoint(store().db, failing.id)).failing_since, null);
    receiver.answer = () => ({ status: 204 });
    clock.advance(5_000);
    await worker.tick();
    assert.equal((await getEndpoint(store().db, failing.id)).failing_since, null);
  });

  it('shares the work between two workers (processes) without sending anything twice or out of order', async () => {
    await endpoint({ events: ['conversation.created', 'message.created'] });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await openConversation(ctx, { customer: { id: `two-${i}` } })).conversation.id);
    for (let m = 0; m < 3; m++) {
      for (const id of ids) await addMessage(ctx, id, { sender: 'customer', sender_id: null, text: `m${m}` }, { id: null, role: 'system' });
    }
    receiver.answer = () => ({ status: 204 });
    // the backlog waits in the outbox, for the two to claim
    while ((await fanOut(ctx)).events > 0);
    const a = testWorker({ db: store().db, now: clock.now }, { concurrency: 4 });
    const b = testWorker({ db: store().db, now: clock.now }, { concurrency: 4 });
    const done = { a: 0, b: 0 };
    for (let round = 0; round < 50 && receiver.accepted.length < 48; round++) {
      const [ra, rb] = await Promise.all([a.tick(), b.tick()]);
      done.a += ra.delivered;
      done.b += rb.delivered;
    }
    assert.equal(receiver.accepted.length, 48, `accepted ${receiver.accepted.length}, recorded ${done.a} + ${done.b}`);
    assert.equal(new Set(receiver.accepted.map((r) => r.id)).size, 48, 'nothing sent twice');
    assert.equal(done.a + done.b, 48, 'each recorded once');
    if (store().kind === 'postgres') assert.ok(done.a > 0 && done.b > 0, `both workers delivered (${done.a} + ${done.b})`);
    for (const [id, events] of arrivalsByConversation()) assert.deepEqual(events, [...events].sort((x, y) => x - y), `conversation ${id} in order`);
  });

  it('honours Retry-After', async () => {
    await endpoint({ events: ['conversation.created'] });
    await openConversation(ctx, { customer: { id: 'ra' } });
    receiver.answer = () => ({ status: 503, headers: { 'retry-after': '600' } });
    const worker = testWorker(ctx);
    await worker.tick();
    receiver.answer = () => ({ status: 204 });
    clock.advance(5_000);
    assert.equal((await worker.tick()).delivered, 0, 'not before the receiver asked');
    clock.advance(595_000);
    assert.equal((await worker.tick()).delivered, 1);
  });

  it("session_state_close says why in the contract's words: a silent session is timeout, a chat no agent could ever serve is system", async () => {
    await endpoint({ events: ['session_state_close'] });
    const { conversation: silent } = await openConversation(ctx, { customer: { id: 'silent' } });
    await ctx.db.query(
      `insert into customer_sessions (conversation_id, customer_id, token_hash, last_seen_at, expires_at, created_at) values ($1, 'silent', 'h-silent', $2, $3, $2)`,
      [silent.id, new Date(clock.now().getTime() - 3_600_000), new Date(clock.now().getTime() + 3_600_000)],
    );
    assert.deepEqual(await expireSilentSessions(ctx, 30_000), [silent.id]);
    const { conversation: unserved } = await openConversation(ctx, { customer: { id: 'unserved' } });
    assert.equal((await abandonUnserved(ctx, unserved.id, SYSTEM))?.abandoned, true);
    await testWorker(ctx).tick();
    const reasons = new Map(receiver.accepted.map((d) => [(d.json.session as { id: string }).id, (d.json.session as { reason: string }).reason]));
    assert.deepEqual(Object.fromEntries(reasons), { [silent.id]: 'timeout', [unserved.id]: 'system' });
  });

  /** A message.created endpoint, and an agent's message in a new conversation of `customerId` carrying an uploaded PDF. */
  const agentSendsFile = async (customerId: string) => {
    await endpoint({ events: ['message.created'] });
    const { agent, token } = await t.user('agent', { status: 'online', capacity: 5 });
    const { conversation } = await openConversation(ctx, { customer: { id: customerId } });
    assert.equal(conversation.agent_id, agent.id);
    const { body, headers } = multipartFile('file', 'invoice.pdf', 'application/pdf', PDF);
    const uploaded = await t.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token, body, headers });
    assert.equal(uploaded.statusCode, 201, uploaded.body);
    const sent = await t.call('POST', `/api/v1/conversations/${conversation.id}/messages`, { token, body: { attachments: [{ id: uploaded.json().id }] } });
    assert.equal(sent.statusCode, 201, sent.body);
  };

  it("signs a message's file links afresh at each attempt: a retry past ATTACHMENT_OUTBOUND_LINK_TTL and a redelivery weeks later carry links that still open, under a signature that verifies", async () => {
    await agentSendsFile('with-file');
    const linkIn = (r: { json: Record<string, unknown> }) => new URL(((r.json.data as { message: { attachments: { url: string }[] } }).message.attachments[0]!).url);
    const opens = async (link: URL) => (await t.call('GET', `${link.pathname}${link.search}`)).statusCode;

    // the receiver is down for the first attempt; the retry goes eight days later
    receiver.answer = () => (receiver.requests.length === 1 ? { status: 503 } : { status: 204 });
    const worker = testWorker(ctx);
    await worker.tick();
    const queuedLink = linkIn(receiver.requests[0]!);
    clock.advance(8 * 24 * 3600 * 1000);
    assert.equal(await opens(queuedLink), 403, 'the link queued with the delivery has expired');
    assert.equal((await worker.tick()).delivered, 1);
    const retried = linkIn(receiver.accepted[0]!);
    assert.equal(Number(retried.searchParams.get('expires')), Math.floor(clock.now().getTime() / 1000) + 7 * 24 * 3600);
    assert.equal(await opens(retried), 200);

    // an admin redelivers it a month later: fresh links again
    const [delivery] = await ctx.db.query<{ id: string }>("select id from outbound_requests where producer = 'webhook' and state = 'delivered'");
    clock.advance(30 * 24 * 3600 * 1000);
    await redeliver(ctx, Number(delivery!.id));
    assert.equal((await worker.tick()).delivered, 1);
    const redelivered = linkIn(receiver.accepted[1]!);
    assert.equal(await opens(redelivered), 200);
    assert.equal(receiver.accepted[1]!.id, receiver.accepted[0]!.id, 'the same webhook-id');
    assert.deepEqual(receiver.problems, []);
  });

  it('renews only the files a message carries: an expired link of ours sent as a plain link attachment, in another conversation, goes out dead as it came', async () => {
    await agentSendsFile('owner');
    const worker = testWorker(ctx);
    assert.equal((await worker.tick()).delivered, 1);
    const leaked = new URL((receiver.accepted[0]!.json.data as { message: { attachments: { url: string }[] } }).message.attachments[0]!.url);
    clock.advance(8 * 24 * 3600 * 1000);
    assert.equal((await t.call('GET', `${leaked.pathname}${leaked.search}`)).statusCode, 403, 'expired');

    // a stranger opens a chat and sends the old link as a link of their own
    const { conversation: mallory } = await openConversation(ctx, { customer: { id: 'mallory' } });
    const theirs = mallory.id;
    await addMessage(ctx, theirs, { sender: 'customer', sender_id: null, text: null, attachments: [{ type: 'application/pdf', url: leaked.href }] }, { id: null, role: 'system' });
    assert.equal((await worker.tick()).delivered, 1);
    const delivered = receiver.accepted[1]!.json.data as { message: { conversation_id: string; attachments: { url: string }[] } };
    assert.equal(delivered.message.conversation_id, theirs);
    assert.equal(delivered.message.attachments[0]!.url, leaked.href, 'not signed afresh');
    assert.equal((await t.call('GET', `${leaked.pathname}${leaked.search}`)).statusCode, 403);
    assert.deepEqual(receiver.problems, []);
  });

  it('counts Retry-After from when the receiver answered, not from when the attempt began', async () => {
    await endpoint({ events: ['conversation.created'] });
    await openConversation(ctx, { customer: { id: 'ra-slow' } });
    // the receiver takes 14 s of the 15 s deadline to say "busy, again in 10 s"
    const sentAt: number[] = [];
    const worker = testWorker(ctx, {
      sendFn: async () => {
        sentAt.push(clock.now().getTime());
        clock.advance(14_000);
        return sentAt.length === 1
          ? { status: 503, excerpt: 'busy', error: null, retryAfterMs: 10_000, durationMs: 14_000 }
          : { status: 204, excerpt: '', error: null, retryAfterMs: null, durationMs: 0 };
      },
    });
    await worker.tick();
    const answered = clock.now().getTime();
    assert.equal(sentAt.length, 1);
    clock.advance(9_000);
    await worker.tick();
    assert.equal(sentAt.length, 1, 'not sent again before the 10 s the receiver asked for');
    clock.advance(1_000);
    assert.equal((await worker.tick()).delivered, 1);
    assert.ok(sentAt[1]! - answered >= 10_000, `sent again ${sentAt[1]! - answered} ms after the answer`);
  });

  it('refuses private targets at delivery time when they are not allowed, after DNS resolution too', async () => {
    await endpoint({ events: ['conversation.created'] });
    const byName = await endpointFor(ctx, receiver, { events: ['conversation.created'] });
    await updateEndpoint(ctx, byName.endpoint.id, { url: `http://localhost:${receiver.port}/hooks` }, { allowPrivate: true });
    await openConversation(ctx, { customer: { id: 'ssrf' } });
    const worker = testWorker(ctx, { allowPrivate: false });
    const r = await worker.tick();
    assert.equal(r.retried, 2);
    assert.equal(receiver.requests.length, 0);
    const errors = await store().db.query<{ error: string }>('select error from outbound_attempts order by id');
    assert.equal(errors.length, 2);
    for (const e of errors) assert.match(e.error, /private address.*refused/);
  });

  it('pings and redelivers through the API with the same webhook-id and body', async () => {
    const admin = await t.user('admin');
    const hook = await endpoint({ events: ['conversation.created'] });
    await openConversation(ctx, { customer: { id: 'p1' } });
    const worker = testWorker(ctx);
    await worker.tick();
    const ping = await t.call('POST', `/api/v1/webhooks/${hook.id}/ping`, { token: admin.token });
    assert.equal(ping.statusCode, 202, ping.body);
    await worker.tick();
    assert.equal(receiver.accepted.at(-1)!.json.type, 'ping');

    const original = receiver.accepted[0]!;
    const [row] = await store().db.query<{ id: number }>("select id from outbound_requests where name = 'conversation.created'");
    const again = await t.call('POST', `/api/v1/deliveries/${row!.id}/redeliver`, { token: admin.token });
    assert.equal(again.statusCode, 202, again.body);
    assert.notEqual(again.json().id, row!.id);
    assert.equal(again.json().redelivery_of, row!.id);
    await worker.tick();
    const last = receiver.accepted.at(-1)!;
    assert.equal(last.id, original.id);
    assert.equal(last.body, original.body);
    assert.deepEqual(receiver.problems, []);
    const missing = await t.call('POST', '/api/v1/deliveries/999999/redeliver', { token: admin.token });
    assert.equal(missing.statusCode, 404);
  });

  it('signs with both secrets during a rotation grace period', async () => {
    const hook = await endpoint({ events: ['conversation.created'] });
    const { secret } = await rotateSecret(ctx, hook.id, { grace_seconds: 3_600 });
    secrets.push(secret);
    await openConversation(ctx, { customer: { id: 'rot' } });
    await testWorker(ctx).tick();
    const sigs = String(receiver.accepted[0]!.headers['webhook-signature']).split(' ');
    assert.equal(sigs.length, 2);
    secrets = [secret];
    clock.advance(3_601_000);
    await openConversation(ctx, { customer: { id: 'rot2' } });
    await testWorker(ctx).tick();
    assert.equal(String(receiver.accepted[1]!.headers['webhook-signature']).split(' ').length, 1, 'the old secret stops signing after the grace period');
    assert.deepEqual(receiver.problems, []);
  });

  it("refuses a second rotation with a grace while the first one's runs (it would drop the original secret early); grace 0 drops every old secret", async () => {
    const hook = await endpoint({ events: ['conversation.created'] });
    const original = secrets[0]!;
    const { secret: first } = await rotateSecret(ctx, hook.id, { grace_seconds: 86_400 });
    clock.advance(60_000);
    const refused = await t.call('POST', `/api/v1/webhooks/${hook.id}/rotate-secret`, { token: (await t.user('admin')).token, body: { grace_seconds: 3_600 } });
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal(refused.json().error.code, 'SB_WEBHOOK_SECRET_IN_GRACE');
    assert.equal(refused.json().error.field, 'grace_seconds');
    // the original still signs webhook-signature beside the first new one, as promised
    secrets = [original, first];
    await openConversation(ctx, { customer: { id: 'rot-kept' } });
    await testWorker(ctx).tick();
    assert.equal(receiver.accepted.length, 1);
    assert.equal(String(receiver.accepted[0]!.headers['webhook-signature']).split(' ').length, 2);
    assert.deepEqual(receiver.problems, []);
    const { secret: last, endpoint: now } = await rotateSecret(ctx, hook.id, { grace_seconds: 0 });
    assert.equal(now.previous_secret_expires_at, null);
    secrets = [last];
    await openConversation(ctx, { customer: { id: 'rot-last' } });
    await testWorker(ctx).tick();
    assert.equal(String(receiver.accepted[1]!.headers['webhook-signature']).split(' ').length, 1);
    assert.notEqual(last, first);
  });

  it('is woken at once when events commit (the poll is an hour away)', async () => {
    await endpoint({ events: ['conversation.created'] });
    let worker: ReturnType<typeof testWorker> | undefined;
    const live: Ctx = { db: store().db, now: clock.now, onCommitted: (events) => (ctx.onCommitted?.(events), worker?.wake()) };
    worker = testWorker(live, { pollMs: 3_600_000 });
    worker.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await openConversation(live, { customer: { id: 'now' } });
      // within seconds, where the poll would take an hour: the commit woke it
      // (no tighter bound: a loaded CI machine is not what this checks)
      while (receiver.accepted.length === 0 && performance.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 2));
      assert.equal(receiver.accepted.length, 1, `nothing delivered ${Math.round(performance.now() - started)} ms after the commit`);
    } finally {
      await worker.stop();
    }
  });

  /** A receiver at another address, answering each request when `answer` says (`hang`: until release). */
  async function oldAddress(answer: () => number | 'hang') {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      arrived();
      const status = answer();
      if (status === 'hang') held.push(res);
      else res.writeHead(status).end('down');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
      arrival,
      release: (status: number) => held.splice(0).forEach((res) => res.writeHead(status).end('down')),
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it('sends what waited for a failing URL to the new one at once, in order, not after its back-off', async () => {
    const old = await oldAddress(() => 503);
    try {
      const hook = await endpoint({ url: old.url, events: ['conversation.created', 'message.created'] });
      const { conversation } = await openConversation(ctx, { customer: { id: 'moved' } });
      await addMessage(ctx, conversation.id, { sender: 'customer', sender_id: null, text: 'hello?' }, { id: null, role: 'system' });
      const worker = testWorker(ctx);
      assert.equal((await worker.tick()).retried, 1);
      await updateEndpoint(ctx, hook.id, { url: receiver.url }, { allowPrivate: true });
      // the clock has not moved: no back-off ran out
      assert.equal((await worker.tick()).delivered, 2);
      assert.deepEqual(receiver.accepted.map((r) => r.json.type), ['conversation.created', 'message.created']);
    } finally {
      await old.close();
    }
  });

  it('lets a delivery in flight finish when the URL changes: nothing sent beside it, and its failure retried at the new URL at once', async () => {
    const old = await oldAddress(() => 'hang');
    try {
      const hook = await endpoint({ url: old.url, events: ['conversation.created'] });
      await openConversation(ctx, { customer: { id: 'in-flight' } });
      const worker = testWorker(ctx);
      const first = worker.tick();
      await old.arrival;
      await updateEndpoint(ctx, hook.id, { url: receiver.url }, { allowPrivate: true });
      const other = testWorker(ctx);
      try {
        await other.tick();
      } finally {
        await other.stop();
      }
      assert.deepEqual(receiver.requests, [], 'another worker sent nothing beside the attempt in flight');
      old.release(503);
      await first;
      await worker.tick();
      assert.equal(receiver.accepted.length, 1);
      const [row] = await store().db.query<{ state: string; attempts: number }>('select state, attempts from outbound_requests');
      assert.deepEqual(row, { state: 'delivered', attempts: 2 });
    } finally {
      await old.close();
    }
  });

  it('accepts a self-signed certificate only when verify_ssl is false', async (context) => {
    let pem: string;
    try {
      pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', '-', '-out', '-'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString();
    } catch {
      context.skip('openssl is not installed');
      return;
    }
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(pem)![0];
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)![0];
    let hits = 0;
    const server = https.createServer({ key, cert }, (req, res) => {
      hits += 1;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
      const { endpoint: hook } = await endpointFor(ctx, receiver, { url, events: ['conversation.created'] });
      await openConversation(ctx, { customer: { id: 'tls' } });
      const worker = testWorker(ctx);
      assert.equal((await worker.tick()).retried, 1);
      assert.equal(hits, 0);
      const [attempt] = await store().db.query<{ error: string }>('select error from outbound_attempts');
      assert.match(attempt!.error, /certificate/i);
      await updateEndpoint(ctx, hook.id, { verify_ssl: false }, { allowPrivate: true });
      clock.advance(5_000);
      assert.equal((await worker.tick()).delivered, 1);
      assert.equal(hits, 1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
