import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startSession } from '../../src/realtime/sessions.js';
import type { Kit } from './api-kit.js';

/** A multipart/form-data body with one file part, as a browser's FormData sends it. */
export function multipartFile(field: string, name: string, type: string, bytes: Buffer): { body: Buffer; headers: Record<string, string> } {
  const boundary = `----sb${randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="${field}"; filename="${name}"\r\ncontent-type: ${type}\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/** A 1×1 PNG. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
/** A minimal PDF. */
export const PDF = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');

/**
 * A widget chat assigned to a fresh online agent, for the upload suites:
 * `upload` posts a file as its customer; `served` is the name a download
 * of a file is saved under (filename*, RFC 8187).
 */
export async function customerUploads(k: Kit) {
  const agent = await k.user('agent', { status: 'online', capacity: 5 });
  const { conversation, token } = await startSession(k.t.ctx, { customer: { id: `c-${Math.random()}` } }, 3600);
  assert.equal(conversation.agent_id, agent.agent.id);
  const upload = (name: string, type: string, bytes: Buffer = Buffer.from('hello')) => {
    const { body, headers } = multipartFile('file', name, type, bytes);
    return k.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token, body, headers });
  };
  const served = async (id: string) => {
    const got = await k.call('GET', `/api/v1/attachments/${id}`, { token: agent.token });
    assert.equal(got.statusCode, 200, got.body);
    return decodeURIComponent(/filename\*=UTF-8''([^;]*)/.exec(String(got.headers['content-disposition']))![1]!);
  };
  return { agent, conversation, upload, served };
}
