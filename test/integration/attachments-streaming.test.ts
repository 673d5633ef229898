// Downloads are streamed, never held whole (found by review): every GET of a
// file read all of it into memory first (a 100 MiB file on PostgreSQL, read
// as hex text, peaked near 400 MB), HEAD did too, and nothing bounded how
// many ran at once, while signed links need no login and last for days. Now
// HEAD answers from the row, the database store reads a file a piece per
// statement, S3 objects pass through as the bucket sends them, a file that
// goes away mid-download cuts the download off, and one process sends at
// most DOWNLOADS_AT_ONCE files at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, beforeEach, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadFilesConfig } from '../../src/files/config.js';
import { DOWNLOADS_AT_ONCE } from '../../src/files/downloads.js';
import { openFiles } from '../../src/files/files.js';
import type { s3Store } from '../../src/files/s3-store.js';
import { startSession } from '../../src/realtime/sessions.js';
import type { Db } from '../../src/store/db.js';
import { expectError } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { s3Bucket, startS3rver } from '../helpers/s3-bucket.js';
import { afterEveryStatement } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';

/** The database store's piece in these tests: a file of a few MiB is read in dozens of statements. */
const CHUNK = 64 * 1024;
const BIG = 40 * CHUNK + 1234;

/** The store as the app sees it, recording every statement's text. */
function recorded(db: Db): { db: Db; texts: string[] } {
  const texts: string[] = [];
  return { db: afterEveryStatement(db, (text) => void texts.push(text)), texts };
}

/** A bucket over node:http that sends the first half of an object, then waits for `go` to send the rest or cut the connection. */
async function startHeldBucket() {
  const objects = new Map<string, Buffer>();
  let go: (how: 'rest' | 'cut') => void = () => {};
  let held = Promise.resolve<'rest' | 'cut'>('rest');
  const body = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const server: Server = createServer(async (req, res) => {
    const key = decodeURIComponent(new URL(req.url!, 'http://stub').pathname.split('/').slice(2).join('/'));
    const sent = await body(req);
    if (req.method === 'PUT') {
      objects.set(key, sent);
      res.writeHead(200, { etag: '"stub"' });
      return res.end();
    }
    const bytes = objects.get(key);
    if (req.method !== 'GET' || !bytes) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      return res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), etag: '"stub"' });
    res.write(bytes.subarray(0, bytes.length >> 1));
    if ((await held) === 'cut') return res.destroy();
    res.end(bytes.subarray(bytes.length >> 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    env: { S3_BUCKET: 'held', S3_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, S3_ACCESS_KEY_ID: 'stub', S3_SECRET_ACCESS_KEY: 'stub-secret' },
    /** from now on each GET holds the second half until `go` */
    hold() {
      held = new Promise((resolve) => (go = resolve));
    },
    go: (how: 'rest' | 'cut') => go(how),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Reads a download's stream to its end: the bytes, or the error it ended with and the bytes before it. */
async function drain(stream: Readable): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

const within = <T,>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms).unref())]);

