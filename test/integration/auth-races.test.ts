// Logins, logouts and the agent timing settings where they meet other work:
// a login whose password is changed (or whose agent is deleted, or made
// another role) between its password check and its token; the upper bounds
// of attendant_keep_alive_ms and agent_offline_grace_ms, beyond which every
// "go offline" failed; a logout whose status change fails, which must not
// leave the token revoked and the agent online, getting conversations.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { hashPassword, setPasswordCostForTests } from '../../src/agents/passwords.js';
import type { Db } from '../../src/store/db.js';
import { expectError, expectInvalid } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { eachTestWithLockHolder, settledOrWaiting } from '../helpers/lock-waits.js';
import { describeEachStore, storeKinds, TEST_PASSWORD_COST } from '../helpers/stores.js';

const NEW_PASSWORD = 'a brand new secret';
const THIRTY_DAYS_MS = 30 * 86_400_000;

/**
 * The store as the app sees it, able to hold the next statement that
 * inserts a token (the login's, after its password check) until released:
 * nothing is sent meanwhile, so other requests run, on PGlite's one
 * connection too.
 */
interface Hold {
  /** resolves once the held statement is waiting */
  reached: Promise<void>;
  release(): void;
}

function holdable(db: Db): { db: Db; holdNextTokenInsert(): Hold } {
  let armed: { reached(): void; gate: Promise<void> } | undefined;
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') {
        return async (text: string, params?: readonly unknown[]) => {
          if (armed && /insert into auth_tokens/i.test(text)) {
            const held = armed;
            armed = undefined;
            held.reached();
            await held.gate;
          }
          return target.query(text, params);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    db: wrapped,
    holdNextTokenInsert() {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reached!: () => void;
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      armed = { reached, gate };
      return { reached: reachedPromise, release };
    },
  };
}

