// Statements that lock several rows of the outbox take them in id order, so
// none waits for a row another holds while holding one that other waits for.
// The outbound worker records a batch of attempts (RECORD) in the order they
// finished, not in id order; an erasure locks its conversation's emails in id
// order. Found by review: a batch holding a conversation's second transcript
// and waiting for its first, while the erasure held the first and waited for
// the second, was 'deadlock detected': the erasure answered 500, or the
// record failed and the emails went again when their lease ran out.
//
// PostgreSQL: the first transcript held by a second connection, the erasure
// waiting for it, then a record of both (the second first) waiting too; once
// the holder lets go, both finish. PGlite has one connection: the erasure,
// then the late record, one after the other, with the same outcome.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { feedCallbacks } from '../../src/channels/rapidpro/feed.js';
import { addMessage } from '../../src/conversations/messages.js';
import { record, type AttemptRecord } from '../../src/events/outbound/outbox.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { eachTestWithLockHolder, settledOrWaiting, waitingOnLock } from '../helpers/lock-waits.js';
import { CONTRACT, createTicketer, mailroomFor } from '../helpers/rapidpro.js';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtp-receiver.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

const FROM = 'Switchboard Support <support@example.test>';

/** A resolved chat whose customer asked for its transcript twice: the conversation and its two pending emails, in id order. */
async function twoTranscripts(t: TestApp): Promise<{ id: string; emails: [number, number]; admin: string }> {
  const admin = await t.user('admin');
  const agent = await t.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
  const session = await startSession(t.ctx, { customer: { id: 'erin-1', name: 'Erin Example', email: 'erin@example.org' } }, 3600);
  const id = session.conversation.id;
  await addMessage(t.ctx, id, { sender: 'agent', sender_id: agent.agent.id, text: 'Hello Erin' }, { id: agent.agent.id, role: agent.agent.role });
  const emails: number[] = [];
  for (let i = 0; i < 2; i += 1) {
    const res = await t.call('POST', `/api/v1/conversations/${id}/transcript`, { token: session.token, body: {} });
    assert.equal(res.statusCode, 202, res.body);
    emails.push(res.json().delivery_id as number);
  }
  const resolved = await t.call('POST', `/api/v1/conversations/${id}/resolve`, { token: agent.token, body: {} });
  assert.equal(resolved.statusCode, 200, resolved.body);
  assert.ok(emails[0]! < emails[1]!);
  return { id, emails: [emails[0]!, emails[1]!], admin: admin.token };
}

/** The worker's record of a delivered email (its batch comes in the order attempts finished). */
const delivered = (id: number): AttemptRecord => ({
  id,
  attemptsBefore: 0,
  startedAt: new Date(),
  durationMs: 12,
  status: 250,
  excerpt: '250 OK',
  error: null,
  requestHeaders: {},
  outcome: 'delivered',
  nextAttemptAt: null,
});

async function states(t: TestApp, ids: readonly number[]): Promise<string[]> {
  const rows = await t.ctx.db.query<{ state: string }>('select state from outbound_requests where id = any ($1::bigint[]) order by id', [ids]);
  return rows.map((r) => r.state);
}

describe('the outbox: a record of a batch beside an erasure in another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  let smtp: SmtpReceiver;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    smtp = await startSmtpReceiver();
    t = await testApp(fresh, { env: { SMTP_URL: smtp.url, EMAIL_FROM: FROM } });
    return async () => {
      await t.close();
      await smtp.close();
    };
  });

  it('a batch recorded second-row-first while the erasure waits for the first row: both finish, the emails cancelled', async () => {
    // an outbox with a history, as in production (analyzed): its rows are then found by id, one record after another
    await store().db.query(
      `insert into outbound_requests (producer, message_id, name, url, method, headers, body, state, max_attempts, next_attempt_at, created_at)
       select 'email', '<old' || n || '@example.test>', 'transcript', 'mailto:', 'SMTP', '{}', ''::bytea, 'delivered', 8, now(), now()
         from generate_series(1, 5000) n`,
    );
    await store().db.query('analyze outbound_requests');
    const { id, emails, admin } = await twoTranscripts(t);
    const [first, second] = emails;
    // the first waits for a retry, due after the second: the order an outbox index walks them in is not their ids'
    await store().db.query(`update outbound_requests set next_attempt_at = now() + interval '5 minutes' where id = $1`, [first]);
    await holder().query('begin');
    await holder().query('select 1 from outbound_requests where id = $1 for update', [first]);

    const erasing = t.call('DELETE', `/api/v1/conversations/${id}`, { token: admin });
    await waitingOnLock(store().db, 'ordering_key = any');
    const recording = record(store().db, [delivered(second), delivered(first)], new Date());
    await waitingOnLock(store().db, 'attempts_before', 5_000, 1);
    await holder().query('commit');

    const [erased, recorded] = await Promise.allSettled([erasing, recording]);
    assert.equal(erased.status, 'fulfilled', String((erased as PromiseRejectedResult).reason));
    assert.equal(erased.value.statusCode, 200, erased.value.body);
    assert.equal(recorded.status, 'fulfilled', `the record failed: ${String((recorded as PromiseRejectedResult).reason)}`);
    assert.deepEqual(recorded.value.ids, [], 'the record came after the erasure: it moves nothing');
    assert.deepEqual(await states(t, emails), ['cancelled', 'cancelled'], 'neither transcript goes');
  });
});

