// Issue #22 (P4): bearer tokens cached per process (src/agents/tokens.ts,
// migration 0047). A cached token saves the lookup's round trip, yet a token
// revoked, expired, or whose agent lost its role or was deleted is refused at
// once in the process that made the change, and in every other process as
// soon as the notice of the change arrives (here: a change made by SQL, as
// another process or an operator would).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { buildApp, type App } from '../../src/http/app.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('token cache', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let app: App;
  let ctx: Ctx;
  let lookups = 0;
  let restore: () => void;

  const call = (method: InjectOptions['method'], url: string, token: string, body?: unknown) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}) });

  async function user(role: 'agent' | 'supervisor' | 'admin') {
    const agent = await makeAgent(ctx, { role });
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password: PASSWORD } });
    assert.equal(res.statusCode, 200, res.body);
    return { agent, token: res.json().token as string };
  }

  /** Polls until `check` holds: another process's change is heard through its notice. */
  async function eventually(check: () => Promise<boolean>, what: string) {
    const until = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > until) assert.fail(`not within 5 s: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    const db = store().db;
    const query = db.query.bind(db);
    lookups = 0;
    db.query = ((text: string, params?: readonly unknown[]) => {
      if (text.includes('from auth_tokens t join agents a')) lookups += 1;
      return query(text, params);
    }) as typeof db.query;
    restore = () => {
      db.query = query;
    };
    const metrics = createMetrics(db, clock.now);
    ctx = { db, now: clock.now, onCommitted: (events) => metrics.observe(events) };
    const config = { ...loadConfig({}), tokenTtlSeconds: 3600, logLevel: 'silent' as const };
    app = await buildApp({ ctx, config, metrics, tokenCache: true });
    await app.ready();
    // the cache is on once its listening connection is
    await eventually(async () => {
      const { token } = await user('agent');
      await call('GET', '/api/v1/conversations', token);
      const before = lookups;
      await call('GET', '/api/v1/conversations', token);
      return lookups === before;
    }, 'the cache is in use');
  });
  afterEach(async () => {
    await app.close();
    restore();
  });

  it('admits a cached token without looking it up again', async () => {
    const { token } = await user('agent');
    assert.equal((await call('GET', '/api/v1/conversations', token)).statusCode, 200);
    const before = lookups;
    for (let i = 0; i < 5; i++) assert.equal((await call('GET', '/api/v1/conversations', token)).statusCode, 200);
    assert.equal(lookups, before);
  });

  it('refuses a token logged out, at once', async () => {
    const { token } = await user('agent');
    assert.equal((await call('GET', '/api/v1/conversations', token)).statusCode, 200);
    assert.equal((await call('POST', '/api/v1/auth/logout', token)).statusCode, 204);
    assert.equal((await call('GET', '/api/v1/conversations', token)).statusCode, 401);
  });

  it('refuses a token past its expiry by the clock, with no notice', async () => {
    const { token } = await user('agent');
    assert.equal((await call('GET', '/api/v1/conversations', token)).statusCode, 200);
    clock.advance(3600 * 1000 + 1);
    assert.equal((await call('GET', '/api/v1/conversations', token)).statusCode, 401);
  });

  it('follows a role taken away and an agent deleted here, at once', async () => {
    const admin = await user('admin');
    const other = await user('admin');
    assert.equal((await call('GET', '/api/v1/webhooks', other.token)).statusCode, 200);
    assert.equal((await call('PATCH', `/api/v1/agents/${other.agent.id}`, admin.token, { role: 'agent' })).statusCode, 200);
    assert.equal((await call('GET', '/api/v1/webhooks', other.token)).statusCode, 403);
    assert.equal((await call('DELETE', `/api/v1/agents/${other.agent.id}`, admin.token)).statusCode, 204);
    assert.equal((await call('GET', '/api/v1/conversations', other.token)).statusCode, 401);
  });

  it("hears another process's revocation, role change and deletion", async () => {
    const a = await user('agent');
    const b = await user('admin');
    const c = await user('agent');
    for (const t of [a, b, c]) assert.equal((await call('GET', '/api/v1/conversations', t.token)).statusCode, 200);
    await store().db.query('update auth_tokens set revoked_at = now() where agent_id = $1', [a.agent.id]);
    await eventually(async () => (await call('GET', '/api/v1/conversations', a.token)).statusCode === 401, 'revoked token refused');
    assert.equal((await call('GET', '/api/v1/webhooks', b.token)).statusCode, 200);
    await store().db.query(`update agents set role = 'agent' where id = $1`, [b.agent.id]);
    await eventually(async () => (await call('GET', '/api/v1/webhooks', b.token)).statusCode === 403, 'role taken away');
    await store().db.query('update agents set deleted_at = now() where id = $1', [c.agent.id]);
    await eventually(async () => (await call('GET', '/api/v1/conversations', c.token)).statusCode === 401, 'deleted agent refused');
  });

  it('logs out an agent who came online after their token was cached: offline, and recorded', async () => {
    const { agent, token } = await user('agent');
    assert.equal((await call('GET', '/api/v1/agents/me', token)).json().status, 'offline');
    // another process's status change: no notice, the cached token stays
    await store().db.query(`update agents set status = 'online' where id = $1`, [agent.id]);
    assert.equal((await call('POST', '/api/v1/auth/logout', token)).statusCode, 204);
    const [row] = await store().db.query<{ status: string }>('select status from agents where id = $1', [agent.id]);
    assert.equal(row?.status, 'offline');
    const [event] = await store().db.query<{ data: { from: string; to: string } }>(
      `select data from events where type = 'agent.status_changed' and agent_id = $1 order by id desc limit 1`,
      [agent.id],
    );
    assert.deepEqual([event?.data.from, event?.data.to], ['online', 'offline']);
  });

  it('answers GET /agents/me with the agent as stored now, not as cached', async () => {
    const { agent, token } = await user('agent');
    assert.equal((await call('GET', '/api/v1/agents/me', token)).json().status, 'offline');
    await store().db.query(`update agents set status = 'away' where id = $1`, [agent.id]);
    assert.equal((await call('GET', '/api/v1/agents/me', token)).json().status, 'away');
  });
});
