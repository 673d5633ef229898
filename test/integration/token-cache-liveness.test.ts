// The token cache (src/agents/tokens.ts, migration 0047) trusts what it read
// while its LISTEN connection hears every change. A connection whose network
// path goes silent (an idle flow dropped by a NAT, load balancer or firewall;
// a failed-over host) reports no error until TCP keepalive gives up, hours
// later, and meanwhile every notice is lost. So:
// - the listening connection checks itself (a query every few seconds, with
//   a timeout): no answer counts as a lost connection, the cache is not
//   trusted, and the connection is made again (src/store/postgres-listen.ts);
// - a cached token is trusted for a short time only after it was read, then
//   read again, so even a notice lost some other way heals quickly.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { agentForToken, cacheTokens, issueToken, revokeToken } from '../../src/agents/tokens.js';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { buildApp } from '../../src/http/app.js';
import type { Db } from '../../src/store/db.js';
import { listenPostgres } from '../../src/store/postgres-listen.js';
import { openPostgres } from '../../src/store/postgres.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore, openTestStore, type TestStore } from '../helpers/stores.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds, failing after `ms`; resolves to the time it took. */
async function within(ms: number, check: () => Promise<boolean>, what: string): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
  return Date.now() - start;
}

/** Counts token lookups made through `db` (the cache's, and agentForTokenHash's). */
function countLookups(db: Db): { count: () => number; restore: () => void } {
  const query = db.query.bind(db);
  let lookups = 0;
  db.query = ((text: string, params?: readonly unknown[]) => {
    if (text.includes('from auth_tokens t join agents a')) lookups += 1;
    return query(text, params);
  }) as typeof db.query;
  return {
    count: () => lookups,
    restore: () => {
      db.query = query;
    },
  };
}

/** Waits until the cache of `db` is in use: a second lookup of a token makes no round trip. */
async function cacheInUse(db: Db, lookups: () => number): Promise<void> {
  const agent = await makeAgent({ db, now: () => new Date() }, { role: 'agent' });
  const { token } = await issueToken(db, agent.id, new Date(), 3600);
  await within(
    5_000,
    async () => {
      await agentForToken(db, token, new Date());
      const before = lookups();
      await agentForToken(db, token, new Date());
      return lookups() === before;
    },
    'the cache is in use',
  );
}

