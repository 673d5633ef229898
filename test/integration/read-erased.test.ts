// Marking a conversation read (POST /api/v1/conversations/:id/read, and an
// agent's MQTT read receipt on …/messages/viewed, which moves their marker
// too) while the conversation is erased (DELETE /api/v1/conversations/:id):
// 404 SB_NOT_FOUND as for a conversation that does not exist (docs/api.md
// lists 400, 403, 404), and no marker left behind; not a 500, nor an internal
// error in the broker, from the marker's foreign key meeting the deleted row.
// On both stores the erasure runs between the request's read of the
// conversation and its marker; on PostgreSQL the erasure also runs in
// another connection, the marker waiting for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { eraseConversation } from '../../src/erasure/erase.js';
import { AppError } from '../../src/errors.js';
import { createCoordinator } from '../../src/realtime/coordinator.js';
import { topics } from '../../src/realtime/topics.js';
import type { Db } from '../../src/store/db.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { describeEachStore, storeKinds, type TestStore } from '../helpers/stores.js';

/** A resolved conversation (erasable) with a customer message, held by `holder`; its id, the message's id and the holder's token. */
async function aResolvedConversation(t: TestApp): Promise<{ id: string; messageId: number; holder: { id: string; token: string } }> {
  const { token: admin } = await t.user('admin');
  const { agent, token } = await t.user('agent', { status: 'online', capacity: 5 });
  const opened = await t.call('POST', '/api/v1/conversations', { token: admin, body: { customer: { id: 'cust-1' } } });
  assert.equal(opened.statusCode, 201, opened.body);
  const id = opened.json().id as string;
  assert.equal(opened.json().agent_id, agent.id);
  const message = await t.call('POST', `/api/v1/conversations/${id}/messages`, { token: admin, body: { text: 'hi', sender: 'customer' } });
  assert.equal(message.statusCode, 201, message.body);
  assert.equal((await t.call('POST', `/api/v1/conversations/${id}/resolve`, { token, body: {} })).statusCode, 200);
  return { id, messageId: Number(message.json().id), holder: { id: agent.id, token } };
}

const markers = async (db: Db) => (await db.query<{ n: number }>('select count(*)::int as n from conversation_reads'))[0]!.n;

describeEachStore('marking read a conversation erased meanwhile', (store) => {
  // The store as the app sees it: once armed, the marker's insert first has the conversation erased.
  let eraseBeforeMarker: string | undefined;
  const erasingStore = (): TestStore => {
    const db = store().db;
    const query: Db['query'] = async (text, params) => {
      if (eraseBeforeMarker !== undefined && text.includes('insert into conversation_reads')) {
        const id = eraseBeforeMarker;
        eraseBeforeMarker = undefined;
        await eraseConversation({ db, now: () => new Date(), onCommitted: () => undefined }, id, SYSTEM);
      }
      return db.query(text, params);
    };
    return { ...store(), db: { ...db, query } as Db };
  };

  const withApp = async (test: (t: TestApp, ctx: Ctx) => Promise<void>) => {
    await store().reset();
    const t = await testApp(erasingStore());
    try {
      await test(t, t.ctx);
    } finally {
      eraseBeforeMarker = undefined;
      await t.close();
    }
  };

  it('answers POST /read with 404 SB_NOT_FOUND', () =>
    withApp(async (t) => {
      const c = await aResolvedConversation(t);
      eraseBeforeMarker = c.id;
      const read = await t.call('POST', `/api/v1/conversations/${c.id}/read`, { token: c.holder.token, body: {} });
      assert.equal(read.statusCode, 404, read.body);
      assert.equal(read.json().error.code, 'SB_NOT_FOUND');
      assert.equal(eraseBeforeMarker, undefined, 'the erasure ran');
      assert.equal(await markers(store().db), 0);
    }));

  it("refuses an agent's MQTT read receipt with SB_NOT_FOUND, as for a conversation that does not exist", () =>
    withApp(async (t, ctx) => {
      const c = await aResolvedConversation(t);
      const base = topics('sb');
      const coordinator = createCoordinator({ ctx, topics: base, publish: async () => undefined, keepAliveMs: 60_000, announce: async () => undefined });
      const receipt = () =>
        coordinator.handle({ kind: 'agent', agent: { id: c.holder.id, role: 'agent' } }, base.conversation(c.id, 'viewed'), Buffer.from(JSON.stringify({ readMessages: [c.messageId] })));
      eraseBeforeMarker = c.id;
      // an AppError is a refusal the broker answers on the client's topic; anything else it logs as an internal error
      await assert.rejects(receipt(), (error) => error instanceof AppError && error.code === 'SB_NOT_FOUND' && error.status === 404);
      assert.equal(eraseBeforeMarker, undefined, 'the erasure ran');
      await assert.rejects(receipt(), (error) => error instanceof AppError && error.code === 'SB_NOT_FOUND', 'the same as a receipt for the erased conversation');
      assert.equal(await markers(store().db), 0);
    }));
});

describe('marking read a conversation being erased in another request [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  it('answers the read that waited for the erasure with 404 SB_NOT_FOUND', async () => {
    const c = await aResolvedConversation(t);
    const { token: admin } = await t.user('admin');
    // the webhook fan-out holds its cursor: the erasure stops there, the conversation's row locked, not yet deleted
    await holder().query('begin');
    await holder().query(`select 1 from outbox_cursors where name = 'webhooks' for update`);
    const erasing = t.call('DELETE', `/api/v1/conversations/${c.id}`, { token: admin });
    await waitingOnLock(store().db, 'outbox_cursors');
    const reading = t.call('POST', `/api/v1/conversations/${c.id}/read`, { token: c.holder.token, body: {} });
    await waitingOnLock(store().db, 'conversation_reads');
    await holder().query('commit');
    const erased = await erasing;
    assert.equal(erased.statusCode, 200, erased.body);
    const read = await reading;
    assert.equal(read.statusCode, 404, read.body);
    assert.equal(read.json().error.code, 'SB_NOT_FOUND');
    assert.equal(await markers(store().db), 0);
  });
});
