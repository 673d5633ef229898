// Graceful shutdown on SIGTERM, on both stores. Twenty conversation creates
// are in flight — the server has read their heads, the clients are still
// sending their bodies, as slow clients do — and webhook deliveries are in
// flight (the receiver holds them) when the process gets SIGTERM.
//
// Checked: every request in flight is answered 201 and committed; a new
// connection made after the shutdown began is refused; the process exits 0
// within a bound; no webhook is lost — every event is a delivery (pending or
// made) or still ahead of the fan-out cursor, and the attempts in flight were
// recorded (timed out, to be retried), none left leased.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../../src/store/db.js';
import { openPglite } from '../../src/store/pglite.js';
import { call, createWebhook, loginAdmin, SERVER_ENV, STARTUP_TIMEOUT_MS } from '../helpers/load.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { openTestStore, storeKinds, type TestStore } from '../helpers/stores.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';
import { migratedDataDir } from '../helpers/pglite-template.js';

/** Requests in flight at SIGTERM: the server has read their head, half their body is still to come. */
const SLOW = 20;
/** A webhook attempt in flight at shutdown ends by this deadline; the process may take that plus the creates. */
const WEBHOOK_TIMEOUT_MS = 2_000;
const EXIT_BOUND_MS = 15_000;

/**
 * A create sent slowly: head and half the body now, the rest on `finish()`.
 * On a keep-alive agent, as browsers and load balancers connect: a
 * connection that stays open after its answer must not hold up the exit.
 */
function slowCreate(base: string, agent: http.Agent, token: string, customer: string): { reply: Promise<{ status: number; body: any }>; finish(): void } {
  const body = Buffer.from(JSON.stringify({ customer: { id: customer, name: 'Slow' }, priority: 1 }));
  const half = Math.floor(body.length / 2);
  const req = http.request(`${base}/api/v1/conversations`, {
    method: 'POST',
    agent,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(body.length) },
  });
  const reply = new Promise<{ status: number; body: any }>((resolve) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: error.code ?? error.message }));
  });
  req.flushHeaders();
  req.write(body.subarray(0, half));
  return { reply, finish: () => req.end(body.subarray(half)) };
}

