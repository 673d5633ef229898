// GET /api/v1/customers/:customerId/statistics: the customer panel's
// statistics contract against a local statistics service (good answers, link
// and point lists, answers that are not the contract, a 500, a timeout, an
// unreachable service), its cache, and who may ask.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { NOT_A_LIST } from '../../src/customers/statistics.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

const GOOD = [
  { label: 'Unresolved tickets', value: '3', extra: 'dropped' },
  { label: 'Last orders', value: [{ url: 'https://shop.example/orders/1', label: 'Order #1' }, { url: 'https://shop.example/orders/2', label: 'Order #2' }] },
  { label: 'Spend per day', value: [{ x: '2026-01-01', y: 12.5 }, { x: '2026-01-02', y: 0 }, { x: 3, y: 40 }] },
  { label: 'Nothing yet', value: [] },
];

/** customer id → what the statistics service does for it */
const ANSWERS: Record<string, (res: import('node:http').ServerResponse) => void> = {
  good: (res) => json(res, 200, GOOD),
  'a/b c': (res) => json(res, 200, [{ label: 'Encoded', value: 'yes' }]),
  object: (res) => json(res, 200, { label: 'Unresolved tickets', value: '3' }),
  'number-value': (res) => json(res, 200, [{ label: 'Unresolved tickets', value: 3 }]),
  'bad-link': (res) => json(res, 200, [{ label: 'Orders', value: [{ url: 'https://x.example', label: 'ok' }, { url: 7, label: 'bad' }] }]),
  'not-json': (res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>maintenance</html>');
  },
  broken: (res) => json(res, 500, { message: 'boom' }),
  // to another customer's answer, which is never asked for
  redirect: (res) => {
    res.writeHead(302, { location: '/stats/chimpassist/good/statistics?start_date_time=x&end_date_time=y' });
    res.end();
  },
  // far past the timeout: the timeout is 2 s so that a loaded machine (a CI
  // runner at load 26 took over 0.3 s to answer a good call) never cuts a
  // good answer short, and the slow answer comes 8 s after it
  slow: (res) => {
    setTimeout(() => json(res, 200, GOOD), 10_000).unref();
  },
  // a good answer, late enough that two requests at once both ask while it is out
  late: (res) => {
    setTimeout(() => json(res, 200, GOOD), 400).unref();
  },
  // 64 MiB of JSON whitespace then [], chunked (no content-length), written
  // only as fast as the client reads; `huge` records how it ended
  huge: (res) => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const run = { written: 0, closed: false, finished: false };
    huge.push(run);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.on('close', () => Object.assign(run, { closed: true, finished: res.writableFinished }));
    const write = () => {
      while (!res.destroyed && run.written < 64 * MiB) {
        run.written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', write);
      }
      if (!res.destroyed) res.end('[]');
    };
    write();
  },
  // exactly 1 MiB of UTF-8 (mostly two-byte é: about half as many UTF-16 units), and one byte more, chunked
  'one-mib': (res) => chunked(res, answerOf(MiB)),
  'one-mib-and-a-byte': (res) => chunked(res, answerOf(MiB + 1)),
};

const MiB = 1024 * 1024;
const huge: { written: number; closed: boolean; finished: boolean }[] = [];

/** A JSON answer of exactly `bytes` bytes of UTF-8. */
function answerOf(bytes: number): string {
  const frame = (value: string) => JSON.stringify([{ label: 'Notes', value }]);
  const room = bytes - Buffer.byteLength(frame(''));
  return frame('é'.repeat(Math.floor(room / 2)) + 'a'.repeat(room % 2));
}

