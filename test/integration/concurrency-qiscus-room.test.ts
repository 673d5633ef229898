// sb_record_qiscus_room takes no lock of its own: the open-reference unique
// index decides between allocation webhooks for one room sent at once (Qiscus
// re-sends them). Here, on two PostgreSQL connections: a re-sent webhook
// waits for the first one's commit and records nothing more; and a webhook
// whose room is resolved between its insert (which found the room open) and
// its read (which then finds none) records the room again rather than
// answering with nothing recorded.
// PostgreSQL only: PGlite has one connection, so nothing runs beside the call.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startFakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { qiscusHarness, type QiscusHarness } from '../helpers/qiscus-harness.js';
import { storeKinds } from '../helpers/stores.js';

describe('Qiscus allocation webhooks for one room beside another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let h: QiscusHarness;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    const fake = await startFakeQiscus();
    h = await qiscusHarness(fresh, fake);
    return async () => {
      await h.close();
      await fake.close();
    };
  });

  const roomConversations = (roomId: string) =>
    store().db.query<{ id: string; state: string; created: number }>(
      `select c.id, c.state, (select count(*)::int from events e where e.conversation_id = c.id and e.type = 'conversation.created') as created
         from conversations c where c.channel = 'qiscus' and c.external_ref = $1 order by c.seq`,
      [roomId],
    );

  it('a webhook re-sent while the first is uncommitted waits for it, then records nothing more', async () => {
    await holder().query('begin');
    const [first] = (
      await holder().query<{ id: string; created: boolean }>(
        `select (o.room).id, o.created from sb_record_qiscus_room('r-1', 'c@example.test', '{"id": "c@example.test"}', '@qiscus', now()) o`,
      )
    ).rows;
    assert.equal(first?.created, true);
    const again = h.webhook('r-1');
    await waitingOnLock(store().db, 'sb_record_qiscus_room');
    await holder().query('commit');
    assert.equal((await again).statusCode, 200);
    assert.deepEqual(await roomConversations('r-1'), [{ id: first.id, state: 'queued', created: 1 }], 'one conversation, created once');
  });

  it('a webhook whose open room is resolved between its insert and its read records the room again', async () => {
    assert.equal((await h.webhook('r-2')).statusCode, 200);
    const [open] = await roomConversations('r-2');
    // A pause after each insert statement into conversations (the webhook's insert that
    // did nothing included), for as long as this connection holds advisory lock 4242:
    // the resolve commits in that pause, as it may between two statements.
    await holder().query(`create function sb_test_pause() returns trigger language plpgsql as $$
                        begin perform pg_advisory_xact_lock_shared(4242); return null; end $$`);
    await holder().query('create trigger sb_test_pause after insert on conversations for each statement execute function sb_test_pause()');
    await holder().query('select pg_advisory_lock(4242)');
    const again = h.webhook('r-2', { is_new_session: true });
    await waitingOnLock(store().db, 'sb_record_qiscus_room');
    assert.equal((await h.resolve('r-2')).statusCode, 200);
    await holder().query('select pg_advisory_unlock(4242)');
    assert.equal((await again).statusCode, 200);

    const rows = await roomConversations('r-2');
    assert.equal(rows.length, 2, `the resolved conversation and a new one: ${JSON.stringify(rows)}`);
    assert.deepEqual(rows[0], { id: open!.id, state: 'resolved', created: 1 });
    assert.deepEqual([rows[1]!.state, rows[1]!.created], ['queued', 1], 'the new session waits for an agent, recorded once');
  });
});
