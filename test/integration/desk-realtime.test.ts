// Notes and labels live over the embedded broker: a note goes to the agents
// (the holder's events topic, the supervisors' one) and never on the
// conversation's topics, which the customer's widget subscribes to; a label
// change tells the agents and sends the customer nothing.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('notes and labels over MQTT', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));
  const login = async (email: string) => (await http('POST', '/api/v1/auth/login', { email, password: PASSWORD })).body.token as string;

  it('publishes a note to the agents only, and a label change without a word to the customer', async () => {
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const token = await login(agent.email);
    // the store is emptied before each test, the bootstrap admin with it
    const admin = await login((await makeAgent(server.ctx, { role: 'admin' })).email);
    assert.equal((await http('POST', '/api/v1/labels', { name: 'urgent', color: '#cc0000' }, admin)).status, 201);
    const supervisor = await connect(admin);
    await supervisor.subscribe('switchboard/events/conversations');
    const agentClient = await connect(token);
    await agentClient.subscribe(`switchboard/agents/${agent.id}/events`);

    const session = await http('POST', '/session', { customer: { id: 'live-1', name: 'Live Customer' } });
    assert.equal(session.status, 201);
    const { sessionId, sessionTopic } = session.body as { sessionId: string; sessionTopic: string };
    const customer = await connect(session.body.token);
    assert.deepEqual(await customer.subscribe(`${sessionTopic}/#`), [1]);
    // the customer may not listen where notes go
    assert.deepEqual(await customer.subscribe(`switchboard/agents/${agent.id}/events`, 'switchboard/events/conversations'), [128, 128]);

    const note = await http('POST', `/api/v1/conversations/${sessionId}/notes`, { text: 'SECRET NOTE for agents' }, token);
    assert.equal(note.status, 201);
    const label = await http('PUT', `/api/v1/conversations/${sessionId}/labels`, { labels: ['urgent'] }, token);
    assert.equal(label.status, 200);
    const reply = await http('POST', `/api/v1/conversations/${sessionId}/messages`, { text: 'a reply after the note' }, token);
    assert.equal(reply.status, 201);

    const heard = await agentClient.next(`switchboard/agents/${agent.id}/events`, (p) => p.type === 'note.created');
    assert.deepEqual([heard.conversation_id, heard.note.id, heard.note.private, heard.note.text], [sessionId, note.body.id, true, 'SECRET NOTE for agents']);
    await supervisor.next('switchboard/events/conversations', (p) => p.type === 'note.created' && p.note.id === note.body.id);
    const labelled = await agentClient.next(`switchboard/agents/${agent.id}/events`, (p) => p.type === 'conversation.labels_changed');
    assert.deepEqual(labelled.conversation.labels, ['urgent']);

    // the customer gets the reply (sent after both), and nothing of the note or the labels
    await customer.next(`${sessionTopic}/messages`, (p) => p.message?.content === 'a reply after the note');
    await server.realtime.publisher.idle();
    const everything = JSON.stringify(customer.received);
    assert.ok(!everything.includes('SECRET NOTE'), everything);
    assert.ok(!everything.includes('urgent'), everything);
    const instructions = customer.received.filter((r) => r.topic.endsWith('/client/control')).map((r) => r.payload.instruction);
    // (the chat was ready before the customer subscribed: whatever comes on control now came from the notes or labels)
    assert.deepEqual(instructions, [], 'a label change sends no control instruction');
  });
});
