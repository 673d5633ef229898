// The LISTEN connection (src/store/postgres-listen.ts) behind a TCP proxy: repeated silent losses,
// a "restart" (every connection cut, new ones refused for a while), and
// close() while the path is black-holed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { listenPostgres } from '../../src/store/postgres-listen.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function within(ms: number, check: () => boolean, what: string) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

describe('the LISTEN connection through losses, a restart and a black hole [postgres]', { skip: !process.env.TEST_DATABASE_URL }, () => {
  let store: TestStore;
  let proxy: net.Server;
  let proxyUrl: string;
  let refusing = false;
  let accepted = 0;
  const conns: { client: net.Socket; upstream: net.Socket; frozen: boolean; open: boolean }[] = [];

  before(async () => {
    store = await openTestStore('postgres');
    const target = new URL(store.url!);
    proxy = net.createServer({ allowHalfOpen: true }, (client) => {
      accepted += 1;
      if (refusing) return void client.destroy();
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      const c = { client, upstream, frozen: false, open: true };
      conns.push(c);
      client.on('data', (chunk) => !c.frozen && upstream.write(chunk));
      upstream.on('data', (chunk) => !c.frozen && client.write(chunk));
      client.on('end', () => {
        c.open = false; // the listener's side let go of it (FIN)
        if (!c.frozen) upstream.end(); // frozen: a black hole sends no FIN back
      });
      const done = () => {
        c.open = false;
        client.destroy();
        upstream.destroy();
      };
      client.on('close', done);
      upstream.on('close', () => !c.frozen && done());
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = new URL(store.url!);
    url.hostname = '127.0.0.1';
    url.port = String((proxy.address() as net.AddressInfo).port);
    proxyUrl = url.toString();
  });
  after(async () => {
    for (const c of conns) {
      c.client.destroy();
      c.upstream.destroy();
    }
    await new Promise((r) => proxy.close(r));
    await store.close();
  });

  it('five silent losses in a row: one live connection left, none leaked, none after close()', async () => {
    const errors: unknown[] = [];
    let reconnections = 0;
    const first = conns.length;
    const listening = await listenPostgres(
      { connectionString: proxyUrl, connectTimeoutMs: 2_000, checkEveryMs: 100, checkTimeoutMs: 200 },
      'listen_cycles_test',
      { notified: () => {}, reconnected: () => (reconnections += 1), onError: (e) => errors.push(e) },
    );
    for (let i = 1; i <= 5; i++) {
      conns[conns.length - 1]!.frozen = true;
      await within(3_000, () => reconnections === i, `reconnected ${i}`);
    }
    await sleep(300);
    const mine = conns.slice(first);
    assert.equal(mine.filter((c) => c.open).length, 1, `open connections: ${mine.filter((c) => c.open).length} of ${mine.length}`);
    await listening.close();
    await sleep(300);
    assert.equal(mine.filter((c) => c.open).length, 0, 'all closed');
    const made = conns.length;
    await sleep(500);
    assert.equal(conns.length, made, 'no connection after close()');
  });

  it('a database "restart": cut and refused for 1.5 s, then listening again; attempts back off', async () => {
    let reconnections = 0;
    const errors: unknown[] = [];
    let notified = 0;
    const listening = await listenPostgres(
      { connectionString: proxyUrl, connectTimeoutMs: 2_000, checkEveryMs: 100, checkTimeoutMs: 200 },
      'listen_cycles_test',
      { notified: () => (notified += 1), reconnected: () => (reconnections += 1), onError: (e) => errors.push(e) },
    );
    try {
      refusing = true;
      const before = accepted;
      for (const c of conns) if (c.open) c.upstream.destroy();
      await sleep(1_500);
      const attempts = accepted - before;
      assert.ok(attempts <= 8, `${attempts} connection attempts in 1.5 s`);
      refusing = false;
      await within(6_000, () => reconnections === 1, 'listening again');
      const client = new pg.Client({ connectionString: store.url! });
      await client.connect();
      await client.query('notify listen_cycles_test');
      await client.end();
      await within(2_000, () => notified === 1, 'hears again');
    } finally {
      refusing = false;
      await listening.close();
    }
  });

  it('close() returns promptly while the path is black-holed (no check in flight)', async () => {
    const listening = await listenPostgres(
      { connectionString: proxyUrl, connectTimeoutMs: 2_000, checkEveryMs: 60_000, checkTimeoutMs: 3_000 },
      'listen_cycles_test',
      { notified: () => {} },
    );
    conns[conns.length - 1]!.frozen = true;
    const start = Date.now();
    const outcome = await Promise.race([listening.close().then(() => 'closed'), sleep(5_000).then(() => 'hung')]);
    assert.equal(outcome, 'closed', `close() still pending after ${Date.now() - start} ms`);
  });
});