describeEachStore('auth races', (store) => {
  let t: TestApp;
  let hold: () => Hold;
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store(), {
      beforeApp: (ctx) => {
        const h = holdable(ctx.db);
        ctx.db = h.db;
        hold = h.holdNextTokenInsert;
      },
    });
  });
  afterEach(() => t.close());

  const login = (email: string, password: string) => t.call('POST', '/api/v1/auth/login', { body: { email, password } });
  const liveTokens = async (agentId: string) =>
    Number(
      (await store().db.query<{ n: number }>('select count(*)::int as n from auth_tokens where agent_id = $1 and revoked_at is null', [agentId]))[0]!.n,
    );
  /** the answer of a login with a wrong password: what a refused login must look like */
  const wrongPasswordAnswer = async (email: string) => {
    const res = await login(email, 'not the password');
    expectError(res, 401, 'SB_UNAUTHORIZED');
    return res.json();
  };

  /** Starts a login with `password`, holds it between its password check and its token, runs `meanwhile`, then lets it go on. */
  async function loginAround(email: string, password: string, meanwhile: () => Promise<void>) {
    const held = hold();
    const pending = login(email, password);
    await held.reached;
    try {
      await meanwhile();
    } finally {
      held.release();
    }
    return pending;
  }

  it('a login whose password is changed between its check and its token answers 401 as a wrong password does, leaving no token; the new password works', async () => {
    const { token: admin } = await t.user('admin');
    const agent = await makeAgent(t.ctx);
    const late = await loginAround(agent.email, PASSWORD, async () => {
      const patched = await t.call('PATCH', `/api/v1/agents/${agent.id}`, { token: admin, body: { password: NEW_PASSWORD } });
      assert.equal(patched.statusCode, 200, patched.body);
    });
    expectError(late, 401, 'SB_UNAUTHORIZED', undefined, 'the login that checked the old password');
    assert.deepEqual(late.json(), await wrongPasswordAnswer(agent.email), 'the same answer as a wrong password');
    assert.equal(await liveTokens(agent.id), 0, 'no token of the old password');

    expectError(await login(agent.email, PASSWORD), 401, 'SB_UNAUTHORIZED', undefined, 'the old password');
    const fresh = await login(agent.email, NEW_PASSWORD);
    assert.equal(fresh.statusCode, 200, fresh.body);
    assert.equal((await t.call('GET', '/api/v1/agents/me', { token: fresh.json().token })).statusCode, 200);
  });

  it('two logins at once of an outdated hash, both with the right password: both get a token', async () => {
    const agent = await makeAgent(t.ctx);
    for (let round = 0; round < 3; round++) {
      setPasswordCostForTests({ N: 512, r: 8, p: 1 });
      try {
        await store().db.query('update agents set password_hash = $2 where id = $1', [agent.id, await hashPassword(PASSWORD)]);
      } finally {
        setPasswordCostForTests(TEST_PASSWORD_COST);
      }
      const both = await Promise.all([login(agent.email, PASSWORD), login(agent.email, PASSWORD)]);
      assert.deepEqual(both.map((r) => r.statusCode), [200, 200], both.map((r) => r.body).join(' '));
    }
  });

  it('a login of an outdated hash, rehashed, then its password changed before its token: 401, and the new password is kept', async () => {
    const { token: admin } = await t.user('admin');
    const agent = await makeAgent(t.ctx);
    const outdated = async () => {
      setPasswordCostForTests({ N: 512, r: 8, p: 1 });
      try {
        const hash = await hashPassword(PASSWORD);
        await store().db.query('update agents set password_hash = $2 where id = $1', [agent.id, hash]);
        return hash;
      } finally {
        setPasswordCostForTests(TEST_PASSWORD_COST);
      }
    };

    // Alone, such a login is rehashed at today's cost and gets its token.
    const old = await outdated();
    const plain = await login(agent.email, PASSWORD);
    assert.equal(plain.statusCode, 200, plain.body);
    const [{ password_hash: upgraded }] = (await store().db.query<{ password_hash: string }>('select password_hash from agents where id = $1', [agent.id])) as [
      { password_hash: string },
    ];
    assert.notEqual(upgraded, old);
    assert.match(upgraded, new RegExp(`^scrypt\\$${TEST_PASSWORD_COST.N}\\$`));

    await outdated();
    const late = await loginAround(agent.email, PASSWORD, async () => {
      const patched = await t.call('PATCH', `/api/v1/agents/${agent.id}`, { token: admin, body: { password: NEW_PASSWORD } });
      assert.equal(patched.statusCode, 200, patched.body);
    });
    expectError(late, 401, 'SB_UNAUTHORIZED');
    assert.equal(await liveTokens(agent.id), 0);
    expectError(await login(agent.email, PASSWORD), 401, 'SB_UNAUTHORIZED', undefined, 'the old password');
    assert.equal((await login(agent.email, NEW_PASSWORD)).statusCode, 200, 'the new password, not overwritten by the rehash');
  });

  it('a login whose agent is deleted between its check and its token answers 401 and leaves no token', async () => {
    const { token: admin } = await t.user('admin');
    const agent = await makeAgent(t.ctx);
    const late = await loginAround(agent.email, PASSWORD, async () => {
      assert.equal((await t.call('DELETE', `/api/v1/agents/${agent.id}`, { token: admin })).statusCode, 204);
    });
    expectError(late, 401, 'SB_UNAUTHORIZED');
    assert.deepEqual(late.json(), await wrongPasswordAnswer(agent.email));
    assert.equal(await liveTokens(agent.id), 0);
  });

  it('a login whose agent is made another role between its check and its token answers the agent as it is now', async () => {
    const { token: admin } = await t.user('admin');
    const agent = await makeAgent(t.ctx);
    const late = await loginAround(agent.email, PASSWORD, async () => {
      assert.equal((await t.call('PATCH', `/api/v1/agents/${agent.id}`, { token: admin, body: { role: 'supervisor' } })).statusCode, 200);
    });
    assert.equal(late.statusCode, 200, late.body);
    assert.equal(late.json().agent.role, 'supervisor');
    const me = await t.call('GET', '/api/v1/agents/me', { token: late.json().token });
    assert.equal(me.json().role, 'supervisor');
  });

  it('PATCH /settings refuses agent_offline_grace_ms and attendant_keep_alive_ms above 30 days (400 naming the field, nothing changed); the agent can still go offline', async () => {
    const { token: admin } = await t.user('admin');
    const { token } = await t.user('agent', { status: 'online' });
    const before = (await t.call('GET', '/api/v1/settings', { token: admin })).json();
    for (const body of [
      { agent_offline_grace_ms: 1e15 },
      { agent_offline_grace_ms: THIRTY_DAYS_MS + 1 },
      { attendant_keep_alive_ms: 1e15 },
      { attendant_keep_alive_ms: THIRTY_DAYS_MS + 1 },
    ]) {
      const field = Object.keys(body)[0]!;
      expectInvalid(await t.call('PATCH', '/api/v1/settings', { token: admin, body }), field, JSON.stringify(body));
    }
    assert.deepEqual((await t.call('GET', '/api/v1/settings', { token: admin })).json(), before, 'nothing changed');
    const offline = await t.call('PATCH', '/api/v1/agents/me', { token, body: { status: 'offline' } });
    assert.equal(offline.statusCode, 200, offline.body);
    assert.equal(offline.json().status, 'offline');

    // 30 days exactly is allowed, and going offline still works with it.
    const longest = await t.call('PATCH', '/api/v1/settings', { token: admin, body: { agent_offline_grace_ms: THIRTY_DAYS_MS, attendant_keep_alive_ms: THIRTY_DAYS_MS } });
    assert.equal(longest.statusCode, 200, longest.body);
    assert.equal((await t.call('PATCH', '/api/v1/agents/me', { token, body: { status: 'online' } })).statusCode, 200);
    const again = await t.call('PATCH', '/api/v1/agents/me', { token, body: { status: 'offline' } });
    assert.equal(again.statusCode, 200, again.body);
  });

  it('a logout whose status change fails leaves the token working and the agent online (neither happened); once it can, both happen', async () => {
    const { token: admin } = await t.user('admin');
    const { agent, token } = await t.user('agent', { status: 'online' });
    // A grace period stored before it had a bound (an older version, or the
    // environment): going offline fails computing the grace's deadline.
    await store().db.query(`update settings set value = '1000000000000000'::jsonb where key = 'agent_offline_grace_ms'`);

    const failed = await t.call('POST', '/api/v1/auth/logout', { token });
    assert.equal(failed.statusCode, 500, failed.body);
    const [row] = await store().db.query<{ status: string }>('select status from agents where id = $1', [agent.id]);
    const tokenWorks = (await t.call('GET', '/api/v1/agents/me', { token })).statusCode === 200;
    assert.ok(!(row!.status === 'online' && !tokenWorks), 'not a revoked token with its agent still online');
    assert.deepEqual({ status: row!.status, tokenWorks }, { status: 'online', tokenWorks: true }, 'neither happened: the logout may be repeated');

    assert.equal((await t.call('PATCH', '/api/v1/settings', { token: admin, body: { agent_offline_grace_ms: 60_000 } })).statusCode, 200);
    const done = await t.call('POST', '/api/v1/auth/logout', { token });
    assert.equal(done.statusCode, 204, done.body);
    const [after] = await store().db.query<{ status: string }>('select status from agents where id = $1', [agent.id]);
    assert.equal(after!.status, 'offline');
    expectError(await t.call('GET', '/api/v1/agents/me', { token }), 401, 'SB_UNAUTHORIZED');
  });
});

