// A database outage under load. The server process reaches PostgreSQL through
// a TCP proxy in this test; for 10 s the proxy destroys every open connection
// and refuses new ones (what a restarting or unreachable PostgreSQL looks like
// from the application), while 32 clients keep sending the mixed load.
//
// Checked: during the outage every request is answered, within a bound, with
// 503 SB_STORE_UNAVAILABLE and a clear message (never a 500, never a hang, never
// a dropped connection) and /healthz says 503; afterwards the same process —
// not restarted — answers 2xx again, every request acknowledged before or
// during the outage is in the database (checkAfterLoad), the engine's promises
// hold, and the webhook worker and the routing sweep carried on: every
// webhook delivery is made.
//
// PostgreSQL only: PGlite is embedded in the process; it has no connection to lose.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, checkAfterLoad, createWebhook, loginAdmin, pendingAfter, runLoad, SEED, SERVER_ENV, STARTUP_TIMEOUT_MS } from '../helpers/load.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const SKIP = process.env.TEST_DATABASE_URL
  ? false
  : 'needs TEST_DATABASE_URL: the outage is of a PostgreSQL server; PGlite is embedded in the process and has no connection to lose';

const OUTAGE_MS = 10_000;
/**
 * Every request must be answered within this, outage or not: the longest
 * wait is for a free pooled connection (statement timeout 5 s + connect
 * timeout 3 s), plus a busy machine's slack.
 */
const ANSWER_BOUND_MS = 15_000;
/** After the outage, the process must be back to 2xx within this. */
const RECOVERY_MS = 3_000;
/** Attempts in flight when the outage began could not be recorded; their lease (WEBHOOK_TIMEOUT + 30 s) must run out. */
const DRAIN_BOUND_MS = 40_000;

