// GET /api/v1/stats: the supervisor dashboard's figures
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { DASHBOARD_SQL } from '../../src/stats/dashboard.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

interface Stats {
  at: string;
  sla: { departments: { department: string }[] };
  queue: { length: number; longest_wait_seconds: number; offered: number; departments: { department: string | null; length: number; longest_wait_seconds: number; offered: number }[] };
  activity: { interval_seconds: number; since: string; assignments: number; resolutions: number; buckets: { start: string; assignments: number; resolutions: number }[] };
  agents: { id: string; name: string; role: string; status: string; load: number; capacity: number | null; effective_capacity: number; departments: string[] }[];
}

const T0 = Date.parse('2026-01-05T09:00:00Z');
const at = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toISOString();

describeEachStore('api: stats', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  const stats = async (token: string, query = '') => {
    const res = await k.call('GET', `/api/v1/stats${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Stats;
  };

  /**
   * Ann serves support (capacity 1), Bob sales (capacity from max_customers,
   * 2 in tests), Cy is offline. Over four minutes, four conversations are
   * assigned, one resolved, and two are left waiting.
   */
  async function scenario() {
    const supervisor = await k.user('supervisor', { name: 'Sue' });
    const ann = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['support'] });
    const bob = await k.user('agent', { name: 'Bob', status: 'online', departments: ['sales'] });
    const cy = await k.user('agent', { name: 'Cy', departments: ['sales'] });
    const open = async (second: number, department: string | null) => {
      k.clock.set(T0 + second * 1000);
      return k.open(supervisor.token, { department });
    };
    const c1 = await open(5, 'support'); // → Ann, 09:00
    const c2 = await open(20, 'support'); // waits for Ann
    const c3 = await open(70, 'sales'); // → Bob, 09:01
    const c4 = await open(90, 'sales'); // → Bob, 09:01
    const c5 = await open(120, 'sales'); // waits: Bob is full
    const c6 = await open(150, null); // waits: everyone is full
    assert.deepEqual([c1, c2, c3, c4, c5, c6].map((c) => c.state), ['assigned', 'queued', 'assigned', 'assigned', 'queued', 'queued']);
    k.clock.set(T0 + 195_000);
    // Ann resolves c1 and is given c2 at once: one resolution and one assignment at 09:03
    const resolved = await k.call('POST', `/api/v1/conversations/${c1.id}/resolve`, { token: ann.token, body: {} });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.equal((await k.conversation(c2.id)).agent_id, ann.agent.id);
    k.clock.set(T0 + 240_000);
    return { supervisor, ann, bob, cy };
  }

  it('answers 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [{ method: 'GET', url: '/api/v1/stats' }]);
  });

  it('is for supervisors and admins: an agent gets 403', async () => {
    const { admin, supervisor, agent } = await k.cast();
    assert.equal((await stats(admin.token)).queue.length, 0);
    assert.equal((await stats(supervisor.token)).queue.length, 0);
    await k.unchanged(async () => {
      expectError(await k.call('GET', '/api/v1/stats', { token: agent.token }), 403, 'SB_FORBIDDEN');
    });
  });

  it('shows the queue now, per department, with the longest wait in seconds', async () => {
    const { supervisor } = await scenario();
    const { queue, at: when } = await stats(supervisor.token);
    assert.equal(when, at(240));
    assert.equal(queue.length, 2);
    assert.equal(queue.longest_wait_seconds, 120, 'c5 has waited since 09:02:00');
    assert.deepEqual(queue.departments, [
      { department: null, length: 1, longest_wait_seconds: 90, offered: 0 },
      { department: 'sales', length: 1, longest_wait_seconds: 120, offered: 0 },
    ]);
    // the same figures as the queue itself
    const waiting = (await k.call('GET', '/api/v1/queue', { token: supervisor.token })).json() as { waiting_seconds: number }[];
    assert.equal(waiting.length, queue.length);
    assert.equal(Math.max(...waiting.map((w) => w.waiting_seconds)), queue.longest_wait_seconds);
  });

  it('counts assignments and resolutions per interval, buckets aligned to the interval, the current one last', async () => {
    const { supervisor } = await scenario();
    const perMinute = (await stats(supervisor.token, `?since=${encodeURIComponent(at(0))}`)).activity;
    assert.equal(perMinute.interval_seconds, 60);
    assert.equal(perMinute.since, at(0));
    assert.deepEqual(perMinute.buckets, [
      { start: at(0), assignments: 1, resolutions: 0 },
      { start: at(60), assignments: 2, resolutions: 0 },
      { start: at(120), assignments: 0, resolutions: 0 },
      { start: at(180), assignments: 1, resolutions: 1 },
      { start: at(240), assignments: 0, resolutions: 0 },
    ]);
    assert.equal(perMinute.assignments, 4);
    assert.equal(perMinute.resolutions, 1);

    // two-minute buckets; a since inside a bucket starts the buckets at that bucket's start, but counting at since: c1 (09:00:05) is left out
    const perTwo = (await stats(supervisor.token, `?interval=120&since=${encodeURIComponent(at(30))}`)).activity;
    assert.equal(perTwo.since, at(30));
    assert.deepEqual(
      perTwo.buckets.map((b) => [b.start, b.assignments, b.resolutions]),
      [
        [at(0), 2, 0],
        [at(120), 1, 1],
        [at(240), 0, 0],
      ],
    );

    // a window that starts after the first minute leaves it out
    const later = (await stats(supervisor.token, `?since=${encodeURIComponent(at(60))}`)).activity;
    assert.equal(later.assignments, 3);
    assert.equal(later.buckets.length, 4);

    // by default: the last hour, minute by minute
    const hour = (await stats(supervisor.token)).activity;
    assert.equal(hour.interval_seconds, 60);
    assert.equal(hour.since, at(240 - 3600));
    assert.equal(hour.buckets.length, 61);
    assert.equal(hour.buckets.at(-1)!.start, at(240));
    assert.equal(hour.assignments, 4);
    assert.equal(hour.resolutions, 1);

    // an hour later the first three minutes have left the default window
    k.clock.set(T0 + 3_600_000 + 150_000);
    const fresh = await k.user('supervisor'); // the first one's token has expired
    const next = (await stats(fresh.token)).activity;
    assert.equal(next.assignments, 1);
    assert.equal(next.resolutions, 1);
  });

  it('counts only what happened since `since`, though the first bucket starts before it: the last day is 24 hours, not 25', async () => {
    const now = T0 + 50 * 60_000; // 09:50
    const hoursAgo = (hours: number) => now - hours * 3_600_000;
    await k.user('agent', { name: 'Ann', status: 'online', capacity: 3 });
    // 08:50, 09:10 and 10:50 the day before
    for (const hours of [25, 24 + 40 / 60, 23]) {
      k.clock.set(hoursAgo(hours));
      const opener = await k.user('supervisor'); // the last one's token has expired
      assert.equal((await k.open(opener.token)).state, 'assigned');
    }
    k.clock.set(now);
    const supervisor = await k.user('supervisor');
    const since = new Date(hoursAgo(24)).toISOString();
    const day = (await stats(supervisor.token, `?interval=3600&since=${encodeURIComponent(since)}`)).activity;
    assert.equal(day.since, since);
    assert.equal(day.buckets.length, 25);
    assert.deepEqual(day.buckets[0], { start: new Date(hoursAgo(24) - 50 * 60_000).toISOString(), assignments: 0, resolutions: 0 }, 'the 09:10 assignment is 24 h 40 min ago');
    assert.equal(day.buckets[1]!.assignments, 1);
    assert.equal(day.assignments, 1);
  });

  it('orders agents and departments by name, case and accents aside, the same on every store', async () => {
    const admin = await k.user('admin', { name: 'ann' });
    const departments = ['Sales', '_vip', 'billing', 'Émail'];
    for (const department of departments) {
      const res = await k.call('PUT', `/api/v1/departments/${encodeURIComponent(department)}/routing`, { token: admin.token, body: { sla_first_response_s: 60 } });
      assert.equal(res.statusCode, 200, res.body);
      await k.open(admin.token, { department }); // nobody is online: it waits
    }
    await k.open(admin.token, { department: null });
    for (const name of ['Zed', 'Émile', 'Bob']) await k.user('agent', { name });
    const { agents, queue, sla } = await stats(admin.token);
    // a C collation (PGlite's) puts uppercase before lowercase and accented letters after z
    const byName = ['_vip', 'billing', 'Émail', 'Sales'];
    assert.deepEqual(agents.map((a) => a.name), ['ann', 'Bob', 'Émile', 'Zed']);
    assert.deepEqual(queue.departments.map((d) => d.department), [null, ...byName]);
    assert.deepEqual(sla.departments.map((d) => d.department), byName);
  });

  it('lists every agent with status, load and effective capacity, online first', async () => {
    const { supervisor, ann, bob, cy } = await scenario();
    const { agents } = await stats(supervisor.token);
    const view = (u: User) => agents.find((a) => a.id === u.agent.id);
    assert.deepEqual(
      agents.map((a) => [a.name, a.status, a.load, a.effective_capacity]),
      [
        ['Ann', 'online', 1, 1],
        ['Bob', 'online', 2, 2],
        ['Cy', 'offline', 0, 2],
        ['Sue', 'offline', 0, 2],
      ],
    );
    assert.equal(view(ann)!.capacity, 1);
    assert.equal(view(bob)!.capacity, null, 'Bob has no capacity of his own: max_customers applies');
    assert.deepEqual(view(cy)!.departments, ['sales']);
    assert.equal(view(supervisor)!.role, 'supervisor');

    // a raised max_customers raises Bob's effective capacity (and fills his new slot from the queue)
    const admin = await k.user('admin', { name: 'Zed' });
    assert.equal((await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { max_customers: 3 } })).statusCode, 200);
    const after = await stats(supervisor.token);
    assert.deepEqual(after.agents.filter((a) => a.name === 'Bob').map((a) => [a.load, a.effective_capacity]), [[3, 3]]);
    assert.equal(after.queue.length, 1, 'c5 went to Bob');
    assert.equal(after.activity.assignments, 5);

    // deleted agents are gone from the list
    assert.equal((await k.call('DELETE', `/api/v1/agents/${cy.agent.id}`, { token: admin.token })).statusCode, 204);
    assert.ok(!(await stats(supervisor.token)).agents.some((a) => a.id === cy.agent.id));
  });

  it('refuses bad parameters with 400 naming the field, and changes nothing', async () => {
    const { supervisor } = await k.cast();
    const day = encodeURIComponent(new Date(T0 - 86_400_000).toISOString());
    const early = encodeURIComponent(new Date(T0 - 86_460_000).toISOString());
    const yearAndADay = encodeURIComponent(new Date(T0 - 367 * 86_400_000).toISOString());
    await k.unchanged(async () => {
      for (const [query, field] of [
        ['?interval=5', 'interval'],
        ['?interval=100000', 'interval'],
        ['?interval=1.5', 'interval'],
        ['?interval=minute', 'interval'],
        ['?since=yesterday', 'since'],
        ['?since=', 'since'],
        [`?since=${encodeURIComponent(at(60))}`, 'since'], // in the future
        ['?interval=9', 'interval'],
        [`?since=${day}&interval=30`, 'since'], // 2,881 buckets
        [`?since=${early}`, 'since'], // 1,442 minutes
        [`?since=${yearAndADay}&interval=86400`, 'since'], // 368 buckets, but more than a year of events
        ['?department=sales', 'department'],
      ] as const) {
        expectInvalid(await k.call('GET', `/api/v1/stats${query}`, { token: supervisor.token }), field, query);
      }
    });
    // a day of minutes (and the current one) is the most one answer holds
    assert.equal((await stats(supervisor.token, `?since=${day}`)).activity.buckets.length, 1441);
    const year = encodeURIComponent(new Date(T0 - 366 * 86_400_000).toISOString());
    assert.equal((await stats(supervisor.token, `?since=${year}&interval=86400`)).activity.buckets.length, 367, 'a year of days is still one answer');
  });

  it('reads the event log through its index, not by scanning it', async () => {
    const now = new Date(T0);
    const plan = await store().db.transaction(async (tx) => {
      // with a table this small the planner would rightly scan it: forbid that to see whether the index can serve the query
      await tx.query('set local enable_seqscan = off');
      const rows = await tx.query<Record<string, string>>(`explain ${DASHBOARD_SQL}`, [now, 60, new Date(T0 - 3_600_000), now]);
      return rows.map((r) => Object.values(r)[0]).join('\n');
    });
    assert.match(plan, /events_assignments_resolutions/, plan);
    assert.doesNotMatch(plan, /Seq Scan on events/, plan);
  });
});
