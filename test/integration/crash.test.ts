// Crash safety: one of two server processes on one PostgreSQL is killed with
// SIGKILL in the middle of a mixed load (creates, messages, resolves,
// transfers, presence) while webhooks are being delivered, and started again.
//
// Checked from the database and from the receiver: every request answered 2xx
// is committed (checkAfterLoad, shared with the concurrency suite); no
// conversation is assigned twice and no agent is over capacity; every stored
// message is retrievable from the restarted process's history; every webhook
// delivery — those the dead process had claimed included — is delivered after
// the restart, each webhook-id accepted exactly once (a second receipt only
// where the receiver never answered the first), and no delivery is left
// pending after a bounded wait.
//
// A second receipt of a webhook-id is allowed only where no live sender got
// the answer: the receiver never answered (it holds every request for a
// moment before the kill, so some attempts end unanswered), or it answered
// the killed process, which died before recording it — the row was still
// pending right after the kill. Any other duplicate fails the test.
//
// PostgreSQL only: the point is two processes sharing one database, which
// the embedded PGlite store (one process, in-process) cannot do.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, checkAfterLoad, createWebhook, loginAdmin, pendingAfter, runLoad, SEED, SERVER_ENV, STARTUP_TIMEOUT_MS } from '../helpers/load.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const SKIP = process.env.TEST_DATABASE_URL
  ? false
  : 'needs TEST_DATABASE_URL: the test runs two server processes on one PostgreSQL database; PGlite is an embedded, single-process store';

const EVENTS = ['conversation.created', 'conversation.assigned', 'conversation.resolved', 'message.created'];
/**
 * A delivery the dead process had claimed comes due again when its lease ends: this plus 30 s.
 * The attempts the held receiver never answers end at it and are retried 5 s later; a retry
 * that timed out again would wait 5 minutes, past the bound below. 3 s was short enough for
 * that on a slow host, where this process (the receiver and the load's clients) answers
 * late while the victim restarts beside the browser tests (2 of 3 runs on 2026-11-26).
 */
const WEBHOOK_TIMEOUT_MS = 8_000;
/** How long after the load every delivery must have been made. */
const DRAIN_BOUND_MS = 45_000;

