// File attachments (#17 item 1): uploads by agents and customers, the
// attachments_* limits, who may download, signed links, outbound links, and
// files going with their conversation — on the database store, and on an
// S3-compatible bucket (s3rver, started here).
import { ListObjectsV2Command, type DeleteObjectsCommandInput } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { uploadAttachment } from '../../src/files/attachments.js';
import { removeDeletedFiles } from '../../src/files/deletions.js';
import type { Db } from '../../src/store/db.js';
import { UPLOAD_GRACE_MS } from '../../src/files/upload-intent.js';
import { startSession } from '../../src/realtime/sessions.js';
import { expectError, expectInvalid, kitFor, UNKNOWN_ID, type Kit } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { multipartFile, PDF, PNG } from '../helpers/multipart.js';
import { describeEachStore, type TestStore } from '../helpers/stores.js';
import { s3Bucket, startS3rver } from '../helpers/s3-bucket.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const DAY_S = 24 * 3600;

type Call = Kit['call'];

/** The helpers every suite below shares, over one app. */
function filesKit(call: () => Call, app: () => TestApp) {
  let n = 0;
  return {
    upload: (token: string | undefined, conversationId: string, name = 'photo.png', type = 'image/png', bytes: Buffer = PNG, field = 'file') => {
      const { body, headers } = multipartFile(field, name, type, bytes);
      return call()('POST', `/api/v1/conversations/${conversationId}/attachments`, { ...(token ? { token } : {}), body, headers });
    },
    /** a widget chat, as POST /session opens it: the conversation and the customer's session token */
    async chat() {
      const { conversation, token } = await startSession(app().ctx, { customer: { id: `files-${++n}`, name: `Customer ${n}` } }, DAY_S);
      return { id: conversation.id, token, agentId: conversation.agent_id };
    },
    /** a conversation's data deleted, as an erasure would: its files go by cascade */
    async deleteConversation(db: TestStore['db'], id: string) {
      await db.transaction(async (tx) => {
        await tx.query('delete from messages where conversation_id = $1', [id]);
        await tx.query('delete from customer_sessions where conversation_id = $1', [id]);
        await tx.query('delete from conversations where id = $1', [id]);
      });
    },
  };
}