// Found by review: the erasure deleted the conversation's RapidPro ticket, then locked its
// callbacks; a ticketer's delete locks its callbacks, then deletes its tickets (by cascade).
// Held between the two (a second connection holds a feed cursor the erasure waits for), they
// deadlocked. The erasure now locks the outbound rows before it deletes the links.
describe('an erasure beside a ticketer delete in another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  it('both finish: the conversation erased, the ticketer deleted', async () => {
    const admin = (await t.user('admin')).token;
    const agent = (await t.user('agent', { status: 'online', capacity: 5 })).token;
    const ticketer = await createTicketer(t, admin);
    const opened = await mailroomFor(t, ticketer)('GET', 'room', CONTRACT.room);
    assert.equal(opened.statusCode, 201, opened.body);
    const room = opened.json().id as string;
    assert.equal((await t.call('POST', `/api/v1/conversations/${room}/messages`, { token: agent, body: { text: 'hi' } })).statusCode, 201);
    assert.equal((await t.call('POST', `/api/v1/conversations/${room}/resolve`, { token: agent, body: {} })).statusCode, 200);
    assert.equal((await feedCallbacks(t.ctx)).callbacks, 2, 'the message and the close wait for mailroom');

    await holder().query('begin');
    await holder().query(`select 1 from outbox_cursors where name = 'qiscus' for update`);
    const erasing = t.call('DELETE', `/api/v1/conversations/${room}`, { token: admin });
    await waitingOnLock(store().db, 'outbox_cursors where name = any');
    const deleting = t.call('DELETE', `/api/v1/ticketers/${ticketer.uuid}`, { token: admin });
    await settledOrWaiting(store().db, 'rapidpro', deleting);
    await holder().query('commit');

    const [erased, deleted] = await Promise.all([erasing, deleting]);
    assert.deepEqual([erased.statusCode, deleted.statusCode], [200, 204], `erasure: ${erased.body.slice(0, 200)}; ticketer delete: ${deleted.body.slice(0, 200)}`);
  });

  // Found by review: the erasure queues the close the feed had not read (its callback's foreign key
  // names the ticketer); a ticketer delete holding its row made that check fail after it: a 500.
  it('an erasure owing mailroom a close, beside the delete of its ticketer: both finish, no close queued', async () => {
    const admin = (await t.user('admin')).token;
    const agent = (await t.user('agent', { status: 'online', capacity: 5 })).token;
    const ticketer = await createTicketer(t, admin);
    const opened = await mailroomFor(t, ticketer)('GET', 'room', CONTRACT.room);
    assert.equal(opened.statusCode, 201, opened.body);
    const room = opened.json().id as string;
    assert.equal((await t.call('POST', `/api/v1/conversations/${room}/messages`, { token: agent, body: { text: 'hi' } })).statusCode, 201);
    assert.equal((await feedCallbacks(t.ctx)).callbacks, 1, 'the message waits for mailroom');
    assert.equal((await t.call('POST', `/api/v1/conversations/${room}/resolve`, { token: agent, body: {} })).statusCode, 200);

    // the delete holds its ticketer's row while it waits for the message's callback
    await holder().query('begin');
    await holder().query(`select 1 from outbound_requests where producer = 'rapidpro' for update`);
    const deleting = t.call('DELETE', `/api/v1/ticketers/${ticketer.uuid}`, { token: admin });
    await waitingOnLock(store().db, 'rapidpro_callbacks');
    const erasing = t.call('DELETE', `/api/v1/conversations/${room}`, { token: admin });
    await waitingOnLock(store().db, 'rapidpro', 5_000, 2);
    await holder().query('commit');

    const [erased, deleted] = await Promise.all([erasing, deleting]);
    assert.deepEqual([erased.statusCode, deleted.statusCode], [200, 204], `erasure: ${erased.body.slice(0, 200)}; ticketer delete: ${deleted.body.slice(0, 200)}`);
    const [closes] = await store().db.query<{ n: number }>(`select count(*)::int as n from outbound_requests where name = 'close-room'`);
    assert.equal(closes!.n, 0, 'a deleted ticketer has no one to tell');
  });
});

describeEachStore('the outbox: a record of a batch after an erasure', (store) => {
  it('the late record moves nothing; the erased emails stay cancelled', async () => {
    await store().reset();
    const smtp = await startSmtpReceiver();
    const t = await testApp(store(), { env: { SMTP_URL: smtp.url, EMAIL_FROM: FROM } });
    try {
      const { id, emails, admin } = await twoTranscripts(t);
      const erased = await t.call('DELETE', `/api/v1/conversations/${id}`, { token: admin });
      assert.equal(erased.statusCode, 200, erased.body);
      const recorded = await record(t.ctx.db, [delivered(emails[1]), delivered(emails[0])], new Date());
      assert.deepEqual(recorded.ids, []);
      assert.deepEqual(await states(t, emails), ['cancelled', 'cancelled']);
    } finally {
      await t.close();
      await smtp.close();
    }
  });
});
