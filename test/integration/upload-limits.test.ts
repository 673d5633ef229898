// What a customer may upload to one conversation (src/files/quota.ts): a
// widget session is open to anyone, so their files are bounded — at most
// 3 × attachments_max_files not yet sent in a message (429
// SB_ATTACHMENT_UNSENT_LIMIT), at most 5 × attachments_max_bytes in all (413
// SB_ATTACHMENT_QUOTA), decided under the conversation's row lock — and a
// customer's file never sent is removed a day after its upload, from the
// bucket too. And a customer uploads while their conversation is only
// offered, as they may write; an agent not before accepting it, as for
// messages (409 SB_NOT_ACCEPTED).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { removeDeletedFiles, removeUnsentFiles, startFileSweeper } from '../../src/files/deletions.js';
import { UNSENT_FILE_LIFETIME_MS } from '../../src/files/quota.js';
import { startSession } from '../../src/realtime/sessions.js';
import { migrate } from '../../src/store/migrate.js';
import { expectError, kitFor, type Kit } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { waitingOnLock } from '../helpers/lock-waits.js';
import { multipartFile, PDF, PNG } from '../helpers/multipart.js';
import { storeMigratedBefore } from '../helpers/scratch-database.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';
import { s3Bucket, startS3rver } from '../helpers/s3-bucket.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const DAY_S = 24 * 3600;
const MIGRATION = '0082_attachments_unsent_sweep';

type Call = Kit['call'];

function uploads(call: () => Call, app: () => TestApp) {
  let n = 0;
  return {
    upload: (token: string, conversationId: string, bytes: Buffer = PNG, name = 'photo.png', type = 'image/png') => {
      const { body, headers } = multipartFile('file', name, type, bytes);
      return call()('POST', `/api/v1/conversations/${conversationId}/attachments`, { token, body, headers });
    },
    /** a widget chat, as POST /session opens it */
    async chat(department?: string) {
      const { conversation, token } = await startSession(app().ctx, { customer: { id: `limits-${++n}` }, ...(department ? { department } : {}) }, DAY_S);
      return { id: conversation.id, token, state: conversation.state, agentId: conversation.agent_id };
    },
  };
}