describeEachStore('attachments: database store', (store) => {
  const k = kitFor(store, { before, after });
  const f = filesKit(() => k.call, () => k.t);
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  it('an agent uploads a picture (201 {id,name,content_type,size,url}), sends it in a message, and the customer fetches it', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    assert.equal(c.agentId, agent.agent.id);
    const res = await f.upload(agent.token, c.id, 'C:\\Users\\ann\\screen shot.png');
    assert.equal(res.statusCode, 201, res.body);
    const file = res.json();
    assert.deepEqual({ ...file, id: undefined, url: undefined }, { id: undefined, name: 'screen shot.png', content_type: 'image/png', size: PNG.length, url: undefined });
    assert.match(file.url, new RegExp(`^/api/v1/attachments/${file.id}\\?expires=\\d+&sig=[\\w-]+$`));
    assert.equal(await k.count('attachment_bytes'), 1);

    const sent = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { text: 'Here it is', attachments: [{ id: file.id }] } });
    assert.equal(sent.statusCode, 201, sent.body);
    const [attachment] = sent.json().attachments;
    assert.deepEqual({ ...attachment, url: undefined }, { type: 'image/png', id: file.id, name: 'screen shot.png', size: PNG.length, url: undefined });
    assert.match(attachment.url, /^\/api\/v1\/attachments\/[0-9a-f-]+\?expires=\d+&sig=/);
    // stored as the plain path; links are signed when the message is read
    const [stored] = await store().db.query<{ attachments: { url: string }[] }>('select attachments from messages where conversation_id = $1', [c.id]);
    assert.equal(stored!.attachments[0]!.url, `/api/v1/attachments/${file.id}`);

    // the customer's history carries the signed link; it works without a token, inline, sandboxed
    const history = await k.call('GET', `/api/v1/conversations/${c.id}/messages`, { token: c.token });
    const url = history.json()[0].attachments[0].url as string;
    const got = await k.call('GET', url);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PNG);
    assert.equal(got.headers['content-type'], 'image/png');
    assert.match(String(got.headers['content-disposition']), /^inline; filename="screen shot.png"/);
    assert.match(String(got.headers['content-security-policy']), /sandbox/);
    // kept by no cache: an erasure (or a revoked link) makes the file gone at once, not 5 minutes on (found by review: max-age=300)
    assert.equal(got.headers['cache-control'], 'private, no-store');
    // and with the session token
    const byToken = await k.call('GET', `/api/v1/attachments/${file.id}`, { token: c.token });
    assert.equal(byToken.statusCode, 200, byToken.body);
    assert.deepEqual(byToken.rawPayload, PNG);
    assert.equal(byToken.headers['cache-control'], 'private, no-store');
  });

  it('the customer uploads a PDF with the session token; the agent downloads it as a file, never rendered as a page', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const res = await f.upload(c.token, c.id, 'invoice.pdf', 'application/pdf', PDF);
    assert.equal(res.statusCode, 201, res.body);
    const [row] = await store().db.query<{ uploaded_by: string; agent_id: string | null }>('select uploaded_by, agent_id from attachments');
    assert.deepEqual({ ...row }, { uploaded_by: 'customer', agent_id: null });
    const got = await k.call('GET', `/api/v1/attachments/${res.json().id}`, { token: agent.token });
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PDF);
    assert.equal(got.headers['content-type'], 'application/pdf');

    // HTML (allowed here by its .txt name) is served as a download of bytes, not as a page of this origin
    await k.call('PATCH', '/api/v1/settings', { token: (await k.user('admin')).token, body: { attachments_allowed_types: ['.txt'] } });
    const html = await f.upload(c.token, c.id, 'page.txt', 'text/html', Buffer.from('<script>alert(1)</script>'));
    assert.equal(html.statusCode, 201, html.body);
    const served = await k.call('GET', `/api/v1/attachments/${html.json().id}`, { token: agent.token });
    assert.equal(served.headers['content-type'], 'application/octet-stream');
    assert.match(String(served.headers['content-disposition']), /^attachment; /);
  });

  it('refuses files over attachments_max_bytes (413), of types not allowed (422), and messages with more than attachments_max_files (422), changing nothing', async () => {
    const admin = await k.user('admin');
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const patched = await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { attachments_max_bytes: 1000, attachments_max_files: 2, attachments_allowed_types: ['image/*', '.pdf'] } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual([patched.json().attachments_max_bytes, patched.json().attachments_max_files], [1000, 2]);

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await f.upload(agent.token, c.id, `p${i}.png`)).json().id);
    await k.unchanged(async () => {
      const big = await f.upload(agent.token, c.id, 'big.png', 'image/png', Buffer.alloc(1001, 1));
      expectError(big, 413, 'SB_ATTACHMENT_TOO_LARGE', 'file');
      assert.match(big.json().error.message, /attachments_max_bytes \(1000 bytes\)/);
      // exactly at the limit would pass; a customer is held to it too
      expectError(await f.upload(c.token, c.id, 'big.png', 'image/png', Buffer.alloc(5000, 1)), 413, 'SB_ATTACHMENT_TOO_LARGE', 'file');
      const type = await f.upload(agent.token, c.id, 'notes.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
      expectError(type, 422, 'SB_ATTACHMENT_TYPE', 'file');
      assert.match(type.json().error.message, /attachments_allowed_types \(image\/\*, \.pdf\)/);
      expectError(await f.upload(agent.token, c.id, 'x.png', 'image/png', PNG, 'document'), 400, 'SB_VALIDATION', 'file');
      const plain = await k.call('POST', `/api/v1/conversations/${c.id}/attachments`, { token: agent.token, body: { file: 'x' } });
      expectError(plain, 415, 'SB_UNSUPPORTED_MEDIA_TYPE', 'file');

      const many = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { attachments: ids.map((id) => ({ id })) } });
      expectError(many, 422, 'SB_ATTACHMENT_LIMIT', 'attachments');
      assert.match(many.json().error.message, /attachments_max_files allows 2/);
      expectInvalid(await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { attachments: [{ id: ids[0] }, { id: UNKNOWN_ID }] } }), 'attachments.1.id');
      expectInvalid(await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { attachments_allowed_types: ['Image/PNG'] } }), 'attachments_allowed_types.0');
      expectInvalid(await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { attachments_max_files: 21 } }), 'attachments_max_files');
    });
    assert.equal(await k.count('attachments'), 3);
    const two = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { attachments: ids.slice(0, 2).map((id) => ({ id })) } });
    assert.equal(two.statusCode, 201, two.body);
  });

  it('a file of another conversation cannot be sent, and nobody adds files to a closed conversation (409)', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const a = await f.chat();
    const b = await f.chat();
    const file = (await f.upload(agent.token, a.id)).json();
    await k.unchanged(async () => {
      expectInvalid(await k.call('POST', `/api/v1/conversations/${b.id}/messages`, { token: agent.token, body: { attachments: [{ id: file.id }] } }), 'attachments.0.id');
      // a customer cannot upload into another conversation
      expectError(await f.upload(a.token, b.id), 403, 'SB_FORBIDDEN');
    });
    assert.equal((await k.call('POST', `/api/v1/conversations/${a.id}/resolve`, { token: agent.token, body: {} })).statusCode, 200);
    await k.unchanged(async () => {
      expectError(await f.upload(agent.token, a.id), 409, 'SB_CONVERSATION_CLOSED');
    });
    // the closed conversation's files stay readable
    assert.equal((await k.call('GET', `/api/v1/attachments/${file.id}`, { token: a.token })).statusCode, 200);
  });

  it('downloads: the customer, the agents who hold or held it, supervisors and admins; not a stranger agent or another customer', async () => {
    const { admin, supervisor, agent, other } = await k.cast({ agentCapacity: 10 });
    const stranger = await k.user('agent');
    const c = await f.chat();
    const elsewhere = await f.chat();
    const file = (await f.upload(c.token, c.id)).json();
    const holder = c.agentId === agent.agent.id ? agent : other;
    const next = holder === agent ? other : agent;
    const get = (token?: string) => k.call('GET', `/api/v1/attachments/${file.id}`, token ? { token } : {});

    for (const [who, token] of [['customer', c.token], ['holder', holder.token], ['supervisor', supervisor.token], ['admin', admin.token]] as const) {
      assert.equal((await get(token)).statusCode, 200, who);
    }
    expectError(await get(stranger.token), 403, 'SB_FORBIDDEN', undefined, 'stranger agent');
    expectError(await get(next.token), 403, 'SB_FORBIDDEN', undefined, 'an agent before the transfer');
    expectError(await get(elsewhere.token), 403, 'SB_FORBIDDEN', undefined, 'another conversation’s customer');
    expectError(await get(), 401, 'SB_UNAUTHORIZED');
    expectError(await k.call('GET', `/api/v1/attachments/${UNKNOWN_ID}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    // a stranger can upload neither
    expectError(await f.upload(stranger.token, c.id), 403, 'SB_FORBIDDEN');

    const moved = await k.call('POST', `/api/v1/conversations/${c.id}/transfer`, { token: holder.token, body: { agent_id: next.agent.id } });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.equal((await get(next.token)).statusCode, 200, 'the new holder');
    assert.equal((await get(holder.token)).statusCode, 200, 'the agent who held it');
    expectError(await get(stranger.token), 403, 'SB_FORBIDDEN', undefined, 'still a stranger');
  });

  it('signed links work without a token until they expire; an altered, expired or borrowed link is 403', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const a = (await f.upload(agent.token, c.id)).json();
    const b = (await f.upload(agent.token, c.id, 'b.png')).json();
    assert.equal((await k.call('GET', a.url)).statusCode, 200);
    // a mail or link rewriter's own parameters are no reason to refuse it (found by review: 400)
    assert.equal((await k.call('GET', `${a.url}&utm_source=newsletter`)).statusCode, 200);
    const url = new URL(a.url, 'http://x');
    const sig = url.searchParams.get('sig')!;
    const expires = Number(url.searchParams.get('expires'));
    assert.equal(expires, T0 / 1000 + 3600, 'ATTACHMENT_LINK_TTL is an hour by default');
    const tampered = sig.slice(0, -2) + (sig.endsWith('AA') ? 'BB' : 'AA');
    for (const [label, link] of [
      ['tampered signature', `/api/v1/attachments/${a.id}?expires=${expires}&sig=${tampered}`],
      ['later expiry', `/api/v1/attachments/${a.id}?expires=${expires + 3600}&sig=${sig}`],
      ['another file', `/api/v1/attachments/${b.id}?expires=${expires}&sig=${sig}`],
      ['no signature', `/api/v1/attachments/${a.id}?expires=${expires}`],
      ['unknown file', `/api/v1/attachments/${UNKNOWN_ID}?expires=${expires}&sig=${sig}`],
    ]) {
      expectError(await k.call('GET', link!), 403, 'SB_LINK_INVALID', undefined, label);
    }
    k.clock.advance(3600 * 1000);
    expectError(await k.call('GET', a.url), 403, 'SB_LINK_INVALID', undefined, 'expired');
    // a fresh answer gives a fresh link (the customer's token outlives the agent's here)
    const fresh = (await f.upload(c.token, c.id)).json();
    assert.equal((await k.call('GET', fresh.url)).statusCode, 200);
  });

  it('webhooks carry absolute signed links, good for ATTACHMENT_OUTBOUND_LINK_TTL, that a receiver fetches without a token', async () => {
    const admin = await k.user('admin');
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const hook = await k.call('POST', '/api/v1/webhooks', { token: admin.token, body: { url: 'https://93.184.215.14/hook', events: ['message.created'] } });
    assert.equal(hook.statusCode, 201, hook.body);
    const c = await f.chat();
    const file = (await f.upload(agent.token, c.id, 'report.pdf', 'application/pdf', PDF)).json();
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { attachments: [{ id: file.id }] } })).statusCode, 201);
    while ((await fanOut(k.t.ctx)).events > 0);
    const [row] = await store().db.query<{ body: string }>(`select convert_from(body, 'UTF8') as body from outbound_requests where endpoint_id = $1`, [hook.json().id]);
    const [attachment] = JSON.parse(row!.body).data.message.attachments;
    assert.equal(attachment.id, file.id);
    assert.equal(attachment.name, 'report.pdf');
    const link = new URL(attachment.url);
    assert.equal(link.origin, 'http://127.0.0.1');
    assert.equal(Number(link.searchParams.get('expires')), T0 / 1000 + 7 * DAY_S);
    // the event log keeps the plain path, readable with a token
    const events = (await k.call('GET', '/api/v1/events?type=message.created', { token: admin.token })).json();
    assert.equal(events[0].data.message.attachments[0].url, `/api/v1/attachments/${file.id}`);
    k.clock.advance(2 * DAY_S * 1000);
    const got = await k.call('GET', `${link.pathname}${link.search}`);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PDF);
  });

  it('deleting a conversation’s data deletes its files', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const kept = await f.chat();
    await f.upload(agent.token, c.id);
    await f.upload(c.token, c.id, 'b.pdf', 'application/pdf', PDF);
    await f.upload(kept.token, kept.id);
    assert.equal(await k.count('attachment_bytes'), 3);
    await f.deleteConversation(store().db, c.id);
    assert.equal(await k.count('attachments'), 1);
    assert.equal(await k.count('attachment_bytes'), 1);
    // nothing to remove from a bucket
    assert.equal(await k.count('attachment_deletions'), 0);
  });
});

describeEachStore('attachments: S3-compatible store (s3rver)', (store) => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  let bucketed: Awaited<ReturnType<typeof s3Bucket>>;
  let t: TestApp;
  const f = filesKit(() => t.call as Call, () => t);
  const bucket = 'switchboard-test';
  const s3 = () => bucketed.store;
  const exists = (key: string) => bucketed.exists(key);

  /** runs once the next object is in the bucket, before the upload's transaction */
  let afterPut: (() => Promise<void>) | undefined;
  /** how the next DeleteObjects fails: the connection drops, or the bucket names the key in Errors */
  let failDelete: 'network' | 'refused' | undefined;

  before(async () => {
    s3rver = await startS3rver();
    t = await testApp(store(), { env: { ...s3rver.env(bucket), PUBLIC_URL: 'https://help.example.com/chat' } });
    bucketed = await s3Bucket(t, bucket);
    bucketed.store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteObjectsCommand' && failDelete) {
          const how = failDelete;
          failDelete = undefined;
          if (how === 'network') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
          const keys = (args.input as DeleteObjectsCommandInput).Delete!.Objects!.map((o) => o.Key!);
          return { output: { $metadata: {}, Errors: keys.map((Key) => ({ Key, Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' })) }, response: {} };
        }
        const answer = await next(args);
        if (context.commandName === 'PutObjectCommand' && afterPut) {
          const run = afterPut;
          afterPut = undefined;
          await run();
        }
        return answer;
      },
      { step: 'initialize', name: 'failingDeletes' },
    );
  });
  after(async () => {
    await t?.close();
    await s3rver?.close();
  });
  beforeEach(async () => {
    await store().reset();
    afterPut = undefined;
    failDelete = undefined;
  });

  it('round trip: the bytes go to the bucket, not the database, and come back to an authorized caller', async () => {
    assert.equal(s3().kind, 's3');
    const agent = await t.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const res = await f.upload(c.token, c.id, 'scan.pdf', 'application/pdf', PDF);
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().id as string;
    assert.ok(await exists(id), 'the object is in the bucket');
    const [row] = await store().db.query<{ storage: string }>('select storage from attachments where id = $1', [id]);
    assert.equal(row!.storage, 's3');
    assert.equal((await store().db.query('select 1 from attachment_bytes')).length, 0);
    const got = await t.call('GET', `/api/v1/attachments/${id}`, { token: agent.token });
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PDF);
    assert.equal((await t.call('GET', res.json().url)).statusCode, 200, 'the signed link');
  });

  it('while an object is in the bucket and its row not yet committed, its key waits in the removal queue, due an hour on; the commit takes it off', async () => {
    await t.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const queue = () => store().db.query<{ key: string; next_attempt_at: Date | null }>('select key, next_attempt_at from attachment_deletions');
    let waiting: { key: string; next_attempt_at: Date | null }[] = [];
    let sweptMeanwhile = -1;
    const started = Date.now();
    afterPut = async () => {
      waiting = await queue();
      sweptMeanwhile = await removeDeletedFiles(store().db, s3(), 500, new Date());
    };
    const res = await f.upload(c.token, c.id);
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().id as string;
    assert.deepEqual(
      waiting.map((r) => r.key),
      [id],
      'queued before the upload',
    );
    const dueIn = waiting[0]!.next_attempt_at!.getTime() - started;
    assert.ok(dueIn >= UPLOAD_GRACE_MS - 1_000 && dueIn <= UPLOAD_GRACE_MS + 60_000, `due an hour on, not ${dueIn} ms`);
    assert.equal(sweptMeanwhile, 0, 'a sweeper pass during the upload removes nothing');
    assert.deepEqual(await queue(), [], 'off the queue with the row');
    assert.equal(await removeDeletedFiles(store().db, s3(), 500, new Date(Date.now() + 2 * UPLOAD_GRACE_MS)), 0);
    assert.ok(await exists(id), 'the object stays');
  });

  for (const commit of ['committed', 'not committed'] as const) {
    it(`an upload whose COMMIT's answer is lost (${commit}) leaves its object: the row's if it committed, removed after the upload's hour if not`, async () => {
      await t.user('agent', { status: 'online', capacity: 10 });
      const c = await f.chat();
      const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
      // the store's transaction as a dropped connection ends it: committed or not, the caller hears only the error
      const db = {
        kind: t.ctx.db.kind,
        query: (text: string, params?: unknown[]) => t.ctx.db.query(text, params),
        transaction: async (fn: Parameters<Db['transaction']>[0], options?: Parameters<Db['transaction']>[1]) => {
          if (commit === 'committed') await t.ctx.db.transaction(fn, options);
          else await t.ctx.db.transaction(async (tx) => (await fn(tx), Promise.reject(lost))).catch((e: unknown) => (e === lost ? undefined : Promise.reject(e)));
          throw lost;
        },
      } as unknown as Db;
      await assert.rejects(uploadAttachment({ ...t.ctx, db }, c.id, { kind: 'customer', conversationId: c.id }, { name: 'a.png', contentType: 'image/png', bytes: PNG }), /Connection terminated/);
      const listed = ((await s3().client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!);
      const rows = await store().db.query<{ id: string }>('select id from attachments');
      const queued = await store().db.query<{ key: string }>('select key from attachment_deletions');
      if (commit === 'committed') {
        assert.equal(rows.length, 1);
        assert.ok(listed.includes(rows[0]!.id), 'the committed row keeps its object');
        assert.deepEqual(queued, [], 'its key left the queue with the row');
      } else {
        assert.equal(rows.length, 0);
        assert.equal(queued.length, 1);
        assert.ok(listed.includes(queued[0]!.key), 'not taken back: the commit may yet be made');
        assert.equal(await removeDeletedFiles(store().db, s3(), 500, new Date()), 0);
        assert.equal(await removeDeletedFiles(store().db, s3(), 500, new Date(Date.now() + UPLOAD_GRACE_MS + 60_000)), 1);
        assert.equal(await exists(queued[0]!.key), false, 'removed after the hour');
      }
    });
  }

  it('a refused upload leaves no object behind; deleting the conversation removes its objects after commit', async () => {
    const agent = await t.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const file = (await f.upload(agent.token, c.id)).json();
    const sent = await t.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { attachments: [{ id: file.id }] } });
    assert.equal(sent.statusCode, 201, sent.body);
    // RapidPro and webhooks get PUBLIC_URL links
    assert.match(sent.json().attachments[0].url, /^\/api\/v1\/attachments\//);
    const outbound = t.ctx.files!.present([{ ...sent.json().attachments[0], url: `/api/v1/attachments/${file.id}` }], new Date(), 'outbound');
    assert.match(outbound[0]!.url, new RegExp(`^https://help\\.example\\.com/chat/api/v1/attachments/${file.id}\\?expires=`));

    // closed: the upload is refused after the object was written, and the object is taken back
    assert.equal((await t.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: agent.token, body: {} })).statusCode, 200);
    const keys = async () => ((await s3().client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key).sort();
    const before = await keys();
    assert.ok(before.includes(file.id));
    const refused = await f.upload(c.token, c.id, 'late.png');
    expectError(refused, 409, 'SB_CONVERSATION_CLOSED');
    assert.deepEqual(await keys(), before);

    await f.deleteConversation(store().db, c.id);
    assert.equal((await store().db.query('select 1 from attachments')).length, 0);
    assert.ok(await exists(file.id), 'the object outlives the transaction until the sweeper runs');
    assert.equal(await removeDeletedFiles(store().db, s3()), 1);
    assert.equal(await exists(file.id), false);
    assert.equal((await store().db.query('select 1 from attachment_deletions')).length, 0);
  });

  for (const how of ['network', 'refused'] as const) {
    it(`an upload whose row does not commit, its object's removal failing once (${how === 'network' ? 'the connection drops' : 'the bucket answers an error for it'}), leaves the object queued and the sweeper removes it`, async () => {
      const agent = await t.user('agent', { status: 'online', capacity: 10 });
      const c = await f.chat();
      const earlier = new Set(((await s3().client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!));
      const keys = async () => ((await s3().client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).filter((k) => !earlier.has(k));
      // the agent resolves the chat while the customer's file is on its way to the bucket
      afterPut = async () => {
        const resolved = await t.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token: agent.token, body: {} });
        assert.equal(resolved.statusCode, 200, resolved.body);
      };
      failDelete = how;
      expectError(await f.upload(c.token, c.id, 'late.png'), 409, 'SB_CONVERSATION_CLOSED');
      assert.equal(failDelete, undefined, 'the clean-up was tried, and failed');
      assert.equal(await store().db.query('select 1 from attachments').then((r) => r.length), 0);
      const [orphan, ...more] = await keys();
      assert.ok(orphan && more.length === 0, 'the object stayed in the bucket');
      const queued = await store().db.query<{ key: string }>('select key from attachment_deletions');
      assert.deepEqual(queued.map((r) => r.key), [orphan], 'queued for removal');
      assert.equal(await removeDeletedFiles(store().db, s3()), 1);
      assert.deepEqual(await keys(), []);
      assert.equal((await store().db.query('select 1 from attachment_deletions')).length, 0);
    });
  }
});

