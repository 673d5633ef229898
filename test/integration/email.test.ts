// Email end to end (#18): transcripts and offline messages go through the
// outbox to a real SMTP server started here, and are checked as received
// (parsed by mailparser). Retries are driven with a fake clock and the
// worker's tick(), never by sleeping.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { describe } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { addMessage } from '../../src/conversations/messages.js';
import { closeConversation } from '../../src/conversations/lifecycle.js';
import { CUSTOMER_MAX_TRANSCRIPTS } from '../../src/email/send-transcript.js';
import { renderTranscript } from '../../src/email/transcript.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { eachEmailTest, TEST_EMAIL_FROM } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });

describeEachStore('email', (store) => {
  const clock = fakeClock();
  const mailer = eachEmailTest(store, { now: clock.now });

  /** A live chat assigned to a fresh online agent, with a few messages. */
  async function chat(customer: { name?: string; email?: string } = { name: 'Ann <b>Lee</b>', email: 'ann@example.test' }) {
    const agent = await mailer.t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(mailer.t.ctx, { customer: { id: `c-${Math.random()}`, ...customer } }, 3600);
    assert.equal(session.conversation.agent_id, agent.agent.id);
    const id = session.conversation.id;
    await addMessage(mailer.t.ctx, id, { sender: 'customer', sender_id: 'c', text: 'Hello <script>alert("x")</script> & bye', attachments: [{ type: 'image', url: 'https://files.example.test/a.png?x=1&y=2' }] }, { id: null, role: 'system' });
    clock.advance(60_000);
    await addMessage(mailer.t.ctx, id, { sender: 'agent', sender_id: agent.agent.id, text: 'Hi Ann,\nhow can I help?' }, actorOf(agent.agent));
    return { id, agent, customerToken: session.token };
  }

  const outboundCount = async () => (await mailer.t.ctx.db.query<{ n: number }>(`select count(*)::int as n from outbound_requests where producer = 'email'`))[0]!.n;

  it('an agent emails the transcript: text and HTML parts as received, names, times, escaping, attachment links', async () => {
    const c = await chat();
    const res = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().to, 'ann@example.test');
    assert.equal(mailer.smtp.received.length, 0, 'accepted, not sent inside the request');
    // the email was rendered when the request was accepted: what is said later is not in it
    await addMessage(mailer.t.ctx, c.id, { sender: 'agent', sender_id: c.agent.agent.id, text: 'said after the request' }, actorOf(c.agent.agent));
    const totals = await mailer.worker.tick();
    assert.equal(totals.delivered, 1);
    const [mail] = await mailer.smtp.waitFor(1);
    const m = mail!.parsed;
    assert.equal(m.from?.text, '"Switchboard Support" <support@example.test>');
    assert.equal(m.from?.value[0]?.address, 'support@example.test');
    assert.deepEqual(mail!.envelopeTo, ['ann@example.test']);
    assert.equal(mail!.envelopeFrom, 'support@example.test');
    assert.equal((m.to as { text: string }).text, 'ann@example.test');
    assert.match(m.subject ?? '', /^Transcript of your conversation of 2026-01-05$/);
    assert.ok(m.messageId, 'a Message-ID');
    // plain text: every message in order, who and when
    const text = m.text ?? '';
    assert.match(text, /\[2026-01-05 09:00 UTC\] Ann <b>Lee<\/b> \(customer\):\n {2}Hello <script>alert\("x"\)<\/script> & bye\n {2}Attachment \(image\): https:\/\/files\.example\.test\/a\.png\?x=1&y=2/);
    assert.match(text, /\[2026-01-05 09:01 UTC\] Bob Agent \(agent\):\n {2}Hi Ann,\n {2}how can I help\?/);
    assert.ok(text.indexOf('Ann <b>') < text.indexOf('Bob Agent'), 'in order');
    assert.ok(!text.includes('said after the request'));
    // HTML: what people typed is escaped, never markup; attachments are links
    const html = String(m.html);
    assert.ok(!html.includes('<script>'), 'no script tag in the HTML part');
    assert.ok(!html.includes('<b>Lee'), 'no markup from a name');
    assert.ok(html.includes('Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; bye'), html);
    assert.ok(html.includes('<strong>Ann &lt;b&gt;Lee&lt;/b&gt;</strong> <span style="color:#666">(customer)</span>'));
    assert.ok(html.includes('<a href="https://files.example.test/a.png?x=1&amp;y=2">'), 'attachment as a link');
    assert.equal(m.attachments.length, 0, 'attachments are links, not files');
    // the delivery log
    const log = await mailer.t.call('GET', '/api/v1/email/deliveries', { token: mailer.admin.token });
    assert.equal(log.statusCode, 200);
    const [delivery] = log.json();
    assert.equal(delivery.id, res.json().delivery_id);
    assert.equal(delivery.kind, 'transcript');
    assert.equal(delivery.state, 'delivered');
    assert.deepEqual(delivery.to, ['ann@example.test']);
    assert.equal(delivery.message_id, m.messageId);
    assert.equal(delivery.attempt_log.length, 1);
    assert.equal(delivery.attempt_log[0].status, 250);
  });

  // Found by review: the staff API (and RapidPro's, Qiscus' contacts) store customer.email as given,
  // and a transcript to `a@x,b@y` went to both.
  it('sends a transcript only to one plain address: a stored list of two is refused, naming email, and nothing is queued', async () => {
    const agent = await mailer.t.user('agent', { status: 'online', capacity: 5 });
    const opened = await mailer.t.call('POST', '/api/v1/conversations', {
      token: agent.token,
      body: { customer: { id: 'two-1', email: 'ann@example.test,postmaster' } },
    });
    assert.equal(opened.statusCode, 201, opened.body);
    const id = opened.json().id as string;
    const res = await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: agent.token, body: {} });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.field, 'email');
    assert.equal(await outboundCount(), 0);
    const given = await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: agent.token, body: { email: 'ann@example.test' } });
    assert.equal(given.statusCode, 202, given.body);
  });

  it('an agent a conversation is only offered to sends no transcript until they accept (409 SB_NOT_ACCEPTED, as for a note); supervisors and admins may', async () => {
    assert.equal((await mailer.t.call('PUT', '/api/v1/departments/sales/routing', { token: mailer.admin.token, body: { mode: 'offer', offer_timeout_s: 60 } })).statusCode, 200);
    const agent = await mailer.t.user('agent', { status: 'online', capacity: 1, departments: ['sales'] });
    const supervisor = await mailer.t.user('supervisor');
    const opened = await mailer.t.call('POST', '/api/v1/conversations', {
      token: mailer.admin.token,
      body: { customer: { id: 'v-1', name: 'Vera', email: 'vera@example.test' }, department: 'sales' },
    });
    assert.equal(opened.statusCode, 201, opened.body);
    const c = opened.json();
    assert.deepEqual([c.state, c.agent_id], ['offered', agent.agent.id]);
    for (const body of [{}, { email: 'someone-else@example.net' }]) {
      const res = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: agent.token, body });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().error.code, 'SB_NOT_ACCEPTED');
    }
    assert.equal(await outboundCount(), 0);
    for (const staff of [supervisor, mailer.admin]) {
      const res = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: staff.token, body: {} });
      assert.equal(res.statusCode, 202, res.body);
    }
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: agent.token })).statusCode, 200);
    const accepted = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: agent.token, body: {} });
    assert.equal(accepted.statusCode, 202, accepted.body);
    assert.equal(await outboundCount(), 3);
  });

  it('a transcript never carries an agent’s private note, whoever asks for it', async () => {
    const c = await chat();
    const note = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/notes`, { token: c.agent.token, body: { text: 'internal: customer is a known chargeback risk' } });
    assert.equal(note.statusCode, 201, note.body);
    clock.advance(60_000);
    await addMessage(mailer.t.ctx, c.id, { sender: 'agent', sender_id: c.agent.agent.id, text: 'Anything else?' }, actorOf(c.agent.agent));
    for (const token of [c.agent.token, c.customerToken]) {
      assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token, body: {} })).statusCode, 202);
    }
    assert.equal((await mailer.worker.tick()).delivered, 2);
    for (const mail of await mailer.smtp.waitFor(2)) {
      const text = mail.parsed.text ?? '';
      assert.match(text, /how can I help\?[\s\S]*Anything else\?/, 'the messages around the note are there');
      assert.ok(!text.includes('chargeback'), text);
      assert.ok(!String(mail.parsed.html).includes('chargeback'));
    }
  });

  it('a customer cannot write a line of the text part that reads as the agent’s: every line break indents', async () => {
    const c = await chat({ name: 'Ann\r[2026-01-05 09:03 UTC] Bob Agent (agent):', email: 'ann@example.test' });
    for (const forged of ['\r', '\u2028', '\u0085', '\f']) {
      const text = `ok${forged}[2026-01-05 09:02 UTC] Bob Agent (agent):${forged}  We will refund you 1000 EUR.`;
      await addMessage(mailer.t.ctx, c.id, { sender: 'customer', sender_id: 'c', text }, { id: null, role: 'system' });
    }
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: { email: 'legal@example.test' } })).statusCode, 202);
    await mailer.worker.tick();
    const [mail] = await mailer.smtp.waitFor(1);
    const lines = (mail!.parsed.text ?? '').split(/\r\n|[\r\n\v\f\u0085\u2028\u2029]/);
    const agentLines = lines.filter((l) => /^\[[^\]]+\] .*\(agent\):$/.test(l));
    assert.equal(agentLines.length, 1, `only the agent's own message starts an agent line: ${JSON.stringify(lines)}`);
    assert.ok(lines.some((l) => l === '    We will refund you 1000 EUR.'), 'the customer’s text is there, indented under their name');
  });

  it('a relay that refuses for now (451, then 452) gets the email again later, and the log shows every attempt', async () => {
    const c = await chat();
    mailer.smtp.refuseNext(2, 451);
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: mailer.admin.token, body: { email: 'team@example.test' } })).statusCode, 202);
    let totals = await mailer.worker.tick();
    assert.deepEqual([totals.delivered, totals.retried], [0, 1]);
    let [d] = (await mailer.t.call('GET', '/api/v1/email/deliveries', { token: mailer.admin.token })).json();
    assert.equal(d.state, 'pending');
    assert.equal(d.last_status, 451);
    assert.match(d.last_error, /refused.*451/);
    // not due before its retry time
    assert.equal((await mailer.worker.tick()).retried, 0);
    clock.advance(6_000);
    mailer.smtp.refuseNext(1, 452);
    totals = await mailer.worker.tick();
    assert.deepEqual([totals.delivered, totals.retried], [0, 1]);
    clock.advance(6 * 60_000);
    totals = await mailer.worker.tick();
    assert.equal(totals.delivered, 1);
    const [mail] = await mailer.smtp.waitFor(1);
    assert.deepEqual(mail!.envelopeTo, ['team@example.test']);
    assert.equal(mailer.smtp.received.length, 1, 'delivered once');
    [d] = (await mailer.t.call('GET', '/api/v1/email/deliveries?state=delivered', { token: mailer.admin.token })).json();
    assert.equal(d.state, 'delivered');
    assert.deepEqual(d.attempt_log.map((a: { status: number }) => a.status), [451, 452, 250]);
  });

  it('the customer gets the transcript at the conversation’s own address only, a few times at most', async () => {
    const c = await chat();
    await closeConversation(mailer.t.ctx, c.id, { reason: 'customer' }, { id: null, role: 'system' });
    const other = await chat({ name: 'Zed', email: 'zed@example.test' });
    const before = await outboundCount();
    // to someone else: refused, nothing queued
    const elsewhere = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: { email: 'victim@example.test' } });
    assert.equal(elsewhere.statusCode, 403);
    assert.equal(elsewhere.json().error.code, 'SB_TRANSCRIPT_ADDRESS');
    assert.equal(elsewhere.json().error.field, 'email');
    // another conversation with this token: refused
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${other.id}/transcript`, { token: c.customerToken, body: {} })).statusCode, 403);
    // one that does not exist answers the same: the token learns nothing of ids not its own
    assert.equal((await mailer.t.call('POST', '/api/v1/conversations/00000000-0000-4000-8000-000000000000/transcript', { token: c.customerToken, body: {} })).statusCode, 403);
    // an agent who never held it: refused
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: other.agent.token, body: {} })).statusCode, 403);
    // bad input
    const bad = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: { email: 'not an address' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, 'email');
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: { to: 'x@example.test' } })).statusCode, 400);
    assert.equal(await outboundCount(), before, 'refusals change nothing');
    // its own address (the same, differently cased, is fine), after the chat ended
    for (const body of [{}, { email: 'ANN@example.test' }]) {
      const ok = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body });
      assert.equal(ok.statusCode, 202, ok.body);
      assert.equal(ok.json().to, 'ann@example.test');
    }
    for (let i = 2; i < CUSTOMER_MAX_TRANSCRIPTS; i++) assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: {} })).statusCode, 202);
    const tooMany = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: {} });
    assert.equal(tooMany.statusCode, 429);
    await mailer.worker.tick();
    const mails = await mailer.smtp.waitFor(CUSTOMER_MAX_TRANSCRIPTS);
    assert.ok(mails.every((m) => m.envelopeTo.join() === 'ann@example.test'));
  });

  it('a customer may ask for a transcript only once an agent has written, and agents’ transcripts leave them theirs', async () => {
    const bob = await mailer.t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(mailer.t.ctx, { customer: { id: 'lonely', name: 'Visit http://phish.example', email: 'victim@example.test' } }, 3600);
    const id = session.conversation.id;
    assert.equal(session.conversation.agent_id, bob.agent.id);
    await addMessage(mailer.t.ctx, id, { sender: 'customer', sender_id: 'lonely', text: 'URGENT: verify your card' }, { id: null, role: 'system' });
    // a private note is no answer to the customer
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${id}/notes`, { token: bob.token, body: { text: 'looks like spam' } })).statusCode, 201);
    const before = await outboundCount();
    const unserved = await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: session.token, body: {} });
    assert.equal(unserved.statusCode, 409, unserved.body);
    assert.equal(unserved.json().error.code, 'SB_TRANSCRIPT_UNSERVED');
    assert.equal(await outboundCount(), before, 'nothing queued');

    await addMessage(mailer.t.ctx, id, { sender: 'agent', sender_id: bob.agent.id, text: 'How can I help?' }, actorOf(bob.agent));
    const agentToken = bob.token;
    for (let i = 0; i < CUSTOMER_MAX_TRANSCRIPTS; i++) {
      assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: agentToken, body: { email: 'crm@example.test' } })).statusCode, 202);
    }
    const asked = await mailer.t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: session.token, body: {} });
    assert.equal(asked.statusCode, 202, 'the agent’s three did not use up the customer’s');
    assert.equal(asked.json().to, 'victim@example.test');
  });

  it('limits customers’ transcripts to one recipient across chats, with retry-after', async () => {
    const accepted: number[] = [];
    let limited: Awaited<ReturnType<typeof mailer.t.call>> | undefined;
    for (let i = 0; i < 6 && !limited; i++) {
      const c = await chat({ name: `Chat ${i}`, email: 'Target@Example.test' });
      const res = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: {} });
      if (res.statusCode === 202) accepted.push(i);
      else limited = res;
    }
    assert.deepEqual(accepted, [0, 1, 2, 3, 4]);
    assert.equal(limited?.statusCode, 429);
    assert.equal(limited!.json().error.code, 'SB_RATE_LIMITED');
    assert.match(limited!.json().error.message, /recipient/);
    assert.ok(Number(limited!.headers['retry-after']) > 0);
    // staff are not limited
    const c = await chat({ name: 'Staff', email: 'target@example.test' });
    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} })).statusCode, 202);
  });

  it('a customer without an email gives one, once: it becomes the conversation’s', async () => {
    const c = await chat({ name: 'Nomail' });
    const none = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: {} });
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().error.field, 'email');
    const first = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: { email: 'me@example.test' } });
    assert.equal(first.statusCode, 202);
    const conv = await mailer.t.call('GET', `/api/v1/conversations/${c.id}`, { token: c.agent.token });
    assert.equal(conv.json().customer.email, 'me@example.test');
    const second = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.customerToken, body: { email: 'someone-else@example.test' } });
    assert.equal(second.statusCode, 403);
    await mailer.worker.tick();
    assert.deepEqual((await mailer.smtp.waitFor(1))[0]!.envelopeTo, ['me@example.test']);
  });

  it('an offline message is a queued conversation holding it, and an email to offline_email_to', async () => {
    const patched = await mailer.t.call('PATCH', '/api/v1/settings', { token: mailer.admin.token, body: { offline_email_to: 'team@example.test' } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.json().offline_email_to, 'team@example.test');
    const res = await mailer.t.call('POST', '/api/v1/offline-messages', { body: { name: 'Cy <i>', email: 'cy@example.test', message: 'Call me back <script>x</script>', department: 'sales' } });
    assert.equal(res.statusCode, 201, res.body);
    const conversation = res.json();
    assert.equal(conversation.state, 'queued');
    assert.equal(conversation.channel, 'offline');
    assert.equal(conversation.department, 'sales');
    assert.equal(conversation.customer.email, 'cy@example.test');
    assert.equal(conversation.queue_position, 1);
    const messages = await mailer.t.call('GET', `/api/v1/conversations/${conversation.id}/messages`, { token: mailer.admin.token });
    assert.deepEqual(messages.json().map((m: { sender: string; text: string }) => [m.sender, m.text]), [['customer', 'Call me back <script>x</script>']]);
    await mailer.worker.tick();
    const [mail] = await mailer.smtp.waitFor(1);
    assert.deepEqual(mail!.envelopeTo, ['team@example.test']);
    assert.equal(mail!.parsed.subject, 'Offline message from Cy <i>');
    assert.equal((mail!.parsed.replyTo as { value: { address: string }[] }).value[0]!.address, 'cy@example.test');
    assert.match(mail!.parsed.text ?? '', /Call me back <script>x<\/script>/);
    assert.ok(String(mail!.parsed.html).includes('Call me back &lt;script&gt;x&lt;/script&gt;'));
    assert.ok(String(mail!.parsed.html).includes(conversation.id));
    // the next agent to come online gets it
    const agent = await mailer.t.user('agent', { status: 'online', departments: ['sales'] });
    const now = await mailer.t.call('GET', `/api/v1/conversations/${conversation.id}`, { token: mailer.admin.token });
    assert.equal(now.json().agent_id, agent.agent.id);
  });

  it('refuses bad offline messages with a 4xx naming the field, and changes nothing', async () => {
    const count = async () => (await mailer.t.ctx.db.query<{ n: number }>('select count(*)::int as n from conversations'))[0]!.n;
    const ok = { name: 'Dee', email: 'dee@example.test', message: 'hi' };
    const cases: [unknown, string | undefined][] = [
      [{ ...ok, email: 'nope' }, 'email'],
      [{ ...ok, name: 'Dee\r\nBcc: x@example.test' }, 'name'],
      [{ ...ok, name: '' }, 'name'],
      [{ ...ok, message: '   ' }, 'message'],
      [{ ...ok, message: 'x'.repeat(10_001) }, 'message'],
      [{ name: 'Dee', email: 'dee@example.test' }, 'message'],
      [{ ...ok, department: '' }, 'department'],
      [{ ...ok, extra: 1 }, undefined],
    ];
    for (const [body, field] of cases) {
      const res = await mailer.t.call('POST', '/api/v1/offline-messages', { body });
      assert.equal(res.statusCode, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.body}`);
      if (field) assert.equal(res.json().error.field, field, res.body);
    }
    assert.equal(await count(), 0);
    assert.equal(await outboundCount(), 0);
  });

  it('limits offline messages per email address', async () => {
    const send = (i: number) => mailer.t.call('POST', '/api/v1/offline-messages', { body: { name: 'Eve', email: 'EVE@example.test', message: `m${i}` } });
    for (let i = 0; i < 5; i++) assert.equal((await send(i)).statusCode, 201);
    const refused = await send(5);
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'SB_RATE_LIMITED');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal((await mailer.t.ctx.db.query<{ n: number }>('select count(*)::int as n from conversations'))[0]!.n, 5);
  });

  it('does not count an offline message refused for what it says', async () => {
    const send = (department?: string) => mailer.t.call('POST', '/api/v1/offline-messages', { body: { name: 'Fay', email: 'fay@example.test', message: 'hello', ...(department ? { department } : {}) } });
    // a department that is a channel's queue: 400, six times, more than the email's five an hour
    for (let i = 0; i < 6; i++) {
      const refused = await send('@qiscus');
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json().error.field, 'department');
    }
    for (let i = 0; i < 5; i++) assert.equal((await send()).statusCode, 201, 'the refusals used none of the five');
    assert.equal((await send()).statusCode, 429);
  });

  it('counts offline messages across processes and restarts: messages spread over two servers share one limit per email and per address', async () => {
    const env = { SMTP_URL: mailer.smtp.url, EMAIL_FROM: TEST_EMAIL_FROM };
    const [a, b] = [mailer.t, await testApp(store(), { now: clock.now, env })];
    const servers: TestApp[] = [b];
    try {
      const leave = (server: TestApp, email: string, address: string) =>
        server.app.inject({ method: 'POST', url: '/api/v1/offline-messages', payload: { name: 'Eve', email, message: 'hello?' }, remoteAddress: address });
      // per email: 5 an hour, whichever server and address they come through
      for (let i = 0; i < 5; i += 1) assert.equal((await leave(i % 2 ? a : b, 'eve@example.test', `10.7.0.${i}`)).statusCode, 201);
      for (const server of [a, b]) {
        const refused = await leave(server, 'EVE@example.test', '10.7.1.1');
        assert.equal(refused.statusCode, 429, refused.body);
        assert.match(refused.json().error.message, /too many offline messages from this email/);
        assert.ok(Number(refused.headers['retry-after']) > 3000, String(refused.headers['retry-after']));
      }
      // per address: 10 an hour; the email refusals above counted for 10.7.1.1 too
      for (let i = 0; i < 8; i += 1) assert.equal((await leave(i % 2 ? a : b, `m${i}@example.test`, '10.7.1.1')).statusCode, 201);
      const fromAddress = await leave(a, 'new@example.test', '10.7.1.1');
      assert.equal(fromAddress.statusCode, 429);
      assert.match(fromAddress.json().error.message, /too many offline messages from this address/);
      // a server started afterwards (a restart) still refuses both
      const c = await testApp(store(), { now: clock.now, env });
      servers.push(c);
      assert.equal((await leave(c, 'eve@example.test', '10.7.2.1')).statusCode, 429);
      assert.equal((await leave(c, 'other@example.test', '10.7.1.1')).statusCode, 429);
      assert.equal((await mailer.t.ctx.db.query<{ n: number }>('select count(*)::int as n from conversations'))[0]!.n, 13, 'refusals made nothing');
      // the hour ends for all of them at once
      clock.advance(60 * 60_000);
      assert.equal((await leave(a, 'eve@example.test', '10.7.1.1')).statusCode, 201);
      const rows = await mailer.t.ctx.db.query<{ key_digest: string }>('select key_digest from login_attempts');
      assert.ok(rows.every((r) => !r.key_digest.includes('eve')), 'no email is kept in the clear');
    } finally {
      for (const server of servers) await server.close();
    }
  });

  it('admins see that email is on, and where it goes; others may not', async () => {
    const res = await mailer.t.call('GET', '/api/v1/email', { token: mailer.admin.token });
    assert.equal(res.statusCode, 200);
    const port = new URL(mailer.smtp.url).port;
    assert.deepEqual(res.json(), { enabled: true, relay: `smtp://switchboard@127.0.0.1:${port}`, from: TEST_EMAIL_FROM, offline_email_to: null });
    assert.ok(!res.body.includes('smtp test password'), 'never the password');
    const supervisor = await mailer.t.user('supervisor');
    assert.equal((await mailer.t.call('GET', '/api/v1/email/deliveries', { token: supervisor.token })).statusCode, 403);
  });
});

