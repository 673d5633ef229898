// Email, found by review (the "mail" review): what a customer types cannot
// forge lines of a transcript's or an offline message's text part (a link's
// type, an offline form's department or name with a line break, a customer
// named like the agent); a transcript an address refuses holds up no other
// transcript of the conversation, and a 5xx refusing it is final at once;
// an EMAIL_FROM whose name holds a `:` goes out as one mailbox. Against a
// real SMTP server (smtp-server, parsed by mailparser), on both stores,
// driven by the worker's tick() on a fake clock.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import type { AgentRow } from '../../src/agents/model.js';
import { addMessage } from '../../src/conversations/messages.js';
import { compose } from '../../src/email/compose.js';
import { loadEmailConfig, mailboxOf } from '../../src/email/config.js';
import { conversationEmails, emailDecision, emailProducer, PRODUCER } from '../../src/email/outbox.js';
import { renderOfflineMessage, renderTranscript } from '../../src/email/transcript.js';
import { createOutboundWorker } from '../../src/events/outbound/worker.js';
import { ClientMessage, readPayload } from '../../src/realtime/payloads.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { eachEmailTest, emailWorker, type SmtpReceiver, startSmtpReceiver, TEST_EMAIL_FROM } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });
/** every way mail clients end a line */
const LINES = /\r\n|[\r\n\v\f\u0085\u2028\u2029]/;
/** a line of the text part that starts an agent's message */
const AGENT_LINE = /^\[[^\]]+\] .*\(agent\):$/;

