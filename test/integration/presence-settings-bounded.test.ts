// Migration 0084: a keep-alive or grace period saved before they were
// bounded (30 days) made every "go offline" fail; the upgrade brings it down.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { migrate } from '../../src/store/migrate.js';
import { storeMigratedBefore } from '../helpers/scratch-database.js';
import { storeKinds } from '../helpers/stores.js';

describe('migration 0084 on presence settings saved past the limit', () => {
  for (const kind of storeKinds()) {
    it(`brings them down to 30 days and leaves others as they were [${kind}]`, async () => {
      const { db, drop } = await storeMigratedBefore(kind, '0084');
      try {
        const save = (key: string, value: unknown) =>
          db.query(`insert into settings (key, value, updated_at) values ($1, $2::jsonb, now()) on conflict (key) do update set value = excluded.value`, [key, JSON.stringify(value)]);
        await save('agent_offline_grace_ms', 1e15);
        await save('attendant_keep_alive_ms', 45_000);
        await migrate(db);
        const rows = await db.query<{ key: string; value: number }>(
          `select key, value from settings where key in ('agent_offline_grace_ms', 'attendant_keep_alive_ms') order by key`,
        );
        assert.deepEqual(rows, [
          { key: 'agent_offline_grace_ms', value: 2_592_000_000 },
          { key: 'attendant_keep_alive_ms', value: 45_000 },
        ]);
      } finally {
        await drop();
      }
    });
  }
});
