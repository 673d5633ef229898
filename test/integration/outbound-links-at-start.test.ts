// Outbound file links of a backlog waiting at start. Without PUBLIC_URL a
// link sent out (a webhook, a RapidPro callback) points at the address the
// server listens on, known once it listens. A message with an uploaded file
// committed while no worker ran (the previous process was stopping, or its
// events were not fanned out yet) is fanned out by the next server as soon
// as its outbound worker starts: the link it renders must carry the real
// address (host and port), not the placeholder origin the files had before
// the server listened (http://127.0.0.1, no port), which a receiver cannot
// fetch.
//
// Whether such a link went out before the server listened depended on how
// long listening took: on an address (HOST=127.0.0.1, 0.0.0.0) the listen
// ends within the current turn of the event loop, before the worker's first
// pass; on a host name (HOST=localhost, a container's name) it waits for the
// resolver. Here the resolver answers for 'localhost' only once the receiver
// has had a request (or after RESOLVER_HOLD_MS): the order a slow resolver
// allows, every time.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { afterEach, beforeEach, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config.js';
import { startSession } from '../../src/realtime/sessions.js';
import { startServer, type Running } from '../../src/server.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { multipartFile, PDF } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';
import { endpointFor, resetWebhooks, startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const RESOLVER_HOLD_MS = 2_000;

type Lookup = (hostname: string, ...rest: unknown[]) => void;

/**
 * Holds every resolution of `hostname` until `release()` holds (checked every
 * 5 ms) or `holdMs` has passed since the first was asked for (one deadline for
 * all: the listen asks twice, node's and Fastify's other bindings). Returns
 * what restores dns.lookup.
 */
function slowResolver(hostname: string, release: () => boolean, holdMs: number): () => void {
  const original = dns.lookup as unknown as Lookup;
  let until: number | undefined;
  (dns as unknown as { lookup: Lookup }).lookup = function (this: unknown, name: string, ...rest: unknown[]) {
    if (name !== hostname) return original.call(this, name, ...rest);
    until ??= Date.now() + holdMs;
    const wait = () => (release() || Date.now() >= until! ? original.call(this, name, ...rest) : void setTimeout(wait, 5));
    wait();
  };
  return () => void ((dns as unknown as { lookup: Lookup }).lookup = original);
}

describeEachStore('outbound file links of events waiting at start', (store) => {
  let t: TestApp | undefined;
  let receiver: Receiver | undefined;
  let running: Running | undefined;

  beforeEach(async () => {
    await store().reset();
    await resetWebhooks(store().db);
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
    await receiver?.close();
    receiver = undefined;
    await t?.close();
    t = undefined;
  });

  it('a message with an uploaded file, not fanned out before the restart, reaches the receiver with a link to the address listened on', async () => {
    // The process that wrote the backlog: an app with no outbound worker (its commits wake nobody).
    t = await testApp(store());
    let secret = '';
    receiver = await startReceiver(() => [secret]);
    ({ secret } = await endpointFor(t.ctx, receiver, { events: ['message.created'] }));
    const agent = await t.user('agent', { status: 'online', capacity: 10 });
    const { conversation } = await startSession(t.ctx, { customer: { id: 'backlog', name: 'Backlog' } }, 3600);
    assert.equal(conversation.agent_id, agent.agent.id);
    const { body, headers } = multipartFile('file', 'report.pdf', 'application/pdf', PDF);
    const upload = await t.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token: agent.token, body, headers });
    assert.equal(upload.statusCode, 201, upload.body);
    const file = upload.json() as { id: string };
    const sent = await t.call('POST', `/api/v1/conversations/${conversation.id}/messages`, { token: agent.token, body: { attachments: [{ id: file.id }] } });
    assert.equal(sent.statusCode, 201, sent.body);
    // nothing fanned out yet: the event waits behind the cursor
    assert.deepEqual(await store().db.query('select id from outbound_requests'), []);

    // The next process: no PUBLIC_URL, a port picked at listen, on a host name its resolver is slow to answer.
    const restore = slowResolver('localhost', () => receiver!.requests.length > 0, RESOLVER_HOLD_MS);
    try {
      running = await startServer(
        loadConfig({ PORT: '0', HOST: 'localhost', LOG_LEVEL: 'silent', ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true', ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password' }),
        { db: store().db, keepDb: true },
      );
    } finally {
      restore();
    }
    const base = running.url;
    assert.match(base, /^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/);

    const deadline = Date.now() + 10_000;
    while (receiver.accepted.length === 0 && Date.now() < deadline) await sleep(10);
    assert.equal(receiver.accepted.length, 1, 'the waiting message.created is delivered');
    assert.deepEqual(receiver.problems, []);
    const delivered = receiver.accepted[0]!.json as { type: string; data: { message: { attachments: { id: string; url: string }[] } } };
    const [attachment] = delivered.data.message.attachments;
    assert.equal(attachment?.id, file.id);
    assert.ok(attachment.url.startsWith(`${base}/api/v1/attachments/${file.id}`), `the link points at the server listening (${base}), got ${attachment.url}`);

    // and it works: the receiver fetches the file with it, without a token
    const fetched = await fetch(attachment.url);
    assert.equal(fetched.status, 200);
    assert.deepEqual(Buffer.from(await fetched.arrayBuffer()), PDF);
  });
});
