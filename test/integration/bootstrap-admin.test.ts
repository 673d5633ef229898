// The first admin, made at start-up when nobody can administer Switchboard:
// a Qiscus agent's mirror is no one who can (it cannot sign in), and an
// address that belongs to someone else is not taken over.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { ensureAdmin } from '../../src/agents/bootstrap.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('the first admin', (store) => {
  let ctx: Ctx;
  beforeEach(async () => {
    await store().reset();
    ctx = { db: store().db, now: () => new Date() };
  });
  const config = (env: Record<string, string> = {}) => loadConfig({ ...env });
  const admins = () => store().db.query<{ email: string; source: string | null }>(`select email, source from agents where role = 'admin' order by email`);

  it('is made on a first start, once: a second start finds it', async () => {
    const made = await ensureAdmin(ctx, config());
    assert.equal(made?.email, 'admin@localhost');
    assert.ok(made?.password && made.password.length >= 12);
    assert.equal(await ensureAdmin(ctx, config()), undefined);
    assert.deepEqual(await admins(), [{ email: 'admin@localhost', source: null }]);
  });

  it('is not made with a weak or overlong ADMIN_PASSWORD (ConfigError naming it, nobody created); once an admin exists the value is never judged', async () => {
    for (const password of ['password1', 'x'.repeat(150) + 'y'.repeat(60)]) {
      await assert.rejects(ensureAdmin(ctx, config({ ADMIN_EMAIL: 'boss@example.test', ADMIN_PASSWORD: password })), (e: unknown) => e instanceof ConfigError && e.variable === 'ADMIN_PASSWORD');
      assert.deepEqual(await admins(), []);
    }
    await makeAgent(ctx, { role: 'admin' });
    for (const password of ['changeme', 'password1', 'x'.repeat(250)]) assert.equal(await ensureAdmin(ctx, config({ ADMIN_PASSWORD: password })), undefined);
  });

  it('is made although a Qiscus mirror is an admin: nobody can sign in as one', async () => {
    const mirror = await makeAgent(ctx, { role: 'admin', name: 'Mirror' });
    await store().db.query(`update agents set source = 'qiscus', external_ref = '9', password_hash = '!' where id = $1`, [mirror.id]);
    const made = await ensureAdmin(ctx, config({ ADMIN_EMAIL: 'boss@example.test', ADMIN_PASSWORD: 'a long and unusual passphrase' }));
    assert.deepEqual(made, { email: 'boss@example.test' });
    assert.deepEqual((await admins()).map((a) => a.email).sort(), ['boss@example.test', mirror.email].sort());
  });

  it("says so, instead of nothing, when the address is an agent's who is no admin", async () => {
    const agent = await makeAgent(ctx, { name: 'Eve' });
    const made = await ensureAdmin(ctx, config({ ADMIN_EMAIL: agent.email, ADMIN_PASSWORD: 'a long and unusual passphrase' }));
    assert.deepEqual(made, { email: agent.email, taken: true });
    assert.deepEqual(await admins(), []);
    const [eve] = await store().db.query<{ role: string }>(`select role from agents where id = $1`, [agent.id]);
    assert.equal(eve!.role, 'agent', 'not made admin behind her back');
  });
});