/** Waits until `ready()` holds, checking every 5 ms. */
async function until(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!ready()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A request on a connection of its own (no keep-alive reuse), so "refused" means the listening socket is gone. */
function freshRequest(base: string, path: string): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request(`${base}${path}`, { agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

describe('graceful shutdown', { concurrency: true }, () => {
  for (const kind of storeKinds()) {
    describe(`[${kind}]`, () => {
      let server: ServerProcess | undefined;
      let store: TestStore | undefined;
      let dataDir: string | undefined;
      let reader: Db | undefined;
      let receiver: Receiver | undefined;
      const keepAlive = new http.Agent({ keepAlive: true, maxSockets: Infinity });

      after(async () => {
        keepAlive.destroy();
        await server?.kill({ signal: 'SIGKILL' });
        await receiver?.close();
        await reader?.close();
        await store?.close();
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
      });

      it('SIGTERM answers the requests in flight, refuses new connections, keeps pending webhooks, and exits 0', async (t) => {
        const env: Record<string, string | undefined> = {
          ...SERVER_ENV,
          // per-request log lines: the test knows when the server has read every request
          LOG_LEVEL: 'debug',
          ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true',
          WEBHOOK_TIMEOUT: String(WEBHOOK_TIMEOUT_MS),
        };
        if (kind === 'postgres') {
          store = await openTestStore('postgres', { poolSize: 2 });
          Object.assign(env, { DATABASE_URL: store.url!, DATA_DIR: undefined });
        } else {
          dataDir = await migratedDataDir('sb-shutdown-');
          Object.assign(env, { DATABASE_URL: undefined, DATA_DIR: dataDir });
        }
        let secret = '';
        receiver = await startReceiver(() => [secret]);
        // Deliveries stay in flight until the sender gives up.
        receiver.answer = () => 'hang';
        server = await startServerProcess({ env, timeoutMs: STARTUP_TIMEOUT_MS });
        const base = server.url;
        const admin = await loginAdmin(base);
        secret = await createWebhook(base, admin, receiver.url, ['conversation.created']);
        // A first delivery is in flight before the slow creates.
        const first = await call(base, 'POST', '/api/v1/conversations', { token: admin, body: { customer: { id: 'first' } } });
        assert.equal(first.status, 201);
        await until(() => receiver!.requests.length > 0, 10_000, 'the first webhook delivery');

        const incoming = () => server!.logs().filter((r) => r.msg === 'incoming request' && (r.req as { method?: string })?.method === 'POST').length;
        const before = incoming();
        const slow = Array.from({ length: SLOW }, (_, i) => slowCreate(base, keepAlive, admin, `slow-${i}`));
        // Every request has been read up to its half-sent body: each is in flight from here on.
        await until(() => incoming() - before >= SLOW, 30_000, 'the server to read every request head');
        const termAt = Date.now();
        server.child.kill('SIGTERM');
        await until(() => server!.logs().some((r) => r.msg === 'shutting down'), 10_000, 'the shutting-down log line');
        // The log line comes just before the listening socket closes: retry a
        // new connection until it is refused (it cannot pass vacuously: the
        // process cannot exit while the slow requests are still unanswered).
        let late = await freshRequest(base, '/healthz');
        for (const deadline = Date.now() + 5_000; JSON.stringify(late) !== '{"error":"ECONNREFUSED"}' && Date.now() < deadline; ) {
          await sleep(20);
          late = await freshRequest(base, '/healthz');
        }
        for (const request of slow) request.finish();
        const replies = await Promise.all(slow.map((r) => r.reply));
        const exit = await Promise.race([server.exited, sleep(EXIT_BOUND_MS).then(() => 'still running')]);
        const exitMs = Date.now() - termAt;
        t.diagnostic(`exit ${String(exit)} ${exitMs} ms after SIGTERM; a new connection got ${JSON.stringify(late)}`);

        assert.deepEqual(
          replies.filter((r) => r.status !== 201).map((r) => JSON.stringify(r)),
          [],
          'requests in flight at SIGTERM that were not answered 201',
        );
        assert.deepEqual(late, { error: 'ECONNREFUSED' }, 'a connection made after the shutdown began');
        assert.equal(exit, 0, `exit status within ${EXIT_BOUND_MS} ms\n${server.stderr.slice(-20).join('\n')}`);

        const db = kind === 'postgres' ? store!.db : (reader = await openPglite(dataDir!));
        const ids = new Set((await db.query<{ id: string }>('select id from conversations')).map((r) => r.id));
        const created = replies.map((r) => String(r.body?.id));
        assert.deepEqual(created.filter((id) => !ids.has(id)), [], 'acknowledged creates missing from the database');
        assert.equal(ids.size, SLOW + 1);

        // Not one webhook lost: each event is a delivery, pending or made, or still
        // ahead of the fan-out cursor for the next process to pick up; the attempts
        // in flight at SIGTERM were recorded (timed out, to be retried), none left leased.
        const rows = await db.query<{ id: number; event_id: number; message_id: string; state: string; attempts: number }>(
          `select id, event_id, message_id, state, attempts from outbound_requests order by id`,
        );
        // the events the fan-out has passed: at or before its cursor in log order
        const events = await db.query<{ id: number }>(
          `select e.id from events e, outbox_cursors c
            where c.name = 'webhooks' and e.type = 'conversation.created' and (e.xid_bound, e.id) <= (c.last_xid_bound, c.last_event_id)
            order by e.id`,
        );
        const queued = new Set(rows.map((r) => Number(r.event_id)));
        assert.deepEqual(events.filter((e) => !queued.has(Number(e.id))).map((e) => e.id), [], 'events passed by the fan-out without a delivery');
        assert.deepEqual(rows.filter((r) => r.state !== 'pending' && r.state !== 'delivered').map((r) => `${r.id} ${r.state}`), [], 'deliveries lost');
        const sent = new Set(receiver.requests.map((r) => r.id));
        const inFlight = rows.filter((r) => sent.has(r.message_id));
        t.diagnostic(`${events.length} events passed by the fan-out, ${rows.length} deliveries (${inFlight.length} sent, held by the receiver)`);
        assert.ok(inFlight.length > 0, 'deliveries were in flight at SIGTERM');
        assert.deepEqual(inFlight.filter((r) => r.attempts < 1 || r.state !== 'pending').map((r) => `${r.id} ${r.state} ${r.attempts}`), [], 'deliveries in flight at SIGTERM not recorded as attempted and pending');
      });
    });
  }
});
