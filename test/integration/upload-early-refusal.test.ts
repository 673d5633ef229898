// An upload is refused before its body is read, where the refusal needs no
// byte of it (the conversation is not the agent's, it is closed, a
// customer's quota is already spent): a client is told at once instead of
// after sending a 25 MB file, and the server buffers none of it. A body
// sent too slowly is cut off (HTTP_REQUEST_TIMEOUT, 408) instead of holding
// its connection and its buffer for ever.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, it } from 'node:test';
import { startSession } from '../../src/realtime/sessions.js';
import { kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

const DAY_S = 24 * 3600;

interface Answer { status: number; body: string; sentBytes: number }

/**
 * Starts a multipart upload of a large file and sends only its first
 * 64 KiB, then waits: what the server answers (or how it ends the
 * connection) while the rest of the file has not come.
 */
function stalledUpload(base: string, path: string, token: string, waitMs: number): Promise<Answer> {
  const boundary = '----sbstalled';
  const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.pdf"\r\ncontent-type: application/pdf\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  return new Promise((resolve, reject) => {
    let sentBytes = 0;
    const request = http.request(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(20 * 1024 * 1024) },
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`no answer within ${waitMs} ms while the body was still on its way`));
    }, waitMs);
    request.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (d: string) => (body += d));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, body, sentBytes });
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.write(head);
    request.write(chunk, () => (sentBytes = head.length + chunk.length));
  });
}

describeEachStore('uploads refused before their body is read', (store) => {
  const k = kitFor(store, { before, after, env: () => ({ HTTP_REQUEST_TIMEOUT: '1000' }) });
  let base = '';
  before(async () => {
    await k.t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(k.t.app.server.address() as AddressInfo).port}`;
  });
  beforeEach(async () => {
    await store().reset();
  });
  const files = () => k.count('attachments');

  it('an agent who does not hold the conversation is told 403 while the file is still on its way; nothing is stored', async () => {
    const holder = await k.user('agent', { status: 'online', capacity: 5 });
    const other = await k.user('agent', { status: 'away', capacity: 5 });
    const { conversation } = await startSession(k.t.ctx, { customer: { id: 'early-1' } }, DAY_S);
    assert.equal(conversation.agent_id, holder.agent.id);
    const answer = await stalledUpload(base, `/api/v1/conversations/${conversation.id}/attachments`, other.token, 800);
    assert.equal(answer.status, 403, answer.body);
    assert.equal(JSON.parse(answer.body).error.code, 'SB_FORBIDDEN');
    assert.equal(await files(), 0);
  });

  it('an upload to a closed conversation is told 409 SB_CONVERSATION_CLOSED before its file is read', async () => {
    const holder = await k.user('agent', { status: 'online', capacity: 5 });
    const { conversation } = await startSession(k.t.ctx, { customer: { id: 'early-2' } }, DAY_S);
    const closed = await k.call('POST', `/api/v1/conversations/${conversation.id}/resolve`, { token: holder.token, body: {} });
    assert.equal(closed.statusCode, 200, closed.body);
    const answer = await stalledUpload(base, `/api/v1/conversations/${conversation.id}/attachments`, holder.token, 800);
    assert.equal(answer.status, 409, answer.body);
    assert.equal(JSON.parse(answer.body).error.code, 'SB_CONVERSATION_CLOSED');
  });

  it('a customer whose unsent files are at their limit is told 429 before the next file is read', async () => {
    await store().reset({ attachments_max_files: 1 });
    await k.user('agent', { status: 'online', capacity: 5 });
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: 'early-3' } }, DAY_S);
    for (let i = 0; i < 3; i++) {
      await k.t.ctx.db.query(
        `insert into attachments (id, conversation_id, uploaded_by, name, content_type, size, storage, created_at)
         values (gen_random_uuid(), $1, 'customer', 'a.txt', 'text/plain', 1, 'database', now())`,
        [conversation.id],
      );
    }
    const answer = await stalledUpload(base, `/api/v1/conversations/${conversation.id}/attachments`, token, 800);
    assert.equal(answer.status, 429, answer.body);
    assert.equal(JSON.parse(answer.body).error.code, 'SB_ATTACHMENT_UNSENT_LIMIT');
    assert.equal(await files(), 3);
  });

  it('a file the customer may send but sends too slowly is cut off (408) after HTTP_REQUEST_TIMEOUT; nothing is stored', async () => {
    await k.user('agent', { status: 'online', capacity: 5 });
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: 'early-4' } }, DAY_S);
    const answer = await stalledUpload(base, `/api/v1/conversations/${conversation.id}/attachments`, token, 5_000);
    assert.equal(answer.status, 408, answer.body);
    assert.equal(await files(), 0);
  });
});
