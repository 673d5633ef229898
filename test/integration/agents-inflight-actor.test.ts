// An agents request is authorized when it arrives (requireAgent), then works
// for a while before it writes (a password hashed: 0.1–0.5 s at
// PASSWORD_COST). An admin deleted or demoted meanwhile must not have it
// written: the writing transaction checks, under a share lock on the actor's
// row, that they still are a live agent of the role the route needs.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import type { Db } from '../../src/store/db.js';
import { expectError } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

type Held = 'transaction' | 'transactOne';

/** The store, with a way to hold the next transaction (of one kind) before it begins. */
function holdable(db: Db) {
  let armed: { kind: Held; reached(): void; gate: Promise<void> } | undefined;
  const pause = async (kind: Held) => {
    if (armed?.kind !== kind) return;
    const held = armed;
    armed = undefined;
    held.reached();
    await held.gate;
  };
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'transaction') {
        return async (fn: never, options?: never) => {
          await pause('transaction');
          return target.transaction(fn, options);
        };
      }
      if (prop === 'transactOne') {
        return async (text: string, params: readonly unknown[]) => {
          await pause('transactOne');
          return target.transactOne(text, params);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    db: wrapped,
    hold(kind: Held) {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let reached!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      armed = { kind, reached, gate };
      return { reached: reachedP, release };
    },
  };
}

describeEachStore('agents: an admin deleted or demoted while their request is in flight changes nothing', (store) => {
  let t: TestApp;
  let hold: ReturnType<typeof holdable>['hold'];
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store(), {
      beforeApp: (ctx) => {
        const h = holdable(ctx.db);
        ctx.db = h.db;
        hold = h.hold;
      },
    });
  });
  afterEach(() => t.close());

  const login = async (email: string) => {
    const res = await t.call('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().token as string;
  };
  const admins = async () => {
    const actor = await makeAgent(t.ctx, { role: 'admin' });
    const boss = await makeAgent(t.ctx, { role: 'admin' });
    return { actor, actorToken: await login(actor.email), bossToken: await login(boss.email) };
  };
  const row = async (id: string) => (await store().db.query<AgentRow>('select * from agents where id = $1', [id]))[0]!;
  const events = async (type: string) => Number((await store().db.query<{ n: string }>('select count(*) as n from events where type = $1', [type]))[0]!.n);

  /** What the boss does to the actor while the actor's request is held. */
  const removals = [
    { label: 'deleted', status: 401, code: 'SB_UNAUTHORIZED', remove: (id: string, token: string) => t.call('DELETE', `/api/v1/agents/${id}`, { token }), expect: 204 },
    {
      label: 'demoted',
      status: 403,
      code: 'SB_FORBIDDEN',
      remove: (id: string, token: string) => t.call('PATCH', `/api/v1/agents/${id}`, { token, body: { role: 'supervisor' } }),
      expect: 200,
    },
  ] as const;

  for (const removal of removals) {
    it(`POST /agents by an admin ${removal.label} in flight: ${removal.status} ${removal.code}, no agent made`, async () => {
      const { actor, actorToken, bossToken } = await admins();
      const created = await events('agent.created');
      const held = hold('transaction');
      const pending = t.call('POST', '/api/v1/agents', { token: actorToken, body: { name: 'Backdoor', email: 'backdoor@example.test', password: 'a backdoor pass', role: 'admin' } });
      await held.reached; // authorized, password hashed, about to write
      assert.equal((await removal.remove(actor.id, bossToken)).statusCode, removal.expect);
      held.release();
      expectError(await pending, removal.status, removal.code);
      assert.equal((await store().db.query(`select 1 from agents where email = 'backdoor@example.test'`)).length, 0, 'no agent was made');
      assert.equal(await events('agent.created'), created, 'no agent.created event');
    });

    it(`PATCH /agents/:id (role, password) by an admin ${removal.label} in flight: ${removal.status} ${removal.code}, the agent unchanged`, async () => {
      const { actor, actorToken, bossToken } = await admins();
      const target = await makeAgent(t.ctx);
      const targetToken = await login(target.email);
      const before = await row(target.id);
      const updated = await events('agent.updated');
      const held = hold('transactOne');
      const pending = t.call('PATCH', `/api/v1/agents/${target.id}`, { token: actorToken, body: { role: 'admin', password: 'a new backdoor pass' } });
      await held.reached;
      assert.equal((await removal.remove(actor.id, bossToken)).statusCode, removal.expect);
      held.release();
      expectError(await pending, removal.status, removal.code);
      const after = await row(target.id);
      assert.deepEqual([after.role, after.password_hash, after.updated_at], [before.role, before.password_hash, before.updated_at], 'the agent is as it was');
      assert.equal(await events('agent.updated'), updated + (removal.label === 'demoted' ? 1 : 0), 'only the demotion was recorded');
      assert.equal((await t.call('GET', '/api/v1/agents/me', { token: targetToken })).statusCode, 200, "the agent's token still works");
    });

    it(`PATCH /settings and PUT /departments/:name/routing by an admin ${removal.label} in flight: ${removal.status} ${removal.code}, nothing changes`, async () => {
      const changes = [
        (token: string) => t.call('PATCH', '/api/v1/settings', { token, body: { max_customers: 17 } }),
        (token: string) => t.call('PUT', '/api/v1/departments/sales/routing', { token, body: { mode: 'manual' } }),
      ];
      for (const change of changes) {
        const { actor, actorToken, bossToken } = await admins();
        const settingsBefore = (await t.call('GET', '/api/v1/settings', { token: bossToken })).json();
        const changed = await events('settings.changed');
        const held = hold('transaction');
        const pending = change(actorToken);
        await held.reached; // let in as an admin, about to write
        assert.equal((await removal.remove(actor.id, bossToken)).statusCode, removal.expect);
        held.release();
        expectError(await pending, removal.status, removal.code);
        assert.deepEqual((await t.call('GET', '/api/v1/settings', { token: bossToken })).json(), settingsBefore);
        assert.equal((await store().db.query(`select 1 from department_routing where department = 'sales'`)).length, 0, 'no routing was written');
        assert.equal(await events('settings.changed'), changed, 'no settings.changed event');
      }
    });

    it(`DELETE /agents/:id by an admin ${removal.label} in flight: ${removal.status} ${removal.code}, the agent stays`, async () => {
      const { actor, actorToken, bossToken } = await admins();
      const target = await makeAgent(t.ctx, { status: 'online' });
      const held = hold('transactOne');
      const pending = t.call('DELETE', `/api/v1/agents/${target.id}`, { token: actorToken });
      await held.reached;
      assert.equal((await removal.remove(actor.id, bossToken)).statusCode, removal.expect);
      held.release();
      expectError(await pending, removal.status, removal.code);
      const after = await row(target.id);
      assert.deepEqual([after.deleted_at, after.status], [null, 'online'], 'the agent is still there, online');
      assert.equal(await events('agent.deleted'), removal.label === 'deleted' ? 1 : 0, 'only the actor was deleted');
    });
  }

  it('PATCH /agents/me by an agent deleted in flight: 401 SB_UNAUTHORIZED, not 404', async () => {
    const { bossToken } = await admins();
    const agent = await makeAgent(t.ctx);
    const token = await login(agent.email);
    const held = hold('transactOne');
    const pending = t.call('PATCH', '/api/v1/agents/me', { token, body: { status: 'online' } });
    await held.reached;
    assert.equal((await t.call('DELETE', `/api/v1/agents/${agent.id}`, { token: bossToken })).statusCode, 204);
    held.release();
    expectError(await pending, 401, 'SB_UNAUTHORIZED');
  });

  it('an agent whose role changed in flight still sets their own status (any role may)', async () => {
    const { bossToken } = await admins();
    const agent = await makeAgent(t.ctx);
    const token = await login(agent.email);
    const held = hold('transactOne');
    const pending = t.call('PATCH', '/api/v1/agents/me', { token, body: { status: 'online' } });
    await held.reached;
    assert.equal((await t.call('PATCH', `/api/v1/agents/${agent.id}`, { token: bossToken, body: { role: 'supervisor' } })).statusCode, 200);
    held.release();
    const res = await pending;
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await row(agent.id)).status, 'online');
  });

  it('a live admin held just the same still creates, changes and deletes', async () => {
    const { actorToken } = await admins();
    let held = hold('transaction');
    const create = t.call('POST', '/api/v1/agents', { token: actorToken, body: { name: 'New', email: 'new@example.test', password: 'a fine password', role: 'agent' } });
    await held.reached;
    held.release();
    const made = await create;
    assert.equal(made.statusCode, 201, made.body);
    const id = made.json().id as string;
    held = hold('transactOne');
    const patch = t.call('PATCH', `/api/v1/agents/${id}`, { token: actorToken, body: { role: 'supervisor' } });
    await held.reached;
    held.release();
    assert.equal((await patch).statusCode, 200);
    held = hold('transactOne');
    const del = t.call('DELETE', `/api/v1/agents/${id}`, { token: actorToken });
    await held.reached;
    held.release();
    assert.equal((await del).statusCode, 204);
  });
});

