// Erasing a conversation erases its emails (found by review: the erasure
// redacted the webhook deliveries in the outbox and left the email rows
// whole, and a pending transcript was mailed after the erasure). A pending
// email is cancelled and never goes; every stored copy (transcripts sent
// before, an offline message's copy to the team) loses its body, recipient,
// subject and relay replies; an email already leaving when the erasure runs
// goes, and its attempt is logged without data. Against a real SMTP server
// (smtp-server, parsed by mailparser), driven by the worker's tick(). And
// the upgrade (migration 0083) erases the emails of conversations erased
// before it, and links offline messages' emails to their conversations.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import { closeConversation } from '../../src/conversations/lifecycle.js';
import { addMessage } from '../../src/conversations/messages.js';
import { compose } from '../../src/email/compose.js';
import { renderOfflineMessage } from '../../src/email/transcript.js';
import type { SendRequest } from '../../src/events/outbound/send.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { startSession } from '../../src/realtime/sessions.js';
import { migrate } from '../../src/store/migrate.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { emailWorker, startSmtpReceiver, type SmtpReceiver } from '../helpers/smtp-receiver.js';
import { storeMigratedBefore } from '../helpers/scratch-database.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

const FROM = 'Switchboard Support <support@example.test>';
const NAME = 'Erin Example';
const ADDRESS = 'erin@example.org';
const IBAN = 'DE89 3704 0044 0532 0130 00';
/** What only the erased conversation's emails hold: none of it may be left in the outbox. */
const SECRETS = [NAME, ADDRESS, 'erin%40example.org', IBAN, 'DE89'];

