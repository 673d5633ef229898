// The limits on customers' transcripts across conversations (src/email/routes.ts):
// per client address and per recipient, counted in the request's transaction
// once the conversation's own rules let it through. Found by review: they
// were counted before, so requests refused for other reasons used up a
// victim's allowance; and the recipient was read before the conversation's
// lock, so requests racing the one that set the conversation's email were
// sent to it uncounted.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import { addMessage } from '../../src/conversations/messages.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

const FROM = 'Switchboard Support <support@example.test>';
const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });

describeEachStore('customers’ transcripts: limits across conversations', (store) => {
  let smtp: SmtpReceiver;
  let t: TestApp;
  // transactions started while `holding` wait until let go, in the order the test chooses
  let holding = false;
  const gates: (() => void)[] = [];
  beforeEach(async () => {
    await store().reset();
    smtp = await startSmtpReceiver();
    t = await testApp(store(), {
      env: { SMTP_URL: smtp.url, EMAIL_FROM: FROM },
      beforeApp: (ctx) => {
        const db = ctx.db;
        ctx.db = new Proxy(db, {
          get(target, prop) {
            if (prop === 'transaction')
              return async (...args: unknown[]) => {
                if (holding) await new Promise<void>((r) => gates.push(r));
                return (target.transaction as (...a: unknown[]) => unknown).apply(target, args);
              };
            const v = Reflect.get(target, prop, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
      },
    });
  });
  const until = async (n: number) => {
    while (gates.length < n) await new Promise((r) => setTimeout(r, 5));
  };
  afterEach(async () => {
    await t.close();
    await smtp.close();
  });

  async function chat(customer: { name?: string; email?: string }, served: boolean) {
    const agent = await t.user('agent', { status: 'online', capacity: 5 });
    const session = await startSession(t.ctx, { customer: { id: `c-${Math.random()}`, ...customer } }, 3600);
    const id = session.conversation.id;
    await addMessage(t.ctx, id, { sender: 'customer', sender_id: 'c', text: 'hi' }, { id: null, role: 'system' });
    if (served) await addMessage(t.ctx, id, { sender: 'agent', sender_id: agent.agent.id, text: 'hello' }, actorOf(agent.agent));
    return { id, token: session.token };
  }
  const ask = (id: string, token: string, body: object, ip = '127.0.0.1') =>
    t.app.inject({ method: 'POST', url: `/api/v1/conversations/${id}/transcript`, headers: { authorization: `Bearer ${token}` }, payload: body, remoteAddress: ip });

  it('refused requests from a stranger do not lock a real customer out of their transcript', async () => {
    // a stranger's chat with no email and no agent answer, naming the victim's address: every request is refused
    const junk = await chat({ name: 'x' }, false);
    for (let i = 0; i < 5; i++) {
      const r = await ask(junk.id, junk.token, { email: 'victim@example.test' }, '203.0.113.9');
      assert.equal(r.statusCode, 409, r.body);
    }
    // the victim's own, answered chat
    const real = await chat({ name: 'Victim', email: 'victim@example.test' }, true);
    const res = await ask(real.id, real.token, {});
    assert.equal(res.statusCode, 202, res.body);
  });

  it('racing requests without an email are not counted against the recipient the first one sets', async () => {
    let accepted = 0;
    for (let i = 0; i < 3; i++) {
      const c = await chat({ name: `n${i}` }, true);
      gates.length = 0;
      holding = true;
      const a = ask(c.id, c.token, { email: 'target@example.test' });
      await until(1);
      const b = ask(c.id, c.token, {});
      await until(2);
      const d = ask(c.id, c.token, {});
      await until(3);
      holding = false;
      gates[0]!();
      const ra = await a;
      gates[1]!();
      const rb = await b;
      gates[2]!();
      const res = [ra, rb, await d];
      accepted += res.filter((r) => r.statusCode === 202 && r.json().to === 'target@example.test').length;
    }
    assert.equal(accepted, 5, `${accepted} transcripts to one recipient, against a limit of 5`);
  });
});