// The same, with the deletion or demotion written but not committed in
// another connection when the request writes: the check's share lock on the
// actor's row waits for it, then reads the row as committed. PostgreSQL
// only: PGlite has one connection.
describe('agents: the actor check waits for a change of the actor in another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  const login = async (email: string) => (await t.call('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } })).json().token as string;

  it('POST /agents meets an uncommitted demotion of its admin: waits, then 403 SB_FORBIDDEN, no agent made', async () => {
    const actor = await makeAgent(t.ctx, { role: 'admin' });
    await makeAgent(t.ctx, { role: 'admin' });
    const token = await login(actor.email);
    await holder().query('begin');
    await holder().query(`update agents set role = 'supervisor' where id = $1`, [actor.id]);
    const pending = t.call('POST', '/api/v1/agents', { token, body: { name: 'Backdoor', email: 'backdoor@example.test', password: 'a backdoor pass', role: 'admin' } });
    await waitingOnLock(store().db, 'sb_actor_refusal');
    await holder().query('commit');
    expectError(await pending, 403, 'SB_FORBIDDEN');
    assert.equal((await store().db.query(`select 1 from agents where email = 'backdoor@example.test'`)).length, 0);
  });

  it('PATCH /agents/:id meets an uncommitted deletion of its admin: waits, then 401 SB_UNAUTHORIZED, the agent unchanged', async () => {
    const actor = await makeAgent(t.ctx, { role: 'admin' });
    await makeAgent(t.ctx, { role: 'admin' });
    const target = await makeAgent(t.ctx);
    const token = await login(actor.email);
    await holder().query('begin');
    await holder().query(`update agents set deleted_at = now() where id = $1`, [actor.id]);
    const pending = t.call('PATCH', `/api/v1/agents/${target.id}`, { token, body: { role: 'admin' } });
    await waitingOnLock(store().db, 'sb_update_agent');
    await holder().query('commit');
    expectError(await pending, 401, 'SB_UNAUTHORIZED');
    const [row] = await store().db.query<{ role: string }>('select role from agents where id = $1', [target.id]);
    assert.equal(row!.role, 'agent');
  });
});
