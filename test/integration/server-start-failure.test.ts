// A start that fails half way undoes what it began: the embedded broker's
// port is given back and the store the server opened is closed, so a process
// embedding Switchboard (or a supervisor's retry) is not left holding them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import type { Db } from '../../src/store/db.js';
import { openTestStore, storeKinds, type TestStore } from '../helpers/stores.js';

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something can listen on `port` (nothing holds it). */
async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The store's db, with close() counted instead of done: the suite closes the real one. */
function countingCloses(db: Db): { db: Db; closes: () => number } {
  let closes = 0;
  const spied = Object.assign(Object.create(db) as Db, { close: async () => void closes++ });
  return { db: spied, closes: () => closes };
}

for (const kind of storeKinds()) {
  describe(`a server start that fails [${kind}]`, () => {
    const stores: TestStore[] = [];
    after(() => Promise.all(stores.map((s) => s.close())));
    const env = { LOG_LEVEL: 'silent', HOST: '127.0.0.1', SWEEP_INTERVAL: '60000', ADMIN_EMAIL: 'boss@example.test' };

    it('on a weak ADMIN_PASSWORD throws the ConfigError, closes the store it was given to own and frees the MQTT port', async () => {
      const store = await openTestStore(kind);
      stores.push(store);
      const { db, closes } = countingCloses(store.db);
      const mqtt = await freePort();
      const config = loadConfig({ ...env, PORT: '0', MQTT_TCP_PORT: String(mqtt), ADMIN_PASSWORD: 'password1' });
      await assert.rejects(startServer(config, { db }), (e: unknown) => e instanceof ConfigError && e.variable === 'ADMIN_PASSWORD');
      assert.equal(closes(), 1, 'the store is closed once');
      assert.ok(await canListen(mqtt), 'the MQTT port is free');
    });

    it('on an HTTP port in use frees the MQTT port it had taken and leaves a store it does not own open', async () => {
      const store = await openTestStore(kind);
      stores.push(store);
      const { db, closes } = countingCloses(store.db);
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const { port } = taken.address() as net.AddressInfo;
      const mqtt = await freePort();
      try {
        const config = loadConfig({ ...env, PORT: String(port), MQTT_TCP_PORT: String(mqtt), ADMIN_PASSWORD: 'a long and unusual passphrase' });
        await assert.rejects(startServer(config, { db, keepDb: true }), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
      assert.ok(await canListen(mqtt), 'the MQTT port is free');
      assert.equal(closes(), 0, 'a kept store stays open');
      // The admin the start made is there: the store still answers.
      const rows = await store.db.query<{ email: string }>(`select email from agents where role = 'admin'`);
      assert.deepEqual(rows.map((r) => r.email), ['boss@example.test']);
    });
  });
}
