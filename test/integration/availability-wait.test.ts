// GET /api/v1/availability's expected_wait_seconds is "the same figure … for
// a conversation opened now" (docs/business-hours.md): the queue's own
// reckoning for a chat the widget would open at this moment (free slots
// take the first conversations at once; only the agents who could serve it
// count, by its department's and channel's required skills and its
// overflow chain). It once summed every online agent of the department and
// ignored their room: one agent with 2 free slots and an empty queue made
// 150 s for a chat assigned at once.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import { issueToken } from '../../src/agents/tokens.js';
import { makeAgent } from '../helpers/fixtures.js';
import { appOnClock } from '../helpers/app-on-clock.js';
import { describeEachStore } from '../helpers/stores.js';

const OFFICE = [{ start: '09:00', end: '17:00' }];
/** Monday to Friday, 09:00–17:00 in Paris (UTC+1 in January). */
const PARIS = { time_zone: 'Europe/Paris', weekly: { monday: OFFICE, tuesday: OFFICE, wednesday: OFFICE, thursday: OFFICE, friday: OFFICE } };
const at = (iso: string) => Date.parse(iso);
// Monday 10:00 in Paris
const MORNING = at('2026-01-05T09:00:00Z');
// Monday 18:00 in Paris: closed until Tuesday 09:00
const EVENING = at('2026-01-05T17:00:00Z');

describeEachStore('the expected wait GET /api/v1/availability tells', (store) => {
  const { clock, ctx, inject } = appOnClock(store, MORNING);
  let admin: string;
  beforeEach(async () => {
    // no slots of their own: they open conversations and change settings, never take one
    admin = (await issueToken(store().db, (await makeAgent(ctx(), { role: 'admin', capacity: 0 })).id, clock.now(), 86_400)).token;
  });

  const call = (method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown) =>
    inject({ method, url, headers: { authorization: `Bearer ${admin}` }, ...(body !== undefined ? { payload: body as object } : {}) });
  const waitTold = async (department: string) => {
    const res = await inject({ method: 'GET', url: `/api/v1/availability?department=${encodeURIComponent(department)}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().expected_wait_seconds as number | null;
  };
  /** A chat opened as the widget opens it; its reply carries the queue's answer when it waits. */
  let n = 0;
  const open = async (department: string) => {
    n += 1;
    const res = await call('POST', '/api/v1/conversations', { customer: { id: `c${n}` }, department, channel: 'widget' });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string; state: string; queue_position: number | null; expected_wait_seconds: number | null };
  };
  const put = async (url: string, body: unknown) => {
    const res = await call('PUT', url, body);
    assert.equal(res.statusCode, 200, res.body);
  };

  it('is 0 when an agent of the department has room now, within hours and outside them', async () => {
    await makeAgent(ctx(), { status: 'online', capacity: 2, departments: ['sales'] });
    assert.equal(await waitTold('sales'), 0);
    assert.equal((await open('sales')).state, 'assigned');
    // one slot left: still room
    assert.equal(await waitTold('sales'), 0);
    // outside hours an online agent still takes conversations at once (the hours do not change routing)
    await put('/api/v1/business-hours', { departments: { sales: PARIS } });
    clock.set(EVENING);
    const evening = await inject({ method: 'GET', url: '/api/v1/availability?department=sales' });
    assert.deepEqual(evening.json(), { open: false, reason: 'outside_hours', next_open_at: '2026-01-06T08:00:00.000Z', expected_wait_seconds: 0 });
    assert.equal((await open('sales')).state, 'assigned');
  });

  it('with a queue ahead, is the figure the conversation opened next is told', async () => {
    // two agents, 3 slots: 2 assigned, 1 free, then 1 more queued than there is room for
    await makeAgent(ctx(), { status: 'online', capacity: 2, departments: ['sales'] });
    await makeAgent(ctx(), { status: 'online', capacity: 1, departments: ['sales'] });
    await makeAgent(ctx(), { status: 'online', capacity: 5, departments: ['support'] });
    for (let i = 0; i < 3; i += 1) assert.equal((await open('sales')).state, 'assigned');
    const told = await waitTold('sales');
    const queued = await open('sales');
    assert.equal(queued.state, 'queued');
    assert.equal(queued.queue_position, 1);
    // 1 × 300 s (the default handle time) ÷ 3 slots
    assert.equal(queued.expected_wait_seconds, 100);
    assert.equal(told, queued.expected_wait_seconds);
    const second = await waitTold('sales');
    const next = await open('sales');
    assert.equal(next.queue_position, 2);
    assert.equal(second, next.expected_wait_seconds);
    assert.equal(second, 200);
    // outside hours, counted in open time from now, as the queued one's
    await put('/api/v1/business-hours', { departments: { sales: PARIS } });
    clock.set(EVENING);
    const overnight = await waitTold('sales');
    const third = await open('sales');
    assert.equal(third.queue_position, 3);
    assert.equal(overnight, third.expected_wait_seconds);
    assert.equal(overnight, 15 * 3600 + 300);
  });

  it('with a queue ahead and room left (a manual-pick department), takes the free slots off the place, as the queue does', async () => {
    await makeAgent(ctx(), { status: 'online', capacity: 2, departments: ['desk'] });
    await put('/api/v1/departments/desk/routing', { mode: 'manual' });
    // nothing is given: the agent picks; the first two wait for nothing but that pick
    const waits: (number | null)[] = [];
    for (let i = 0; i < 3; i += 1) waits.push((await open('desk')).expected_wait_seconds);
    assert.deepEqual(waits, [0, 0, 150]);
    const told = await waitTold('desk');
    const fourth = await open('desk');
    assert.equal(fourth.queue_position, 4);
    // (4 − 2 free) × 300 s ÷ 2 slots
    assert.equal(fourth.expected_wait_seconds, 300);
    assert.equal(told, fourth.expected_wait_seconds);
  });

  it('counts only the agents with the skills the department and the widget require', async () => {
    const plain = await makeAgent(ctx(), { status: 'online', capacity: 2, departments: ['sales'] });
    await put('/api/v1/departments/sales/routing', { required_skills: { french: 2 } });
    // the one online agent lacks French: nobody could take it, as the queued conversation is told
    assert.equal(await waitTold('sales'), null);
    const waiting = await open('sales');
    assert.equal(waiting.state, 'queued');
    assert.equal(waiting.expected_wait_seconds, null);
    // with French, the agent takes it; then the next one finds room
    await updateAgent(ctx(), plain.id, { skills: { french: 2 } }, SYSTEM);
    assert.equal(await waitTold('sales'), 0);
    // the widget's own requirement counts too
    await put('/api/v1/channels/widget/routing', { required_skills: { chat: 1 } });
    assert.equal(await waitTold('sales'), null);
    assert.equal((await open('sales')).expected_wait_seconds, null);
  });

  it('counts the agents of the departments it overflows to', async () => {
    await makeAgent(ctx(), { status: 'online', capacity: 1, departments: ['support'] });
    await makeAgent(ctx(), { status: 'offline', capacity: 4, departments: ['sales'] });
    await put('/api/v1/departments/sales/routing', { overflow: [{ after_s: 60, to: 'support' }] });
    assert.equal((await open('support')).state, 'assigned');
    const told = await waitTold('sales');
    const overflowing = await open('sales');
    assert.equal(overflowing.state, 'queued');
    // 1 × 300 s ÷ the support agent's 1 slot
    assert.equal(overflowing.expected_wait_seconds, 300);
    assert.equal(told, overflowing.expected_wait_seconds);
  });
});