describeEachStore('upload limits: a customer’s files per conversation', (store) => {
  const k = kitFor(store, { before, after });
  const f = uploads(() => k.call, () => k.t);
  const files = (conversationId: string) => k.count('attachments', `conversation_id = '${conversationId}'`);
  const send = async (token: string, conversationId: string, ids: string[]) => {
    const res = await k.call('POST', `/api/v1/conversations/${conversationId}/messages`, { token, body: { attachments: ids.map((id) => ({ id })) } });
    assert.equal(res.statusCode, 201, res.body);
  };
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  it('refuses a customer’s upload past 3 × attachments_max_files unsent files (429 SB_ATTACHMENT_UNSENT_LIMIT, retry-after), storing nothing; sent files free their places', async () => {
    await store().reset({ attachments_max_files: 2 });
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await f.upload(c.token, c.id);
      assert.equal(res.statusCode, 201, `upload ${i + 1}: ${res.body}`);
      ids.push(res.json().id);
    }
    await k.unchanged(async () => {
      const refused = await f.upload(c.token, c.id);
      expectError(refused, 429, 'SB_ATTACHMENT_UNSENT_LIMIT', 'file');
      assert.match(refused.json().error.message, /6 files uploaded to this conversation are not sent in a message yet; at most 6 may wait \(3 × attachments_max_files, 2\)/);
      // the oldest unsent file is removed a day (and at most a sweep) after its upload
      assert.equal(Number(refused.headers['retry-after']), DAY_S + 60);
    });
    assert.equal(await files(c.id), 6);
    assert.equal(await k.count('attachment_bytes'), 6);
    // an agent has no quota
    assert.equal((await f.upload(agent.token, c.id)).statusCode, 201);
    // another conversation's customer has their own
    const other = await f.chat();
    assert.equal((await f.upload(other.token, other.id)).statusCode, 201);

    // two of them sent in a message: two places again, and no third
    await send(agent.token, c.id, ids.slice(0, 2));
    assert.equal((await f.upload(c.token, c.id)).statusCode, 201);
    assert.equal((await f.upload(c.token, c.id)).statusCode, 201);
    expectError(await f.upload(c.token, c.id), 429, 'SB_ATTACHMENT_UNSENT_LIMIT', 'file');
    assert.equal(await files(c.id), 9);
  });

  it('refuses a customer’s upload past 5 × attachments_max_bytes in the conversation, sent or not (413 SB_ATTACHMENT_QUOTA), storing nothing', async () => {
    await store().reset({ attachments_max_bytes: 1000 });
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const first = await f.upload(c.token, c.id, Buffer.alloc(1000, 1));
    assert.equal(first.statusCode, 201, first.body);
    await send(agent.token, c.id, [first.json().id]);
    for (let i = 0; i < 3; i++) assert.equal((await f.upload(c.token, c.id, Buffer.alloc(1000, 1))).statusCode, 201);
    // 4000 held: 1000 more is exactly the quota
    assert.equal((await f.upload(c.token, c.id, Buffer.alloc(999, 1))).statusCode, 201);
    await k.unchanged(async () => {
      const over = await f.upload(c.token, c.id, Buffer.alloc(2, 1));
      expectError(over, 413, 'SB_ATTACHMENT_QUOTA', 'file');
      assert.match(over.json().error.message, /would come to 5001 bytes; at most 5000 bytes may be uploaded to one conversation \(5 × attachments_max_bytes, 1000\)/);
    });
    assert.equal((await f.upload(c.token, c.id, Buffer.alloc(1, 1))).statusCode, 201, 'the last byte fits');
    expectError(await f.upload(c.token, c.id, Buffer.alloc(1, 1)), 413, 'SB_ATTACHMENT_QUOTA', 'file');
    assert.equal(await files(c.id), 6);
    // agents are not held to it
    assert.equal((await f.upload(agent.token, c.id, Buffer.alloc(1000, 1))).statusCode, 201);
  });

  it('two uploads racing for the last unsent place: exactly one is stored', async () => {
    await store().reset({ attachments_max_files: 1 });
    const c = await f.chat();
    for (let i = 0; i < 2; i++) assert.equal((await f.upload(c.token, c.id)).statusCode, 201);
    const race = async () => Promise.all([f.upload(c.token, c.id, PNG, 'a.png'), f.upload(c.token, c.id, PNG, 'b.png')]);
    let answers;
    if (store().kind === 'postgres') {
      // Each upload's insert into attachments waits, after its count, for as
      // long as this connection holds advisory lock 4243: the first to count
      // waits there; the second either waits for the conversation's row (the
      // lock taken before counting: it counts once the first has committed)
      // or, were that lock shared, counts the same and waits there too.
      const holder = new pg.Client({ connectionString: store().url });
      await holder.connect();
      await holder.query(`create function sb_test_pause() returns trigger language plpgsql as $$
                          begin perform pg_advisory_xact_lock_shared(4243); return null; end $$`);
      await holder.query('create trigger sb_test_pause after insert on attachments for each statement execute function sb_test_pause()');
      try {
        await holder.query('select pg_advisory_lock(4243)');
        const racing = race();
        // both wait: one for the advisory lock, the other for it too or for the row
        await waitingOnLock(store().db, 'attachments', 5_000, 1);
        await waitingOnLock(store().db, '', 5_000, 2);
        await holder.query('select pg_advisory_unlock(4243)');
        answers = await racing;
      } finally {
        await holder.query('drop trigger sb_test_pause on attachments; drop function sb_test_pause()');
        await holder.end();
      }
    } else {
      answers = await race();
    }
    assert.deepEqual(answers.map((a) => a.statusCode).sort(), [201, 429], answers.map((a) => a.body).join('\n'));
    expectError(answers.find((a) => a.statusCode === 429)!, 429, 'SB_ATTACHMENT_UNSENT_LIMIT', 'file');
    assert.equal(await files(c.id), 3);
    assert.equal(await k.count('attachment_bytes'), 3);
  });

  it('an offered conversation takes the customer’s file and their message with it; its agent uploads only after accepting (409 SB_NOT_ACCEPTED, as for a message)', async () => {
    const admin = await k.user('admin');
    const routed = await k.call('PUT', '/api/v1/departments/sales/routing', { token: admin.token, body: { mode: 'offer', offer_timeout_s: 60 } });
    assert.equal(routed.statusCode, 200, routed.body);
    const agent = await k.user('agent', { status: 'online', capacity: 1, departments: ['sales'] });
    const c = await f.chat('sales');
    assert.equal(c.state, 'offered');
    assert.equal(c.agentId, agent.agent.id);

    const res = await f.upload(c.token, c.id, PDF, 'order.pdf', 'application/pdf');
    assert.equal(res.statusCode, 201, res.body);
    const customerMessage = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: admin.token,
      body: { sender: 'customer', text: 'my order', attachments: [{ id: res.json().id }] },
    });
    assert.equal(customerMessage.statusCode, 201, customerMessage.body);

    await k.unchanged(async () => {
      expectError(await f.upload(agent.token, c.id), 409, 'SB_NOT_ACCEPTED');
      expectError(await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { text: 'hi' } }), 409, 'SB_NOT_ACCEPTED');
    });
    assert.equal(await files(c.id), 1);
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: agent.token, body: {} })).statusCode, 200);
    assert.equal((await f.upload(agent.token, c.id)).statusCode, 201);
  });

  it('removes a customer’s file left unsent for a day; keeps sent files, newer ones and agents’ files', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const sent = (await f.upload(c.token, c.id, PNG, 'sent.png')).json().id as string;
    const unsent = (await f.upload(c.token, c.id, PNG, 'unsent.png')).json().id as string;
    const agents = (await f.upload(agent.token, c.id, PNG, 'agent.png')).json().id as string;
    await send(agent.token, c.id, [sent]);
    k.clock.advance(UNSENT_FILE_LIFETIME_MS - 1000);
    const newer = (await f.upload(c.token, c.id, PNG, 'newer.png')).json().id as string;
    const names = async () => (await store().db.query<{ id: string }>('select id from attachments order by name')).map((r) => r.id);

    assert.equal(await removeUnsentFiles(store().db, new Date(k.clock.now().getTime() - UNSENT_FILE_LIFETIME_MS)), 0, 'not a day old yet');
    k.clock.advance(1001);
    assert.equal(await removeUnsentFiles(store().db, new Date(k.clock.now().getTime() - UNSENT_FILE_LIFETIME_MS)), 1);
    assert.deepEqual(await names(), [agents, newer, sent]);
    assert.equal(await k.count('attachment_bytes'), 3, 'its bytes went with it');
    // (the tokens of a day ago have expired)
    const admin = await k.user('admin');
    expectError(await k.call('GET', `/api/v1/attachments/${unsent}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    assert.equal((await k.call('GET', `/api/v1/attachments/${sent}`, { token: admin.token })).statusCode, 200);
    // the sent file may be sent again
    await send(admin.token, c.id, [sent]);

    // what the server runs: the file sweeper, each process, on its own
    k.clock.advance(UNSENT_FILE_LIFETIME_MS);
    const errors: unknown[] = [];
    const sweeper = startFileSweeper(store().db, k.t.ctx.files!.store, 10, (error) => errors.push(error), { now: k.clock.now });
    try {
      const deadline = Date.now() + 5_000;
      while ((await names()).includes(newer) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await sweeper.stop();
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(await names(), [agents, sent]);
  });
});

describe('upload limits: the migration that adds the sent mark', () => {
  for (const kind of storeKinds()) {
    it(`marks sent the files messages already carry, and only those [${kind}]`, async () => {
      const { db, drop, all } = await storeMigratedBefore(kind, MIGRATION);
      try {
        assert.ok(all.some((m) => m.version === MIGRATION));
        const [c] = await db.query<{ id: string }>(
          `insert into conversations (channel, customer_id, customer, state, required_skills, created_at, updated_at) values ('api', 'x', '{}', 'queued', '{}', now(), now()) returning id`,
        );
        const file = (name: string) =>
          db.query<{ id: string }>(
            `insert into attachments (id, conversation_id, uploaded_by, name, content_type, size, storage, created_at)
             values (gen_random_uuid(), $1, 'customer', $2, 'image/png', 1, 'database', now()) returning id`,
            [c!.id, name],
          );
        const [a] = await file('a');
        await file('b');
        await db.query(`insert into messages (conversation_id, sender, text, attachments, created_at) values ($1, 'customer', null, $2::jsonb, now())`, [
          c!.id,
          JSON.stringify([{ type: 'image/png', url: `/api/v1/attachments/${a!.id}`, id: a!.id, name: 'a', size: 1 }]),
        ]);
        await migrate(db, all);
        assert.deepEqual(
          (await db.query<{ name: string; sent: boolean }>('select name, sent from attachments order by name')).map((r) => ({ ...r })),
          [
            { name: 'a', sent: true },
            { name: 'b', sent: false },
          ],
        );
      } finally {
        await drop();
      }
    });
  }
});

describeEachStore('upload limits: unsent files removed from an S3-compatible bucket (s3rver)', (store) => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  let bucket: Awaited<ReturnType<typeof s3Bucket>>;
  let t: TestApp;
  let now = T0;
  const f = uploads(() => t.call as Call, () => t);
  const s3 = () => bucket.store;
  const exists = (key: string) => bucket.exists(key);

  before(async () => {
    s3rver = await startS3rver();
    t = await testApp(store(), { now: () => new Date(now), env: s3rver.env('switchboard-unsent') });
    bucket = await s3Bucket(t, 'switchboard-unsent');
  });
  after(async () => {
    await t?.close();
    await s3rver?.close();
  });

  it('the row goes first; the object is removed after that commits, the sent file’s stays', async () => {
    await store().reset();
    now = T0;
    const agent = await t.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const sent = (await f.upload(c.token, c.id)).json().id as string;
    const unsent = (await f.upload(c.token, c.id)).json().id as string;
    assert.equal((await t.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { attachments: [{ id: sent }] } })).statusCode, 201);
    now += UNSENT_FILE_LIFETIME_MS + 1;
    assert.equal(await removeUnsentFiles(store().db, new Date(now - UNSENT_FILE_LIFETIME_MS)), 1);
    assert.deepEqual(await store().db.query('select key from attachment_deletions'), [{ key: unsent }]);
    assert.ok(await exists(unsent), 'queued, not yet removed');
    assert.equal(await removeDeletedFiles(store().db, s3()), 1);
    assert.equal(await exists(unsent), false);
    assert.ok(await exists(sent));
    assert.deepEqual(await store().db.query('select id from attachments'), [{ id: sent }]);
  });
});