describe('attachments: configuration', () => {
  it('S3 variables without S3_BUCKET, and a short ATTACHMENT_LINK_SECRET, stop start-up naming the variable', async () => {
    const { loadConfig } = await import('../../src/config.js');
    assert.throws(() => loadConfig({ S3_ENDPOINT: 'http://minio:9000' }), /S3_BUCKET: is required when S3_ENDPOINT is set/);
    assert.throws(() => loadConfig({ S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'x' }), /S3_SECRET_ACCESS_KEY/);
    assert.throws(() => loadConfig({ ATTACHMENT_LINK_SECRET: 'short' }), /ATTACHMENT_LINK_SECRET: must be at least 32/);
    const config = loadConfig({ S3_BUCKET: 'b', S3_ENDPOINT: 'http://minio:9000' });
    assert.equal(config.files.s3?.forcePathStyle, true, 'path style by default with an endpoint');
    assert.equal(loadConfig({}).files.s3, undefined);
  });
});

describeEachStore('attachments: links in email transcripts', (store) => {
  let t: TestApp;
  const f = filesKit(() => t.call as Call, () => t);
  before(async () => {
    t = await testApp(store(), { env: { SMTP_URL: 'smtp://127.0.0.1:2525', EMAIL_FROM: 'help@example.com', PUBLIC_URL: 'https://help.example.com' } });
  });
  after(async () => {
    await t?.close();
  });

  it('a transcript links each file with an absolute signed link the reader opens without a token', async () => {
    await store().reset();
    const agent = await t.user('agent', { status: 'online', capacity: 10 });
    const c = await f.chat();
    const file = (await f.upload(c.token, c.id, 'receipt.pdf', 'application/pdf', PDF)).json();
    assert.equal((await t.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { text: 'Got it', attachments: [{ id: file.id }] } })).statusCode, 201);
    const sent = await t.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: agent.token, body: { email: 'ada@example.test' } });
    assert.equal(sent.statusCode, 202, sent.body);
    const [row] = await store().db.query<{ body: Uint8Array }>("select body from outbound_requests where name = 'transcript'");
    const { simpleParser } = await import('mailparser');
    const mail = await simpleParser(Buffer.from(row!.body));
    const link = new RegExp(`https://help\\.example\\.com(/api/v1/attachments/${file.id}\\?expires=\\d+&sig=[\\w-]+)`).exec(mail.text ?? '');
    assert.ok(link, mail.text);
    assert.ok(String(mail.html).includes(`href="${link[0].replace('&', '&amp;')}"`), 'the HTML part links it too');
    const got = await t.call('GET', link[1]!);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PDF);
  });
});

