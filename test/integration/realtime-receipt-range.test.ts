import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// docs/realtime.md: a permitted publish whose payload is refused is
// acknowledged, not stored, and answered with message/rejected
// (SB_VALIDATION). A message id is a bigint: an id past what a JSON number
// holds exactly names no message and is refused like any malformed receipt.

describeEachStore('read receipts naming an id out of range', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  it('answers the customer and the agent with message/rejected naming the field, keeping their connections', async () => {
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const session = (await http('POST', '/session', { customer: { id: 'big' } })).body as { sessionId: string; sessionTopic: string; token: string };
    const customer = await connect(session.token);
    assert.deepEqual(await customer.subscribe(`${session.sessionTopic}/#`), [1]);
    const agentClient = await connect(login.body.token);
    assert.deepEqual(await agentClient.subscribe(`switchboard/agents/${agent.id}/events`), [1]);
    const viewed = `${session.sessionTopic}/messages/viewed`;

    await customer.client.publishAsync(viewed, '{"readMessages":[1e20]}', { qos: 1 });
    const toCustomer = await customer.next(`${session.sessionTopic}/client/control`, (p) => p.instruction === 'message/rejected', 2_000);
    assert.equal(toCustomer.error.code, 'SB_VALIDATION');
    assert.match(toCustomer.error.field, /^readMessages\.0/);

    await agentClient.client.publishAsync(viewed, `{"readMessages":[{"id":${Number.MAX_SAFE_INTEGER + 2}}]}`, { qos: 1 });
    const toAgent = await agentClient.next(`switchboard/agents/${agent.id}/events`, (p) => p.instruction === 'message/rejected', 2_000);
    assert.equal(toAgent.error.code, 'SB_VALIDATION');

    assert.equal(customer.client.connected, true, 'the customer’s connection was closed');
    assert.equal(agentClient.client.connected, true, 'the agent’s connection was closed');
    const [read] = await server.ctx.db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1 and read_at is not null', [session.sessionId]);
    assert.equal(read!.n, 0);
  });

  it('still takes the largest exact id', async () => {
    await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const session = (await http('POST', '/session', { customer: { id: 'edge' } })).body as { sessionId: string; sessionTopic: string; token: string };
    const customer = await connect(session.token);
    assert.deepEqual(await customer.subscribe(`${session.sessionTopic}/#`), [1]);
    await customer.client.publishAsync(`${session.sessionTopic}/messages/viewed`, JSON.stringify({ readMessages: [Number.MAX_SAFE_INTEGER] }), { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(customer.client.connected, true);
    assert.deepEqual(customer.received.filter((r) => r.payload?.instruction === 'message/rejected'), []);
  });
});