describeEachStore('email, found by review', (store) => {
  const clock = fakeClock();
  const mailer = eachEmailTest(store, { now: clock.now });

  const textLines = (text: string | undefined) => (text ?? '').split(LINES);
  const row = async (id: number) =>
    (await mailer.t.ctx.db.query<{ attempts: number; state: string; last_status: number | null; last_error: string | null; next_attempt_at: Date; ordering_key: string }>(
      'select attempts, state, last_status, last_error, next_attempt_at, ordering_key from outbound_requests where id = $1',
      [id],
    ))[0]!;
  const outboxCount = async () => (await mailer.t.ctx.db.query<{ n: number }>(`select count(*)::int as n from outbound_requests`))[0]!.n;

  /** A chat with an agent called Bob Agent, who has written in it. */
  async function chat(customer: { id: string; name?: string; email?: string }) {
    const agent = await mailer.t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(mailer.t.ctx, { customer }, 3600);
    const id = session.conversation.id;
    assert.equal(session.conversation.agent_id, agent.agent.id);
    await addMessage(mailer.t.ctx, id, { sender: 'agent', sender_id: agent.agent.id, text: 'Hi, how can I help?' }, actorOf(agent.agent));
    return { id, agent, token: session.token };
  }

  describe('a link attachment’s type', () => {
    it('with a line break cannot forge an agent line in the transcript’s text part, when stored (a channel, an old row)', async () => {
      const c = await chat({ id: 'c-1', name: 'Ann', email: 'ann@example.test' });
      const forged = 'image\n[2026-01-05 09:02 UTC] Bob Agent (agent):\n  We refund you 1000 EUR';
      await addMessage(
        mailer.t.ctx,
        c.id,
        { sender: 'customer', sender_id: 'c-1', text: null, attachments: [{ type: forged, url: 'https://files.example.test/a.png' }] },
        { id: null, role: 'system' },
      );
      const res = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.token, body: {} });
      assert.equal(res.statusCode, 202, res.body);
      await mailer.worker.tick();
      const [mail] = await mailer.smtp.waitFor(1);
      const lines = textLines(mail!.parsed.text);
      assert.equal(lines.filter((l) => AGENT_LINE.test(l)).length, 1, `only the agent's own message starts an agent line: ${JSON.stringify(lines)}`);
      assert.ok(lines.includes('  Attachment (image [2026-01-05 09:02 UTC] Bob Agent (agent):   We refund you 1000 EUR): https://files.example.test/a.png'), JSON.stringify(lines));
    });

    it('with a line break or a control character is refused over MQTT, naming it', () => {
      for (const type of ['image\n[09:02 UTC] Bob Agent:', 'image\r', 'a\u2028b', 'a\u0085b', 'a\u2029b', 'a\vb', 'a\fb', 'a\tb', 'a\u007fb']) {
        const payload = Buffer.from(JSON.stringify({ message: { attachments: [{ type, url: 'https://files.example.test/a.png' }] } }));
        assert.throws(
          () => readPayload(ClientMessage, payload),
          (e: { status: number; field?: string; message: string }) => e.status === 400 && e.field === 'message.attachments.0.type' && /one line of text/.test(e.message),
          JSON.stringify(type),
        );
      }
      const ok = readPayload(ClientMessage, Buffer.from(JSON.stringify({ message: { attachments: [{ type: 'image/png – Ünïcode', url: 'https://files.example.test/a.png' }] } })));
      assert.equal(ok.message.attachments?.length, 1);
    });
  });

  describe('an offline message', () => {
    it('with a line break in its department or name is refused naming the field, and nothing is stored', async () => {
      assert.equal((await mailer.t.call('PATCH', '/api/v1/settings', { token: mailer.admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
      const conversations = async () => (await mailer.t.ctx.db.query<{ n: number }>('select count(*)::int as n from conversations'))[0]!.n;
      const ok = { name: 'Eve', email: 'eve@example.test', message: 'please wire the money' };
      const cases: [Record<string, unknown>, string][] = [
        [{ ...ok, department: 'sales\nFrom: CEO <ceo@example.test>' }, 'department'],
        [{ ...ok, department: 'sales\rFrom: CEO' }, 'department'],
        [{ ...ok, department: 'sales\vFrom: CEO' }, 'department'],
        [{ ...ok, department: 'sales\fFrom: CEO' }, 'department'],
        [{ ...ok, name: 'Eve\u2028From: CEO <ceo@example.test>' }, 'name'],
        [{ ...ok, name: 'Eve\u2029From: CEO' }, 'name'],
        [{ ...ok, name: 'Eve\u0085From: CEO' }, 'name'],
        [{ ...ok, name: 'Eve\vFrom: CEO' }, 'name'],
        [{ ...ok, name: 'Eve\fFrom: CEO' }, 'name'],
        [{ ...ok, name: 'Eve\rFrom: CEO' }, 'name'],
      ];
      for (const [body, field] of cases) {
        const res = await mailer.t.call('POST', '/api/v1/offline-messages', { body });
        assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
        assert.equal(res.json().error.code, 'SB_VALIDATION');
        assert.equal(res.json().error.field, field, res.body);
      }
      assert.equal(await conversations(), 0, 'no conversation');
      assert.equal(await outboxCount(), 0, 'no email');
      // a department as the departments API names them, and a name with its spaces and accents, still go
      const fine = await mailer.t.call('POST', '/api/v1/offline-messages', { body: { ...ok, name: 'Ève Ö. d’Arc', department: 'Sales – EU' } });
      assert.equal(fine.statusCode, 201, fine.body);
      await mailer.worker.tick();
      const [mail] = await mailer.smtp.waitFor(1);
      const lines = textLines(mail!.parsed.text);
      assert.deepEqual(lines.slice(0, 2), ['From: Ève Ö. d’Arc <eve@example.test>', 'Department: Sales – EU']);
    });

    it('the team’s copy has one fact a line whatever the values hold', () => {
      const rendered = renderOfflineMessage({
        conversationId: 'x',
        name: 'Eve\u2028From: CEO <ceo@example.test>',
        email: 'eve@example.test',
        department: 'sales\u2029Department: legal\r\nFrom: CEO',
        message: 'hello',
        at: new Date(0),
      });
      const lines = rendered.text.split(LINES);
      assert.equal(lines.filter((l) => l.startsWith('From: ')).length, 1, JSON.stringify(lines));
      assert.equal(lines.filter((l) => l.startsWith('Department: ')).length, 1, JSON.stringify(lines));
      assert.ok(!LINES.test(rendered.subject), rendered.subject);
    });
  });

  describe('who wrote a line', () => {
    it('a customer named like the agent cannot write lines that read as the agent’s: each line names its role', async () => {
      const c = await chat({ id: 'c-imp', name: 'Bob Agent', email: 'ann@example.test' });
      clock.advance(60_000);
      await addMessage(mailer.t.ctx, c.id, { sender: 'customer', sender_id: 'c-imp', text: 'We will refund you 1000 EUR.' }, { id: null, role: 'system' });
      assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: { email: 'legal@example.test' } })).statusCode, 202);
      await mailer.worker.tick();
      const [mail] = await mailer.smtp.waitFor(1);
      const lines = textLines(mail!.parsed.text);
      assert.equal(lines.filter((l) => AGENT_LINE.test(l)).length, 1, `only the agent's own message starts an agent line: ${JSON.stringify(lines)}`);
      const at = lines.findIndex((l) => /^\[[^\]]+\] Bob Agent \(customer\):$/.test(l));
      assert.ok(at > 0, JSON.stringify(lines));
      assert.equal(lines[at + 1], '  We will refund you 1000 EUR.');
      // and in the HTML part
      const html = String(mail!.parsed.html);
      assert.ok(html.includes('<strong>Bob Agent</strong> <span style="color:#666">(agent)</span>'), html);
      assert.ok(html.includes('<strong>Bob Agent</strong> <span style="color:#666">(customer)</span>'), html);
    });

    it('names every role: customer, agent, bot, system', () => {
      const at = new Date(0);
      const r = renderTranscript({
        conversationId: 'x',
        customerName: 'Ann',
        startedAt: at,
        lines: [
          { sender: 'customer', name: 'Ann', text: 'a', attachments: [], at },
          { sender: 'agent', name: 'Bob', text: 'b', attachments: [], at },
          { sender: 'bot', name: 'Bot', text: 'c', attachments: [], at },
          { sender: 'system', name: 'Switchboard', text: 'd', attachments: [], at },
        ],
      });
      const heads = r.text.split('\n').filter((l) => l.startsWith('['));
      assert.deepEqual(
        heads.map((l) => l.slice(l.indexOf(']') + 2)),
        ['Ann (customer):', 'Bob (agent):', 'Bot (bot):', 'Switchboard (system):'],
      );
    });
  });

  describe('a transcript the relay refuses', () => {
    it('to an address refused for now (451) does not hold up the agent’s transcript of the conversation to another', async () => {
      // the visitor gave no email; asking for the transcript, they give a mistyped one (it becomes the conversation's)
      const c = await chat({ id: 'c-typo', name: 'Ann' });
      mailer.smtp.refuseNext(1, 451, 'Try again later');
      const asked = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.token, body: { email: 'ann@exmaple.test' } });
      assert.equal(asked.statusCode, 202, asked.body);
      assert.equal((await mailer.worker.tick()).retried, 1);
      // the agent sends it to the right address: it goes at once, while the other waits for its retry
      const sent = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: { email: 'ann@example.test' } });
      assert.equal(sent.statusCode, 202, sent.body);
      assert.equal((await mailer.worker.tick()).delivered, 1);
      const [mail] = await mailer.smtp.waitFor(1);
      assert.deepEqual(mail!.envelopeTo, ['ann@example.test']);
      assert.equal((await row(asked.json().delivery_id)).state, 'pending', 'the refused one waits for its retry');
      assert.notEqual((await row(asked.json().delivery_id)).ordering_key, (await row(sent.json().delivery_id)).ordering_key);
    });

    it('for good (550: no such user) is failed after one attempt, and the agent’s transcript to the right address goes', async () => {
      const c = await chat({ id: 'c-typo', name: 'Ann' });
      mailer.smtp.refuseNext(1_000, 550, 'No such user');
      const asked = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.token, body: { email: 'ann@exmaple.test' } });
      assert.equal(asked.statusCode, 202, asked.body);
      const totals = await mailer.worker.tick();
      assert.deepEqual([totals.failed, totals.retried], [1, 0]);
      const refused = await row(asked.json().delivery_id);
      assert.deepEqual([refused.state, refused.attempts, refused.last_status], ['failed', 1, 550]);
      assert.match(refused.last_error ?? '', /^the relay refused the message: 550 No such user/);
      const [d] = (await mailer.t.call('GET', '/api/v1/email/deliveries?state=failed', { token: mailer.admin.token })).json();
      assert.deepEqual([d.id, d.state, d.attempts, d.next_attempt_at], [asked.json().delivery_id, 'failed', 1, null]);
      // the agent's goes, straight away
      mailer.smtp.refuseNext(0, 550);
      const sent = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: { email: 'ann@example.test' } });
      assert.equal(sent.statusCode, 202, sent.body);
      assert.equal((await mailer.worker.tick()).delivered, 1);
      assert.deepEqual((await mailer.smtp.waitFor(1))[0]!.envelopeTo, ['ann@example.test']);
      // and the refused one is never tried again, hours later
      for (let i = 0; i < 6; i++) {
        clock.advance(30 * 60_000);
        await mailer.worker.tick();
      }
      assert.equal((await row(asked.json().delivery_id)).attempts, 1);
      assert.equal(mailer.smtp.received.length, 1);
    });

    it('the review’s case: two hours after a 550-refused transcript, the agent’s transcript of the conversation has been tried', async () => {
      const c = await chat({ id: 'c-typo', name: 'Ann' });
      mailer.smtp.refuseNext(1_000, 550, 'No such user');
      const asked = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.token, body: { email: 'ann@exmaple.test' } });
      assert.equal(asked.statusCode, 202, asked.body);
      await mailer.worker.tick();
      const sent = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: { email: 'ann@example.test' } });
      assert.equal(sent.statusCode, 202, sent.body);
      for (let i = 0; i < 24; i++) {
        clock.advance(5 * 60_000);
        await mailer.worker.tick();
      }
      assert.ok((await row(sent.json().delivery_id)).attempts > 0, 'the agent’s transcript was tried');
    });

    it('for now (4xx) is retried on the schedule, and so is one the relay refuses the login for (535)', async () => {
      const c = await chat({ id: 'c-ann', name: 'Ann', email: 'ann@example.test' });
      mailer.smtp.refuseNext(1, 452, 'Mailbox full, try later');
      const first = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} });
      assert.equal(first.statusCode, 202, first.body);
      assert.deepEqual([(await mailer.worker.tick()).retried], [1]);
      const r = await row(first.json().delivery_id);
      assert.deepEqual([r.state, r.attempts, r.last_status], ['pending', 1, 452]);
      assert.ok(r.next_attempt_at.getTime() > clock.now().getTime());
      clock.advance(6_000);
      assert.equal((await mailer.worker.tick()).delivered, 1);

      // a relay that refuses the login: the operator's to fix, and the email goes then
      const wrongLogin = emailWorker(mailer.t.ctx, { ...mailer.smtp, url: mailer.smtp.url.replace(/:[^:@]*@/, ':wrong@') }, TEST_EMAIL_FROM);
      const second = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} });
      assert.equal((await wrongLogin.tick()).retried, 1);
      const refused = await row(second.json().delivery_id);
      assert.deepEqual([refused.state, refused.attempts, refused.last_status], ['pending', 1, 535]);
      clock.advance(6_000);
      assert.equal((await mailer.worker.tick()).delivered, 1);
      assert.equal((await mailer.smtp.waitFor(2)).length, 2);
    });

    it('keeps a conversation’s transcripts to one address in order: a second waits while the first is retried', async () => {
      const c = await chat({ id: 'c-ann', name: 'Ann', email: 'ann@example.test' });
      mailer.smtp.refuseNext(1, 451);
      const first = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} });
      await mailer.worker.tick();
      // the same address, in another case
      const second = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: { email: 'ANN@example.test' } });
      assert.equal(second.statusCode, 202, second.body);
      await mailer.worker.tick();
      assert.equal((await row(second.json().delivery_id)).attempts, 0, 'it waits behind the first');
      assert.equal((await row(first.json().delivery_id)).ordering_key, (await row(second.json().delivery_id)).ordering_key);
      clock.advance(6_000);
      await mailer.worker.tick();
      await mailer.worker.tick();
      const mails = await mailer.smtp.waitFor(2);
      const asked = await mailer.t.ctx.db.query<{ message_id: string }>('select message_id from outbound_requests where id = any ($1::bigint[]) order by id', [
        [first.json().delivery_id, second.json().delivery_id],
      ]);
      assert.deepEqual(mails.map((m) => m.parsed.messageId), asked.map((r) => r.message_id), 'in the order asked');
    });

    it('finds every email of the conversation by conversationEmails, whatever its recipient, and none of another', async () => {
      assert.equal((await mailer.t.call('PATCH', '/api/v1/settings', { token: mailer.admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
      const left = await mailer.t.call('POST', '/api/v1/offline-messages', { body: { name: 'Kim', email: 'kim@example.test', message: 'hello' } });
      assert.equal(left.statusCode, 201, left.body);
      const id = left.json().id as string;
      const other = await mailer.t.call('POST', '/api/v1/offline-messages', { body: { name: 'Lou', email: 'lou@example.test', message: 'hello' } });
      const ids: number[] = [];
      for (const email of ['kim@example.test', 'kim@exmaple.test', 'crm@example.test', 'KIM@example.test']) {
        const res = await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: mailer.admin.token, body: { email } });
        assert.equal(res.statusCode, 202, res.body);
        ids.push(res.json().delivery_id);
      }
      assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${other.json().id}/transcript`, { token: mailer.admin.token, body: {} })).statusCode, 202);
      // a row of the key all transcripts had before (written by an older version)
      const [legacy] = await mailer.t.ctx.db.query<{ id: number }>(
        `insert into outbound_requests (producer, message_id, name, ordering_key, url, method, headers, body, state, max_attempts, next_attempt_at, created_at)
         values ('email', '<old@example.test>', 'transcript', $1, 'mailto:kim%40example.test', 'SMTP', '{}', '', 'delivered', 10, $2, $2) returning id`,
        [`email:${id}`, clock.now()],
      );
      const keys = conversationEmails(id, 1);
      const found = await mailer.t.ctx.db.query<{ id: number; name: string }>(`select id, name from outbound_requests where producer = '${PRODUCER}' and ${keys.sql} order by id`, keys.params);
      const [offline] = await mailer.t.ctx.db.query<{ id: number }>(`select id from outbound_requests where ordering_key = $1`, [`email-offline:${id}`]);
      assert.deepEqual(found.map((r) => Number(r.id)), [Number(offline!.id), ...ids, Number(legacy!.id)]);
      const transcriptKeys = await mailer.t.ctx.db.query<{ ordering_key: string }>('select ordering_key from outbound_requests where id = any ($1::bigint[]) order by id', [ids]);
      assert.deepEqual(
        transcriptKeys.map((r) => r.ordering_key),
        [`email:${id}:1`, `email:${id}:2`, `email:${id}:3`, `email:${id}:1`],
        'a key per recipient (in any case), numbered: the address is not in it',
      );
    });
  });
});

describe('email, found by review: EMAIL_FROM', () => {
  it('a name with a ":" is sent as a mailbox, not as an RFC 5322 group', async () => {
    const { simpleParser } = await import('mailparser');
    for (const [from, name] of [
      ['ACME: Support <support@acme.test>', 'ACME: Support'],
      ['"ACME: Support" <support@acme.test>', 'ACME: Support'],
      ['ACME, Inc; "Desk" <support@acme.test>', 'ACME, Inc; "Desk"'],
      ['support@acme.test', ''],
    ] as const) {
      const config = loadEmailConfig({ SMTP_URL: 'smtp://relay.example.test:587', EMAIL_FROM: from });
      assert.equal(config.from, from, 'accepted at start-up');
      assert.deepEqual(mailboxOf(from), { name, address: 'support@acme.test' });
      const { raw } = await compose({ from: config.from!, to: ['ann@example.test'], subject: 's', text: 't', html: '<p>t</p>', date: new Date() });
      const parsed = await simpleParser(raw);
      assert.deepEqual(parsed.from?.value.map((v) => [v.name, v.address]), [[name, 'support@acme.test']], `${from}: ${parsed.headerLines.find((h) => h.key === 'from')?.line}`);
    }
  });

  it('decides an SMTP answer: 2xx and a session’s refusals keep the default, a 5xx refusing the email is final', () => {
    const outcome = (status: number | null, error: string | null) => ({ status, error, excerpt: null, retryAfterMs: null, durationMs: 1 });
    assert.deepEqual(emailDecision(outcome(550, 'the relay refused the recipient: 550 no such user')), { outcome: 'failed', nextAttemptAt: null });
    assert.deepEqual(emailDecision(outcome(550, 'the relay refused the recipient: 550 5.1.1 <x@example.test>: Recipient address rejected: User unknown')), { outcome: 'failed', nextAttemptAt: null });
    assert.deepEqual(emailDecision(outcome(552, 'the relay refused the message: 552 5.3.4 Message size exceeds fixed limit')), { outcome: 'failed', nextAttemptAt: null });
    assert.deepEqual(emailDecision(outcome(554, 'the relay refused the message: 554 5.6.0 Message content rejected')), { outcome: 'failed', nextAttemptAt: null });
    // the operator's to fix, or over in time: retried (review of bb05200)
    for (const [status, text] of [
      [554, 'the relay refused the recipient: 554 5.7.1 <ann@example.test>: Relay access denied'],
      [550, 'the relay refused the recipient: 550 5.7.1 Unable to relay'],
      [530, 'the relay refused the recipient: 530 5.7.0 Authentication required'],
      [552, 'the relay refused the recipient: 552 5.2.2 Mailbox full'],
      [550, 'the relay refused the message: 550 5.7.26 Unauthenticated email from example.test is not accepted due to domain\'s DMARC policy'],
      [550, 'the relay refused the recipient: 550 5.1.8 Sender address rejected'],
      [554, 'the relay refused the recipient: 554 Relay access denied'],
      [554, 'the relay refused the message: 554 spam'],
    ] as const) {
      assert.equal(emailDecision(outcome(status, text)), undefined, text);
    }
    assert.equal(emailDecision(outcome(451, 'the relay refused the message: 451 later')), undefined);
    assert.equal(emailDecision(outcome(535, 'the relay refused AUTH PLAIN: 535 bad login')), undefined);
    assert.equal(emailDecision(outcome(550, 'the relay refused MAIL FROM: 550 not your sender')), undefined);
    assert.equal(emailDecision(outcome(null, 'connect ECONNREFUSED')), undefined);
    assert.equal(emailDecision(outcome(250, null)), undefined);
  });
});

describeEachStore('email, found by review: EMAIL_FROM as received', (store) => {
  let smtp: SmtpReceiver;
  let t: TestApp;
  beforeEach(async () => {
    await store().reset();
    smtp = await startSmtpReceiver();
  });
  afterEach(async () => {
    await t?.close();
    await smtp.close();
  });

  it('an offline message’s email from "ACME: Desk <support@acme.test>" arrives from that name and address', async () => {
    const from = 'ACME: Desk <support@acme.test>';
    t = await testApp(store(), { env: { SMTP_URL: smtp.url, EMAIL_FROM: from } });
    const admin = await t.user('admin');
    assert.equal((await t.call('PATCH', '/api/v1/settings', { token: admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
    assert.equal((await t.call('POST', '/api/v1/offline-messages', { body: { name: 'Kim', email: 'kim@example.test', message: 'hello' } })).statusCode, 201);
    await emailWorker(t.ctx, smtp, from).tick();
    const [mail] = await smtp.waitFor(1);
    assert.deepEqual(mail!.parsed.from?.value.map((v) => [v.name, v.address]), [['ACME: Desk', 'support@acme.test']]);
    assert.equal(mail!.envelopeFrom, 'support@acme.test');
  });
});

describeEachStore('email, found by review: a relay slow to answer the end of DATA', (store) => {
  it('gets the email once: the attempt has the SMTP deadline, longer than the worker’s, and no other worker claims it meanwhile', async () => {
    await store().reset();
    const clock = fakeClock();
    let copies = 0;
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    // a relay that scans a message before it answers: longer than the worker's own timeout, within the SMTP deadline
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, _session, callback) {
        stream.on('data', () => {});
        stream.on('end', () => {
          copies += 1;
          received();
          setTimeout(() => callback(), 2_000);
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    const t = await testApp(store(), { now: clock.now, env: { SMTP_URL: url, EMAIL_FROM: TEST_EMAIL_FROM } });
    // two processes' workers, each with a webhook timeout (WEBHOOK_TIMEOUT) well under the relay's pace
    const worker = () =>
      createOutboundWorker(t.ctx, {
        producers: { [PRODUCER]: emailProducer({ smtpUrl: url, from: TEST_EMAIL_FROM }) },
        concurrency: 4, timeoutMs: 500, pollMs: 60_000, allowPrivate: false, random: () => 0.5,
      });
    try {
      const admin = await t.user('admin');
      assert.equal((await t.call('PATCH', '/api/v1/settings', { token: admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
      assert.equal((await t.call('POST', '/api/v1/offline-messages', { body: { name: 'Ann', email: 'ann@example.test', message: 'hi' } })).statusCode, 201);
      const sending = worker().tick();
      await arrived;
      // while the relay thinks, the clock passes the worker's timeout + 30 s: another process's claim finds nothing due
      clock.advance(45_000);
      assert.deepEqual(await worker().tick(), { delivered: 0, retried: 0, failed: 0, cancelled: 0 });
      assert.equal((await sending).delivered, 1);
      const [row] = await t.ctx.db.query<{ state: string; attempts: number; last_status: number | null; last_error: string | null }>(
        `select state, attempts, last_status, last_error from outbound_requests where producer = '${PRODUCER}'`,
      );
      assert.deepEqual(row, { state: 'delivered', attempts: 1, last_status: 250, last_error: null });
      assert.equal(copies, 1);
    } finally {
      await t.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
