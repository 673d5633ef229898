// Attachments as clients send them, from a review: a message's attachments
// over MQTT are a link {type, url} or a file {id} and nothing else; a file
// reference the database could not read is the caller's mistake (400 naming
// it), over MQTT and REST alike; a malformed multipart upload is a 4xx, never
// 500; and an agent does not upload to a Qiscus room, where no message of
// theirs could ever carry the file.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { startSession } from '../../src/realtime/sessions.js';
import type { Running } from '../../src/server.js';
import { expectError, kitFor } from '../helpers/api-kit.js';
import type { TestMqttClient } from '../helpers/mqtt.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');

/** `promise`, or a failure naming `what` after `ms`: a publish never acknowledged fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describeEachStore('attachments review: MQTT message attachments are {type, url} or {id}', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  const chat = async (customerId: string) => {
    const session = await http('POST', '/session', { customer: { id: customerId, name: 'Eve' } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const s = session.body as { sessionId: string; sessionTopic: string; token: string };
    const customer = await connect(s.token);
    await customer.subscribe(`${s.sessionTopic}/#`);
    return { s, customer };
  };
  /** publishes (QoS 1: acknowledged once handled) and waits for the refusal on the customer's control topic */
  const refused = async (customer: TestMqttClient, sessionTopic: string, attachments: unknown[]) => {
    await within(customer.publish(`${sessionTopic}/messages`, { message: { content: 'hi', attachments } }), 5_000, 'the publish is acknowledged');
    const answer = await customer.next(`${sessionTopic}/client/control`, (p) => p.instruction === 'message/rejected', 5_000);
    customer.received.length = 0;
    return answer.error as { code: string; field?: string; message: string };
  };
  const stored = async (conversationId: string) =>
    (await server.ctx.db.query<{ attachments: Record<string, unknown>[] }>('select attachments from messages where conversation_id = $1 order by id', [conversationId])).map((r) => r.attachments);

  it('a link with a field besides type and url is refused naming that field; nothing is stored and the history still reads (200)', async () => {
    const { s, customer } = await chat('eve-size');
    const error = await refused(customer, s.sessionTopic, [{ type: 'text/plain', url: 'https://example.test/a', size: 'huge' }]);
    assert.equal(error.code, 'SB_VALIDATION');
    assert.equal(error.field, 'message.attachments.0.size', error.message);
    assert.deepEqual(await stored(s.sessionId), []);
    const history = await http('GET', `/api/v1/conversations/${s.sessionId}/messages`, undefined, s.token);
    assert.equal(history.status, 200, JSON.stringify(history.body));
  });

  it('a link cannot pose as an uploaded file ({type, url, id, name, size} is refused naming id); a plain link is stored as {type, url}', async () => {
    const { s, customer } = await chat('eve-spoof');
    const spoof = { type: 'image/png', url: 'https://tracker.example.test/pixel.png', id: 1, name: 'invoice.pdf', size: 48213 };
    const error = await refused(customer, s.sessionTopic, [spoof]);
    assert.equal(error.code, 'SB_VALIDATION');
    assert.equal(error.field, 'message.attachments.0.id', error.message);
    const again = await refused(customer, s.sessionTopic, [{ ...spoof, id: randomUUID() }]);
    assert.equal(again.field, 'message.attachments.0.id', again.message);
    assert.deepEqual(await stored(s.sessionId), []);

    await within(customer.publish(`${s.sessionTopic}/messages`, { message: { attachments: [{ type: 'image/png', url: 'https://cdn.example.test/a.png' }] } }), 5_000, 'the publish is acknowledged');
    assert.deepEqual(await stored(s.sessionId), [[{ type: 'image/png', url: 'https://cdn.example.test/a.png' }]]);
  });

  it('a file id that is not a uuid is refused naming message.attachments.N.id, and the publish is acknowledged', async () => {
    const { s, customer } = await chat('eve-bad-id');
    for (const attachment of [{ id: 'not-a-uuid' }, { id: 42 }, { type: 'x', url: 'https://example.test/a', id: 'not-a-uuid' }]) {
      const error = await refused(customer, s.sessionTopic, [{ type: 'image/png', url: 'https://cdn.example.test/ok.png' }, attachment]);
      assert.equal(error.code, 'SB_VALIDATION', JSON.stringify(attachment));
      assert.equal(error.field, 'message.attachments.1.id', `${JSON.stringify(attachment)}: ${error.message}`);
    }
    assert.deepEqual(await stored(s.sessionId), []);
  });
});