// The same race inside PostgreSQL: the password change is in another
// connection's transaction, written but not committed, when the login inserts
// its token. The token's insert locks the agent's row (FOR SHARE): it waits
// for the change, then finds the hash changed and issues nothing. Without
// that lock it would go through, and the change's revocation, already run,
// would miss it. PostgreSQL only: PGlite has one connection.
describe('auth races in another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  it('a login whose token insert meets an uncommitted password change answers 401 once it commits, leaving no token', async () => {
    const agent = await makeAgent(t.ctx);
    const newHash = await hashPassword(NEW_PASSWORD);
    // PATCH /agents/:id {password}, as it runs, held open before its commit.
    await holder().query('begin');
    await holder().query(
      `select 1 from sb_update_agent($1::uuid, now(), null, null, $2::text, null, false, null, null, false, null, null, null, array['password'], null, false)`,
      [agent.id, newHash],
    );

    const login = t.call('POST', '/api/v1/auth/login', { body: { email: agent.email, password: PASSWORD } });
    await settledOrWaiting(store().db, 'insert into auth_tokens', login);
    await holder().query('commit');

    const res = await login;
    expectError(res, 401, 'SB_UNAUTHORIZED', undefined, 'the login that checked the old password');
    const [row] = await store().db.query<{ n: number }>('select count(*)::int as n from auth_tokens where agent_id = $1 and revoked_at is null', [agent.id]);
    assert.equal(row!.n, 0, 'no token of the old password');
    assert.equal((await t.call('POST', '/api/v1/auth/login', { body: { email: agent.email, password: NEW_PASSWORD } })).statusCode, 200);
  });
});
