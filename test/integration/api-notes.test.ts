// Private notes: POST/PATCH/DELETE /api/v1/conversations/:id/notes[/:noteId],
// and how they show (or never show) in GET .../messages.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { markRead } from '../../src/conversations/messages.js';
import { startSession } from '../../src/realtime/sessions.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, UNKNOWN_ID, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: private notes', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const note = (token: string, id: string, body: unknown) => k.call('POST', `/api/v1/conversations/${id}/notes`, { token, body });
  const messages = (token: string, id: string) => k.call('GET', `/api/v1/conversations/${id}/messages`, { token });

  /** the cast, and one conversation assigned to `owner` (the other agent is the outsider) */
  async function scene() {
    const cast = await k.cast({ agentCapacity: 1 });
    const c = await k.open(cast.admin.token);
    const owner: User = c.agent_id === cast.agent.agent.id ? cast.agent : cast.other;
    const outsider: User = owner === cast.agent ? cast.other : cast.agent;
    return { ...cast, c, owner, outsider };
  }

  it('the note routes answer 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/notes`, body: { text: 'x' } },
      { method: 'PATCH', url: `/api/v1/conversations/${UNKNOWN_ID}/notes/1`, body: { text: 'x' } },
      { method: 'DELETE', url: `/api/v1/conversations/${UNKNOWN_ID}/notes/1` },
    ]);
  });

  it('POST /notes by the holder answers 201 with a private message, lists it for agents among the messages, and records note.created (not message.created)', async () => {
    const { c, owner, supervisor } = await scene();
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: owner.token, body: { text: 'Hello' } })).statusCode, 201);
    const res = await note(owner.token, c.id, { text: 'Customer is a VIP; be nice' });
    assert.equal(res.statusCode, 201, res.body);
    const n = res.json();
    assert.deepEqual([n.private, n.sender, n.sender_id, n.text, n.conversation_id], [true, 'agent', owner.agent.id, 'Customer is a VIP; be nice', c.id]);
    for (const who of [owner, supervisor]) {
      const listed = (await messages(who.token, c.id)).json();
      assert.deepEqual(listed.map((m: { text: string; private: boolean }) => [m.text, m.private]), [['Hello', false], ['Customer is a VIP; be nice', true]]);
    }
    const events = await store().db.query<{ type: string; data: { note?: { id: number; private: boolean } } }>(
      `select type, data from events where conversation_id = $1 and type in ('note.created', 'message.created') order by id`,
      [c.id],
    );
    assert.deepEqual(events.map((e) => e.type), ['message.created', 'note.created']);
    assert.deepEqual([events[1]!.data.note!.id, events[1]!.data.note!.private], [n.id, true]);
  });

  it("GET /messages with the customer's session token never shows a note, and the customer cannot mark one read", async () => {
    const cast = await k.cast({ agentCapacity: 1 });
    const { conversation, token: customer } = await startSession(k.t.ctx, { customer: { id: 'cust-notes' } }, 600);
    const agent = [cast.agent, cast.other].find((a) => a.agent.id === conversation.agent_id)!;
    assert.ok(agent, 'the chat went to one of the agents');
    await k.call('POST', `/api/v1/conversations/${conversation.id}/messages`, { token: agent.token, body: { text: 'Hi there' } });
    const n = (await note(agent.token, conversation.id, { text: 'internal only' })).json();
    const seen = (await messages(customer, conversation.id)).json();
    assert.deepEqual(seen.map((m: { text: string }) => m.text), ['Hi there']);
    assert.ok(!JSON.stringify(seen).includes('internal only'));
    // paging after the note: still nothing of it
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${conversation.id}/messages?after=${n.id - 1}`, { token: customer })).json(), []);
    // a note is never "read" by the customer
    assert.deepEqual(await markRead(k.t.ctx, conversation.id, [n.id], 'customer', SYSTEM), []);
  });

  it('supervisors and admins add notes to any conversation, queued ones included; a closed one takes notes from its last agent', async () => {
    const { c, owner, supervisor, admin } = await scene();
    await k.open(admin.token); // the other agent's only slot
    const queued = await k.open(admin.token);
    assert.equal(queued.state, 'queued');
    assert.equal((await note(supervisor.token, c.id, { text: 'from the supervisor' })).statusCode, 201);
    assert.equal((await note(admin.token, queued.id, { text: 'while waiting' })).statusCode, 201);
    expectError(await note(owner.token, queued.id, { text: 'not mine' }), 403, 'SB_FORBIDDEN');
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: owner.token, body: {} })).statusCode, 200);
    assert.equal((await note(owner.token, c.id, { text: 'follow up next week' })).statusCode, 201);
  });

  it("POST /notes answers 403 on another agent's conversation, 404 on an unknown one, 400 to bad input, changing nothing", async () => {
    const { c, owner, outsider } = await scene();
    await k.unchanged(async () => {
      expectError(await note(outsider.token, c.id, { text: 'sneaky' }), 403, 'SB_FORBIDDEN');
      expectError(await note(owner.token, UNKNOWN_ID, { text: 'x' }), 404, 'SB_NOT_FOUND');
      expectInvalid(await note(owner.token, MALFORMED_ID, { text: 'x' }), 'id');
      expectInvalid(await note(owner.token, c.id, { text: '' }), 'text');
      expectInvalid(await note(owner.token, c.id, {}), 'text');
      expectInvalid(await note(owner.token, c.id, { text: 'x', private: false }), 'private');
    });
  });

  it('PATCH and DELETE: the author edits and deletes their note (note.updated, note.deleted); anyone else gets 403 and nothing changes', async () => {
    const { c, owner, supervisor, admin } = await scene();
    const mine = (await note(owner.token, c.id, { text: 'first draft' })).json();
    const theirs = (await note(supervisor.token, c.id, { text: "the supervisor's" })).json();
    const message = (await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: owner.token, body: { text: 'a real message' } })).json();
    await k.unchanged(async () => {
      expectError(await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${theirs.id}`, { token: owner.token, body: { text: 'rewritten' } }), 403, 'SB_FORBIDDEN');
      expectError(await k.call('DELETE', `/api/v1/conversations/${c.id}/notes/${theirs.id}`, { token: owner.token }), 403, 'SB_FORBIDDEN');
      // even an admin does not rewrite someone else's words
      expectError(await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${mine.id}`, { token: admin.token, body: { text: 'rewritten' } }), 403, 'SB_FORBIDDEN');
      // a message is not a note; a note of another conversation is not found here
      expectError(await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${message.id}`, { token: owner.token, body: { text: 'x' } }), 404, 'SB_NOT_FOUND');
      const elsewhere = UNKNOWN_ID;
      expectError(await k.call('PATCH', `/api/v1/conversations/${elsewhere}/notes/${mine.id}`, { token: owner.token, body: { text: 'x' } }), 404, 'SB_NOT_FOUND');
      expectInvalid(await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/abc`, { token: owner.token, body: { text: 'x' } }), 'noteId');
    });
    k.clock.advance(1_000);
    const edited = await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${mine.id}`, { token: owner.token, body: { text: 'final words' } });
    assert.equal(edited.statusCode, 200, edited.body);
    assert.deepEqual([edited.json().text, edited.json().private, edited.json().updated_at], ['final words', true, k.clock.now().toISOString()]);
    assert.equal((await k.call('DELETE', `/api/v1/conversations/${c.id}/notes/${theirs.id}`, { token: supervisor.token })).statusCode, 204);
    const left = (await messages(owner.token, c.id)).json().map((m: { text: string }) => m.text);
    assert.deepEqual(left, ['final words', 'a real message']);
    // its words go with it (migration 0053: a trigger on delete, no cascade any more)
    assert.equal(await k.count('message_search', `message_id = ${Number(theirs.id)}`), 0);
    assert.equal(await k.count('message_search', `message_id = ${Number(mine.id)}`), 1);
    const types = (await store().db.query<{ type: string }>(`select type from events where conversation_id = $1 and type like 'note.%' order by id`, [c.id])).map((e) => e.type);
    assert.deepEqual(types, ['note.created', 'note.created', 'note.updated', 'note.deleted']);
  });
});
