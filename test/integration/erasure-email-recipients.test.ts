// Erasing a conversation erases its emails to every recipient. A
// conversation's transcripts are keyed by the conversation and their
// recipient (src/email/outbox.ts: one an address keeps refusing holds up
// no other), so the erasure finds them by conversationEmails, not by one
// key: transcripts to the customer, to a mistyped address and to the CRM,
// pending or sent, and the rows of the older single key, are all found;
// another conversation's are not touched.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { addMessage } from '../../src/conversations/messages.js';
import { startSession } from '../../src/realtime/sessions.js';
import { fakeClock } from '../helpers/clock.js';
import { eachEmailTest } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('erasure: a conversation’s emails to every recipient', (store) => {
  const clock = fakeClock();
  const mailer = eachEmailTest(store, { now: clock.now });

  async function chat(customerId: string, name: string) {
    const agent = await mailer.t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(mailer.t.ctx, { customer: { id: customerId, name } }, 3600);
    await addMessage(mailer.t.ctx, session.conversation.id, { sender: 'customer', sender_id: customerId, text: 'my IBAN is DE89 3704' }, { id: null, role: 'system' });
    await addMessage(mailer.t.ctx, session.conversation.id, { sender: 'agent', sender_id: agent.agent.id, text: 'Noted.' }, { id: agent.agent.id, role: agent.agent.role });
    return { id: session.conversation.id, agent, token: session.token };
  }

  it('cancels the pending ones and blanks every one, whatever its recipient; another conversation’s stay', async () => {
    const c = await chat('erin-1', 'Erin Example');
    const send = async (token: string, email: string) => {
      const res = await mailer.t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token, body: { email } });
      assert.equal(res.statusCode, 202, res.body);
      return res.json().delivery_id as number;
    };
    // the customer's, to a mistyped address the relay refuses for now: pending, waiting for its retry
    mailer.smtp.refuseNext(1, 451, 'Try again later, <erin@exmaple.org> is busy');
    const typo = await send(c.token, 'erin@exmaple.org');
    await mailer.worker.tick();
    // the agent's, to the right address: delivered; and to the CRM, pending
    const right = await send(c.agent.token, 'erin@example.org');
    await mailer.worker.tick();
    const crm = await send(c.agent.token, 'crm@example.org');
    // another conversation's transcript, pending
    const other = await chat('kim-1', 'Kim');
    const kept = (await mailer.t.call('POST', `/api/v1/conversations/${other.id}/transcript`, { token: other.agent.token, body: { email: 'kim@example.org' } })).json().delivery_id as number;
    const keys = await mailer.t.ctx.db.query<{ ordering_key: string }>('select distinct ordering_key from outbound_requests where id = any ($1::bigint[])', [[typo, right, crm]]);
    assert.equal(keys.length, 3, 'a key per recipient');

    assert.equal((await mailer.t.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: c.agent.token, body: {} })).statusCode, 200);
    const erased = await mailer.t.call('DELETE', `/api/v1/conversations/${c.id}`, { token: mailer.admin.token });
    assert.equal(erased.statusCode, 200, erased.body);

    const rows = new Map(
      (
        await mailer.t.ctx.db.query<{ id: number; state: string; url: string; body_length: number; subject: string }>(
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
    await mailer.worker.tick();
    assert.deepEqual(
      mailer.smtp.received.map((m) => m.envelopeTo),
      [['erin@example.org'], ['kim@example.org']],
      'only the one sent before the erasure and the other conversation’s',
    );
  });
});
