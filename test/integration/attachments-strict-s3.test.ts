// A bucket as strict as several S3-compatible services (MinIO versions, Ceph,
// Garage, R2, B2): DeleteObjects without a correct Content-MD5 is 400
// "Missing Content-MD5", and an upload carrying the SDK's flexible checksum
// headers (x-amz-checksum-*, x-amz-sdk-checksum-algorithm) is 400. The SDK's
// defaults send both, so uploads failed and erased files stayed in such a
// bucket for good, the sweeper taking each refusal for a bucket it could not
// ask (found by review). A stub over node:http plays that bucket.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { eraseConversation } from '../../src/erasure/erase.js';
import { removeDeletedFiles } from '../../src/files/deletions.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { multipartFile, PDF, PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

const BUCKET = 'switchboard-strict';

/** The strict bucket: its objects by key, and every refusal it answered. */
async function startStrictBucket() {
  const objects = new Map<string, Buffer>();
  const refusals: string[] = [];
  const xmlError = (res: ServerResponse, status: number, code: string, message: string) => {
    refusals.push(`${code}: ${message}`);
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>stub</RequestId></Error>`);
  };
  const bodyOf = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://stub');
    const [, bucket, ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const body = await bodyOf(req);
    if (bucket !== BUCKET) return xmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (req.method === 'POST' && url.searchParams.has('delete')) {
      const md5 = req.headers['content-md5'];
      if (md5 === undefined) return xmlError(res, 400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
      if (md5 !== createHash('md5').update(body).digest('base64')) return xmlError(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
      for (const [, k] of body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)) objects.delete(k!);
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end('<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>');
    }
    if (req.method === 'PUT' && key) {
      const checksum = Object.keys(req.headers).find((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm');
      if (checksum) return xmlError(res, 400, 'InvalidArgument', `Unsupported header ${checksum}`);
      objects.set(key, body);
      res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` });
      return res.end();
    }
    if (req.method === 'GET' && key) {
      const bytes = objects.get(key);
      if (!bytes) return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      return res.end(bytes);
    }
    return xmlError(res, 501, 'NotImplemented', `${req.method} ${url.pathname}${url.search} is not implemented here`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    objects,
    refusals,
    env: { S3_BUCKET: BUCKET, S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY_ID: 'STRICT', S3_SECRET_ACCESS_KEY: 'STRICT-SECRET' },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describeEachStore('attachments: a strict S3-compatible bucket (Content-MD5, no flexible checksums)', (store) => {
  let bucket: Awaited<ReturnType<typeof startStrictBucket>>;
  let t: TestApp;

  before(async () => {
    bucket = await startStrictBucket();
    t = await testApp(store(), { env: bucket.env });
  });
  after(async () => {
    await t?.close();
    await bucket?.close();
  });
  beforeEach(async () => {
    await store().reset();
    bucket.objects.clear();
    bucket.refusals.length = 0;
  });

  const upload = (token: string, conversationId: string, name: string, type: string, bytes: Buffer) => {
    const { body, headers } = multipartFile('file', name, type, bytes);
    return t.call('POST', `/api/v1/conversations/${conversationId}/attachments`, { token, body, headers });
  };

  it('uploads reach the bucket, a refused upload takes its object back, and an erasure removes its files from the bucket', async () => {
    const agent = await t.user('agent', { status: 'online', capacity: 5 });
    const { conversation, token } = await startSession(t.ctx, { customer: { id: 'strict-1' } }, 3600);
    assert.equal(conversation.agent_id, agent.agent.id);

    const sent = await upload(token, conversation.id, 'scan.pdf', 'application/pdf', PDF);
    assert.equal(sent.statusCode, 201, `${sent.body} ${bucket.refusals.join('; ')}`);
    const file = sent.json() as { id: string; url: string };
    assert.deepEqual(bucket.objects.get(file.id), PDF, 'the object is in the bucket');
    const got = await t.call('GET', file.url);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PDF);

    // closed: the late upload is refused after its object was written, and DeleteObjects takes it back
    assert.equal((await t.call('POST', `/api/v1/conversations/${conversation.id}/resolve`, { token: agent.token, body: {} })).statusCode, 200);
    const late = await upload(token, conversation.id, 'late.png', 'image/png', PNG);
    assert.equal(late.statusCode, 409, late.body);
    assert.deepEqual([...bucket.objects.keys()], [file.id], 'the refused upload left no object');
    assert.equal((await store().db.query('select 1 from attachment_deletions')).length, 0, 'nothing left for the sweeper');

    await eraseConversation(t.ctx, conversation.id, SYSTEM);
    assert.equal(await removeDeletedFiles(store().db, t.ctx.files!.store), 1);
    assert.equal(bucket.objects.size, 0, 'the erased file left the bucket');
    assert.equal((await store().db.query('select 1 from attachment_deletions')).length, 0);
    assert.deepEqual(bucket.refusals, [], 'the bucket refused nothing');
  });
});
