// The expected wait outside hours counts the team expected at the opening:
// our own agents who serve the conversation, online or not. A Qiscus agent's
// mirror (agents.source not null) stays offline here and never takes one of
// our conversations (docs/api.md: "its status stays offline"), so it is not
// part of that team: not in GET /api/v1/availability, not in a queued
// conversation's wait (sb_queue_team, read by the open, GET /api/v1/queue and
// GET /api/v1/conversations/:id).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { makeAgent } from '../helpers/fixtures.js';
import { appOnClock } from '../helpers/app-on-clock.js';
import { describeEachStore } from '../helpers/stores.js';

const OFFICE = [{ start: '09:00', end: '17:00' }];
/** Monday to Friday, 09:00–17:00 in Paris (UTC+1 in January). */
const PARIS = { time_zone: 'Europe/Paris', weekly: { monday: OFFICE, tuesday: OFFICE, wednesday: OFFICE, thursday: OFFICE, friday: OFFICE } };
const at = (iso: string) => Date.parse(iso);
// Monday 18:00 in Paris: closed until Tuesday 09:00 (08:00Z), 15 hours away
const EVENING = at('2026-01-05T17:00:00Z');
const UNTIL_OPENING_S = 15 * 3600;

describeEachStore('expected waits outside hours beside a channel agent', (store) => {
  const { clock, ctx, inject } = appOnClock(store, EVENING);

  const call = (method: 'GET' | 'PUT' | 'POST', url: string, options: { token?: string; body?: unknown } = {}) =>
    inject({ method, url, headers: options.token ? { authorization: `Bearer ${options.token}` } : {}, ...(options.body !== undefined ? { payload: options.body as object } : {}) });

  /** An admin (no slots of their own), the Paris schedule by default, one of our agents with 2 slots and a Qiscus mirror with 5. */
  const setUp = async () => {
    const admin = await makeAgent(ctx(), { role: 'admin', capacity: 0 });
    const token = (await issueToken(store().db, admin.id, clock.now(), 3600)).token;
    const put = await call('PUT', '/api/v1/business-hours', { token, body: { default: PARIS } });
    assert.equal(put.statusCode, 200, put.body);
    await makeAgent(ctx(), { status: 'offline', capacity: 2 });
    // a Qiscus agent's mirror, as the allocator makes it
    const mirror = await makeAgent(ctx(), { status: 'offline', capacity: 5 });
    await store().db.query(`update agents set source = 'qiscus', external_ref = 'q-1', departments = array['@qiscus'], password_hash = '!' where id = $1`, [mirror.id]);
    return token;
  };

  it('tells the widget the wait of the 2 slots of our own agent, not of 7 with the mirror', async () => {
    await setUp();
    const res = await call('GET', '/api/v1/availability');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().open, false);
    // 300 s of work (the default handle time) for 2 slots after the opening
    assert.equal(res.json().expected_wait_seconds, UNTIL_OPENING_S + 150);
  });

  it('gives a conversation queued overnight the wait of our own agents, in its answer, its view and the queue', async () => {
    const token = await setUp();
    const left = await call('POST', '/api/v1/offline-messages', { body: { name: 'Ada', email: 'ada@example.test', message: 'Call me' } });
    assert.equal(left.statusCode, 201, left.body);
    assert.equal(left.json().state, 'queued');
    assert.equal(left.json().expected_wait_seconds, UNTIL_OPENING_S + 150);
    assert.equal((await call('GET', `/api/v1/conversations/${left.json().id}`, { token })).json().expected_wait_seconds, UNTIL_OPENING_S + 150);
    assert.equal((await call('GET', '/api/v1/queue', { token })).json()[0].expected_wait_seconds, UNTIL_OPENING_S + 150);
  });
});