describe('crash safety', () => {
  const servers: ServerProcess[] = [];
  let store: TestStore | undefined;
  let receiver: Receiver | undefined;

  after(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await receiver?.close();
    await store?.close();
  });

  it('a process killed with SIGKILL mid-load loses nothing acknowledged, and every webhook is delivered once after the restart', { skip: SKIP }, async (t) => {
    t.diagnostic(`seed ${SEED} (CONCURRENCY_SEED=${SEED} repeats the operation sequence)`);
    store = await openTestStore('postgres', { poolSize: 4 });
    const db = store.db;
    let secret = '';
    receiver = await startReceiver(() => [secret]);
    const env = {
      ...SERVER_ENV,
      DATABASE_URL: store.url!,
      DATA_DIR: undefined,
      // The sweep is the safety net for a match the dead process committed no follow-up for.
      SWEEP_INTERVAL: '1000',
      ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true',
      WEBHOOK_TIMEOUT: String(WEBHOOK_TIMEOUT_MS),
      WEBHOOK_POLL_INTERVAL: '250',
    };
    const start = () => startServerProcess({ env, timeoutMs: STARTUP_TIMEOUT_MS });
    servers.push(...(await Promise.all([start(), start()])));

    const admin = await loginAdmin(servers[0]!.url);
    secret = await createWebhook(servers[0]!.url, admin, receiver.url, EVENTS);

    const urls = servers.map((s) => s.url);
    let pendingAtKill: number[] = [];
    /** webhook-ids the receiver accepted whose delivery was still pending right after the kill */
    let answeredToTheDead = new Set<string>();
    let restartedAfterMs = 0;
    let killedAtMs = 0;
    const report = await runLoad({
      servers: urls,
      operations: 700,
      seed: SEED,
      tolerateNetworkErrors: true,
      requestTimeoutMs: 20_000,
      during: async () => {
        await sleep(2_500);
        // Hold every webhook request from here on: the victim records what was answered before.
        receiver!.answer = () => 'hang';
        await sleep(1_000);
        const victim = servers[0]!;
        const signal = await victim.kill({ signal: 'SIGKILL' });
        assert.equal(signal, 'SIGKILL');
        receiver!.answer = () => ({ status: 204 });
        const pendingRows = await db.query<{ id: number; message_id: string }>(`select id, message_id from outbound_requests where state = 'pending' order by id`);
        pendingAtKill = pendingRows.map((r) => Number(r.id));
        const pendingIds = new Set(pendingRows.map((r) => r.message_id));
        const killedAt = Date.now();
        killedAtMs = performance.now();
        const restarted = await start();
        // Answered to nobody: what the victim was told before it died, and what it had sent
        // that this (busy) process read only after the kill and answered once hanging stopped —
        // seen in CI: a batch accepted up to a second after the kill, then again when its lease ran out.
        answeredToTheDead = new Set(receiver!.accepted.map((r) => r.id).filter((id) => pendingIds.has(id)));
        restartedAfterMs = Date.now() - killedAt;
        servers.push(restarted);
        urls[0] = restarted.url;
        // Load on the restarted process too, before it ends.
        await sleep(2_000);
      },
    });
    t.diagnostic(`killed pid ${servers[0]!.pid}; restarted in ${restartedAfterMs} ms; ${pendingAtKill.length} deliveries pending at the kill`);
    t.diagnostic(`requests without an answer: ${JSON.stringify(Object.fromEntries(report.inconclusive))}`);
    // The kill hit the load: requests were cut off or refused until the restart.
    assert.ok(report.inconclusive.size > 0, 'some requests went unanswered (the kill happened under load)');

    // Every delivery is made within the bound: the dead process's leases run out and another sends them.
    const drainStarted = Date.now();
    const pending = await pendingAfter(db, DRAIN_BOUND_MS);
    t.diagnostic(`outbox drained ${Date.now() - drainStarted} ms after the load`);
    assert.equal(pending, 0, `webhook deliveries still pending ${DRAIN_BOUND_MS} ms after the load`);

    const alive = servers.slice(1);
    await checkAfterLoad(t, db, report, alive);

    // Every stored message can be read back through the history API of the restarted process.
    const restarted = servers[2]!;
    const stored = await db.query<{ conversation_id: string; ids: number[] }>(
      'select conversation_id, array_agg(id order by id) as ids from messages group by conversation_id',
    );
    for (const { conversation_id: id, ids } of stored) {
      const history = await call(restarted.url, 'GET', `/api/v1/conversations/${id}/messages?limit=500`, { token: admin });
      assert.equal(history.status, 200, JSON.stringify(history.body));
      assert.deepEqual((history.body as { id: number }[]).map((m) => Number(m.id)), ids.map(Number), `messages of conversation ${id}`);
    }

    // Every subscribed event became exactly one delivery, and every delivery was made.
    // the endpoint's start is a position in the log's (xid_bound, id) order (migration 0073)
    const expected = (
      await db.query<{ key: string }>(
        `select e.id || ':' || e.type as key from events e, webhook_endpoints w
          where e.type = any($1::text[]) and (e.xid_bound, e.id) > (w.since_xid_bound, w.since_event_id) order by e.id`,
        [EVENTS],
      )
    ).map((r) => r.key);
    const rows = await db.query<{ id: number; key: string; message_id: string; state: string }>(
      `select id, event_id || ':' || name as key, message_id, state from outbound_requests order by event_id, name`,
    );
    assert.deepEqual(rows.map((r) => r.key).sort(), [...expected].sort(), 'one delivery per subscribed event');
    assert.deepEqual(rows.filter((r) => r.state !== 'delivered').map((r) => `${r.id} ${r.state}`), [], 'deliveries not delivered');
    // (every row is delivered, above: so were those the kill left pending — as long as it left some)
    assert.ok(pendingAtKill.length > 0, 'the kill left deliveries pending');

    // The receiver accepted each webhook-id once — twice only where its sender never heard the answer:
    // the answer died with the killed process, or a live process's attempt ended without a response
    // (its timeout ran out first, as happens when a loaded machine delays the receiver's answer) and
    // the webhook was sent again, as at-least-once delivery must.
    assert.deepEqual(receiver.problems, [], 'signature or format problems at the receiver');
    const unheard = new Set(
      (
        await db.query<{ message_id: string }>(
          'select distinct o.message_id from outbound_attempts a join outbound_requests o on o.id = a.request_id where a.status is null',
        )
      ).map((r) => r.message_id),
    );
    const accepted = new Map<string, number>();
    for (const r of receiver.accepted) accepted.set(r.id, (accepted.get(r.id) ?? 0) + 1);
    const twice = [...accepted].filter(([id, n]) => n > (answeredToTheDead.has(id) || unheard.has(id) ? 2 : 1)).map(([id]) => id);
    if (twice.length > 0) {
      // What a failure needs to be read: each attempt the database holds, and when the receiver took each copy.
      const attempts = await db.query(
        `select o.message_id, o.state, a.attempt, a.started_at, a.duration_ms, a.status, a.error
           from outbound_requests o left join outbound_attempts a on a.request_id = o.id where o.message_id = any($1::text[]) order by o.id, a.id`,
        [twice],
      );
      t.diagnostic(`killed at ${killedAtMs.toFixed(0)} ms; accepted twice: ${JSON.stringify(receiver.accepted.filter((r) => twice.includes(r.id)).map((r) => [r.id, Math.round(r.at)]))}`);
      t.diagnostic(`their attempts: ${JSON.stringify(attempts)}`);
    }
    assert.deepEqual(
      twice,
      [],
      'webhook-ids accepted more than once though a live process had recorded the answer',
    );
    assert.deepEqual([...accepted.keys()].sort(), rows.map((r) => r.message_id).sort(), 'the receiver accepted exactly the deliveries');
    const unanswered = receiver.requests.length - receiver.accepted.length;
    const again = [...accepted.values()].filter((n) => n > 1).length;
    t.diagnostic(`${rows.length} deliveries, ${receiver.requests.length} requests received, ${unanswered} never answered (held around the kill), ${again} accepted again after their answer died with the killed process`);
  });
});