describe('attachments: RapidPro callbacks', () => {
  it('an agent’s file reaches mailroom as the link the callback is given, never the bare path', async () => {
    const { callbacksFor, withFreshLinks } = await import('../../src/channels/rapidpro/feed.js');
    const message = { id: 1, conversation_id: UNKNOWN_ID, sender: 'agent' as const, sender_id: null, text: 'See', created_at: '2026-03-02T09:00:00.000Z', read_at: null, private: false, updated_at: null,
      attachments: [{ type: 'application/pdf', url: `/api/v1/attachments/${UNKNOWN_ID}`, id: UNKNOWN_ID, name: 'a.pdf', size: 3 }, { type: 'image', url: 'https://cdn.example.com/x.png' }] };
    const row = { id: 7, xid_bound: 0, type: 'message.created', data: { message }, ticketer_uuid: UNKNOWN_ID, ticket_id: 't-1', visitor_token: 'v-1', callback_url: 'https://rp.example.com/cb' };
    const signed = (attachments: readonly { type: string; url: string; id?: string }[]) => attachments.map((a) => (a.id ? { ...a, url: `https://help.example.com${a.url}?expires=1&sig=s` } : a));
    const [callback] = callbacksFor([row], signed);
    const body = JSON.parse(String(callback!.request.body));
    // queued with the uploaded file's id (only such a link is signed afresh at each attempt)…
    assert.deepEqual(body.data.attachments, [
      { type: 'application/pdf', url: `https://help.example.com/api/v1/attachments/${UNKNOWN_ID}?expires=1&sig=s`, id: UNKNOWN_ID },
      { type: 'image', url: 'https://cdn.example.com/x.png' },
    ]);
    // …and sent as the contract has it, {type, url}
    const sent = JSON.parse(withFreshLinks(Buffer.from(String(callback!.request.body)), undefined, new Date()).toString('utf8'));
    assert.deepEqual(sent.data.attachments, [
      { type: 'application/pdf', url: `https://help.example.com/api/v1/attachments/${UNKNOWN_ID}?expires=1&sig=s` },
      { type: 'image', url: 'https://cdn.example.com/x.png' },
    ]);
  });
});
