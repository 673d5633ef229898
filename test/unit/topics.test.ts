// Issue #22 (P4): every publish asks which conversation its topic addresses
// (src/realtime/access.ts, prepareDelivery). conversationOf answers that
// without parsing the whole topic; it must agree with parseTopic, which the
// access rules use for everything else, on every kind of topic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLIENT_TOPICS, conversationOf, parseTopic, topics } from '../../src/realtime/topics.js';

const ID = '3f2c1d9e-1111-4222-8333-444455556666';
const AGENT = '0f4882b1-2336-496f-be59-b6e0dc6078c9';
const t = topics('switchboard');
const rel = (full: string) => t.relative(full)!;

const cases = [
  rel(t.conversation(ID, 'messages')),
  rel(t.conversation(ID, 'viewed')),
  rel(t.conversation(ID, 'control')),
  rel(t.conversation(ID, 'typing')),
  rel(t.session(ID)),
  `conversations/${ID.toUpperCase()}/messages`,
  `conversations/${ID}/something/else`,
  `conversations/${ID}/+`,
  'conversations/not-a-uuid/messages',
  'conversations/',
  'conversations',
  `conversationsx/${ID}`,
  `x/conversations/${ID}`,
  rel(t.assign(AGENT)),
  rel(t.attendantOnline(AGENT)),
  rel(t.agentEvents(AGENT)),
  rel(t.queueEvents()),
  rel(t.supervisorEvents('conversations')),
  rel(t.consumed()),
  ...Object.values(CLIENT_TOPICS),
  '',
];

describe('realtime topics', () => {
  it('conversationOf names the conversation exactly when parseTopic reads a conversation topic', () => {
    for (const topic of cases) {
      const parsed = parseTopic(topic);
      assert.equal(conversationOf(topic), parsed.kind === 'conversation' ? parsed.conversationId : undefined, topic);
    }
    assert.equal(conversationOf(`conversations/${ID.toUpperCase()}/messages`), ID);
    assert.equal(conversationOf(rel(t.agentEvents(AGENT))), undefined);
  });

  it('parseTopic reads the parts and the server topics', () => {
    assert.deepEqual(parseTopic(rel(t.conversation(ID, 'viewed'))), { kind: 'conversation', conversationId: ID, part: 'viewed', rest: 'messages/viewed' });
    assert.deepEqual(parseTopic(rel(t.conversation(ID, 'control'))), { kind: 'conversation', conversationId: ID, part: 'control', rest: 'client/control' });
    assert.deepEqual(parseTopic(`conversations/${ID}/other/level`), { kind: 'conversation', conversationId: ID, part: 'other', rest: 'other/level' });
    for (const name of Object.values(CLIENT_TOPICS)) assert.deepEqual(parseTopic(name), { kind: 'server', name });
    assert.deepEqual(parseTopic(rel(t.attendantOnline(AGENT))), { kind: 'heartbeat', agentId: AGENT });
  });
});
