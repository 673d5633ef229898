import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { accessRules, Assignments } from '../../src/realtime/access.js';
import { startSession } from '../../src/realtime/sessions.js';
import { topics } from '../../src/realtime/topics.js';
import { startServer, type Running } from '../../src/server.js';
import type { Db, Queryable } from '../../src/store/db.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// What Switchboard publishes about a conversation reaches subscribers in
// commit order, also for a conversation the process does not remember (one
// opened before a restart, or by another process): before publishing, the
// embedded broker reads who holds it (access.ts, prepareDelivery). Found by
// review: each publish read it on its own, so two messages committed back to
// back, the first read slow, reached the customer the other way round.

const ID = '3f2c1d9e-1111-4222-8333-444455556666';
const AGENT = '0f4882b1-2336-496f-be59-b6e0dc6078c9';

describe('prepareDelivery of a conversation whose holder is read', () => {
  it('reads once for the publishes made meanwhile, which go on in the order made, even once an event tells the holder', async () => {
    let reads = 0;
    let answer!: () => void;
    const db = {
      async query() {
        reads += 1;
        if (reads === 1) await new Promise<void>((resolve) => (answer = resolve));
        return [{ agent_id: AGENT, state: 'assigned' }];
      },
    } as unknown as Queryable;
    const t = topics('switchboard');
    const assignments = new Assignments();
    const rules = accessRules(db, t, assignments);
    const order: string[] = [];
    // as the embedded broker publishes (broker.ts): after the turn, if any
    const publish = async (name: string, kind: 'messages' | 'control') => {
      const turn = rules.prepareDelivery(t.conversation(ID, kind));
      if (turn) await turn;
      order.push(name);
    };
    const first = publish('first', 'messages');
    const second = publish('second', 'messages');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, 1, 'the second publish waits for the first one’s read');
    // an event tells the holder while the read is under way: a later publish still waits its turn
    assignments.set(ID, AGENT);
    const third = publish('third', 'control');
    answer();
    await Promise.all([first, second, third]);
    assert.deepEqual(order, ['first', 'second', 'third']);
    // the line is gone: a known holder needs no wait
    assert.equal(rules.prepareDelivery(t.conversation(ID, 'messages')), undefined);
  });

  it('fails the publish whose read failed alone: the next reads again', async () => {
    let reads = 0;
    const db = {
      async query() {
        reads += 1;
        if (reads === 1) throw new Error('connection lost');
        return [{ agent_id: AGENT, state: 'assigned' }];
      },
    } as unknown as Queryable;
    const t = topics('switchboard');
    const assignments = new Assignments();
    const rules = accessRules(db, t, assignments);
    const first = rules.prepareDelivery(t.conversation(ID, 'messages'));
    const second = rules.prepareDelivery(t.conversation(ID, 'messages'));
    await assert.rejects(first!, /connection lost/);
    await second;
    assert.equal(reads, 2);
    assert.equal(assignments.holderOf(ID), AGENT);
  });
});

describeEachStore('relay order of a conversation the process does not remember', (store) => {
  let server: Running;
  let slowHolderRead = false;
  before(async () => {
    const db = store().db;
    // the store under load: one read of who holds a conversation is slow (a busy pool connection)
    const wrapped: Db = {
      ...db,
      query: async (text: string, params?: readonly unknown[]) => {
        if (slowHolderRead && text.startsWith('select agent_id, state from conversations where id = $1')) {
          slowHolderRead = false;
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        return db.query(text, params as unknown[]);
      },
    } as Db;
    server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'silent', SWEEP_INTERVAL: '60000' }), { db: wrapped, keepDb: true });
  });
  after(async () => server?.close());

  it('relays two agent messages committed back to back in that order', async () => {
    await store().reset();
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const token = (await httpJson(server.url, 'POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token;
    // a chat opened before this process started: not among the holders it remembers
    const { conversation, token: sessionToken } = await startSession({ ...server.ctx, onCommitted: () => {} }, { customer: { id: 'ord' } }, 3600);
    assert.equal(conversation.state, 'assigned');
    const customer = await connectMqtt(`${server.url.replace('http', 'ws')}/mqtt`, sessionToken);
    try {
      const topic = `switchboard/conversations/${conversation.id}/messages`;
      assert.deepEqual(await customer.subscribe(topic), [1]);
      slowHolderRead = true;
      for (const text of ['first', 'second']) {
        const posted = await httpJson(server.url, 'POST', `/api/v1/conversations/${conversation.id}/messages`, { text }, token);
        assert.equal(posted.status, 201, JSON.stringify(posted.body));
      }
      await customer.next(topic, (p) => p.message.content === 'first');
      await customer.next(topic, (p) => p.message.content === 'second');
      const relayed = customer.received.filter((r) => r.topic === topic).map((r) => r.payload.message.content);
      assert.deepEqual(relayed, ['first', 'second']);
    } finally {
      await customer.end();
    }
  });
});
