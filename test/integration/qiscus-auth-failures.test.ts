// What Qiscus' authentication failing does to the calls the outbox makes.
//
// In login mode a call without a token is not sent (producer.ts, noLogin):
// the attempt ends at once and is tried again after the login's 5 s
// cool-down. Found by review (2026-11-26): each of those attempts counted
// toward the call's six, so a login outage of about 30 s after a token
// expired used up every attempt of an assign_agent and the room was failed,
// though not one of them reached Qiscus. Now they are recorded as skipped
// (AttemptRecord.skipped): not counted, retried until the login works.
//
// A 401 is retried at once in login mode: the token expired, and the retry
// logs in again. With the secret key (auth mode A) there is nothing to
// renew: found by review (2026-11-26), a 401 was retried at once all the
// same, and a call's six attempts went in milliseconds. It now backs off
// like any other failure.
//
// In login mode the SDK server's secret key (for the room's last comment id,
// before mark_as_resolved) is the one the login answered with. Found by
// review (2026-11-26): it was kept for good, so once the key was rotated in
// Qiscus every resolve was refused (401) until a restart. Now a 401 to the
// key a login gave forgets it, and the next attempt logs in for the new one.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ASSIGN_MAX_ATTEMPTS } from '../../src/channels/qiscus/producer.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const ASSIGN = '/api/v1/admin/service/assign_agent';
const LOGIN = '/api/v1/auth';
const LOOKUP = '/api/v2.1/rest/get_rooms_info';

describeEachStore('Qiscus calls when authentication fails', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const requests = (path: string) => fake.requests.filter((r) => r.path === path).length;
  const assignCall = async () =>
    (
      await store().db.query<{ state: string; attempts: number; last_error: string | null; logged: number }>(
        `select o.state, o.attempts, o.last_error, (select count(*)::int from outbound_attempts a where a.request_id = o.id) as logged
           from outbound_requests o where o.name = 'assign_agent'`,
      )
    )[0]!;

  it("uses up none of an assign_agent's attempts while there is no token, and sends it once the login works", async () => {
    const h = await harness({ login: true });
    const [agent] = fake.addAgents(1);
    await h.webhook('r1');
    // the pass logs in and decides; then the token expires and the login fails (a changed password)
    await h.channel.allocator.pass();
    const password = fake.password;
    fake.password = 'changed-in-qiscus';
    fake.expireTokens();
    // the first attempt goes with the dead token (401: counted), its retry at once finds no token
    await h.worker.tick();
    assert.deepEqual([requests(ASSIGN), requests(LOGIN)], [1, 2]);
    // the login fails for far longer than the call's attempts would last, one login per cool-down
    const cooldowns = 3 * ASSIGN_MAX_ATTEMPTS;
    for (let i = 0; i < cooldowns; i += 1) {
      h.clock.advance(5_000);
      await h.worker.tick();
    }
    assert.equal(requests(LOGIN), 2 + cooldowns);
    assert.equal(requests(ASSIGN), 1, 'a call went out without a token');
    const waiting = await assignCall();
    assert.deepEqual([waiting.state, waiting.attempts, waiting.logged], ['pending', 1, 1], 'the attempts without a call were counted');
    assert.match(waiting.last_error ?? '', /^no call: Qiscus login as .* failed: HTTP 401/);
    const [room] = await store().db.query<{ state: string; reason: string | null }>(
      `select c.state, q.reason from conversations c join qiscus_rooms q on q.conversation_id = c.id where c.external_ref = 'r1'`,
    );
    assert.equal(room!.state, 'assigned');
    assert.match(room!.reason ?? '', /^assign_agent not sent \(no call: Qiscus login .*\); retrying/);

    fake.password = password;
    h.clock.advance(5_000);
    await h.worker.tick();
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', agent!.id]]);
    const sent = await assignCall();
    assert.deepEqual([sent.state, sent.attempts, sent.logged], ['delivered', 2, 2]);
  });

  it('keeps rooms waiting, not failed, while the login is refused, logs it once, and assigns them when it works again', async () => {
    const logged: { level: 'error' | 'warn'; msg: string }[] = [];
    const log = { error: (_: object, msg: string) => logged.push({ level: 'error', msg }), warn: (_: object, msg: string) => logged.push({ level: 'warn', msg }) };
    const h = await harness({ login: true, log });
    const [agent] = fake.addAgents(1);
    const password = fake.password;
    fake.password = 'changed-in-qiscus';
    await h.webhook('r1');
    await h.webhook('r2');
    // far more passes than the refusals that give a room up (3); each after the rooms' back-off
    for (let i = 0; i < 8; i += 1) {
      await h.channel.allocator.pass();
      h.clock.advance(31_000);
    }
    assert.ok(requests(LOGIN) >= 8, 'the passes tried the login');
    const rooms = await store().db.query<{ external_ref: string; state: string }>(`select external_ref, state from conversations order by external_ref`);
    assert.deepEqual(rooms.map((r) => [r.external_ref, r.state]), [['r1', 'queued'], ['r2', 'queued']], 'a room was failed for the login');
    assert.deepEqual(logged.map((l) => l.level), ['error'], 'the failing login is logged once within the quiet period');
    assert.match(logged[0]!.msg, /Qiscus login failed/);

    fake.password = password;
    await h.channel.allocator.pass();
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.agent_id), [agent!.id, agent!.id]);
    assert.deepEqual(logged.map((l) => l.level), ['error', 'warn']);
    assert.match(logged[1]!.msg, /works again/);
  });

  it("backs a 401 off on the schedule in secret-key mode, where the retry at once would get the same answer", async () => {
    const h = await harness();
    const [agent] = fake.addAgents(1);
    fake.inject(ASSIGN, { status: 401, body: { status: 401, errors: 'Unauthorized' } }, { status: 401, body: { status: 401, errors: 'Unauthorized' } });
    await h.webhook('r1');
    await h.settle();
    assert.equal(requests(ASSIGN), 1, 'the 401 was retried at once');
    const waiting = await assignCall();
    assert.deepEqual([waiting.state, waiting.attempts], ['pending', 1]);
    h.clock.advance(1_000);
    await h.worker.tick();
    assert.equal(requests(ASSIGN), 2);
    h.clock.advance(3_000);
    await h.worker.tick();
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', agent!.id]]);
    assert.equal(requests(LOGIN), 0);
  });

  it('logs in again for the SDK secret key once the one its login gave is refused (rotated in Qiscus)', async () => {
    const h = await harness({ login: true });
    fake.addAgents(1);
    await h.webhook('r1');
    await h.settle();
    assert.equal(fake.rooms.get('r1')?.length, 1);
    fake.lastComments.set('r1', '77');
    const before = fake.secret;
    fake.secret = 'rotated-secret';
    const [conversation] = await store().db.query<{ id: string }>(`select id from conversations where external_ref = 'r1'`);
    const admin = await h.t.user('admin');
    assert.equal((await h.t.call('POST', `/api/v1/conversations/${conversation!.id}/resolve`, { token: admin.token, body: { note: 'done' } })).statusCode, 200);
    await h.worker.tick();
    const lookups = fake.requests.filter((r) => r.path === LOOKUP).map((r) => r.headers['qiscus-sdk-secret']);
    assert.deepEqual(lookups, [before, 'rotated-secret'], 'the refused key was used again');
    assert.equal(requests(LOGIN), 2);
    assert.deepEqual(fake.markedResolved.map((m) => [m.room_id, m.notes, m.last_comment_id]), [['r1', 'done', '77']]);
  });
});