describeEachStore('token cache: an entry is trusted only for a while after it was read', (store) => {
  let lookups: ReturnType<typeof countLookups>;
  let stop: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    await store().reset();
    lookups = countLookups(store().db);
  });
  afterEach(async () => {
    await stop?.();
    stop = undefined;
    lookups.restore();
  });

  it('re-reads a cached token once it is older than maxAgeMs: a revocation whose notice never came is refused then', async () => {
    const db = store().db;
    stop = cacheTokens(db, { maxAgeMs: 1_000 });
    await cacheInUse(db, lookups.count);
    const agent = await makeAgent({ db, now: () => new Date() }, { role: 'admin' });
    const { token } = await issueToken(db, agent.id, new Date(), 3600);
    // taken before the read: the entry's age counts from when its lookup began, however long that took
    const read = Date.now();
    assert.equal((await agentForToken(db, token, new Date()))?.id, agent.id);
    const before = lookups.count();
    assert.equal((await agentForToken(db, token, new Date()))?.id, agent.id);
    assert.equal(lookups.count(), before, 'cached');

    // revoked with the triggers off: no NOTIFY, as if the notice were lost
    await db.transaction(async (tx) => {
      await tx.query('set local session_replication_role = replica');
      await tx.query('update auth_tokens set revoked_at = now() where agent_id = $1', [agent.id]);
    });
    const [row] = await db.query<{ revoked_at: Date | null }>('select revoked_at from auth_tokens where agent_id = $1', [agent.id]);
    assert.ok(row?.revoked_at, 'revoked in the database');
    await sleep(200);
    if (Date.now() - read < 800) {
      // no notice came: the cache still admits it (this is what the age bounds)
      assert.equal((await agentForToken(db, token, new Date()))?.id, agent.id, 'the revocation sent no notice');
    }

    const took = await within(3_000, async () => (await agentForToken(db, token, new Date())) === undefined, 'the silently revoked token refused');
    assert.ok(Date.now() - read >= 1_000 - 50, `refused ${Date.now() - read} ms after it was read, before its entry was 1 s old (took ${took} ms)`);
  });

  it('keeps a token read again after maxAgeMs cached, and its lookups one per maxAgeMs', async () => {
    const db = store().db;
    // an age the reads below fit in on a loaded machine
    stop = cacheTokens(db, { maxAgeMs: 1_000 });
    await cacheInUse(db, lookups.count);
    const agent = await makeAgent({ db, now: () => new Date() }, { role: 'agent' });
    const { token } = await issueToken(db, agent.id, new Date(), 3600);
    await agentForToken(db, token, new Date());
    await sleep(1_050);
    const before = lookups.count();
    assert.equal((await agentForToken(db, token, new Date()))?.id, agent.id);
    assert.equal(lookups.count(), before + 1, 'read again once old');
    for (let i = 0; i < 5; i++) assert.equal((await agentForToken(db, token, new Date()))?.id, agent.id);
    assert.equal(lookups.count(), before + 1, 'then cached again');
  });

  it('holds at most maxEntries tokens: at that size the stale go first, then the longest held', async () => {
    const db = store().db;
    // an age the reads below fit in on a loaded machine (each a lookup or two)
    stop = cacheTokens(db, { maxAgeMs: 1_500, maxEntries: 3 });
    await cacheInUse(db, lookups.count);
    const agent = await makeAgent({ db, now: () => new Date() }, { role: 'agent' });
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) tokens.push((await issueToken(db, agent.id, new Date(), 3600)).token);
    /** Whether `token` is admitted without a lookup (a miss reads and caches it). */
    const cached = async (token: string) => {
      const before = lookups.count();
      assert.equal((await agentForToken(db, token, new Date()))?.id, agent.id);
      return lookups.count() === before;
    };
    // cacheInUse left its own token in the cache: it goes stale first
    await sleep(1_550);
    for (const token of tokens.slice(0, 3)) assert.equal(await cached(token), false, 'first read');
    assert.deepEqual([await cached(tokens[0]!), await cached(tokens[1]!), await cached(tokens[2]!)], [true, true, true], 'the stale entry made room');
    // a fourth fresh token pushes out the longest held, tokens[0]
    assert.equal(await cached(tokens[3]!), false);
    assert.deepEqual([await cached(tokens[1]!), await cached(tokens[2]!), await cached(tokens[3]!)], [true, true, true]);
    assert.equal(await cached(tokens[0]!), false, 'tokens[0] was dropped and is read again');
  });
});

