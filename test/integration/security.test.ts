import assert from 'node:assert/strict';
import type { Ctx } from '../../src/context.js';
import { randomUUID } from 'node:crypto';
import { randomBytes, scrypt } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, beforeEach, it } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { buildApp, type App } from '../../src/http/app.js';
import { securityHeaders } from '../../src/http/security.js';
import { webRoutes } from '../../src/http/web.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { describeEachStore, TEST_PASSWORD_COST } from '../helpers/stores.js';
import { ensureAdmin } from '../../src/agents/bootstrap.js';

// Login rate limits, password strength, security headers, CORS and log
// redaction (docs/operations.md#security).

describeEachStore('security', (store) => {
  let t: TestApp;
  before(async () => {
    t = await testApp(store());
  });
  after(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await store().reset();
  });

  const login = (email: string, password: string, address = '10.0.0.1') =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress: address });

  it('locks an account after 10 failed logins for 15 minutes, with 429 SB_RATE_LIMITED and Retry-After', async () => {
    const agent = await makeAgent(t.ctx);
    for (let i = 0; i < 10; i += 1) assert.equal((await login(agent.email, 'wrong password', `10.1.0.${i}`)).statusCode, 401);
    // the right password no longer helps, from any address, in any letter case
    const locked = await login(agent.email.toUpperCase(), PASSWORD, '10.1.1.1');
    assert.equal(locked.statusCode, 429);
    assert.equal(locked.json().error.code, 'SB_RATE_LIMITED');
    const retry = Number(locked.headers['retry-after']);
    assert.ok(retry > 800 && retry <= 900, `retry-after ${retry}`);
    // another account is not affected
    const other = await makeAgent(t.ctx);
    assert.equal((await login(other.email, PASSWORD, '10.1.1.1')).statusCode, 200);
  });

  it('keeps an account locked whatever the spelling of its address: U+0130 for i is not ten more guesses', async () => {
    const agent = await makeAgent(t.ctx, { name: 'maria' });
    for (let i = 0; i < 10; i += 1) assert.equal((await login(agent.email, 'wrong password', `10.1.5.${i}`)).statusCode, 401);
    // PostgreSQL's lower() makes İ an i; JavaScript's an i with a combining dot
    const variant = agent.email.replace('i', '\u0130');
    assert.notEqual(variant, agent.email);
    const right = await login(variant, PASSWORD, '10.1.6.1');
    assert.equal(right.statusCode, 429, `through ${JSON.stringify(variant)} after the lockout: ${right.statusCode} ${right.body}`);
    assert.equal((await login(agent.email, PASSWORD, '10.1.6.2')).statusCode, 429, 'still locked');
  });

  for (const email of ['ΝΙΚΟΣ@example.gr', 'İNCİ@example.com.tr']) {
    it(`signs in the admin made from ADMIN_EMAIL=${email} with that very address, in any case`, async () => {
      const pass = 'a long and unusual passphrase';
      assert.deepEqual(await ensureAdmin(t.ctx, loadConfig({ ADMIN_EMAIL: email, ADMIN_PASSWORD: pass })), { email });
      for (const typed of [email, email.replace('example', 'EXAMPLE')]) {
        const res = await login(typed, pass, '10.1.7.1');
        assert.equal(res.statusCode, 200, `login as ${typed}: ${res.statusCode} ${res.body}`);
      }
    });
  }

  it('blocks an address after 30 failed logins across accounts; successful logins are not counted', async () => {
    const agent = await makeAgent(t.ctx);
    for (let i = 0; i < 40; i += 1) assert.equal((await login(agent.email, PASSWORD, '10.2.0.1')).statusCode, 200);
    for (let i = 0; i < 30; i += 1) assert.equal((await login(`nobody${i}@example.test`, 'wrong password', '10.2.0.2')).statusCode, 401);
    const blocked = await login(agent.email, PASSWORD, '10.2.0.2');
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json().error.code, 'SB_RATE_LIMITED');
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    assert.equal((await login(agent.email, PASSWORD, '10.2.0.3')).statusCode, 200);
  });

  it('counts the failed logins behind TRUST_PROXY=1 by the address the proxy appended, whatever the client forwarded (found by review)', async () => {
    const agent = await makeAgent(t.ctx);
    const proxied = await testApp(store(), { env: { TRUST_PROXY: '1' } });
    try {
      // an appending proxy (AWS ALB, nginx's $proxy_add_x_forwarded_for) keeps the client's own header on the left
      const forged = (i: number, password = 'wrong password', email = `nobody-xff-${i}@example.test`) =>
        proxied.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress: '10.7.0.1', headers: { 'x-forwarded-for': `forged-${i}, 198.51.100.${i % 250}, 203.0.113.9` } });
      for (let i = 0; i < 30; i += 1) assert.equal((await forged(i)).statusCode, 401, `attempt ${i + 1}`);
      const blocked = await forged(30, PASSWORD, agent.email);
      assert.equal(blocked.statusCode, 429);
      assert.equal(blocked.json().error.code, 'SB_RATE_LIMITED');
      // another client behind the same proxy is not affected
      const other = await proxied.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password: PASSWORD }, remoteAddress: '10.7.0.1', headers: { 'x-forwarded-for': '203.0.113.10' } });
      assert.equal(other.statusCode, 200);
    } finally {
      await proxied.close();
    }
  });

  it('counts a login before its password is checked: of 25 parallel guesses against a limit of 10, only 10 are tried (#16)', async () => {
    const agent = await makeAgent(t.ctx);
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => login(agent.email, `wrong password ${i}`, `10.3.0.${i}`)));
    const statuses = answers.map((r) => r.statusCode).sort();
    assert.equal(statuses.filter((s) => s === 401).length, 10, `statuses ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 15);
    // the same from one address across accounts, against its limit of 30
    const spread = await Promise.all(Array.from({ length: 45 }, (_, i) => login(`nobody-${i}@example.test`, 'wrong password', '10.3.1.1')));
    assert.equal(spread.filter((r) => r.statusCode === 401).length, 30);
    assert.equal(spread.filter((r) => r.statusCode === 429).length, 15);
  });

  it('counts the failed logins of an IPv6 /64 together, as one address', async () => {
    const agent = await makeAgent(t.ctx);
    for (let i = 1; i <= 30; i += 1) assert.equal((await login(`nobody-v6-${i}@example.test`, 'wrong password', `2001:db8:6:1::${i.toString(16)}`)).statusCode, 401);
    assert.equal((await login(agent.email, PASSWORD, '2001:db8:6:1:ffff::9')).statusCode, 429);
    assert.equal((await login(agent.email, PASSWORD, '2001:db8:6:2::1')).statusCode, 200);
  });

  it('hands a successful login its attempt back, also when logins run in parallel', async () => {
    const agent = await makeAgent(t.ctx);
    const answers = await Promise.all(Array.from({ length: 8 }, () => login(agent.email, PASSWORD, '10.4.0.1')));
    assert.deepEqual(new Set(answers.map((r) => r.statusCode)), new Set([200]));
    for (let i = 0; i < 10; i += 1) assert.equal((await login(agent.email, 'wrong password', '10.4.0.1')).statusCode, 401);
    assert.equal((await login(agent.email, PASSWORD, '10.4.0.1')).statusCode, 429);
  });

  it('counts failed logins across processes and restarts: guesses spread over two servers share one limit', async () => {
    const agent = await makeAgent(t.ctx);
    const clock = fakeClock(Date.now());
    const [a, b] = [await testApp(store(), { now: clock.now }), await testApp(store(), { now: clock.now })];
    try {
      const loginAt = (app: TestApp, password: string, address: string) =>
        app.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password }, remoteAddress: address });
      for (let i = 0; i < 10; i += 1) assert.equal((await loginAt(i % 2 ? a : b, 'wrong password', `10.6.0.${i}`)).statusCode, 401);
      for (const app of [a, b]) assert.equal((await loginAt(app, PASSWORD, '10.6.1.1')).statusCode, 429);
      // a server started afterwards (a restart) still refuses
      const c = await testApp(store(), { now: clock.now });
      try {
        assert.equal((await loginAt(c, PASSWORD, '10.6.1.1')).statusCode, 429);
      } finally {
        await c.close();
      }
      // the window ends for all of them at once; the ended window's row is removed
      clock.advance(15 * 60_000);
      assert.equal((await loginAt(b, PASSWORD, '10.6.1.1')).statusCode, 200);
      const rows = await store().db.query<{ key_digest: string }>('select key_digest from login_attempts');
      assert.ok(rows.every((r) => !r.key_digest.includes(agent.email)), 'no email is kept in the clear');
      assert.equal(rows.length, 0, 'the ended windows are gone and the success handed its attempts back');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('re-hashes a password made at an older scrypt cost at the next successful login, transparently (#16)', async () => {
    const agent = await makeAgent(t.ctx);
    const salt = randomBytes(16);
    const key = await new Promise<Buffer>((resolve, reject) => scrypt(PASSWORD, salt, 32, { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? reject(e) : resolve(k))));
    const old = `scrypt$16384$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
    await store().db.query('update agents set password_hash = $2 where id = $1', [agent.id, old]);
    const hashOf = async () => (await store().db.query<{ password_hash: string }>('select password_hash from agents where id = $1', [agent.id]))[0]!.password_hash;
    assert.equal((await login(agent.email, 'wrong password', '10.5.0.1')).statusCode, 401);
    assert.equal(await hashOf(), old, 'a failed login changes nothing');
    assert.equal((await login(agent.email, PASSWORD, '10.5.0.1')).statusCode, 200);
    const upgraded = await hashOf();
    assert.ok(upgraded.startsWith(`scrypt$${TEST_PASSWORD_COST.N}$${TEST_PASSWORD_COST.r}$${TEST_PASSWORD_COST.p}$`), upgraded);
    assert.notEqual(upgraded, old);
    assert.equal((await login(agent.email, PASSWORD, '10.5.0.1')).statusCode, 200, 'the new hash verifies');
    assert.equal(await hashOf(), upgraded, 'and is not made again');
  });

  it('refuses common passwords and the email as password', async () => {
    const { token } = await t.user('admin');
    const create = (email: string, password: string) => t.call('POST', '/api/v1/agents', { token, body: { name: 'N', email, password, role: 'agent' } });
    for (const password of ['password123', 'Password1', '12345678', 'aaaaaaaaaa', 'carol@example.test', 'carolcarol']) {
      const res = await create(password === 'carolcarol' ? 'carolcarol@example.test' : 'carol@example.test', password);
      assert.equal(res.statusCode, 400, `${password}: ${res.body}`);
      assert.equal(res.json().error.field, 'password');
    }
    const created = await create('carol@example.test', 'a long password');
    assert.equal(created.statusCode, 201);
    const weak = await t.call('PATCH', `/api/v1/agents/${created.json().id}`, { token, body: { password: 'qwertyuiop' } });
    assert.equal(weak.statusCode, 400);
    assert.equal(weak.json().error.field, 'password');
  });

  it('allows cross-origin calls only to /session and, with a session token, the messages of a chat', async () => {
    const preflight = await t.call('OPTIONS', '/session', { headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
    const id = '70007e5b-7259-4d17-b454-dd265e32b8a1';
    assert.equal((await t.call('OPTIONS', `/api/v1/conversations/${id}/messages`)).headers['access-control-allow-origin'], '*');
    const customer = await t.call('GET', `/api/v1/conversations/${id}/messages`, { token: 'sbc_not-a-live-session' });
    assert.equal(customer.statusCode, 401);
    assert.equal(customer.headers['access-control-allow-origin'], '*');
    const { token } = await t.user('admin');
    assert.equal((await t.call('GET', `/api/v1/conversations/${id}/messages`, { token })).headers['access-control-allow-origin'], undefined);
    assert.equal((await t.call('GET', '/api/v1/agents/me', { token, headers: { origin: 'https://evil.example' } })).headers['access-control-allow-origin'], undefined);
    const agentsPreflight = await t.call('OPTIONS', '/api/v1/agents', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(agentsPreflight.statusCode, 404);
    assert.equal(agentsPreflight.headers['access-control-allow-origin'], undefined);
    const api = await t.call('GET', '/healthz');
    assert.equal(api.headers['x-content-type-options'], 'nosniff');
    assert.equal(api.headers['referrer-policy'], 'no-referrer');
  });

  it('never writes a token, password or secret to the log, even at trace level', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const config = { ...loadConfig({ QISCUS_BASE_URL: 'http://127.0.0.1:9', QISCUS_APP_ID: 'app', QISCUS_SECRET: 'qiscus-api-secret', QISCUS_WEBHOOK_SECRET: 'hook-secret-123' }), tokenTtlSeconds: 3600, logLevel: 'trace' as const };
    const ctx: Ctx = { db: store().db, now: () => new Date() };
    const app: App = await buildApp({ ctx, config, metrics: createMetrics(store().db), logger: logger as never });
    try {
      const agent = await makeAgent(ctx);
      const ok = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password: PASSWORD } });
      const token = ok.json().token as string;
      await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password: 'a wrong password' } });
      await app.inject({ method: 'GET', url: '/api/v1/agents/me', headers: { authorization: `Bearer ${token}` } });
      await app.inject({ method: 'GET', url: '/api/v1/settings/max_customers?secret=hook-secret-123' });
      await app.inject({ method: 'GET', url: '/api/v1/settings/max_customers', headers: { 'x-webhook-secret': 'hook-secret-123' } });
      await app.inject({ method: 'POST', url: '/api/v1/agents', headers: { authorization: `Bearer ${token}` }, payload: { name: 'x', email: 'x@example.test', password: 'a new password', role: 'agent' } });
      // a signed file link is a bearer credential to the file for days
      const link = ctx.files!.links.sign(randomUUID(), new Date(), 7 * 24 * 3600);
      const sig = new URL(link, 'http://x').searchParams.get('sig')!;
      await app.inject({ method: 'GET', url: link });
      const text = lines.join('');
      assert.ok(text.includes('incoming request'), 'request logging is on at trace');
      for (const secret of [token, PASSWORD, 'a wrong password', 'hook-secret-123', 'qiscus-api-secret', 'a new password', sig]) {
        assert.ok(!text.includes(secret), `the log holds ${secret}`);
      }
      assert.ok(text.includes('secret=[redacted]'));
    } finally {
      await app.close();
    }
  });

  it("makes a request's logger only when the request logs, and what it logs carries the request's id", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    // pino's children inherit from their parent: the app's logger and its requests' loggers are counted here
    let children = 0;
    const child = logger.child;
    logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
      children += 1;
      return child.apply(this, args);
    } as typeof child;
    const config = { ...loadConfig({}), tokenTtlSeconds: 3600, logLevel: 'info' as const };
    const ctx = { db: store().db, now: () => new Date() };
    const app: App = await buildApp({ ctx, config, metrics: createMetrics(store().db), logger: logger as never });
    app.get('/test/loud', async (request) => {
      request.log.warn({ n: 1 }, 'loud');
      request.log.info('again');
      return {};
    });
    try {
      await app.ready();
      const before = children;
      for (let i = 0; i < 3; i += 1) assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      assert.equal(children - before, 0, 'requests that log nothing make no logger');
      assert.equal((await app.inject({ method: 'GET', url: '/test/loud' })).statusCode, 200);
      assert.equal(children - before, 1, 'one for both lines');
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; reqId?: string; n?: number }).filter((l) => l.msg === 'loud' || l.msg === 'again');
      assert.equal(logged.length, 2);
      assert.match(logged[0]!.reqId ?? '', /^req-/);
      assert.equal(logged[1]!.reqId, logged[0]!.reqId);
      assert.equal(logged[0]!.n, 1);
    } finally {
      await app.close();
    }
  });
});