describeEachStore('erasure: the conversation’s emails', (store) => {
  const clock = fakeClock();
  let smtp: SmtpReceiver;
  let t: TestApp;
  let admin: { agent: AgentRow; token: string };
  /** lets the test hold an email while it is being sent (in flight) */
  let gate: ((request: SendRequest) => Promise<void>) | undefined;
  let worker: OutboundWorker;

  beforeEach(async () => {
    await store().reset();
    smtp = await startSmtpReceiver();
    t = await testApp(store(), { now: clock.now, env: { SMTP_URL: smtp.url, EMAIL_FROM: FROM } });
    gate = undefined;
    worker = emailWorker(t.ctx, smtp, FROM, () => gate);
    admin = await t.user('admin');
  });
  afterEach(async () => {
    await t.close();
    await smtp.close();
  });

  /** A chat with Erin (her name, address and IBAN in it), answered by an agent, and the agent. */
  async function chat() {
    const agent = await t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(t.ctx, { customer: { id: 'erin-1', name: NAME, email: ADDRESS } }, 3600);
    const id = session.conversation.id;
    assert.equal(session.conversation.agent_id, agent.agent.id);
    await addMessage(t.ctx, id, { sender: 'customer', sender_id: 'erin-1', text: `my IBAN is ${IBAN}` }, { id: null, role: 'system' });
    clock.advance(60_000);
    await addMessage(t.ctx, id, { sender: 'agent', sender_id: agent.agent.id, text: 'Thanks, noted.' }, { id: agent.agent.id, role: agent.agent.role });
    return { id, agent, customerToken: session.token };
  }

  const askTranscript = async (id: string, token: string) => {
    const res = await t.call('POST', `/api/v1/conversations/${id}/transcript`, { token, body: {} });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().to, ADDRESS);
    return res.json().delivery_id as number;
  };
  const resolve = async (id: string, token: string) => {
    const res = await t.call('POST', `/api/v1/conversations/${id}/resolve`, { token, body: {} });
    assert.equal(res.statusCode, 200, res.body);
  };
  const erase = async (id: string) => {
    const res = await t.call('DELETE', `/api/v1/conversations/${id}`, { token: admin.token });
    assert.equal(res.statusCode, 200, res.body);
  };

  /** Every email row and attempt, as text: body, recipient, headers, errors, relay replies. */
  async function outboxText(): Promise<string> {
    const rows = await t.ctx.db.query<{ t: string }>(
      `select concat_ws(' ', convert_from(body, 'UTF8'), url, headers::text, last_error) as t from outbound_requests
       union all select concat_ws(' ', response_excerpt, error, request_headers::text) from outbound_attempts`,
    );
    return rows.map((r) => r.t).join('\n');
  }
  async function assertNothingLeft(what: string) {
    const text = await outboxText();
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${what}: "${secret}" is still in the outbox:\n${text.slice(0, 2000)}`);
    const log = await t.call('GET', '/api/v1/email/deliveries', { token: admin.token });
    assert.equal(log.statusCode, 200);
    for (const secret of SECRETS) assert.ok(!log.body.includes(secret), `${what}: the delivery log shows "${secret}": ${log.body}`);
  }
  const row = async (id: number) =>
    (await t.ctx.db.query<{ state: string; url: string; last_error: string | null; headers: Record<string, string>; body_length: number }>(
      'select state, url, last_error, headers, length(body)::int as body_length from outbound_requests where id = $1',
      [id],
    ))[0]!;

  it('a transcript still waiting when its conversation is erased is cancelled and never mailed, and no copy of it is left', async () => {
    const c = await chat();
    const deliveryId = await askTranscript(c.id, c.customerToken);
    await resolve(c.id, c.agent.token);
    // the transcript holds what the erasure must take: in the outbox, and in the delivery log
    const before = await outboxText();
    for (const secret of [NAME, 'erin%40example.org', 'DE89']) assert.ok(before.includes(secret), `${secret} is in the outbox before the erasure`);
    assert.ok((await t.call('GET', '/api/v1/email/deliveries', { token: admin.token })).body.includes(ADDRESS));

    await erase(c.id);
    const totals = await worker.tick();
    // nor later, when a retry would have been due (within the admin's token's hour)
    clock.advance(30 * 60_000);
    await worker.tick();
    assert.equal(totals.delivered, 0);
    assert.deepEqual(
      smtp.received.map((m) => m.envelopeTo),
      [],
      'nothing is mailed after the erasure',
    );
    const r = await row(deliveryId);
    assert.equal(r.state, 'cancelled');
    assert.match(r.last_error ?? '', /conversation was erased/);
    assert.equal(r.body_length, 0);
    assert.equal(r.url, 'mailto:');
    await assertNothingLeft('after the erasure');
    const [d] = (await t.call('GET', '/api/v1/email/deliveries', { token: admin.token })).json();
    assert.deepEqual([d.id, d.kind, d.state, d.to, d.subject], [deliveryId, 'transcript', 'cancelled', [], '(erased)']);
  });

  it('a transcript mailed before the erasure keeps its place in the log, without its copy, recipient or the relay’s replies', async () => {
    const c = await chat();
    // a first refusal that quotes the recipient, as relays do, then delivered
    smtp.refuseNext(1, 451, `Try again later, <${ADDRESS}> is busy`);
    const deliveryId = await askTranscript(c.id, c.agent.token);
    assert.equal((await worker.tick()).retried, 1);
    clock.advance(10 * 60_000);
    assert.equal((await worker.tick()).delivered, 1);
    const [mail] = await smtp.waitFor(1);
    assert.deepEqual(mail!.envelopeTo, [ADDRESS]);
    assert.match(mail!.parsed.text ?? '', /my IBAN is DE89/);
    const attemptsBefore = (await t.ctx.db.query<{ response_excerpt: string | null }>('select response_excerpt from outbound_attempts where request_id = $1 order by id', [deliveryId])).map(
      (a) => a.response_excerpt,
    );
    assert.ok(attemptsBefore[0]?.includes(ADDRESS), `the relay's refusal quotes the address: ${attemptsBefore.join()}`);
    await resolve(c.id, c.agent.token);

    await erase(c.id);
    const r = await row(deliveryId);
    assert.equal(r.state, 'delivered', 'it was mailed: the log still says so');
    assert.equal(r.body_length, 0);
    await assertNothingLeft('after the erasure');
    const [d] = (await t.call('GET', '/api/v1/email/deliveries', { token: admin.token })).json();
    assert.deepEqual([d.id, d.state, d.to, d.subject], [deliveryId, 'delivered', [], '(erased)']);
    assert.deepEqual(
      d.attempt_log.map((a: { status: number; response_excerpt: string | null }) => [a.status, a.response_excerpt]),
      [
        [451, null],
        [250, null],
      ],
    );
    assert.equal(smtp.received.length, 1, 'nothing more is sent');
  });

  it('an offline message’s email to the team is found by its conversation: cancelled when pending, its copy redacted', async () => {
    assert.equal((await t.call('PATCH', '/api/v1/settings', { token: admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
    const left = await t.call('POST', '/api/v1/offline-messages', { body: { name: NAME, email: ADDRESS, message: `Please call me, my IBAN is ${IBAN}` } });
    assert.equal(left.statusCode, 201, left.body);
    const id = left.json().id as string;
    const [email] = await t.ctx.db.query<{ id: number }>(`select id from outbound_requests where producer = 'email' and name = 'offline_message'`);
    assert.ok((await outboxText()).includes(IBAN));
    await closeConversation(t.ctx, id, { reason: 'customer' }, { id: null, role: 'system' });

    await erase(id);
    await worker.tick();
    assert.equal(smtp.received.length, 0, 'the team is not mailed the erased message');
    const r = await row(email!.id);
    assert.equal(r.state, 'cancelled');
    assert.equal(r.url, 'mailto:team%40example.test', "the team's own address stays");
    await assertNothingLeft('after the erasure');
  });

  it('a transcript of an offline conversation does not wait behind the team’s copy the relay refuses', async () => {
    assert.equal((await t.call('PATCH', '/api/v1/settings', { token: admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
    const left = await t.call('POST', '/api/v1/offline-messages', { body: { name: NAME, email: ADDRESS, message: 'Please call me' } });
    assert.equal(left.statusCode, 201, left.body);
    smtp.refuseNext(1, 451, 'try again later');
    await worker.tick();
    assert.equal(smtp.received.length, 0, "the team's copy is waiting for its retry");
    const sent = await t.call('POST', `/api/v1/conversations/${left.json().id}/transcript`, { token: admin.token, body: {} });
    assert.equal(sent.statusCode, 202, sent.body);
    await worker.tick();
    assert.deepEqual(smtp.received.map((m) => m.envelopeTo), [[ADDRESS]], 'the transcript went at once');
  });

  it('an email already leaving when the erasure runs goes, and its attempt is recorded without data', async () => {
    const c = await chat();
    const deliveryId = await askTranscript(c.id, c.customerToken);
    await resolve(c.id, c.agent.token);
    let entered!: () => void;
    const sending = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    gate = async () => {
      entered();
      await released;
    };
    // refused, quoting the recipient: the reply the attempt log would keep
    smtp.refuseNext(1, 550, `No such user here: <${ADDRESS}>`);
    const ticking = worker.tick();
    await sending;
    await erase(c.id);
    release();
    const totals = await ticking;
    assert.equal(totals.failed + totals.retried + totals.delivered, 0, 'the late record moves nothing: the row was erased');
    const r = await row(deliveryId);
    assert.equal(r.state, 'cancelled');
    assert.match(r.last_error ?? '', /conversation was erased/);
    const attempts = await t.ctx.db.query<{ status: number | null; response_excerpt: string | null; error: string | null }>(
      'select status, response_excerpt, error from outbound_attempts where request_id = $1',
      [deliveryId],
    );
    assert.deepEqual(
      attempts.map((a) => [a.status, a.response_excerpt]),
      [[550, null]],
      'the attempt is logged, with its status only',
    );
    await assertNothingLeft('after the late record');
  });
});

describe('erasure: the upgrade to migration 0083', () => {
  for (const kind of storeKinds()) {
    it(`keeps and keys a live offline conversation's email whose text is base64, found by its Reply-To address [${kind}]`, async () => {
      const { db, drop } = await storeMigratedBefore(kind, '0083');
      try {
        const T = new Date('2026-03-02T09:00:00.123Z');
        const name = 'Иван Петров';
        const message = 'Здравствуйте! Мой заказ номер 4711 до сих пор не пришёл, хотя прошло уже две недели. Пожалуйста, помогите.';
        const [live] = await db.query<{ id: string }>(
          `insert into conversations (channel, external_ref, customer_id, customer, state, created_at, queued_at, updated_at, required_skills)
           values ('offline', 'offline:1', 'offline:ivan@example.org', $2, 'queued', $1, $1, $1, '[]') returning id`,
          [T, JSON.stringify({ name, email: 'ivan@example.org' })],
        );
        // exactly what src/email/offline.ts wrote before 0083: the real renderer and composer, no key
        const rendered = renderOfflineMessage({ conversationId: live!.id, name, email: 'ivan@example.org', department: null, message, at: T });
        const { messageId, raw } = await compose({ from: 'S <support@example.test>', to: ['team@example.test'], replyTo: { name, address: 'ivan@example.org' }, ...rendered, date: T });
        assert.equal(raw.includes(live!.id), false, 'the id is hidden in the raw email: base64 and a wrapped line');
        const [email] = await db.query<{ id: number }>(
          `insert into outbound_requests (producer, message_id, name, ordering_key, url, method, headers, body, state, max_attempts, next_attempt_at, created_at)
           values ('email', $1, 'offline_message', null, 'mailto:team%40example.test', 'SMTP', $2, $3, 'pending', 8, $4, $4) returning id`,
          [messageId, JSON.stringify({ 'mail-from': 'support@example.test', subject: rendered.subject }), raw, T],
        );
        await migrate(db);
        const [r] = await db.query<{ ordering_key: string | null; state: string; len: number; subject: string }>(
          `select ordering_key, state, length(body)::int as len, headers ->> 'subject' as subject from outbound_requests where id = $1`,
          [email!.id],
        );
        assert.deepEqual([r!.state, r!.subject, r!.len > 0], ['pending', rendered.subject, true], 'the live conversation’s email is not erased');
        assert.equal(r!.ordering_key, `email-offline:${live!.id}`);
      } finally {
        await drop();
      }
    });

    it(`erases the emails of conversations erased before it, and keys the offline messages' emails [${kind}]`, async () => {
      const { db, drop } = await storeMigratedBefore(kind, '0083');
      try {
        const T = '2026-03-02T09:00:00Z';
        const [kept] = await db.query<{ id: string }>(
          `insert into conversations (channel, external_ref, customer_id, customer, state, created_at, queued_at, updated_at, required_skills)
           values ('offline', 'offline:1', 'offline:kim@example.org', '{"name": "Kim Kept"}', 'queued', $1, $1, $1, '[]') returning id`,
          [T],
        );
        const email = async (name: string, key: string | null, at: string, body: string, state: string) =>
          (
            await db.query<{ id: number }>(
              `insert into outbound_requests (producer, message_id, name, ordering_key, url, method, headers, body, state, max_attempts, next_attempt_at, created_at, last_error)
               values ('email', '<m@example.test>', $1, $2, $3, 'SMTP', $4, convert_to($5, 'UTF8'), $6, 8, $7, $7, $8) returning id`,
              [
                name,
                key,
                name === 'transcript' ? `mailto:${encodeURIComponent(ADDRESS)}` : 'mailto:team%40example.test',
                JSON.stringify({ 'mail-from': 'support@example.test', subject: name === 'transcript' ? 'Transcript' : `Offline message from ${NAME}` }),
                body,
                state,
                at,
                state === 'failed' ? `the relay refused: 550 <${ADDRESS}>` : null,
              ],
            )
          )[0]!.id;
        // the kept conversation's offline email (no key yet) and transcript; an erased conversation's transcripts; an erased offline message's email
        const keptOffline = await email('offline_message', null, T, `Conversation: ${kept!.id}\nKim's message`, 'delivered');
        const keptTranscript = await email('transcript', `email:${kept!.id}`, T, "Kim's transcript", 'pending');
        const erasedKey = 'email:0b8a53f6-6f2a-4c9e-9a59-1f2f4f3b9d11';
        const pending = await email('transcript', erasedKey, T, `my IBAN is ${IBAN}`, 'pending');
        const failed = await email('transcript', erasedKey, T, `my IBAN is ${IBAN}`, 'failed');
        const orphan = await email('offline_message', null, '2026-03-01T08:00:00Z', `From: ${NAME} <${ADDRESS}>`, 'delivered');
        // an erased offline message's email opened at the very instant of the kept one: not the kept one's, erased
        const twin = await email('offline_message', null, T, `Conversation: 0b8a53f6-6f2a-4c9e-9a59-1f2f4f3b9d11\nmy IBAN is ${IBAN}`, 'pending');
        await db.query(
          `insert into outbound_attempts (request_id, attempt, started_at, duration_ms, status, response_excerpt, error, request_headers)
           select id, 1, created_at, 5, 550, $1, $2, headers from outbound_requests`,
          [`550 <${ADDRESS}>: no such user`, `the relay refused: 550 <${ADDRESS}>`],
        );

        await migrate(db);
        const rows = new Map(
          (
            await db.query<{ id: number; ordering_key: string | null; state: string; url: string; subject: string; last_error: string | null; body: string }>(
              `select id, ordering_key, state, url, headers ->> 'subject' as subject, last_error, convert_from(body, 'UTF8') as body from outbound_requests`,
            )
          ).map((r) => [Number(r.id), r]),
        );
        assert.deepEqual(
          [rows.get(keptOffline)!.ordering_key, rows.get(keptOffline)!.body, rows.get(keptTranscript)!.state],
          [`email-offline:${kept!.id}`, `Conversation: ${kept!.id}\nKim's message`, 'pending'],
          "the kept conversation's emails are linked to it, and untouched",
        );
        for (const [id, state, url] of [
          [pending, 'cancelled', 'mailto:'],
          [failed, 'failed', 'mailto:'],
          [orphan, 'delivered', 'mailto:team%40example.test'],
          [twin, 'cancelled', 'mailto:team%40example.test'],
        ] as const) {
          const r = rows.get(id)!;
          assert.deepEqual([r.state, r.url, r.subject, r.body], [state, url, '(erased)', ''], `email ${id}`);
        }
        assert.match(rows.get(pending)!.last_error!, /conversation was erased/);
        const erased = [pending, failed, orphan, twin];
        const text = (
          await db.query<{ t: string }>(
            `select concat_ws(' ', url, headers::text, last_error, convert_from(body, 'UTF8')) as t from outbound_requests where id = any ($1::bigint[])
             union all select concat_ws(' ', response_excerpt, error, request_headers::text) from outbound_attempts where request_id = any ($1::bigint[])`,
            [erased],
          )
        )
          .map((r) => r.t)
          .join('\n');
        for (const secret of SECRETS) assert.ok(!text.includes(secret), `"${secret}" is left: ${text}`);
      } finally {
        await drop();
      }
    });
  }
});
