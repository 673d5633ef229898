// Erasing a conversation (#17 item 1, GDPR): DELETE /api/v1/conversations/:id
// takes its messages, notes, files, rating and sessions in one transaction,
// keeps its events with the personal fields redacted (webhook deliveries
// too), refuses an open conversation and anyone but an admin — on the
// database store, and on an S3-compatible bucket (s3rver) whose objects go
// after commit.
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, it } from 'node:test';
import S3rver from 's3rver';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { removeDeletedFiles } from '../../src/files/deletions.js';
import type { s3Store } from '../../src/files/s3-store.js';
import { startSession } from '../../src/realtime/sessions.js';
import { expectError, kitFor, UNKNOWN_ID, type Kit, type User } from '../helpers/api-kit.js';
import { multipartFile, PDF, PNG } from '../helpers/multipart.js';
import { describeEachStore, type TestStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const DAY_S = 24 * 3600;
/** Strings only the erased conversation holds: none may be readable afterwards. */
const SECRETS = ['Erin Example', 'erin@example.org', '+44 7700 900123', '12 Elm Street', 'card ending 4242', 'ticket-ERIN', 'called her back', 'passport.png', 'contract.pdf', 'Slow but fine'];

type Call = Kit['call'];

/** A resolved conversation carrying every kind of personal data, and what is needed to look for it afterwards. */
async function fullConversation(k: Kit, call: Call, agent: User, admin: User) {
  const { conversation, token } = await startSession(
    k.t.ctx,
    { customer: { id: 'ticket-ERIN', name: 'Erin Example', email: 'erin@example.org', phone: '+44 7700 900123' } },
    DAY_S,
  );
  assert.equal(conversation.agent_id, agent.agent.id);
  const id = conversation.id;
  const ok = async (res: Awaited<ReturnType<Call>>, status = 201) => {
    assert.equal(res.statusCode, status, res.body);
    return res.json();
  };
  const upload = (who: string, name: string, type: string, bytes: Buffer) => {
    const { body, headers } = multipartFile('file', name, type, bytes);
    return call('POST', `/api/v1/conversations/${id}/attachments`, { token: who, body, headers });
  };
  const picture = await ok(await upload(token, 'passport.png', 'image/png', PNG));
  const pdf = await ok(await upload(agent.token, 'contract.pdf', 'application/pdf', PDF));
  await ok(await call('POST', `/api/v1/conversations/${id}/messages`, { token: admin.token, body: { sender: 'customer', text: 'I live at 12 Elm Street', attachments: [{ id: picture.id }] } }));
  await ok(await call('POST', `/api/v1/conversations/${id}/messages`, { token: agent.token, body: { text: 'Paid with card ending 4242', attachments: [{ id: pdf.id }] } }));
  await ok(await call('POST', `/api/v1/conversations/${id}/notes`, { token: agent.token, body: { text: 'called her back' } }));
  await ok(await call('POST', '/api/v1/labels', { token: admin.token, body: { name: 'billing', color: '#336699' } }));
  await ok(await call('PUT', `/api/v1/conversations/${id}/labels`, { token: agent.token, body: { labels: ['billing'] } }), 200);
  await ok(await call('POST', `/api/v1/conversations/${id}/resolve`, { token: agent.token, body: {} }), 200);
  await ok(await call('POST', `/api/v1/conversations/${id}/rating`, { token, body: { score: 3, comment: 'Slow but fine' } }));
  return { id, token, picture, pdf };
}

/** Every row that mentions the conversation, as text, for the secrets check. */
async function traces(db: TestStore['db'], id: string): Promise<string> {
  const rows = await db.query<{ t: string }>(
    `select data::text as t from events where conversation_id = $1
     union all select convert_from(body, 'UTF8') from outbound_requests where event_id in (select id from events where conversation_id = $1)
     union all select x::text from messages x where conversation_id = $1
     union all select x::text from message_search x where conversation_id = $1
     union all select x::text from conversations x where id = $1
     union all select x::text from ratings x where conversation_id = $1`,
    [id],
  );
  return rows.map((r) => r.t).join('\n');
}

describeEachStore('erasure: DELETE /api/v1/conversations/:id', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });
  const erase = (token: string, id: string) => k.call('DELETE', `/api/v1/conversations/${id}`, { token });

  it('erases a resolved conversation in one go: data gone, files 404 (signed links too), events and webhook deliveries redacted', async () => {
    const admin = await k.user('admin');
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const hook = await k.call('POST', '/api/v1/webhooks', {
      token: admin.token,
      body: { url: 'https://93.184.215.14/hook', events: ['message.created', 'note.created', 'conversation.resolved', 'conversation.rated', 'conversation.erased', 'session_state_close'] },
    });
    assert.equal(hook.statusCode, 201, hook.body);
    const c = await fullConversation(k, k.call, agent, admin);
    // another customer's conversation, which must not be touched
    const other = await startSession(k.t.ctx, { customer: { id: 'kept-1', name: 'Kim Kept' } }, DAY_S);
    assert.equal((await k.call('POST', `/api/v1/conversations/${other.conversation.id}/messages`, { token: admin.token, body: { sender: 'customer', text: 'still here' } })).statusCode, 201);
    while ((await fanOut(k.t.ctx)).events > 0);
    const before = await store().db.query<{ id: number; type: string }>('select id, type from events where conversation_id = $1 order by id', [c.id]);
    assert.ok(before.length >= 8, `events before: ${before.length}`);
    const text = await traces(store().db, c.id);
    for (const secret of SECRETS.slice(0, 8)) assert.ok(text.includes(secret), `${secret} is there before the erasure`);
    const keptOther = await k.snapshot();

    // the id as some clients write it: answered, and told in the event, as stored
    const res = await erase(admin.token, c.id.toUpperCase());
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { conversation_id: c.id, messages: 2, notes: 1, attachments: 2, ratings: 1, events_redacted: before.length, deliveries_redacted: 6 });

    for (const table of ['messages', 'attachments', 'customer_sessions', 'conversation_reads', 'message_search']) {
      assert.equal(await k.count(table, `conversation_id = '${c.id}'`), 0, table);
    }
    // the rating stays for the Satisfaction report, without the customer's comment
    assert.deepEqual(
      await store().db.query('select score, comment, agent_id, created_at from ratings where conversation_id = $1', [c.id]),
      [{ score: 3, comment: null, agent_id: agent.agent.id, created_at: new Date(T0) }],
    );
    assert.equal(await k.count('conversations', `id = '${c.id}'`), 0);
    assert.equal(await k.count('attachment_bytes'), 0);
    // nothing for a bucket: these files were in the database
    assert.equal(await k.count('attachment_deletions'), 0);
    expectError(await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    expectError(await k.call('GET', `/api/v1/attachments/${c.picture.id}`, { token: admin.token }), 404, 'SB_NOT_FOUND', undefined, 'with a token');
    expectError(await k.call('GET', c.pdf.url), 404, 'SB_NOT_FOUND', undefined, 'the signed link made before');
    assert.equal((await k.call('GET', `/api/v1/conversations/${c.id}/messages`, { token: c.token })).statusCode, 401, "the customer's session is gone");

    // the events stay, in their order, with nothing personal left in them
    const afterRows = await store().db.query<{ id: number; type: string; data: any }>('select id, type, data from events where conversation_id = $1 order by id', [c.id]);
    assert.deepEqual(afterRows.slice(0, -1).map((e) => [e.id, e.type]), before.map((e) => [e.id, e.type]));
    const erased = afterRows.at(-1)!;
    assert.equal(erased.type, 'conversation.erased');
    assert.deepEqual(erased.data, { ...res.json(), by: admin.agent.id });
    const left = await traces(store().db, c.id);
    for (const secret of SECRETS) assert.ok(!left.includes(secret), `${secret} is gone`);
    const resolved = afterRows.find((e) => e.type === 'conversation.resolved')!.data;
    assert.deepEqual(resolved.conversation.customer, { id: 'erased', name: null, email: null, phone: null, fields: {} });
    assert.deepEqual([resolved.conversation.state, resolved.conversation.labels, resolved.conversation.agent_id], ['resolved', ['billing'], agent.agent.id]);
    const message = afterRows.find((e) => e.type === 'message.created')!.data.message;
    assert.deepEqual([message.text, message.attachments, message.sender], [null, [], 'customer']);
    assert.equal(afterRows.find((e) => e.type === 'note.created')!.data.note.text, null);
    assert.deepEqual(afterRows.find((e) => e.type === 'conversation.rated')!.data.rating.score, 3);
    // through the API as well
    const listed = (await k.call('GET', '/api/v1/events?type=message.created', { token: admin.token })).json() as { conversation_id: string; data: any }[];
    assert.deepEqual(listed.filter((e) => e.conversation_id === c.id).map((e) => e.data.message.text), [null, null]);

    // the erasure is a webhook event of its own
    while ((await fanOut(k.t.ctx)).events > 0);
    const [delivery] = await store().db.query<{ body: string }>(`select convert_from(body, 'UTF8') as body from outbound_requests where name = 'conversation.erased'`);
    assert.deepEqual(JSON.parse(delivery!.body).data, erased.data);
    const gitple = await store().db.query<{ body: string }>(`select convert_from(body, 'UTF8') as body from outbound_requests where name = 'session_state_close'`);
    assert.equal(JSON.parse(gitple[0]!.body).session.userId, 'erased');

    // the other conversation is as it was
    assert.equal(await k.count('messages', `conversation_id = '${other.conversation.id}'`), 1);
    assert.equal((await k.snapshot()).counts.conversations, keptOther.counts.conversations! - 1);
    expectError(await erase(admin.token, c.id), 404, 'SB_NOT_FOUND', undefined, 'a second time');
  });

  it("leaves no customer id in the events: a customer's messages name no sender (an offline message's is their email)", async () => {
    const admin = await k.user('admin');
    const left = await k.call('POST', '/api/v1/offline-messages', { body: { name: 'Erin Example', email: 'erin@example.org', message: 'Please call me back' } });
    assert.equal(left.statusCode, 201, left.body);
    const id = left.json().id as string;
    assert.equal((await k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: admin.token, body: {} })).statusCode, 200);
    const before = await store().db.query<{ data: any }>("select data from events where conversation_id = $1 and type = 'message.created'", [id]);
    assert.equal(before[0]!.data.message.sender_id, 'offline:erin@example.org', 'what the erasure must take');
    assert.equal((await erase(admin.token, id)).statusCode, 200);
    const events = (await k.call('GET', '/api/v1/events?limit=1000', { token: admin.token })).json() as { conversation_id: string | null; type: string; data: any }[];
    const mine = events.filter((e) => e.conversation_id === id);
    assert.ok(mine.some((e) => e.type === 'message.created'));
    for (const e of mine) assert.ok(!JSON.stringify(e.data).includes('erin@example.org'), `${e.type} still holds the email: ${JSON.stringify(e.data)}`);
    const message = mine.find((e) => e.type === 'message.created')!.data.message;
    assert.deepEqual([message.sender, message.sender_id, message.text], ['customer', null, null]);
  });

  it('leaves the Satisfaction report of a past period as it was: the rating keeps its score, agent, department and time, and loses its comment', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: 'rater-1', name: 'Rita Rater' } }, DAY_S);
    assert.equal((await k.call('POST', `/api/v1/conversations/${conversation.id}/resolve`, { token: agent.token, body: {} })).statusCode, 200);
    const rated = await k.call('POST', `/api/v1/conversations/${conversation.id}/rating`, { token, body: { score: 1, comment: 'Never again, said Rita' } });
    assert.equal(rated.statusCode, 201, rated.body);
    // a month later, the report of March
    k.clock.set(Date.parse('2026-04-02T09:00:00Z'));
    const admin = await k.user('admin');
    const report = async (path: string) => {
      const res = await k.call('GET', `/api/v1/reports/${path}`, { token: admin.token });
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const satisfaction = 'satisfaction?group=agent&from=2026-03-01&to=2026-04-01';
    const before = await report(satisfaction);
    assert.deepEqual(before.total, { ratings: 1, average: 1, csat: 0, scores: [1, 0, 0, 0, 0] });
    const byDepartment = await report(satisfaction.replace('agent', 'department'));

    const res = await erase(admin.token, conversation.id);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().ratings, 1);

    assert.deepEqual(await report(satisfaction), before);
    assert.deepEqual(await report(satisfaction.replace('agent', 'department')), byDepartment);
    const [row] = await store().db.query<{ score: number; comment: string | null }>('select score, comment from ratings where conversation_id = $1', [conversation.id]);
    assert.deepEqual(row, { score: 1, comment: null });
    assert.ok(!(await traces(store().db, conversation.id)).includes('Never again'), 'the comment is nowhere');
  });

  it('refuses an open conversation with 409 naming its state, an agent or supervisor with 403, an unknown id with 404 — changing nothing', async () => {
    const admin = await k.user('admin');
    const supervisor = await k.user('supervisor');
    const agent = await k.user('agent', { status: 'online', capacity: 1 });
    const assigned = await startSession(k.t.ctx, { customer: { id: 'open-1', name: 'Olive Open' } }, DAY_S);
    const queued = await startSession(k.t.ctx, { customer: { id: 'open-2', name: 'Quinn Queued' } }, DAY_S);
    assert.deepEqual([assigned.conversation.state, queued.conversation.state], ['assigned', 'queued']);
    const waiting = await startSession(k.t.ctx, { customer: { id: 'open-3' } }, DAY_S);
    assert.equal((await k.call('POST', `/api/v1/conversations/${assigned.conversation.id}/resolve`, { token: agent.token, body: {} })).statusCode, 200);
    // the resolve freed the agent: the queued one is now assigned, the third one queued
    await k.unchanged(async () => {
      const open = await erase(admin.token, queued.conversation.id);
      expectError(open, 409, 'SB_CONVERSATION_OPEN');
      assert.match(open.json().error.message, /is assigned; resolve it before erasing it/);
      const queuedNow = await erase(admin.token, waiting.conversation.id);
      expectError(queuedNow, 409, 'SB_CONVERSATION_OPEN', undefined, 'queued');
      assert.match(queuedNow.json().error.message, /is queued/);
      for (const who of [agent, supervisor]) expectError(await erase(who.token, assigned.conversation.id), 403, 'SB_FORBIDDEN', undefined, who.agent.role);
      assert.equal((await k.call('DELETE', `/api/v1/conversations/${assigned.conversation.id}`)).statusCode, 401, 'no token');
      expectError(await erase(admin.token, UNKNOWN_ID), 404, 'SB_NOT_FOUND');
      expectError(await erase(admin.token, 'not-a-uuid'), 400, 'SB_VALIDATION');
    });
    assert.equal(await k.count('customer_sessions'), 3);
    // the agent's load is whole: still one conversation held
    assert.equal((await k.agentRow(agent.agent.id)).load, 1);
    const done = await erase(admin.token, assigned.conversation.id);
    assert.equal(done.statusCode, 200, done.body);
    assert.equal((await k.agentRow(agent.agent.id)).load, 1);
  });
});