function chunked(res: import('node:http').ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 100_000) res.write(bytes.subarray(i, i + 100_000));
  res.end();
}

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describeEachStore('api: customer statistics', (store) => {
  const clock = fakeClock(Date.parse('2026-05-06T07:08:09Z'));
  let service: Server;
  let base: string;
  const asked: string[] = [];
  let t: TestApp;
  const extra: TestApp[] = [];

  before(async () => {
    service = createServer((req, res) => {
      asked.push(req.url!);
      const id = decodeURIComponent(/^\/stats\/chimpassist\/([^/]+)\/statistics\?/.exec(req.url!)?.[1] ?? '');
      const answer = ANSWERS[id];
      if (answer) answer(res);
      else json(res, 404, { message: 'unknown customer' });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(service.address() as AddressInfo).port}/stats`;
    t = await testApp(store(), { now: clock.now, env: { STATISTICS_BASE_ENDPOINT: `${base}/`, STATISTICS_TIMEOUT: '2000' } });
  });
  after(async () => {
    await t?.close();
    await Promise.all(extra.map((a) => a.close()));
    service.closeAllConnections();
    await new Promise((resolve) => service.close(resolve));
  });
  beforeEach(async () => {
    await store().reset();
    asked.length = 0;
    clock.advance(3_600_000); // past every cached answer of the test before
  });

  const user = async (app: TestApp, role: 'admin' | 'supervisor' | 'agent', status: 'online' | 'offline' = 'offline') => {
    const agent = await makeAgent(app.ctx, { role, status, capacity: 5 });
    return { agent, token: (await issueToken(store().db, agent.id, clock.now(), 3600)).token };
  };
  const stats = (customerId: string, token?: string, app = t) =>
    app.call('GET', `/api/v1/customers/${encodeURIComponent(customerId)}/statistics`, token ? { token } : {});
  const askedFor = (customerId: string) => asked.filter((url) => url.startsWith(`/stats/chimpassist/${encodeURIComponent(customerId)}/`));

  it('asks for the last 24 hours and 7 days in UTC and passes on strings, link lists and point lists', async () => {
    clock.set(Date.parse('2030-05-06T07:08:09Z'));
    const { token } = await user(t, 'supervisor');
    const res = await stats('good', token);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    const items = GOOD.map(({ label, value }) => ({ label, value }));
    assert.deepEqual(body, {
      configured: true,
      last_24_hours: { ok: true, items, start_date_time: '20300505-07:08:09', end_date_time: '20300506-07:08:09' },
      last_7_days: { ok: true, items, start_date_time: '20300429-07:08:09', end_date_time: '20300506-07:08:09' },
    });
    assert.deepEqual(asked.sort(), [
      '/stats/chimpassist/good/statistics?start_date_time=20300429-07:08:09&end_date_time=20300506-07:08:09',
      '/stats/chimpassist/good/statistics?start_date_time=20300505-07:08:09&end_date_time=20300506-07:08:09',
    ]);
    // a customer id is one path segment, whatever it contains
    const encoded = await stats('a/b c', token);
    assert.deepEqual(encoded.json().last_24_hours.items, [{ label: 'Encoded', value: 'yes' }]);
    assert.equal(askedFor('a/b c').length, 2);
  });

  it('reports an answer that is not a list of {label, value}, a 500, a timeout and an unreachable service per range, with a clear message', async () => {
    const { token } = await user(t, 'admin');
    const failure = async (customerId: string) => {
      const res = await stats(customerId, token);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.configured, true);
      assert.equal(body.last_24_hours.ok, false, res.body);
      assert.equal(body.last_7_days.ok, false, res.body);
      assert.equal(body.last_24_hours.items, undefined);
      return body.last_24_hours.error as string;
    };
    assert.equal(await failure('object'), `${NOT_A_LIST}: the answer is an object, not an array`);
    assert.match(await failure('number-value'), new RegExp(`^${NOT_A_LIST.replace(/[{}]/g, '\\$&')}: the "value" of item 0 \\("Unresolved tickets"\\) is a number`));
    assert.match(await failure('bad-link'), /list of links whose entry 1 is not \{url: string, label: string\}/);
    assert.equal(await failure('not-json'), `${NOT_A_LIST}: the answer is not JSON`);
    assert.equal(await failure('broken'), 'the statistics service answered HTTP 500');
    assert.equal(await failure('unknown'), 'the statistics service answered HTTP 404');
    const started = Date.now();
    assert.equal(await failure('slow'), 'the statistics service did not answer within 2 s');
    assert.ok(Date.now() - started < 8_000, 'the timeout cut the call short');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const offline = await testApp(store(), { now: clock.now, env: { STATISTICS_BASE_ENDPOINT: `http://127.0.0.1:${port}` } });
    extra.push(offline);
    const res = await stats('good', token, offline);
    assert.match(res.json().last_24_hours.error, /^the statistics service could not be reached: ECONNREFUSED/);
  });

  it('follows no redirect of the statistics service (#16)', async () => {
    const { token } = await user(t, 'admin');
    const res = await stats('redirect', token);
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().last_24_hours.ok, false);
    assert.equal(res.json().last_24_hours.error, 'the statistics service answered a redirect (HTTP 302), which is not followed');
    assert.equal(askedFor('good').length, 0, 'the redirect target was not asked');
  });

  it('refuses the customer ids "." and "..", which would change the path asked of the service (#16)', async () => {
    const { token } = await user(t, 'admin');
    // over a socket, as curl --path-as-is sends them: inject would resolve the dots first
    const listening = await testApp(store(), { now: clock.now, env: { STATISTICS_BASE_ENDPOINT: `${base}/`, STATISTICS_TIMEOUT: '2000' } });
    extra.push(listening);
    const address = await listening.app.listen({ port: 0, host: '127.0.0.1' });
    const raw = (path: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        // options, not a URL string: a URL would be parsed, and its dot segments resolved, on this side
        const { hostname, port } = new URL(address);
        const req = request({ hostname, port, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const [segment, id] of [['%2E', '.'], ['%2E%2E', '..'], ['.%2e', '..']] as const) {
      const res = await raw(`/api/v1/customers/${segment}/statistics`);
      assert.equal(res.status, 400, `${segment}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'SB_VALIDATION');
      assert.equal(res.body.error.field, 'customerId');
      assert.match(res.body.error.message, new RegExp(`^customerId must not be "${id.replace(/\./g, '\\.')}"`));
    }
    assert.deepEqual(asked, []);
    // dots inside an id are an ordinary id, percent-encoded as one segment
    const dotted = await stats('...', token);
    assert.equal(dotted.statusCode, 200);
    assert.equal(askedFor('...').length, 2);
  });

  it('reuses an answer for 60 s per customer and range, shares calls in flight, and retries a failure after 5 s', async () => {
    clock.set(Date.parse('2031-12-31T23:59:00Z'));
    const { token } = await user(t, 'supervisor');
    const [first, second] = await Promise.all([stats('good', token), stats('good', token)]);
    assert.deepEqual(first.json(), second.json());
    assert.equal(askedFor('good').length, 2, 'one call per range for two requests at once');
    clock.advance(59_000);
    const cached = await stats('good', token);
    assert.deepEqual(cached.json(), first.json(), 'the cached answer, windows included');
    assert.equal(askedFor('good').length, 2, 'a second call within 60 s does not reach the service');
    clock.advance(2_000);
    assert.equal((await stats('good', token)).json().last_24_hours.end_date_time, '20320101-00:00:01');
    assert.equal(askedFor('good').length, 4, 'after 60 s the service is asked again');

    await stats('broken', token);
    await stats('broken', token);
    assert.equal(askedFor('broken').length, 2, 'a failure is reused briefly');
    clock.advance(5_001);
    await stats('broken', token);
    assert.equal(askedFor('broken').length, 4, 'and asked again after 5 s');
  });

  it('shares a call in flight until it answers, with STATISTICS_CACHE_TTL=0 too', async () => {
    const uncached = await testApp(store(), { now: clock.now, env: { STATISTICS_BASE_ENDPOINT: base, STATISTICS_TIMEOUT: '2000', STATISTICS_CACHE_TTL: '0' } });
    extra.push(uncached);
    const { token } = await user(uncached, 'supervisor');
    const [first, second] = await Promise.all([stats('late', token, uncached), stats('late', token, uncached)]);
    assert.equal(first.json().last_24_hours.ok, true, first.body);
    assert.deepEqual(first.json(), second.json());
    assert.equal(askedFor('late').length, 2, 'one call per range for two requests at once, though nothing is cached');
    await stats('late', token, uncached);
    assert.equal(askedFor('late').length, 4, 'once answered, nothing is reused');
  });

  it('reads at most 1 MiB of an answer, counted in bytes, and stops reading a longer chunked one', async () => {
    const { token } = await user(t, 'admin');
    const tooLarge = `the statistics service answered more than ${MiB} bytes`;
    huge.length = 0;
    const endless = (await stats('huge', token)).json();
    assert.equal(endless.last_24_hours.error, tooLarge);
    assert.equal(endless.last_7_days.error, tooLarge);
    assert.equal(huge.length, 2);
    for (let waited = 0; !huge.every((run) => run.closed) && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const run of huge) {
      // the client went away before the end; what the server wrote is what the socket buffers took, not 64 MiB
      assert.deepEqual({ closed: run.closed, finished: run.finished }, { closed: true, finished: false }, 'the client stopped reading and closed the answer');
      assert.ok(run.written < 24 * MiB, `the server got to write ${(run.written / MiB).toFixed(1)} MiB of 64`);
    }

    const exact = (await stats('one-mib', token)).json();
    assert.equal(exact.last_24_hours.ok, true, exact.last_24_hours.error);
    assert.deepEqual(exact.last_24_hours.items, JSON.parse(answerOf(MiB)), 'the whole 1 MiB, decoded as UTF-8');
    const over = (await stats('one-mib-and-a-byte', token)).json();
    assert.equal(over.last_24_hours.ok, false, 'one byte over 1 MiB, though only about 0.5 M UTF-16 units');
    assert.equal(over.last_24_hours.error, tooLarge);
  });

  it('lets an agent see only customers of conversations they hold or held; supervisors and admins any', async () => {
    const admin = await user(t, 'admin');
    const alice = await user(t, 'agent', 'online');
    const open = await t.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'good' } } });
    assert.equal(open.statusCode, 201, open.body);
    const conversation = open.json();
    assert.equal(conversation.agent_id, alice.agent.id);
    const bob = await user(t, 'agent', 'online');
    const carol = await user(t, 'agent', 'online');

    assert.equal((await stats('good', alice.token)).statusCode, 200, 'the holder');
    const refused = await stats('good', bob.token);
    assert.equal(refused.statusCode, 403, refused.body);
    assert.deepEqual(refused.json().error.code, 'SB_FORBIDDEN');
    assert.match(refused.json().error.message, /no conversation you hold or held/);
    assert.equal((await stats('nobody-knows', alice.token)).statusCode, 403, 'a customer with no conversation');

    // transferred to Bob: Bob holds it now, Alice held it
    const moved = await t.call('POST', `/api/v1/conversations/${conversation.id}/transfer`, { token: admin.token, body: { agent_id: bob.agent.id } });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.equal((await stats('good', bob.token)).statusCode, 200, 'the new holder');
    assert.equal((await stats('good', alice.token)).statusCode, 200, 'the agent who held it before the transfer');
    // resolved: Bob last held it
    assert.equal((await t.call('POST', `/api/v1/conversations/${conversation.id}/resolve`, { token: bob.token })).statusCode, 200);
    assert.equal((await stats('good', bob.token)).statusCode, 200, 'the agent who last held a closed one');
    assert.equal((await stats('good', carol.token)).statusCode, 403, 'never involved');

    assert.equal((await stats('nobody-knows', admin.token)).statusCode, 200, 'admins: any customer id');
    assert.equal((await stats('nobody-knows', (await user(t, 'supervisor')).token)).statusCode, 200, 'supervisors: any customer id');
    assert.equal((await stats('good')).statusCode, 401, 'no token');
    // Fastify's router takes path parameters of up to 100 characters (URL-encoded); longer ones are 404
    assert.equal((await stats('x'.repeat(100), admin.token)).statusCode, 200, 'a 100-character id');
  });

  it('answers {configured:false} without STATISTICS_BASE_ENDPOINT, after the same access check', async () => {
    const bare = await testApp(store(), { now: clock.now });
    extra.push(bare);
    const supervisor = await user(bare, 'supervisor');
    const res = await stats('good', supervisor.token, bare);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { configured: false });
    const agent = await user(bare, 'agent');
    assert.equal((await stats('good', agent.token, bare)).statusCode, 403);
    assert.equal(asked.length, 0);
  });
});