describeEachStore('attachments review: REST uploads and file references', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });
  const chat = async () => {
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: `review-${randomUUID()}` } }, 3600);
    return { id: conversation.id, token };
  };
  const upload = (token: string, conversationId: string) => {
    const { body, headers } = multipartFile('file', 'a.png', 'image/png', PNG);
    return k.call('POST', `/api/v1/conversations/${conversationId}/attachments`, { token, body, headers });
  };

  /** a conversation assigned to an online agent, who uploads a file to it */
  const held = async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const admin = await k.user('admin');
    const c = await k.open(admin.token);
    assert.equal(c.agent_id, agent.agent.id);
    const file = await upload(agent.token, c.id);
    assert.equal(file.statusCode, 201, file.body);
    return { agent, admin, id: c.id, fileId: file.json().id as string };
  };

  it('a file id in a form the database cannot read (urn:uuid:…) is 400 naming attachments.N.id, not the link branch of the union and not 500; the message is not stored', async () => {
    const c = await held();
    const res = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: c.agent.token,
      body: { text: 'two files', attachments: [{ id: c.fileId }, { id: `urn:uuid:${randomUUID()}` }] },
    });
    expectError(res, 400, 'SB_VALIDATION', 'attachments.1.id');
    for (const id of [123, null]) {
      const typed = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: c.agent.token, body: { attachments: [{ id }] } });
      expectError(typed, 400, 'SB_VALIDATION', 'attachments.0.id', `id ${id}`);
    }
    assert.equal(await k.count('messages', "sender = 'agent'"), 0);
    assert.equal(await k.count('attachments', 'sent'), 0, 'nothing was marked sent');
    // the conversation is not stuck: the same file goes out in the next message
    const ok = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: c.agent.token, body: { attachments: [{ id: c.fileId }] } });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  it('an unknown file id is still 400 naming it for whoever may write, and 403 for an agent who may not', async () => {
    const c = await held();
    const stranger = await k.user('agent', { status: 'online' });
    const unknown = { attachments: [{ id: randomUUID() }] };
    expectError(await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: c.agent.token, body: unknown }), 400, 'SB_VALIDATION', 'attachments.0.id');
    expectError(await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: stranger.token, body: unknown }), 403, 'SB_FORBIDDEN');
  });

  it('multipart/form-data without a boundary is a 4xx naming field file, not a 500', async () => {
    const c = await chat();
    const res = await k.call('POST', `/api/v1/conversations/${c.id}/attachments`, { token: c.token, body: 'hello', headers: { 'content-type': 'multipart/form-data' } });
    assert.ok(res.statusCode === 400 || res.statusCode === 415, `${res.statusCode} ${res.body}`);
    assert.equal(res.json().error.field, 'file', res.body);
    assert.equal(await k.count('attachments'), 0);
  });

  it('a form with more parts than an upload takes (25 text fields before the file) is 400 SB_VALIDATION naming file, and nothing is stored', async () => {
    const c = await chat();
    const boundary = '----sbmany';
    const fields = Array.from({ length: 25 }, (_, i) => `--${boundary}\r\ncontent-disposition: form-data; name="f${i}"\r\n\r\nx\r\n`).join('');
    const file = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`;
    const body = Buffer.concat([Buffer.from(fields + file), PNG, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const res = await k.call('POST', `/api/v1/conversations/${c.id}/attachments`, { token: c.token, body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expectError(res, 400, 'SB_VALIDATION', 'file');
    assert.match(res.json().error.message, /more parts than an upload takes/);
    assert.equal(await k.count('attachments'), 0);
  });

  it("takes a customer's uploads to one conversation two at a time: a third while two are still arriving is 429 SB_ATTACHMENT_BUSY naming file; staff's are not counted", async () => {
    const c = await chat();
    const other = await chat();
    const boundary = '----sbslow';
    const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
    /** an upload whose body arrives only when `finish` is called */
    const slow = (token: string, conversationId: string) => {
      const body = new PassThrough();
      body.write(head);
      const answer = k.call('POST', `/api/v1/conversations/${conversationId}/attachments`, { token, body, headers });
      return { answer, finish: () => body.end(Buffer.concat([PNG, tail])) };
    };
    const first = slow(c.token, c.id);
    const second = slow(c.token, c.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = await upload(c.token, c.id);
    expectError(third, 429, 'SB_ATTACHMENT_BUSY', 'file');
    assert.equal(third.headers['retry-after'], '1');
    // another conversation's customer is not held up, nor is staff
    assert.equal((await upload(other.token, other.id)).statusCode, 201);
    const admin = await k.user('admin');
    assert.equal((await upload(admin.token, c.id)).statusCode, 201);
    first.finish();
    second.finish();
    assert.deepEqual([(await first.answer).statusCode, (await second.answer).statusCode], [201, 201]);
    // done: the next goes
    assert.equal((await upload(c.token, c.id)).statusCode, 201);
    assert.equal(await k.count('attachments'), 5);
  });

  it('a multipart body cut off inside the file part is 400 SB_VALIDATION naming file, and nothing is stored', async () => {
    const c = await chat();
    const boundary = '----sbcut';
    const head = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`;
    for (const body of [Buffer.concat([Buffer.from(head), PNG]), Buffer.from(head.slice(0, 30))]) {
      const res = await k.call('POST', `/api/v1/conversations/${c.id}/attachments`, { token: c.token, body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
      expectError(res, 400, 'SB_VALIDATION', 'file');
    }
    assert.equal(await k.count('attachments'), 0);
    // the server still takes a whole upload
    assert.equal((await upload(c.token, c.id)).statusCode, 201);
  });

  it('an agent holding a Qiscus room cannot upload a file no message of theirs could carry (409 SB_QISCUS_AGENT_MESSAGE); nothing is stored', async () => {
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const admin = await k.user('admin');
    const c = await k.open(admin.token);
    assert.equal(c.agent_id, agent.agent.id);
    // as Qiscus' allocation webhook opens it (channel qiscus)
    await store().db.query("update conversations set channel = 'qiscus' where id = $1", [c.id]);
    expectError(await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: agent.token, body: { text: 'hi' } }), 409, 'SB_QISCUS_AGENT_MESSAGE');
    for (const token of [agent.token, admin.token]) expectError(await upload(token, c.id), 409, 'SB_QISCUS_AGENT_MESSAGE');
    assert.equal(await k.count('attachments'), 0);
    // an agent who may not see the room hears that first
    const stranger = await k.user('agent', { status: 'online' });
    const res = await upload(stranger.token, c.id);
    assert.ok(res.statusCode === 403 || res.statusCode === 404, `${res.statusCode} ${res.body}`);
  });
});