/** A TCP proxy to PostgreSQL that can fail like a database going away: open connections cut, new ones refused. */
async function startProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  const port = await listen(0);
  return {
    port,
    /** Cuts every connection and stops listening: connecting is refused until `restore`. */
    async fail() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async restore() {
      await listen(port);
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('database outage', () => {
  let server: ServerProcess | undefined;
  let store: TestStore | undefined;
  let receiver: Receiver | undefined;
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;

  after(async () => {
    await proxy?.restore().catch(() => {});
    await server?.kill();
    await proxy?.close();
    await receiver?.close();
    await store?.close();
  });

  it('answers 503 during a 10 s outage, recovers without a restart, and loses nothing acknowledged', { skip: SKIP }, async (t) => {
    t.diagnostic(`seed ${SEED} (CONCURRENCY_SEED=${SEED} repeats the operation sequence)`);
    store = await openTestStore('postgres', { poolSize: 4 });
    const db = store.db;
    const direct = new URL(store.url!);
    proxy = await startProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const proxied = new URL(store.url!);
    proxied.host = `127.0.0.1:${proxy.port}`;
    let secret = '';
    receiver = await startReceiver(() => [secret]);
    server = await startServerProcess({
      env: {
        ...SERVER_ENV,
        DATABASE_URL: proxied.toString(),
        DATA_DIR: undefined,
        SWEEP_INTERVAL: '1000',
        DATABASE_CONNECT_TIMEOUT: '3000',
        DATABASE_STATEMENT_TIMEOUT: '5000',
        ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true',
        WEBHOOK_TIMEOUT: '2000',
        WEBHOOK_POLL_INTERVAL: '250',
      },
      timeoutMs: STARTUP_TIMEOUT_MS,
    });
    const base = server.url;
    const admin = await loginAdmin(base);
    secret = await createWebhook(base, admin, receiver.url, ['conversation.created', 'conversation.resolved', 'message.created']);

    let outageStart = 0;
    let outageEnd = 0;
    const health: { at: number; status: number }[] = [];
    let sample: Response | undefined;
    let sampleBody: any;
    // Why the server said 503, whenever it did: shown when the test fails.
    t.after(() => {
      const reasons = new Map<string, number>();
      for (const r of server?.logs() ?? []) {
        if (r.msg !== 'store unavailable') continue;
        const reason = String((r.err as { message?: string } | undefined)?.message);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      t.diagnostic(`503 causes: ${JSON.stringify(Object.fromEntries(reasons))}`);
    });
    const report = await runLoad({
      servers: [base],
      operations: 500,
      seed: SEED,
      alsoAllowed: [{ status: 503, codes: ['SB_STORE_UNAVAILABLE'] }],
      requestTimeoutMs: ANSWER_BOUND_MS,
      during: async () => {
        await sleep(2_000);
        outageStart = Date.now();
        await proxy!.fail();
        const probing = (async () => {
          while (Date.now() - outageStart < OUTAGE_MS - 500) {
            const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(ANSWER_BOUND_MS) });
            await res.arrayBuffer();
            health.push({ at: Date.now(), status: res.status });
            await sleep(250);
          }
        })();
        await sleep(1_000);
        // What a client is told, in full.
        sample = await fetch(`${base}/api/v1/conversations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ customer: { id: 'during-outage' } }),
          signal: AbortSignal.timeout(ANSWER_BOUND_MS),
        });
        sampleBody = await sample.json();
        await probing;
        await sleep(Math.max(0, outageStart + OUTAGE_MS - Date.now()));
        await proxy!.restore();
        outageEnd = Date.now();
        // Load on the recovered process.
        await sleep(RECOVERY_MS + 5_000);
      },
    });

    const during = report.timeline.filter((a) => a.sentAt > outageStart + 500 && a.answeredAt < outageEnd);
    const afterwards = report.timeline.filter((a) => a.sentAt > outageEnd + RECOVERY_MS);
    const slowest = Math.max(...report.timeline.map((a) => a.answeredAt - a.sentAt));
    t.diagnostic(`${during.length} requests during the outage, ${afterwards.length} after recovery; slowest answer ${slowest} ms`);

    // During: 503 with the clear message and retry-after; never anything else from the database's absence.
    assert.equal(sample?.status, 503);
    assert.equal(sample?.headers.get('retry-after'), '5');
    assert.deepEqual(sampleBody, { error: { code: 'SB_STORE_UNAVAILABLE', message: 'the database is not answering; try again shortly' } });
    assert.ok(during.length > 50, 'the load went on during the outage');
    assert.deepEqual(
      during.filter((a) => a.status !== 503).map((a) => `${a.op} → ${a.status}`),
      [],
      'requests during the outage not answered 503 (they cannot reach the database)',
    );
    assert.ok(health.length >= 3, `healthz was probed during the outage (${health.length} times)`);
    assert.deepEqual(health.filter((h) => h.status !== 503), [], '/healthz during the outage');

    // After: the same process answers again, without 503s.
    assert.equal(server.child.exitCode, null, 'the server process is still running');
    assert.ok(afterwards.length > 20, `the load went on after the outage (${afterwards.length} requests)`);
    assert.deepEqual(
      afterwards.filter((a) => a.status === null || a.status >= 500).map((a) => `${a.op} → ${a.status}`),
      [],
      `requests sent more than ${RECOVERY_MS} ms after the outage that failed`,
    );
    assert.equal((await call(base, 'GET', '/healthz')).status, 200);

    // The webhook worker carried on: every delivery made (a retry only where the outage ate the record of an answer).
    const pending = await pendingAfter(db, DRAIN_BOUND_MS);
    assert.equal(pending, 0, `webhook deliveries still pending ${DRAIN_BOUND_MS} ms after the load`);
    const rows = await db.query<{ message_id: string; state: string }>('select message_id, state from outbound_requests');
    assert.ok(rows.length > 100, 'webhooks were due');
    assert.deepEqual(rows.filter((r) => r.state !== 'delivered'), [], 'deliveries not delivered');
    const accepted = new Set(receiver.accepted.map((r) => r.id));
    assert.deepEqual(rows.filter((r) => !accepted.has(r.message_id)).map((r) => r.message_id), [], 'deliveries the receiver never accepted');
    assert.deepEqual(receiver.problems, []);

    // The sweep failed during the outage and kept going (the invariants below include "nobody waits while an agent has room").
    const logs = server.logs();
    assert.ok(logs.some((r) => r.msg === 'sweep failed; retrying next tick'), 'the sweep ran into the outage');
    await checkAfterLoad(t, db, report, [server], { expectedErrorLog: (r) => r.msg === 'store unavailable', minCreated: 50, minResolved: 20 });
  });
});