// PostgreSQL only: the LISTEN connection of src/store/postgres-listen.ts,
// reached through a TCP proxy that can black-hole it (nothing forwarded,
// nothing closed: what an idle flow dropped by the network looks like).
describe('token cache behind a silently stalled LISTEN connection [postgres]', { skip: !process.env.TEST_DATABASE_URL }, () => {
  let store: TestStore;
  let proxy: net.Server;
  const sockets = new Set<net.Socket>();
  /** the connections that sent LISTEN "switchboard_auth", in order */
  const listeners: { client: net.Socket; upstream: net.Socket; frozen: boolean }[] = [];
  let proxyUrl: string;

  before(async () => {
    store = await openTestStore('postgres');
    const target = new URL(store.url!);
    proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      sockets.add(client).add(upstream);
      let listener: (typeof listeners)[number] | undefined;
      client.on('data', (chunk) => {
        if (!listener && /listen "switchboard_auth"/i.test(chunk.toString('latin1'))) {
          listener = { client, upstream, frozen: false };
          listeners.push(listener);
        }
        if (listener?.frozen) return; // black hole
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (listener?.frozen) return;
        client.write(chunk);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = new URL(store.url!);
    url.hostname = '127.0.0.1';
    url.port = String((proxy.address() as net.AddressInfo).port);
    proxyUrl = url.toString();
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => proxy.close(resolve));
    await store.close();
  });

  const lastListener = () => listeners[listeners.length - 1];

  it('the listening connection finds itself silent: onError, then a new connection and reconnected', async () => {
    const errors: unknown[] = [];
    let reconnections = 0;
    const count = listeners.length;
    const listening = await listenPostgres(
      { connectionString: proxyUrl, connectTimeoutMs: 5_000, checkEveryMs: 200, checkTimeoutMs: 500 },
      'switchboard_auth',
      { notified: () => {}, reconnected: () => (reconnections += 1), onError: (error) => errors.push(error) },
    );
    try {
      assert.equal(listeners.length, count + 1);
      await sleep(700); // checks pass while the connection answers
      assert.deepEqual(errors, []);
      lastListener()!.frozen = true;
      await within(2_000, async () => errors.length > 0, 'the silent connection counted as lost');
      assert.match(String(errors[0]), /answer/);
      await within(3_000, async () => reconnections === 1, 'listening again on a new connection');
      assert.equal(listeners.length, count + 2);
    } finally {
      await listening.close();
    }
    // closed: no more checks, no more connections
    const made = listeners.length;
    await sleep(600);
    assert.equal(listeners.length, made);
  });

  async function revokedRefusedWithin(ms: number, db: Db) {
    const ctx: Ctx = { db, now: () => new Date() };
    const app = await buildApp({ ctx, config: { ...loadConfig({}), logLevel: 'silent' as const }, metrics: createMetrics(db, ctx.now), tokenCache: true });
    await app.ready();
    const lookups = countLookups(db);
    try {
      const agent = await makeAgent({ db: store.db, now: () => new Date() }, { role: 'admin' });
      const { token } = await issueToken(store.db, agent.id, new Date(), 3600);
      const me = async () => (await app.inject({ method: 'GET', url: '/api/v1/agents/me', headers: { authorization: `Bearer ${token}` } })).statusCode;
      // the cache is on and keeps the token
      await within(
        5_000,
        async () => {
          assert.equal(await me(), 200);
          const before = lookups.count();
          assert.equal(await me(), 200);
          return lookups.count() === before;
        },
        'the cache is in use',
      );
      const listener = lastListener()!;
      listener.frozen = true; // the idle LISTEN flow is dropped silently
      // another process logs the token out (its own connection, its NOTIFY is sent, and lost)
      await revokeToken(store.db, token, new Date());
      await within(ms, async () => (await me()) === 401, 'the revoked token refused');
      // and the cache is in use again, on a new listening connection
      const other = await makeAgent({ db: store.db, now: () => new Date() }, { role: 'agent' });
      const fresh = await issueToken(store.db, other.id, new Date(), 3600);
      const again = async () => (await app.inject({ method: 'GET', url: '/api/v1/agents/me', headers: { authorization: `Bearer ${fresh.token}` } })).statusCode;
      await within(
        10_000,
        async () => {
          assert.equal(await again(), 200);
          const before = lookups.count();
          assert.equal(await again(), 200);
          return lookups.count() === before;
        },
        'the cache in use again',
      );
      assert.notEqual(lastListener(), listener, 'listening on a new connection');
    } finally {
      lookups.restore();
      await app.close();
    }
  }

  it('a token revoked by another process is refused within 2 s of its revocation (checks every 200 ms, 500 ms timeout)', async () => {
    const db = openPostgres({ connectionString: proxyUrl, max: 4, connectTimeoutMs: 5_000 });
    db.listen = (channel, handlers) => listenPostgres({ connectionString: proxyUrl, connectTimeoutMs: 5_000, checkEveryMs: 200, checkTimeoutMs: 500 }, channel, handlers);
    try {
      await revokedRefusedWithin(2_000, db);
    } finally {
      await db.close();
    }
  });

  it('with the defaults (a check every 5 s, 3 s timeout), within 10 s', async () => {
    const db = openPostgres({ connectionString: proxyUrl, max: 4, connectTimeoutMs: 5_000 });
    try {
      await revokedRefusedWithin(10_000, db);
    } finally {
      await db.close();
    }
  });
});
