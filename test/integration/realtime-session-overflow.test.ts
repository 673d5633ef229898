import assert from 'node:assert/strict';
import { it } from 'node:test';
import { updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { createCoordinator } from '../../src/realtime/coordinator.js';
import type { Identity } from '../../src/realtime/identity.js';
import { topics } from '../../src/realtime/topics.js';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { pauseAfter } from '../helpers/statement-hook.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// The session request abandons a waiting chat (session/aborted/unavailableAttendants)
// only when nobody online could ever serve it: counted as the queue counts the
// team of its expected wait (sb_queue_team), overflow departments included.
// Found by review: a sales chat whose overflow chain reaches support was
// abandoned at once while a support agent was online and would have taken it
// after the step's after_s.

describeEachStore('session request: who could serve a waiting chat', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  const routing = async (department: string, body: unknown) => {
    const adminRow = await makeAgent(server.ctx, { role: 'admin' });
    const admin = await http('POST', '/api/v1/auth/login', { email: adminRow.email, password: PASSWORD });
    const put = await http('PUT', `/api/v1/departments/${department}/routing`, body, admin.body.token);
    assert.equal(put.status, 200, JSON.stringify(put.body));
  };

  /**
   * A widget chat in `department`, waiting, after its session request (the
   * PUBACK comes once the request is handled): its state, and that its
   * control topic says `instruction` (a queue refresh may say
   * session/update beside it).
   */
  const requestSession = async (customerId: string, department: string, instruction: string) => {
    const session = await http('POST', '/session', { customer: { id: customerId }, department });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    assert.equal(session.body.state, 'queued');
    const customer = await connect(session.body.token);
    const control = `${session.body.sessionTopic}/client/control`;
    assert.deepEqual(await customer.subscribe(control), [1]);
    await customer.publish('switchboard/server/sessions/request', { sessionId: session.body.sessionId });
    const [row] = await server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [session.body.sessionId]);
    await customer.next(control, (p) => p.instruction === instruction);
    const aborted = customer.received.some((r) => r.topic === control && r.payload.instruction === 'session/aborted/unavailableAttendants');
    return { state: row!.state, aborted };
  };

  it('keeps a chat waiting for the agents its department overflows to, and abandons it when none of them is online', async () => {
    await routing('sales', { overflow: [{ after_s: 5, to: 'support' }] });
    const support = await makeAgent(server.ctx, { status: 'online', capacity: 1, departments: ['support'] });
    assert.deepEqual(await requestSession('ov1', 'sales', 'session/update'), { state: 'queued', aborted: false });

    // the overflow agent gone, nobody online could ever take it
    await server.ctx.db.query(`update agents set status = 'offline' where id = $1`, [support.id]);
    assert.deepEqual(await requestSession('ov2', 'sales', 'session/aborted/unavailableAttendants'), { state: 'abandoned', aborted: true });
  });

  it('counts only agents with the skills the chat requires, unless the requirement will be dropped', async () => {
    await routing('es', { required_skills: { spanish: 2 } });
    await makeAgent(server.ctx, { status: 'online', capacity: 1, departments: ['es'] }); // no Spanish
    assert.deepEqual(await requestSession('sk1', 'es', 'session/aborted/unavailableAttendants'), { state: 'abandoned', aborted: true });

    // relaxed after a minute: the department's agent will serve it then
    await routing('es', { required_skills: { spanish: 2 }, skills_relax_after_s: 60 });
    assert.deepEqual(await requestSession('sk2', 'es', 'session/update'), { state: 'queued', aborted: false });
  });

  // Found by review: the request read "nobody online" in one statement and
  // closed in another. An agent who signed in between (another process, a
  // sweep) was given the chat, and the request then abandoned the ASSIGNED
  // chat as unavailableAttendants.
  it('keeps a chat an agent was given between its look at the team and its close, and tells the customer it is ready', async () => {
    const ctx = server.ctx;
    const agent = await makeAgent(ctx, { status: 'offline', capacity: 1 });
    const { conversation } = await openConversation(ctx, { customer: { id: 'race-1' }, channel: 'widget' });
    assert.equal(conversation.state, 'queued');

    // the request's own coordinator, held once it has looked at the team
    const paused = pauseAfter(ctx.db, /sb_queue_team/);
    const announced: ConversationRow[] = [];
    const coordinator = createCoordinator({
      ctx: { ...ctx, db: paused.db },
      topics: topics('switchboard'),
      publish: async () => {},
      keepAliveMs: 60_000,
      announce: async (id) => void announced.push((await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!),
    });
    const identity = { kind: 'customer', session: { conversation_id: conversation.id } } as unknown as Identity;
    const handled = coordinator.handle(identity, 'switchboard/server/sessions/request', Buffer.from(JSON.stringify({ sessionId: conversation.id })));
    await paused.arrived; // "nobody online" has been read

    await updateAgent(ctx, agent.id, { status: 'online' }, SYSTEM); // the agent signs in: the chat is theirs
    paused.resume();
    await handled;

    const [row] = await ctx.db.query<{ state: string; agent_id: string | null; resolve_reason: string | null }>(
      'select state, agent_id, resolve_reason from conversations where id = $1',
      [conversation.id],
    );
    assert.deepEqual(row, { state: 'assigned', agent_id: agent.id, resolve_reason: null });
    const closes = await ctx.db.query(`select type from events where conversation_id = $1 and type in ('conversation.abandoned', 'conversation.resolved')`, [conversation.id]);
    assert.deepEqual(closes, []);
    // the customer hears the state as it now is (session/ready), not an abort
    assert.deepEqual(announced.map((c) => [c.state, c.agent_id]), [['assigned', agent.id]]);
  });

  // Found by review: the request announced the row it had read, beside the
  // publisher's chain. An agent given the chat meanwhile was announced first
  // (session/ready), then the stale row (session/update): the widget went
  // back to "waiting" while the agent chatted.
  it('answers a session request with the state its chat has when the answer goes, after the publishes of a change made meanwhile', async () => {
    const ctx = server.ctx;
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const busy = await http('POST', '/session', { customer: { id: 'first' } });
    assert.equal(busy.body.state, 'assigned');
    const session = await http('POST', '/session', { customer: { id: 'second' } });
    assert.equal(session.body.state, 'queued');
    const customer = await connect(session.body.token);
    const control = `${session.body.sessionTopic}/client/control`;
    assert.deepEqual(await customer.subscribe(control), [1]);

    // the request's own coordinator, announcing through the server's publisher, held once it has read the chat (queued) and looked at the team
    const paused = pauseAfter(ctx.db, /sb_queue_team/);
    const coordinator = createCoordinator({
      ctx: { ...ctx, db: paused.db },
      topics: topics('switchboard'),
      publish: async () => {},
      keepAliveMs: 60_000,
      announce: (id) => server.realtime.publisher.announceCurrent(id),
    });
    const identity = { kind: 'customer', session: { conversation_id: session.body.sessionId } } as unknown as Identity;
    const handled = coordinator.handle(identity, 'switchboard/server/sessions/request', Buffer.from(JSON.stringify({ sessionId: session.body.sessionId })));
    await paused.arrived;

    // the agent resolves the first chat: the second is theirs, and its customer told so
    assert.equal((await http('POST', `/api/v1/conversations/${busy.body.sessionId}/resolve`, {}, login.body.token)).status, 200);
    await customer.next(control, (p) => p.instruction === 'session/ready');
    paused.resume();
    await handled;
    await server.realtime.publisher.idle();

    const told = customer.received.filter((r) => r.topic === control).map((r) => r.payload.instruction);
    assert.equal(told.at(-1), 'session/ready', `the widget was told last: ${told.join(', ')}`);
  });
});
