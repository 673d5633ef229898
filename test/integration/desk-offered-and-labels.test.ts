// The desk's writes around an offer and around the label catalogue:
// - an agent a conversation is only offered to (offer mode, not accepted)
//   may read it but not write notes on it or relabel it (409
//   SB_NOT_ACCEPTED, as for messages, files and resolve); supervisors and
//   admins may;
// - renaming or deleting a label records conversation.labels_changed on
//   every conversation carrying it (webhook receivers see only that), and a
//   conversation's labels stay in the catalogue's order by name;
// - a note's or a canned response's text must not be blank.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { expectError, expectInvalid, kitFor, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

interface LabelsChanged {
  conversation_id: string;
  agent_id: string | null;
  data: { conversation: { id: string; labels: string[] }; labels: { name: string }[]; added: string[]; removed: string[]; by: string | null };
}

describeEachStore('desk: offered conversations, label renames, blank text', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const note = (token: string, id: string, text: string) => k.call('POST', `/api/v1/conversations/${id}/notes`, { token, body: { text } });
  const putLabels = (token: string, id: string, labels: string[]) => k.call('PUT', `/api/v1/conversations/${id}/labels`, { token, body: { labels } });
  const createLabel = async (token: string, name: string, extra: Record<string, unknown> = {}) => {
    const res = await k.call('POST', '/api/v1/labels', { token, body: { name, color: '#000000', ...extra } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string; name: string };
  };
  const labelsChanged = (where = 'true') =>
    store().db.query<LabelsChanged>(`select conversation_id, agent_id, data from events where type = 'conversation.labels_changed' and ${where} order by id`);
  const storedLabels = async (id: string) => (await store().db.query<{ labels: string[] }>('select labels from conversations where id = $1', [id]))[0]!.labels;

  /** offer mode in department desk, the label VIP, and a conversation offered to ola */
  async function offered() {
    const admin = await k.user('admin');
    const supervisor = await k.user('supervisor');
    assert.equal((await k.call('PUT', '/api/v1/departments/desk/routing', { token: admin.token, body: { mode: 'offer' } })).statusCode, 200);
    await createLabel(admin.token, 'VIP');
    const ola = await k.user('agent', { status: 'online', departments: ['desk'], capacity: 2 });
    const c = await k.open(admin.token, { department: 'desk' });
    assert.deepEqual([c.state, c.agent_id], ['offered', ola.agent.id]);
    return { admin, supervisor, ola, c };
  }

  it('an agent only offered a conversation cannot write a note on it or relabel it (409 SB_NOT_ACCEPTED, nothing changes); after accepting they can', async () => {
    const { ola, c } = await offered();
    await k.unchanged(async () => {
      expectError(await note(ola.token, c.id, 'not mine yet'), 409, 'SB_NOT_ACCEPTED', undefined, 'note while offered');
      expectError(await putLabels(ola.token, c.id, ['VIP']), 409, 'SB_NOT_ACCEPTED', undefined, 'labels while offered');
      // the same set, no change either way: still refused (the offered agent has no say yet)
      expectError(await putLabels(ola.token, c.id, []), 409, 'SB_NOT_ACCEPTED', undefined, 'empty labels while offered');
    }, 'refused writes of an offered agent');
    assert.equal(await k.count('messages', `conversation_id = '${c.id}' and private`), 0);
    assert.deepEqual(await storedLabels(c.id), []);
    assert.equal((await labelsChanged()).length, 0);
    // reading is as for messages: the offered agent may read what they are offered (to decide)
    assert.equal((await k.call('GET', `/api/v1/conversations/${c.id}/messages`, { token: ola.token })).statusCode, 200);

    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: ola.token })).statusCode, 200);
    const written = await note(ola.token, c.id, 'mine now');
    assert.equal(written.statusCode, 201, written.body);
    const labelled = await putLabels(ola.token, c.id, ['VIP']);
    assert.equal(labelled.statusCode, 200, labelled.body);
    assert.deepEqual(labelled.json().labels, ['VIP']);
    assert.equal((await labelsChanged()).length, 1);
  });

  it('a note of theirs on a conversation offered to them again cannot be edited or deleted until they accept', async () => {
    const { ola, c } = await offered();
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: ola.token })).statusCode, 200);
    const n = (await note(ola.token, c.id, 'first')).json() as { id: number };
    const requeued = await k.call('POST', `/api/v1/conversations/${c.id}/requeue`, { token: ola.token });
    assert.equal(requeued.statusCode, 200, requeued.body);
    assert.deepEqual([requeued.json().state, requeued.json().agent_id], ['offered', ola.agent.id], 'offered to ola again');
    await k.unchanged(async () => {
      expectError(await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${n.id}`, { token: ola.token, body: { text: 'edited' } }), 409, 'SB_NOT_ACCEPTED');
      expectError(await k.call('DELETE', `/api/v1/conversations/${c.id}/notes/${n.id}`, { token: ola.token }), 409, 'SB_NOT_ACCEPTED');
    });
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: ola.token })).statusCode, 200);
    assert.equal((await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${n.id}`, { token: ola.token, body: { text: 'edited' } })).statusCode, 200);
    assert.equal((await k.call('DELETE', `/api/v1/conversations/${c.id}/notes/${n.id}`, { token: ola.token })).statusCode, 204);
  });

  it('supervisors and admins write notes and labels on an offered conversation; the offered agent reads the notes', async () => {
    const { admin, supervisor, ola, c } = await offered();
    const written = await note(supervisor.token, c.id, 'careful with this one');
    assert.equal(written.statusCode, 201, written.body);
    assert.equal((await note(admin.token, c.id, 'agreed')).statusCode, 201);
    const labelled = await putLabels(supervisor.token, c.id, ['VIP']);
    assert.equal(labelled.statusCode, 200, labelled.body);
    assert.deepEqual([labelled.json().state, labelled.json().agent_id, labelled.json().labels], ['offered', ola.agent.id, ['VIP']]);
    const read = (await k.call('GET', `/api/v1/conversations/${c.id}/messages`, { token: ola.token })).json() as { text: string; private: boolean }[];
    assert.deepEqual(read.map((m) => [m.text, m.private]), [['careful with this one', true], ['agreed', true]]);
  });

  it('an agent merely offered a chat cannot give it a skill requirement and walk away: after the decline it goes to the next agent', async () => {
    const admin = await k.user('admin');
    assert.equal((await k.call('PUT', '/api/v1/departments/desk/routing', { token: admin.token, body: { mode: 'offer' } })).statusCode, 200);
    await createLabel(admin.token, 'legal', { required_skills: { law: 5 } });
    const ola = await k.user('agent', { status: 'online', departments: ['desk'], capacity: 1 });
    const c = await k.open(admin.token, { department: 'desk' });
    assert.deepEqual([c.state, c.agent_id], ['offered', ola.agent.id]);
    const bob = await k.user('agent', { status: 'online', departments: ['desk'], capacity: 1 });
    expectError(await putLabels(ola.token, c.id, ['legal']), 409, 'SB_NOT_ACCEPTED');
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/decline`, { token: ola.token })).statusCode, 200);
    const row = await k.conversation(c.id);
    assert.deepEqual([row.state, row.agent_id], ['offered', bob.agent.id]);
  });

  it('renaming a label records conversation.labels_changed (removed the old name, added the new) on each conversation carrying it, and keeps their labels in the catalogue order; deleting it records the removal', async () => {
    const { admin, agent } = await k.cast({ agentCapacity: 5 });
    const vip = await createLabel(admin.token, 'VIP');
    await createLabel(admin.token, 'beta');
    const both = await k.open(admin.token);
    const onlyVip = await k.open(admin.token);
    const onlyBeta = await k.open(admin.token);
    const none = await k.open(admin.token);
    assert.deepEqual((await putLabels(admin.token, both.id, ['VIP', 'beta'])).json().labels, ['beta', 'VIP']);
    assert.equal((await putLabels(admin.token, onlyVip.id, ['VIP'])).statusCode, 200);
    assert.equal((await putLabels(admin.token, onlyBeta.id, ['beta'])).statusCode, 200);
    const lastEvent = async () => (await store().db.query<{ n: number }>('select coalesce(max(id), 0)::int as n from events'))[0]!.n;
    const last = await lastEvent();

    // VIP -> Alpha: now first by name on `both`
    const renamed = await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { name: 'Alpha' } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.deepEqual(await storedLabels(both.id), ['Alpha', 'beta'], 'the catalogue order by name after the rename');
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${both.id}`, { token: admin.token })).json().labels, ['Alpha', 'beta']);
    assert.deepEqual(await storedLabels(onlyVip.id), ['Alpha']);
    let events = await labelsChanged(`id > ${last}`);
    assert.deepEqual(events.map((e) => e.conversation_id).sort(), [both.id, onlyVip.id].sort(), 'one event per conversation carrying it, none for the others');
    for (const e of events) {
      assert.deepEqual([e.data.removed, e.data.added], [['VIP'], ['Alpha']]);
      assert.equal(e.data.conversation.id, e.conversation_id);
      assert.equal(e.agent_id, (await k.conversation(e.conversation_id)).agent_id);
      assert.deepEqual(e.data.labels.map((l) => l.name), e.data.conversation.labels);
    }
    assert.deepEqual(events.find((e) => e.conversation_id === both.id)!.data.conversation.labels, ['Alpha', 'beta']);
    const renamedAt = await lastEvent();

    // a recolour changes no conversation: no event
    assert.equal((await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { color: '#ffffff' } })).statusCode, 200);
    assert.equal((await labelsChanged(`id > ${renamedAt}`)).length, 0);

    assert.equal((await k.call('DELETE', `/api/v1/labels/${vip.id}`, { token: admin.token })).statusCode, 204);
    events = await labelsChanged(`id > ${renamedAt}`);
    assert.deepEqual(events.map((e) => e.conversation_id).sort(), [both.id, onlyVip.id].sort());
    for (const e of events) assert.deepEqual([e.data.removed, e.data.added], [['Alpha'], []]);
    assert.deepEqual(events.find((e) => e.conversation_id === both.id)!.data.conversation.labels, ['beta']);
    assert.deepEqual(events.find((e) => e.conversation_id === onlyVip.id)!.data.labels, []);
    assert.deepEqual([await storedLabels(both.id), await storedLabels(onlyVip.id), await storedLabels(onlyBeta.id), await storedLabels(none.id)], [['beta'], [], ['beta'], []]);
    assert.equal((await labelsChanged(`conversation_id in ('${onlyBeta.id}', '${none.id}') and id > ${last}`)).length, 0);
    void agent;
  });

  it('the labels_changed of a rename or delete names who did it (by)', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    const vip = await createLabel(admin.token, 'VIP');
    const c = await k.open(admin.token);
    assert.equal((await putLabels(admin.token, c.id, ['VIP'])).statusCode, 200);
    assert.equal((await k.call('PATCH', `/api/v1/labels/${vip.id}`, { token: admin.token, body: { name: 'Gold' } })).statusCode, 200);
    assert.equal((await k.call('DELETE', `/api/v1/labels/${vip.id}`, { token: admin.token })).statusCode, 204);
    const events = await labelsChanged(`conversation_id = '${c.id}'`);
    assert.deepEqual(
      events.map((e) => [e.data.removed, e.data.added, e.data.by]),
      [
        [[], ['VIP'], admin.agent.id],
        [['VIP'], ['Gold'], admin.agent.id],
        [['Gold'], [], admin.agent.id],
      ],
    );
  });

  it('a PUT of the same set in another order stores the catalogue order, and records nothing', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    await createLabel(admin.token, 'alpha');
    await createLabel(admin.token, 'beta');
    const c = await k.open(admin.token);
    assert.equal((await putLabels(admin.token, c.id, ['beta', 'alpha'])).statusCode, 200);
    // stored out of order (as a rename did before it sorted)
    await store().db.query(`update conversations set labels = array['beta', 'alpha'] where id = $1`, [c.id]);
    const events = (await labelsChanged()).length;
    const res = await putLabels(admin.token, c.id, ['beta', 'alpha']);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().labels, ['alpha', 'beta']);
    assert.deepEqual(await storedLabels(c.id), ['alpha', 'beta']);
    assert.equal((await labelsChanged()).length, events, 'the same set: no event');
  });

  it('a note or canned response whose text is blank is 400 SB_VALIDATION naming text, on create and edit; nothing changes', async () => {
    const { admin, supervisor, agent, other } = await k.cast({ agentCapacity: 1 });
    const c = await k.open(admin.token);
    const owner: User = c.agent_id === agent.agent.id ? agent : other;
    const n = (await note(owner.token, c.id, 'a real note')).json() as { id: number };
    const mine = (await k.call('POST', '/api/v1/canned-responses', { token: agent.token, body: { shortcut: 'hi', text: 'Hello', scope: 'personal' } })).json() as { id: string };
    const shared = (await k.call('POST', '/api/v1/canned-responses', { token: supervisor.token, body: { shortcut: 'bye', text: 'Bye', scope: 'shared' } })).json() as { id: string };
    for (const blank of [' ', ' \n\t ', '\u00a0\u3000', '\u200b', ' \u2060\ufeff ']) {
      await k.unchanged(async () => {
        const label = JSON.stringify(blank);
        for (const res of [
          await note(owner.token, c.id, blank),
          await note(admin.token, c.id, blank),
          await k.call('PATCH', `/api/v1/conversations/${c.id}/notes/${n.id}`, { token: owner.token, body: { text: blank } }),
          await k.call('POST', '/api/v1/canned-responses', { token: agent.token, body: { shortcut: 'blank', text: blank, scope: 'personal' } }),
          await k.call('POST', '/api/v1/canned-responses', { token: admin.token, body: { shortcut: 'blank', text: blank, scope: 'shared' } }),
          await k.call('PATCH', `/api/v1/canned-responses/${mine.id}`, { token: agent.token, body: { text: blank } }),
          await k.call('PATCH', `/api/v1/canned-responses/${shared.id}`, { token: supervisor.token, body: { shortcut: 'bye2', text: blank } }),
        ]) {
          expectInvalid(res, 'text', label);
          assert.match(res.json().error.message, /text must not be blank/, label);
        }
      }, 'blank text');
    }
    // text with spaces around something is kept as typed
    const spaced = await note(owner.token, c.id, '  indented\n');
    assert.equal(spaced.statusCode, 201, spaced.body);
    assert.equal(spaced.json().text, '  indented\n');
  });
});