describeEachStore('email, not configured', (store) => {
  let t: TestApp;
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
  });
  afterEach(() => t.close());

  it('says email is off: transcripts are refused with SB_EMAIL_NOT_CONFIGURED, offline messages only wait in the queue', async () => {
    const admin = await t.user('admin');
    const status = await t.call('GET', '/api/v1/email', { token: admin.token });
    assert.deepEqual(status.json(), { enabled: false, relay: null, from: null, offline_email_to: null });
    await t.call('PATCH', '/api/v1/settings', { token: admin.token, body: { offline_email_to: 'team@example.test' } });
    const agent = await t.user('agent', { status: 'online' });
    const session = await startSession(t.ctx, { customer: { id: 'c1', email: 'c1@example.test' } }, 3600);
    for (const token of [agent.token, session.token]) {
      const res = await t.call('POST', `/api/v1/conversations/${session.conversation.id}/transcript`, { token, body: {} });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().error.code, 'SB_EMAIL_NOT_CONFIGURED');
      assert.match(res.json().error.message, /SMTP_URL/);
    }
    // someone who may not send it learns nothing about email
    const stranger = await t.user('agent');
    assert.equal((await t.call('POST', `/api/v1/conversations/${session.conversation.id}/transcript`, { token: stranger.token, body: {} })).statusCode, 403);
    const offline = await t.call('POST', '/api/v1/offline-messages', { body: { name: 'F', email: 'f@example.test', message: 'hello' } });
    assert.equal(offline.statusCode, 201);
    assert.equal((await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from outbound_requests`))[0]!.n, 0);
  });
});

describe('email configuration', () => {
  it('needs EMAIL_FROM with SMTP_URL, and checks both', () => {
    assert.equal(loadConfig({}).email.smtpUrl, undefined);
    assert.throws(() => loadConfig({ SMTP_URL: 'smtp://h:25' }), (e: ConfigError) => e.variable === 'EMAIL_FROM');
    assert.throws(() => loadConfig({ SMTP_URL: 'http://h', EMAIL_FROM: 'a@b.test' }), (e: ConfigError) => e.variable === 'SMTP_URL');
    assert.throws(() => loadConfig({ SMTP_URL: 'not a url', EMAIL_FROM: 'a@b.test' }), (e: ConfigError) => e.variable === 'SMTP_URL');
    assert.throws(() => loadConfig({ SMTP_URL: 'smtp://h:25', EMAIL_FROM: 'nobody' }), (e: ConfigError) => e.variable === 'EMAIL_FROM');
    assert.deepEqual(loadConfig({ SMTP_URL: 'smtps://u:p@h:465', EMAIL_FROM: 'Team <t@h.test>' }).email, { smtpUrl: 'smtps://u:p@h:465', from: 'Team <t@h.test>', linkTtlSeconds: 30 * 86_400 });
  });

  it('renders an empty conversation', () => {
    const r = renderTranscript({ conversationId: 'x', customerName: null, startedAt: new Date(0), lines: [] });
    assert.match(r.text, /\(no messages\)/);
    assert.match(r.html, /\(no messages\)/);
  });
});