describeEachStore('attachments: downloads are streamed, HEAD reads nothing, and few are sent at once', (store) => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  let heldBucket: Awaited<ReturnType<typeof startHeldBucket>>;
  let texts: string[];
  let gets = 0;
  const apps: Record<'database' | 's3' | 'held', TestApp> = {} as never;

  /** An app on the recording store whose database store reads CHUNK bytes a statement. */
  const appWith = async (db: Db, env: Record<string, string>) => {
    const files = await openFiles(db, loadFilesConfig(env), undefined, { databaseChunkBytes: CHUNK });
    return testApp({ ...store(), db }, { env, beforeApp: (ctx) => void (ctx.files = files) });
  };

  before(async () => {
    s3rver = await startS3rver();
    heldBucket = await startHeldBucket();
    const rec = recorded(store().db);
    texts = rec.texts;
    apps.database = await appWith(rec.db, {});
    apps.s3 = await appWith(rec.db, s3rver.env('streaming'));
    apps.held = await appWith(rec.db, heldBucket.env);
    await s3Bucket(apps.s3, 'streaming');
    for (const t of [apps.s3, apps.held]) {
      (t.ctx.files!.store as ReturnType<typeof s3Store>).client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'GetObjectCommand') gets++;
          return next(args);
        },
        { step: 'initialize' },
      );
    }
  });
  after(async () => {
    for (const t of Object.values(apps)) await t?.close();
    await s3rver?.close();
    await heldBucket?.close();
  });
  beforeEach(async () => {
    await store().reset();
  });

  let n = 0;
  const upload = async (t: TestApp, bytes: Buffer, name = 'archive.zip', type = 'application/zip') => {
    const { conversation, token } = await startSession(t.ctx, { customer: { id: `stream-${++n}` } }, 3600);
    const { body, headers } = multipartFile('file', name, type, bytes);
    const res = await t.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token, body, headers });
    assert.equal(res.statusCode, 201, res.body);
    return { id: res.json().id as string, url: res.json().url as string, conversationId: conversation.id, token };
  };
  /** statements since `from` that read a file's bytes */
  const byteReads = (from: number) => texts.slice(from).filter((text) => /from attachment_bytes/.test(text) && /^\s*select/i.test(text)).length;
  const streamed = (t: TestApp, url: string) => t.app.inject({ method: 'GET', url, payloadAsStream: true });
  const withoutDate = (res: LightMyRequestResponse) => ({ ...res.headers, date: undefined });
  const deleteConversation = (id: string) =>
    store().db.transaction(async (tx) => {
      await tx.query('delete from customer_sessions where conversation_id = $1', [id]);
      await tx.query('delete from conversations where id = $1', [id]);
    });

  for (const kind of ['database', 's3'] as const) {
    it(`HEAD answers GET's headers and length from the row, reading none of the file (${kind})`, async () => {
      const t = apps[kind];
      const file = await upload(t, PNG, 'photo.png', 'image/png');
      const admin = await t.user('admin');
      const [reads, got] = [texts.length, gets];
      for (const asked of [{ url: file.url }, { url: `/api/v1/attachments/${file.id}`, token: admin.token }, { url: `/api/v1/attachments/${file.id}`, token: file.token }]) {
        const head = await t.call('HEAD', asked.url, asked.token ? { token: asked.token } : {});
        assert.equal(head.statusCode, 200, head.body);
        assert.equal(head.headers['content-length'], String(PNG.length));
        assert.equal(head.rawPayload.length, 0);
        const get = await t.call('GET', asked.url, asked.token ? { token: asked.token } : {});
        assert.deepEqual(get.rawPayload, PNG);
        assert.deepEqual(withoutDate(head), withoutDate(get));
      }
      assert.equal(byteReads(reads) + gets - got, 3, 'only the three GETs read the file');

      const [readsBefore, gotBefore] = [texts.length, gets];
      // refusals as GET answers them, the body left out
      assert.equal((await t.call('HEAD', `/api/v1/attachments/${file.id}`)).statusCode, 401);
      assert.equal((await t.call('HEAD', file.url.replace(/sig=[\w-]+/, 'sig=forged'))).statusCode, 403);
      assert.equal((await t.call('HEAD', '/api/v1/attachments/00000000-0000-4000-8000-000000000000', { token: admin.token })).statusCode, 404);
      const other = await t.call('HEAD', `/api/v1/attachments/${file.id}`, { token: (await t.user('agent')).token });
      assert.equal(other.statusCode, 403);
      assert.equal(byteReads(readsBefore) + gets - gotBefore, 0);
    });

    it(`a file of many pieces downloads byte for byte with its content-length (${kind})`, async () => {
      const t = apps[kind];
      const bytes = randomBytes(BIG);
      const file = await upload(t, bytes);
      const from = texts.length;
      const res = await t.call('GET', file.url);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-length'], String(BIG));
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      assert.equal(res.headers['cache-control'], 'private, no-store');
      assert.ok(res.rawPayload.equals(bytes), 'the same bytes');
      // one statement a piece, each the size of CHUNK: never the whole file at once
      if (kind === 'database') assert.equal(byteReads(from), Math.ceil(BIG / CHUNK));
    });
  }

  it('a file deleted while it is being sent cuts the download off; it never ends as if whole (database)', async () => {
    const t = apps.database;
    const bytes = randomBytes(BIG);
    const file = await upload(t, bytes);
    const res = await within(streamed(t, file.url), 5_000, 'the download');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(BIG));
    await deleteConversation(file.conversationId);
    const { bytes: received, error } = await drain(res.stream());
    assert.ok(error, `the download ended without an error after ${received.length} of ${BIG} bytes`);
    assert.ok(received.length < BIG);
    assert.ok(bytes.subarray(0, received.length).equals(received), 'what did arrive is the start of the file');
    assert.equal((await t.call('GET', file.url)).statusCode, 404);
  });

  it('an S3 object is passed on as the bucket sends it, and a bucket that drops the connection cuts the download off', async () => {
    const t = apps.held;
    const bytes = randomBytes(BIG);
    const file = await upload(t, bytes);
    heldBucket.hold();
    // the first half is on its way to the client while the bucket still holds the second
    const res = await within(streamed(t, file.url), 5_000, 'the download, while the bucket holds the second half');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(BIG));
    const whole = drain(res.stream());
    heldBucket.go('rest');
    const done = await whole;
    assert.equal(done.error, undefined);
    assert.ok(done.bytes.equals(bytes), 'the same bytes');

    heldBucket.hold();
    const cut = await within(streamed(t, file.url), 5_000, 'the download, before the bucket drops it');
    assert.equal(cut.statusCode, 200);
    const halves = drain(cut.stream());
    heldBucket.go('cut');
    const { bytes: received, error } = await halves;
    assert.ok(error, `the download ended without an error after ${received.length} of ${BIG} bytes`);
    assert.ok(received.length < BIG);
    heldBucket.hold();
    heldBucket.go('rest');
  });

  it(`sends ${DOWNLOADS_AT_ONCE} files at once; one more is 503 SB_ATTACHMENT_DOWNLOADS_BUSY with retry-after, HEAD still answers, and a place frees as a download ends`, async () => {
    const t = apps.database;
    const bytes = randomBytes(BIG);
    const file = await upload(t, bytes);
    // the client reads none of them: each stays under way
    const open = await Promise.all(Array.from({ length: DOWNLOADS_AT_ONCE }, () => within(streamed(t, file.url), 10_000, 'a download')));
    assert.deepEqual(new Set(open.map((r) => r.statusCode)), new Set([200]));
    const busy = await t.call('GET', file.url);
    expectError(busy, 503, 'SB_ATTACHMENT_DOWNLOADS_BUSY');
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal((await t.call('HEAD', file.url)).statusCode, 200);

    assert.ok((await drain(open.pop()!.stream())).bytes.equals(bytes));
    const next = await t.call('GET', file.url);
    assert.equal(next.statusCode, 200, next.body);
    assert.ok(next.rawPayload.equals(bytes));
    for (const res of open) assert.ok((await drain(res.stream())).bytes.equals(bytes));
  });
});