describeEachStore('erasure: files in an S3-compatible bucket (s3rver)', (store) => {
  let server: S3rver;
  let dir: string;
  let port = 0;
  const bucket = 'switchboard-erasure';
  const dirs: string[] = [];
  const k = kitFor(store, {
    before: (fn) =>
      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'sb-s3-'));
        dirs.push(dir);
        server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
        port = (await server.run()).port;
        await fn();
      }),
    after: (fn) =>
      after(async () => {
        await fn();
        await server?.close();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      }),
    env: () => ({ S3_BUCKET: bucket, S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' }),
  });
  const s3 = () => k.t.ctx.files!.store as ReturnType<typeof s3Store>;
  const exists = async (key: string) =>
    s3()
      .client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
      .then(() => true, (error: { name?: string }) => (error.name === 'NotFound' ? false : Promise.reject(error)));
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  it('records the objects to delete in the erasing transaction and removes them after commit, retrying while the bucket fails', async () => {
    await s3().client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
    const admin = await k.user('admin');
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await fullConversation(k, k.call, agent, admin);
    assert.ok((await exists(c.picture.id)) && (await exists(c.pdf.id)));
    const res = await k.call('DELETE', `/api/v1/conversations/${c.id}`, { token: admin.token });
    assert.equal(res.statusCode, 200, res.body);
    const queued = await store().db.query<{ key: string }>('select key from attachment_deletions order by key');
    assert.deepEqual(queued.map((r) => r.key), [c.picture.id, c.pdf.id].sort());
    expectError(await k.call('GET', c.picture.url), 404, 'SB_NOT_FOUND', undefined, 'signed link, object not yet removed');
    assert.ok(await exists(c.picture.id), 'the object outlives the transaction until the sweeper runs');

    // the bucket is down: the pass fails and the keys stay queued
    await server.close();
    await assert.rejects(removeDeletedFiles(store().db, s3()));
    assert.equal(await k.count('attachment_deletions'), 2);
    server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir });
    await server.run();
    assert.equal(await removeDeletedFiles(store().db, s3()), 2);
    assert.equal(await exists(c.picture.id), false);
    assert.equal(await exists(c.pdf.id), false);
    assert.equal(await k.count('attachment_deletions'), 0);
  });
});