it('sends CSP and frame rules: the console may not be framed, the widget frame may be, the loader is cross-origin', async () => {
  const dist = mkdtempSync(join(tmpdir(), 'sb-web-'));
  try {
    mkdirSync(join(dist, 'console'));
    mkdirSync(join(dist, 'widget'));
    mkdirSync(join(dist, 'assets'));
    const page = '<!doctype html><html><head><meta name="sb-base-topic" content="switchboard" /></head><body></body></html>';
    writeFileSync(join(dist, 'console', 'index.html'), page);
    writeFileSync(join(dist, 'widget', 'index.html'), page);
    writeFileSync(join(dist, 'widget', 'demo.html'), page);
    writeFileSync(join(dist, 'widget.js'), '/* loader */');
    writeFileSync(join(dist, 'assets', 'app-1.js'), '/* app */');
    const app = Fastify() as unknown as App;
    securityHeaders(app, { mqttWsUrl: 'wss://broker.example.com:8084/mqtt' });
    await webRoutes(app, { config: loadConfig({}) } as never, dist);
    await app.ready();
    for (const path of ['/', '/conversations/abc', '/widget/demo']) {
      const res = await app.inject({ method: 'GET', url: path, headers: { host: 'support.example.com' } });
      assert.equal(res.statusCode, 200, path);
      assert.equal(res.headers['x-frame-options'], 'DENY', path);
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      // the page's own /mqtt, and the external broker browsers are sent to
      assert.match(csp, /connect-src 'self' ws:\/\/support\.example\.com wss:\/\/support\.example\.com wss:\/\/broker\.example\.com:8084(;|$)/, path);
      // the mqtt client starts a worker from a blob
      assert.match(csp, /worker-src 'self' blob:/, path);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
    }
    const frame = await app.inject({ method: 'GET', url: '/widget/frame?title=Hi' });
    assert.equal(frame.headers['x-frame-options'], undefined);
    assert.doesNotMatch(String(frame.headers['content-security-policy']), /frame-ancestors/);
    assert.match(String(frame.headers['content-security-policy']), /script-src 'self'/);
    const loader = await app.inject({ method: 'GET', url: '/widget.js' });
    assert.equal(loader.headers['access-control-allow-origin'], '*');
    assert.equal(loader.headers['cross-origin-resource-policy'], 'cross-origin');
    assert.equal(loader.headers['x-content-type-options'], 'nosniff');
    assert.match(String(loader.headers['content-type']), /javascript/);
    // a Host header cannot inject into the policy
    const evil = await app.inject({ method: 'GET', url: '/', headers: { host: "x; script-src 'unsafe-inline'" } });
    assert.doesNotMatch(String(evil.headers['content-security-policy']), /unsafe-inline'?;? ?$|script-src 'unsafe-inline'/);
    await app.close();
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
});
