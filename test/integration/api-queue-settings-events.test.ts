// GET /api/v1/queue, GET/PATCH /api/v1/settings, GET /api/v1/events
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { ATTACHMENT_DEFAULTS, CSAT_DEFAULTS, readSettings } from '../../src/settings/settings.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, rawJson } from '../helpers/api-kit.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

interface QueueEntry {
  conversation: { id: string; state: string; queue_position: number; expected_wait_seconds: number | null; department: string | null };
  position: number;
  waiting_seconds: number;
  expected_wait_seconds: number | null;
}
interface EventView {
  id: number;
  type: string;
  conversation_id: string | null;
  agent_id: string | null;
  data: Record<string, unknown>;
  created_at: string;
}

describeEachStore('api: queue, settings, events', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const queue = async (token: string, query = '') => {
    const res = await k.call('GET', `/api/v1/queue${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as QueueEntry[];
  };
  const events = async (token: string, query = '') => {
    const res = await k.call('GET', `/api/v1/events${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as EventView[];
  };

  it('queue, settings and events answer 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'GET', url: '/api/v1/queue' },
      { method: 'GET', url: '/api/v1/settings' },
      { method: 'PATCH', url: '/api/v1/settings', body: { max_customers: 5 } },
      { method: 'GET', url: '/api/v1/events' },
    ]);
  });

  it('every role may read the queue; settings are read by admins and supervisors and changed by admins; events are for admins (403, nothing changed)', async () => {
    const { admin, supervisor, agent } = await k.cast();
    for (const who of [admin, supervisor, agent]) assert.deepEqual(await queue(who.token), []);
    assert.equal((await k.call('GET', '/api/v1/settings', { token: supervisor.token })).statusCode, 200);
    assert.equal((await k.call('GET', '/api/v1/events', { token: admin.token })).statusCode, 200);
    await k.unchanged(async () => {
      expectError(await k.call('GET', '/api/v1/settings', { token: agent.token }), 403, 'SB_FORBIDDEN', undefined, 'agent reads settings');
      for (const who of [supervisor, agent]) {
        expectError(await k.call('PATCH', '/api/v1/settings', { token: who.token, body: { max_customers: 9 } }), 403, 'SB_FORBIDDEN', undefined, `${who.agent.role} changes settings`);
        expectError(await k.call('GET', '/api/v1/events', { token: who.token }), 403, 'SB_FORBIDDEN', undefined, `${who.agent.role} reads events`);
      }
    });
  });

  // ---- queue ----------------------------------------------------------------

  it('GET /queue lists waiting conversations in serving order (priority, then first in, first out) with per-department positions and waits', async () => {
    const { admin, agent } = await k.cast({ agentCapacity: 0 });
    const c1 = await k.open(admin.token);
    k.clock.advance(10_000);
    const c2 = await k.open(admin.token);
    k.clock.advance(10_000);
    const urgent = await k.open(admin.token, { priority: 5 });
    k.clock.advance(10_000);
    const sales = await k.open(admin.token, { department: 'sales' });
    k.clock.advance(5_000);
    const entries = await queue(agent.token);
    assert.deepEqual(entries.map((e) => e.conversation.id), [urgent.id, c1.id, c2.id, sales.id]);
    assert.deepEqual(entries.map((e) => e.position), [1, 2, 3, 1], 'positions count within each department queue');
    assert.deepEqual(entries.map((e) => e.conversation.queue_position), [1, 2, 3, 1]);
    assert.deepEqual(entries.map((e) => e.waiting_seconds), [15, 35, 25, 5]);
    assert.deepEqual(entries.map((e) => e.expected_wait_seconds), [null, null, null, null], 'no online agent has a slot');
    assert.ok(entries.every((e) => e.conversation.state === 'queued'));
    const onlySales = await queue(agent.token, '?department=sales');
    assert.deepEqual(onlySales.map((e) => [e.conversation.id, e.position]), [[sales.id, 1]]);
    assert.deepEqual(await queue(agent.token, '?department=legal'), []);
  });

  it('GET /queue estimates the wait from the online slots, and moves everyone up when a slot frees', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const solo = await k.user('agent', { status: 'online', capacity: 1 });
    const held = await k.open(admin.token);
    const w1 = await k.open(admin.token);
    const w2 = await k.open(admin.token);
    assert.equal(held.agent_id, solo.agent.id);
    let entries = await queue(admin.token);
    assert.deepEqual(entries.map((e) => [e.conversation.id, e.position, e.expected_wait_seconds]), [
      [w1.id, 1, 300],
      [w2.id, 2, 600],
    ]);
    k.clock.advance(120_000);
    assert.equal((await k.call('POST', `/api/v1/conversations/${held.id}/resolve`, { token: solo.token, body: {} })).statusCode, 200);
    entries = await queue(admin.token);
    assert.deepEqual(entries.map((e) => [e.conversation.id, e.position, e.expected_wait_seconds]), [[w2.id, 1, 120]], 'the handle time now comes from the resolved conversation');
    assert.equal((await k.conversation(w1.id)).agent_id, solo.agent.id);
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('GET /queue answers 400 for an empty department or an unknown query parameter', async () => {
    const { agent } = await k.cast();
    expectInvalid(await k.call('GET', '/api/v1/queue?department=', { token: agent.token }), 'department');
    expectInvalid(await k.call('GET', '/api/v1/queue?state=queued', { token: agent.token }), 'state');
  });

  it('GET /queue answers 400, not 500, for a department with a NUL character', async () => {
    const { agent } = await k.cast();
    const res = await k.call('GET', '/api/v1/queue?department=sa%00les', { token: agent.token });
    assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${res.body}`);
    expectInvalid(res, 'department');
  });

  const page = async (token: string, query: string) => {
    const res = await k.call('GET', `/api/v1/queue${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return { entries: res.json() as QueueEntry[], total: res.headers['x-total-count'] };
  };
  const shown = (entries: QueueEntry[]) => entries.map((e) => [e.conversation.id, e.position, e.conversation.queue_position, e.expected_wait_seconds]);

  it('GET /queue pages in serving order: later pages keep each entry\'s department position and expected wait, and X-Total-Count counts them all', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const solo = await k.user('agent', { status: 'online', capacity: 1 });
    assert.equal((await k.open(admin.token)).agent_id, solo.agent.id, 'the only slot is taken');
    const a = await k.open(admin.token);
    const s1 = await k.open(admin.token, { department: 'sales' });
    const b = await k.open(admin.token, { priority: 2 });
    const s2 = await k.open(admin.token, { department: 'sales' });
    const c = await k.open(admin.token);
    const s3 = await k.open(admin.token, { department: 'sales', priority: 1 });
    const d = await k.open(admin.token);
    // solo serves the department-less queue (one slot, 300 s each); nobody serves sales
    const expected = [
      [b.id, 1, 1, 300],
      [s3.id, 1, 1, null],
      [a.id, 2, 2, 600],
      [s1.id, 2, 2, null],
      [s2.id, 3, 3, null],
      [c.id, 3, 3, 900],
      [d.id, 4, 4, 1200],
    ];
    const whole = await page(admin.token, '?limit=500');
    assert.deepEqual(shown(whole.entries), expected);
    assert.equal(whole.total, '7');
    const pages = [];
    for (let offset = 0; offset <= 7; offset += 3) pages.push(await page(admin.token, `?limit=3&offset=${offset}`));
    assert.deepEqual(pages.map((p) => p.entries.length), [3, 3, 1]);
    assert.deepEqual(pages.flatMap((p) => shown(p.entries)), expected, 'the pages, one after the other, are the whole queue');
    assert.deepEqual(pages.map((p) => p.total), ['7', '7', '7']);
    const past = await page(admin.token, '?offset=7');
    assert.deepEqual([past.entries, past.total], [[], '7'], 'past the end: an empty page, the total still said');
    const sales = await page(admin.token, '?department=sales&limit=2&offset=1');
    assert.deepEqual(shown(sales.entries), [[s1.id, 2, 2, null], [s2.id, 3, 3, null]]);
    assert.equal(sales.total, '3');
  });

  it('GET /queue gives 100 entries unless asked for more (up to 500)', async () => {
    const { agent } = await k.cast();
    await store().db.query(
      `insert into conversations (channel, customer_id, customer, state, created_at, queued_at, updated_at)
       select 'api', 'waiting-' || i, jsonb_build_object('id', 'waiting-' || i), 'queued', $1, $1, $1 from generate_series(1, 101) as i`,
      [k.clock.now()],
    );
    const first = await page(agent.token, '');
    assert.equal(first.entries.length, 100);
    assert.equal(first.total, '101');
    assert.deepEqual(first.entries.map((e) => e.position), Array.from({ length: 100 }, (_, i) => i + 1));
    const rest = await page(agent.token, '?offset=100');
    assert.deepEqual([rest.entries.map((e) => [e.conversation.id, e.position]), rest.total], [[[(await page(agent.token, '?limit=101')).entries[100]!.conversation.id, 101]], '101']);
  });

  it('GET /queue pages a queue that ages in its aged order, positions counted across pages', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    assert.equal((await k.call('PUT', '/api/v1/departments/sales/routing', { token: admin.token, body: { aging_per_min: 1 } })).statusCode, 200);
    const low = await k.open(admin.token, { department: 'sales' });
    k.clock.advance(4 * 60_000);
    const high = await k.open(admin.token, { department: 'sales', priority: 3 }); // low has gained 4 by now
    const plain = await k.open(admin.token, { priority: 1 }); // no department, no aging
    const first = await page(admin.token, '?limit=2');
    const second = await page(admin.token, '?limit=2&offset=2');
    assert.deepEqual([...first.entries, ...second.entries].map((e) => [e.conversation.id, e.position]), [
      [low.id, 1],
      [high.id, 2],
      [plain.id, 1],
    ]);
    assert.deepEqual([first.total, second.total], ['3', '3']);
    const sales = await page(admin.token, '?department=sales&limit=1&offset=1');
    assert.deepEqual(sales.entries.map((e) => [e.conversation.id, e.position]), [[high.id, 2]]);
  });

  it('GET /queue answers 400 naming limit or offset when out of range or not a whole number', async () => {
    const { agent } = await k.cast();
    for (const query of ['limit=0', 'limit=501', 'limit=1.5', 'limit=ten']) expectInvalid(await k.call('GET', `/api/v1/queue?${query}`, { token: agent.token }), 'limit');
    for (const query of ['offset=-1', 'offset=1000001', 'offset=x']) expectInvalid(await k.call('GET', `/api/v1/queue?${query}`, { token: agent.token }), 'offset');
  });

  // ---- settings -------------------------------------------------------------

  it('GET /settings answers the runtime settings', async () => {
    const { admin, supervisor } = await k.cast();
    for (const who of [admin, supervisor]) {
      const res = await k.call('GET', '/api/v1/settings', { token: who.token });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { max_customers: 2, attendant_keep_alive_ms: 30_000, agent_offline_grace_ms: 60_000, offline_policy: 'requeue', offline_email_to: null, ...CSAT_DEFAULTS, offline_when: ['outside_hours'], ...ATTACHMENT_DEFAULTS });
    }
  });

  it('PATCH /settings changes only the given settings, persists them and records settings.changed', async () => {
    const { admin, supervisor } = await k.cast();
    const res = await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { attendant_keep_alive_ms: 45_000, offline_policy: 'keep' } });
    assert.equal(res.statusCode, 200, res.body);
    const expected = { max_customers: 2, attendant_keep_alive_ms: 45_000, agent_offline_grace_ms: 60_000, offline_policy: 'keep', offline_email_to: null, ...CSAT_DEFAULTS, offline_when: ['outside_hours'], ...ATTACHMENT_DEFAULTS };
    assert.deepEqual(res.json(), expected);
    assert.deepEqual((await k.call('GET', '/api/v1/settings', { token: supervisor.token })).json(), expected);
    assert.deepEqual(await readSettings(store().db), expected);
    const [changed] = await events(admin.token, '?type=settings.changed');
    assert.deepEqual(changed?.data, { changed: { attendant_keep_alive_ms: 45_000, offline_policy: 'keep' }, by: admin.agent.id });
  });

  it('PATCH /settings raising max_customers assigns waiting conversations at once and changes effective capacities', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const solo = await k.user('agent', { status: 'online' });
    const opened = [];
    for (let i = 0; i < 4; i++) opened.push(await k.open(admin.token));
    assert.deepEqual(opened.map((c) => c.state), ['assigned', 'assigned', 'queued', 'queued']);
    const res = await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { max_customers: 3 } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().max_customers, 3);
    assert.deepEqual([(await k.conversation(opened[2]!.id)).agent_id, (await k.conversation(opened[3]!.id)).state], [solo.agent.id, 'queued']);
    const me = (await k.call('GET', '/api/v1/agents/me', { token: solo.token })).json();
    assert.deepEqual([me.capacity, me.effective_capacity, me.load], [null, 3, 3]);
    assert.deepEqual((await queue(admin.token)).map((e) => e.conversation.id), [opened[3]!.id]);
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('PATCH /settings answers 400 naming the field for an empty patch, mistyped, out-of-range and unknown settings and invalid JSON, changing nothing', async () => {
    const { admin } = await k.cast();
    const patch = (body: unknown) => k.call('PATCH', '/api/v1/settings', { token: admin.token, body });
    await k.unchanged(async () => {
      expectInvalid(await patch({}), 'body');
      expectInvalid(await patch({ max_customers: '5' }), 'max_customers');
      expectInvalid(await patch({ max_customers: 0 }), 'max_customers');
      expectInvalid(await patch({ max_customers: 2.5 }), 'max_customers');
      expectInvalid(await patch({ max_customers: null }), 'max_customers');
      expectInvalid(await patch({ attendant_keep_alive_ms: 999 }), 'attendant_keep_alive_ms');
      expectInvalid(await patch({ agent_offline_grace_ms: -1 }), 'agent_offline_grace_ms');
      expectInvalid(await patch({ offline_policy: 'drop' }), 'offline_policy');
      expectInvalid(await patch({ offline_email_to: 'not an address' }), 'offline_email_to');
      expectInvalid(await patch({ max_customers: 3, theme: 'dark' }), 'theme');
      expectError(await k.call('PATCH', '/api/v1/settings', { token: admin.token, ...rawJson('{"max_customers": 3') }), 400, 'SB_INVALID_JSON');
    });
  });

  // ---- events ---------------------------------------------------------------

  it('GET /events lists what happened in commit order, with its data', async () => {
    const { admin, agent } = await k.cast({ agentCapacity: 1 });
    const mark = (await events(admin.token, '?limit=1000')).at(-1)!.id;
    const c = await k.open(admin.token);
    const owner = c.agent_id === agent.agent.id ? agent : undefined;
    const token = owner?.token ?? admin.token;
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token, body: { text: 'hi' } })).statusCode, 201);
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/resolve`, { token, body: {} })).statusCode, 200);
    const list = await events(admin.token, `?after=${mark}`);
    assert.deepEqual(list.map((e) => e.type), ['conversation.created', 'conversation.assigned', 'message.created', 'conversation.resolved']);
    assert.ok(list.every((e) => e.conversation_id === c.id));
    assert.ok(list.every((e, i) => i === 0 || e.id === list[i - 1]!.id + 1), 'ids increase one by one');
    assert.ok(list.every((e) => e.created_at === k.clock.now().toISOString()));
    assert.equal((list[1]!.data.conversation as { agent_id: string }).agent_id, c.agent_id);
    assert.equal(list[1]!.agent_id, c.agent_id);
    assert.equal((list[2]!.data.message as { text: string }).text, 'hi');
  });

  it('GET /events pages with after and limit without gaps or repeats, and filters by type', async () => {
    const { admin } = await k.cast({ agentCapacity: 5 });
    for (let i = 0; i < 6; i++) await k.open(admin.token);
    const all = await events(admin.token, '?limit=1000');
    assert.ok(all.length >= 12);
    const paged: number[] = [];
    let after = 0;
    for (;;) {
      const page = await events(admin.token, `?after=${after}&limit=5`);
      if (page.length === 0) break;
      assert.ok(page.length <= 5);
      paged.push(...page.map((e) => e.id));
      after = page.at(-1)!.id;
    }
    assert.deepEqual(paged, all.map((e) => e.id));
    assert.deepEqual([...paged].sort((a, b) => a - b), paged);
    const created = await events(admin.token, '?type=conversation.created');
    assert.equal(created.length, 6);
    assert.ok(created.every((e) => e.type === 'conversation.created'));
    assert.deepEqual(await events(admin.token, '?type=no.such.event'), []);
    assert.equal((await events(admin.token)).length, Math.min(all.length, 100), 'a page holds 100 by default');
  });

  it('GET /events answers 400 for a bad after, limit or type and unknown query parameters', async () => {
    const { admin } = await k.cast();
    const get = (query: string) => k.call('GET', `/api/v1/events?${query}`, { token: admin.token });
    expectInvalid(await get('after=-1'), 'after');
    expectInvalid(await get('after=latest'), 'after');
    expectInvalid(await get('limit=0'), 'limit');
    expectInvalid(await get('limit=1001'), 'limit');
    expectInvalid(await get('type='), 'type');
    expectInvalid(await get('since=0'), 'since');
  });

  it('GET /events answers 400 (or an empty page), not 500, for an after beyond the 64-bit id range', async () => {
    const { admin } = await k.cast();
    for (const after of ['9223372036854775808', '99999999999999999999']) {
      const res = await k.call('GET', `/api/v1/events?after=${after}`, { token: admin.token });
      assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: after=${after} → ${res.body}`);
      assert.ok(res.statusCode === 400 || (res.statusCode === 200 && res.json().length === 0), res.body);
    }
  });
});
