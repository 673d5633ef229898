// Logging out of an agent already offline records no status change, and is
// still a choice of offline: a keep-alive timeout's resume_status goes, so no
// heartbeat from another session brings them back. Whether they already are is
// decided by sb_update_agent under the agent's row lock: here the sweep's
// keep-alive timeout, in another connection, sets the agent offline while the
// logout waits for that lock, and the logout must go by what it committed.
// PostgreSQL only: PGlite has one connection, so nothing can hold a lock
// beside the logout there (api-auth.test.ts covers the logout on both stores).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { storeKinds } from '../helpers/stores.js';

describe('logout beside a keep-alive timeout in another connection [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  let t: TestApp;
  const { store, holder } = eachTestWithLockHolder(async (fresh) => {
    t = await testApp(fresh);
    return () => t.close();
  });

  it('a logout that waited for a keep-alive timeout setting the agent offline records no change of its own and leaves nothing to resume', async () => {
    const { agent, token } = await t.user('agent', { status: 'online' });
    // What the sweep does for an agent whose keep-alive expired, held open.
    await holder().query('begin');
    await holder().query('select pg_advisory_xact_lock(7301001)');
    await holder().query(`update agents set resume_status = status, status = 'offline', offline_since = now(), updated_at = now() where id = $1`, [agent.id]);

    const logout = t.call('POST', '/api/v1/auth/logout', { token });
    await waitingOnLock(store().db, 'sb_update_agent');
    await holder().query('commit');
    assert.equal((await logout).statusCode, 204);

    const [row] = await store().db.query<{ status: string; resume_status: string | null }>('select status, resume_status from agents where id = $1', [agent.id]);
    assert.deepEqual(row, { status: 'offline', resume_status: null }, 'no heartbeat from another session brings the agent back');
    const reasons = await store().db.query<{ reason: string }>(
      `select data->>'reason' as reason from events where type = 'agent.status_changed' and agent_id = $1 order by id`,
      [agent.id],
    );
    assert.deepEqual(reasons.map((r) => r.reason), ['set'], 'only the status change that brought the agent online');
  });
});
