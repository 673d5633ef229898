// Email from customers whose names are emoji (found by review): the
// offline message's subject was cut at 200 UTF-16 units, which can split an
// emoji and leave half of it, a lone surrogate; the subject goes into the
// outbox row's jsonb headers, PostgreSQL refused it, and the whole offline
// message was rolled back with a 500. Against a real SMTP server
// (smtp-server, parsed by mailparser), on both stores.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import { addMessage } from '../../src/conversations/messages.js';
import { enqueueEmail, PRODUCER } from '../../src/email/outbox.js';
import { startSession } from '../../src/realtime/sessions.js';
import { fakeClock } from '../helpers/clock.js';
import { eachEmailTest, TEST_EMAIL_FROM } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });
/** 190 emoji: 190 characters as the API counts them (within the name's 200), 380 UTF-16 units */
const EMOJI_NAME = '😀🎉'.repeat(95);
const codePoints = (text: string) => Array.from(text);

describeEachStore('email: customers named with emoji', (store) => {
  const clock = fakeClock();
  const mailer = eachEmailTest(store, { now: clock.now });

  it('an offline message from a customer named with 190 emoji is accepted, stored, and emailed with whole emoji', async () => {
    assert.equal((await mailer.t.call('PATCH', '/api/v1/settings', { token: mailer.admin.token, body: { offline_email_to: 'team@example.test' } })).statusCode, 200);
    const res = await mailer.t.call('POST', '/api/v1/offline-messages', { body: { name: EMOJI_NAME, email: 'emoji@example.test', message: 'Call me back 🙏' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().customer.name, EMOJI_NAME);
    const [stored] = await mailer.t.ctx.db.query<{ text: string }>('select text from messages where conversation_id = $1', [res.json().id]);
    assert.equal(stored?.text, 'Call me back 🙏');
    assert.equal((await mailer.worker.tick()).delivered, 1);
    const [mail] = await mailer.smtp.waitFor(1);
    const subject = mail!.parsed.subject ?? '';
    assert.ok(!/\uFFFD|[\uD800-\uDFFF](?![\uDC00-\uDFFF])/.test(subject.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')), `no half emoji, no replacement character: ${JSON.stringify(subject)}`);
    // cut at 200 characters, between two emoji
    assert.equal(subject, `Offline message from ${codePoints(EMOJI_NAME).slice(0, 179).join('')}`);
    assert.equal(codePoints(subject).length, 200);
    assert.ok((mail!.parsed.text ?? '').includes(`From: ${EMOJI_NAME} <emoji@example.test>`), mail!.parsed.text);
    assert.deepEqual(mail!.parsed.replyTo?.value.map((v) => [v.name, v.address]), [[EMOJI_NAME, 'emoji@example.test']]);
    const [delivery] = (await mailer.t.call('GET', '/api/v1/email/deliveries', { token: mailer.admin.token })).json();
    assert.equal(delivery.subject, subject, 'the log shows the subject sent');
  });

  it('a transcript of a customer named with 190 emoji is accepted and arrives with the name whole', async () => {
    const agent = await mailer.t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(mailer.t.ctx, { customer: { id: 'emoji-1', name: EMOJI_NAME, email: 'emoji@example.test' } }, 3600);
    const id = session.conversation.id;
    await addMessage(mailer.t.ctx, id, { sender: 'customer', sender_id: 'emoji-1', text: '🙂'.repeat(5_000) }, { id: null, role: 'system' });
    await addMessage(mailer.t.ctx, id, { sender: 'agent', sender_id: agent.agent.id, text: 'Hello 👋' }, actorOf(agent.agent));
    const res = await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: session.token, body: {} });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal((await mailer.worker.tick()).delivered, 1);
    const [mail] = await mailer.smtp.waitFor(1);
    const text = mail!.parsed.text ?? '';
    assert.ok(text.includes(`] ${EMOJI_NAME} (customer):\n  ${'🙂'.repeat(5_000)}`), 'the name and the message whole');
    assert.ok(!text.includes('\uFFFD'));
    assert.ok(String(mail!.parsed.html).includes(`<strong>${EMOJI_NAME}</strong>`));
  });

  // Whatever renders an email, the row's headers are jsonb: half an emoji there failed the
  // transaction that accepted the request. They are stored as the attempt log's texts are.
  it('stores an email whose subject holds half an emoji: the half becomes U+FFFD in the row, the request is not lost', async () => {
    const halves = `Offline message from ${'😀'.repeat(3)}`.slice(0, -1);
    const id = await mailer.t.ctx.db.transaction((tx) =>
      enqueueEmail(tx, { smtpUrl: mailer.smtp.url, from: TEST_EMAIL_FROM }, 'offline_message', { to: ['team@example.test'], subject: halves, text: 't', html: '<p>t</p>', date: clock.now() }, null),
    );
    const [row] = await mailer.t.ctx.db.query<{ headers: Record<string, string> }>(`select headers from outbound_requests where id = $1 and producer = '${PRODUCER}'`, [id]);
    assert.equal(row?.headers.subject, `Offline message from 😀😀\uFFFD`);
    assert.equal((await mailer.worker.tick()).delivered, 1);
    const [mail] = await mailer.smtp.waitFor(1);
    assert.equal(mail!.parsed.subject, `Offline message from 😀😀\uFFFD`);
  });
});
