import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// docs/realtime.md, control instructions: session/update while the
// conversation waits, on the session request; session/closed only once it
// was resolved or abandoned. In offer mode a conversation offered to an agent
// still waits for them to accept it (docs/api.md: the customer sees `queued`).

describeEachStore('a widget whose chat is offered to an agent', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  /** an offer-mode department with one online agent, and a widget chat offered to them, its widget connected and listening */
  async function offeredChat(customerId: string) {
    const adminRow = await makeAgent(server.ctx, { role: 'admin' });
    const admin = await http('POST', '/api/v1/auth/login', { email: adminRow.email, password: PASSWORD });
    const routed = await http('PUT', '/api/v1/departments/sales/routing', { mode: 'offer', offer_timeout_s: 60 }, admin.body.token);
    assert.equal(routed.status, 200, JSON.stringify(routed.body));
    const agentRow = await makeAgent(server.ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const agent = await http('POST', '/api/v1/auth/login', { email: agentRow.email, password: PASSWORD });
    const session = await http('POST', '/session', { customer: { id: customerId }, department: 'sales' });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    assert.equal(session.body.state, 'queued');
    const [row] = await server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [session.body.sessionId]);
    assert.equal(row!.state, 'offered');
    const customer = await connect(session.body.token);
    assert.deepEqual(await customer.subscribe(`${session.body.sessionTopic}/#`), [1]);
    const { sessionId, sessionTopic } = session.body as { sessionId: string; sessionTopic: string };
    // what the widget does on every connect (web/widget/src/main.tsx)
    const request = (requestID: string) => customer.publish('switchboard/server/sessions/request', { sessionId, sessionTopic, customerId, requestID });
    const control = () => customer.received.filter((r) => r.topic === `${sessionTopic}/client/control`).map((r) => r.payload);
    return { agentId: agentRow.id, agentToken: agent.body.token as string, sessionId, sessionTopic, customer, request, control, controlTopic: `${sessionTopic}/client/control` };
  }

  it('answers the session request with session/update (waiting), not session/closed, while the offer stands', async () => {
    const chat = await offeredChat('offered-1');
    await chat.request('r1');
    const answer = await chat.customer.next(chat.controlTopic, (p) => typeof p.instruction === 'string', 3_000);
    assert.equal(answer.instruction, 'session/update', JSON.stringify(answer));
    assert.equal(answer.sessionInfo.state, 'queued');
    assert.equal(answer.sessionInfo.agent, null);
    const [row] = await server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [chat.sessionId]);
    assert.equal(row!.state, 'offered', 'the session request changed nothing');
  });

  it('tells the widget its agent is there once the offer is accepted, and never that the chat closed', async () => {
    const chat = await offeredChat('offered-2');
    await chat.request('r1');
    await chat.customer.next(chat.controlTopic, (p) => p.instruction === 'session/update', 3_000);
    const accepted = await http('POST', `/api/v1/conversations/${chat.sessionId}/accept`, undefined, chat.agentToken);
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const ready = await chat.customer.next(chat.controlTopic, (p) => p.instruction === 'session/ready', 3_000);
    assert.equal(ready.sessionInfo.state, 'assigned');
    assert.deepEqual(chat.control().map((p) => p.instruction), ['session/update', 'session/ready']);
  });

  it("tells the agent's inbox nothing the customer writes while the chat is only offered to them, and everything once they accept", async () => {
    const chat = await offeredChat('offered-4');
    const agent = await connect(chat.agentToken);
    const inbox = `switchboard/agents/${chat.agentId}/events`;
    assert.deepEqual(await agent.subscribe(inbox), [1]);
    const say = async (content: string) => {
      await chat.customer.publish(`${chat.sessionTopic}/messages`, { message: { content } });
      await chat.customer.next(`${chat.sessionTopic}/messages`, (p) => p.message?.content === content && typeof p.message.id === 'number', 3_000);
    };
    await say('my account number is 1234');
    const accepted = await http('POST', `/api/v1/conversations/${chat.sessionId}/accept`, undefined, chat.agentToken);
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    await say('are you there?');
    const heard = await agent.next(inbox, (p) => p.type === 'message.created', 3_000);
    assert.equal(heard.message.text, 'are you there?');
    const told = agent.received.filter((r) => r.topic === inbox && r.payload.type === 'message.created').map((r) => r.payload.message.text);
    assert.deepEqual(told, ['are you there?']);
    // decided where the message is stored, so every process publishing it says the same
    const logged = await server.ctx.db.query<{ agent_id: string | null }>("select agent_id from events where type = 'message.created' and conversation_id = $1 order by id", [chat.sessionId]);
    assert.deepEqual(logged.map((e) => e.agent_id), [null, chat.agentId]);
  });

  // Found by review: an announce went out for every state but queued and offered, so a chat moved
  // from its agent straight into an offer (a transfer to an offer-mode department, a requeue there)
  // left the widget showing the agent it no longer had.
  it('tells the widget it waits again when its chat leaves its agent for an offer to another', async () => {
    const adminRow = await makeAgent(server.ctx, { role: 'admin' });
    const admin = await http('POST', '/api/v1/auth/login', { email: adminRow.email, password: PASSWORD });
    const routed = await http('PUT', '/api/v1/departments/vip/routing', { mode: 'offer', offer_timeout_s: 60 }, admin.body.token);
    assert.equal(routed.status, 200, JSON.stringify(routed.body));
    const annRow = await makeAgent(server.ctx, { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    await makeAgent(server.ctx, { name: 'Vic', status: 'online', capacity: 1, departments: ['vip'] });
    const ann = await http('POST', '/api/v1/auth/login', { email: annRow.email, password: PASSWORD });
    const session = await http('POST', '/session', { customer: { id: 'moved-1' }, department: 'sales' });
    assert.equal(session.body.state, 'assigned');
    const { sessionId, sessionTopic } = session.body as { sessionId: string; sessionTopic: string };
    const customer = await connect(session.body.token);
    assert.deepEqual(await customer.subscribe(`${sessionTopic}/#`), [1]);
    const controlTopic = `${sessionTopic}/client/control`;

    const moved = await http('POST', `/api/v1/conversations/${sessionId}/transfer`, { department: 'vip' }, ann.body.token);
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const [row] = await server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [sessionId]);
    assert.equal(row!.state, 'offered', 'offered to Vic');
    const waiting = await customer.next(controlTopic, (p) => typeof p.instruction === 'string', 3_000);
    assert.equal(waiting.instruction, 'session/update', JSON.stringify(waiting));
    assert.deepEqual([waiting.sessionInfo.state, waiting.sessionInfo.agent], ['queued', null], 'Ann is no longer there');
  });

  it('keeps the widget waiting, with its place in line, when the agent declines the offer', async () => {
    const chat = await offeredChat('offered-3');
    await chat.request('r1');
    await chat.customer.next(chat.controlTopic, (p) => p.instruction === 'session/update', 3_000);
    const declined = await http('POST', `/api/v1/conversations/${chat.sessionId}/decline`, undefined, chat.agentToken);
    assert.equal(declined.status, 200, JSON.stringify(declined.body));
    assert.equal(declined.body.state, 'queued', 'nobody else to offer it to');
    const placed = await chat.customer.next(chat.controlTopic, (p) => p.instruction === 'session/update' && p.sessionInfo.queuePosition === 1, 3_000);
    assert.equal(placed.sessionInfo.state, 'queued');
    // and a session request now (a reload) says the same
    await chat.request('r2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(chat.control().every((p) => p.instruction === 'session/update'), JSON.stringify(chat.control()));
  });
});
