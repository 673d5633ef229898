// Erasing a conversation erases its emails to every recipient. A
// conversation's transcripts are keyed by the conversation and their
// recipient (src/email/outbox.ts: one an address keeps refusing holds up
// no other), so the erasure finds them by conversationEmails, not by one
// key: transcripts to the customer, to a mistyped address and to the CRM,
// pending or sent, and the rows of the older single key, are all found;
// another conversation's are not touched.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import { addMessage } from '../../src/conversations/messages.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { emailWorker, startSmtpReceiver, type SmtpReceiver } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

const FROM = 'Switchboard Support <support@example.test>';

describeEachStore('erasure: a conversation’s emails to every recipient', (store) => {
  const clock = fakeClock();
  let smtp: SmtpReceiver;
  let t: TestApp;
  let worker: OutboundWorker;
  let admin: { agent: AgentRow; token: string };

  beforeEach(async () => {
    await store().reset();
    smtp = await startSmtpReceiver();
    t = await testApp(store(), { now: clock.now, env: { SMTP_URL: smtp.url, EMAIL_FROM: FROM } });
    worker = emailWorker(t.ctx, smtp, FROM);
    admin = await t.user('admin');
  });
  afterEach(async () => {
    await t.close();
    await smtp.close();
  });

  async function chat(customerId: string, name: string) {
    const agent = await t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(t.ctx, { customer: { id: customerId, name } }, 3600);
    await addMessage(t.ctx, session.conversation.id, { sender: 'customer', sender_id: customerId, text: 'my IBAN is DE89 3704' }, { id: null, role: 'system' });
    await addMessage(t.ctx, session.conversation.id, { sender: 'agent', sender_id: agent.agent.id, text: 'Noted.' }, { id: agent.agent.id, role: agent.agent.role });
    return { id: session.conversation.id, agent, token: session.token };
  }

  it('cancels the pending ones and blanks every one, whatever its recipient; another conversation’s stay', async () => {
    const c = await chat('erin-1', 'Erin Example');
    const send = async (token: string, email: string) => {
      const res = await t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token, body: { email } });
      assert.equal(res.statusCode, 202, res.body);
      return res.json().delivery_id as number;
    };
    // the customer's, to a mistyped address the relay refuses for now: pending, waiting for its retry
    smtp.refuseNext(1, 451, 'Try again later, <erin@exmaple.org> is busy');
    const typo = await send(c.token, 'erin@exmaple.org');
    await worker.tick();
    // the agent's, to the right address: delivered; and to the CRM, pending
    const right = await send(c.agent.token, 'erin@example.org');
    await worker.tick();
    const crm = await send(c.agent.token, 'crm@example.org');
    // another conversation's transcript, pending
    const other = await chat('kim-1', 'Kim');
    const kept = (await t.call('POST', `/api/v1/conversations/${other.id}/transcript`, { token: other.agent.token, body: { email: 'kim@example.org' } })).json().delivery_id as number;
    const keys = await t.ctx.db.query<{ ordering_key: string }>('select distinct ordering_key from outbound_requests where id = any ($1::bigint[])', [[typo, right, crm]]);
    assert.equal(keys.length, 3, 'a key per recipient');

    assert.equal((await t.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: c.agent.token, body: {} })).statusCode, 200);
    const erased = await t.call('DELETE', `/api/v1/conversations/${c.id}`, { token: admin.token });
    assert.equal(erased.statusCode, 200, erased.body);

    const rows = new Map(
      (
        await t.ctx.db.query<{ id: number; state: string; url: string; body_length: number; subject: string }>(
          `select id, state, url, length(body)::int as body_length, headers ->> 'subject' as subject from outbound_requests where producer = 'email'`,
        )
      ).map((r) => [Number(r.id), r]),
    );
    assert.deepEqual(
      [typo, right, crm].map((id) => [rows.get(id)!.state, rows.get(id)!.url, rows.get(id)!.body_length, rows.get(id)!.subject]),
      [
        ['cancelled', 'mailto:', 0, '(erased)'],
        ['delivered', 'mailto:', 0, '(erased)'],
        ['cancelled', 'mailto:', 0, '(erased)'],
      ],
    );
    assert.equal(rows.get(kept)!.state, 'pending', 'another conversation’s transcript is not touched');
    assert.ok(rows.get(kept)!.body_length > 0);
    clock.advance(10 * 60_000);
    await worker.tick();
    assert.deepEqual(
      smtp.received.map((m) => m.envelopeTo),
      [['erin@example.org'], ['kim@example.org']],
      'only the one sent before the erasure and the other conversation’s',
    );
  });
});
