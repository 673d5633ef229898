// GET /api/v1/reports: first response, resolution and messages per agent and
// per department over a period, as JSON and CSV, read from the event log
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { REPORT_SQL } from '../../src/reports/query.js';
import { csvRecords, parseCsv } from '../helpers/csv.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

interface Figures {
  conversations: number;
  responded: number;
  first_response_s: number | null;
  first_response_median_s: number | null;
  first_response_p90_s: number | null;
  resolution_s: number | null;
  resolution_median_s: number | null;
  resolution_p90_s: number | null;
  messages: number | null;
  messages_total: number;
}
type Row = Figures & { agent_id?: string | null; agent_name?: string | null; department?: string | null };
interface Report {
  group: string;
  from: string;
  to: string;
  rows: Row[];
  total: Figures;
}

const T0 = Date.parse('2026-01-05T09:00:00Z');
const at = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toISOString();
const HOUR = `from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(3600))}`;

const figures = (n: Partial<Figures>): Figures => ({
  conversations: 0,
  responded: 0,
  first_response_s: null,
  first_response_median_s: null,
  first_response_p90_s: null,
  resolution_s: null,
  resolution_median_s: null,
  resolution_p90_s: null,
  messages: null,
  messages_total: 0,
  ...n,
});

// What the scenario below makes, worked out by hand (percentiles interpolate, as percentile_cont does).
const ANN = figures({ conversations: 2, responded: 2, first_response_s: 60, first_response_median_s: 60, first_response_p90_s: 84, resolution_s: 450, resolution_median_s: 450, resolution_p90_s: 570, messages: 2.5, messages_total: 5 });
const BOB = figures({ conversations: 2, responded: 1, first_response_s: 60, first_response_median_s: 60, first_response_p90_s: 60, resolution_s: 725, resolution_median_s: 725, resolution_p90_s: 1105, messages: 1.5, messages_total: 3 });
const QUEUE = figures({ conversations: 1, responded: 1, first_response_s: 40, first_response_median_s: 40, first_response_p90_s: 40, resolution_s: 100, resolution_median_s: 100, resolution_p90_s: 100, messages: 1, messages_total: 1 });
const TOTAL = figures({ conversations: 5, responded: 4, first_response_s: 55, first_response_median_s: 50, first_response_p90_s: 81, resolution_s: 490, resolution_median_s: 300, resolution_p90_s: 960, messages: 1.8, messages_total: 9 });
const ANN_NAME = 'Ann "Ace", Lee';

describeEachStore('api: reports', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  const report = async (token: string, query: string) => {
    const res = await k.call('GET', `/api/v1/reports?${query}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    return res.json() as Report;
  };

  /**
   * Ann serves support, Bob sales; billing has nobody. Times in seconds after T0:
   * c1 support → Ann: customer at 0, Ann at 30 and 50, customer at 60, resolved at 300
   * c2 support → Ann: Ann at 190 (opened at 100), resolved at 700
   * c3 sales → Bob: customer at 200, Bob at 260, resolved at 1400
   * c4 sales → Bob: customer at 250, never answered, resolved at 500
   * c5 billing (opened at 300), queued: a supervisor answers at 340 and resolves it at 400, with no agent
   * c6 support → Ann: abandoned at 800; c7 support → Ann: still open; c8 sales → Bob: opened at 3000, answered at 3100, resolved at 3600, the hour's end
   */
  async function scenario() {
    const supervisor = await k.user('supervisor', { name: 'Sue' });
    const ann = await k.user('agent', { name: ANN_NAME, status: 'online', capacity: 10, departments: ['support'] });
    const bob = await k.user('agent', { name: 'Bob', status: 'online', capacity: 10, departments: ['sales'] });
    // the scenario outlives the kit's ten-minute tokens
    for (const u of [supervisor, ann, bob]) u.token = (await issueToken(store().db, u.agent.id, k.clock.now(), 86_400)).token;
    const when = (second: number) => k.clock.set(T0 + second * 1000);
    const open = async (second: number, department: string) => {
      when(second);
      return (await k.open(supervisor.token, { department })).id;
    };
    const say = async (second: number, id: string, who: User, sender: 'agent' | 'customer' = 'agent') => {
      when(second);
      const res = await k.call('POST', `/api/v1/conversations/${id}/messages`, { token: who.token, body: { text: `at ${second}`, ...(sender === 'customer' ? { sender } : {}) } });
      assert.equal(res.statusCode, 201, res.body);
    };
    const resolve = async (second: number, id: string, who: User) => {
      when(second);
      const res = await k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: who.token, body: {} });
      assert.equal(res.statusCode, 200, res.body);
    };
    const c1 = await open(0, 'support');
    await say(0, c1, supervisor, 'customer');
    await say(30, c1, ann);
    await say(50, c1, ann);
    await say(60, c1, supervisor, 'customer');
    const c2 = await open(100, 'support');
    await say(190, c2, ann);
    const c3 = await open(200, 'sales');
    await say(200, c3, supervisor, 'customer');
    const c4 = await open(250, 'sales');
    await say(250, c4, supervisor, 'customer');
    await say(260, c3, bob);
    await resolve(300, c1, ann);
    const c5 = await open(300, 'billing');
    assert.equal((await k.conversation(c5)).state, 'queued');
    await say(340, c5, supervisor);
    await resolve(400, c5, supervisor);
    await resolve(500, c4, bob);
    const c6 = await open(550, 'support');
    await say(560, c6, ann);
    await resolve(700, c2, ann);
    when(800);
    const abandoned = await k.call('POST', `/api/v1/conversations/${c6}/resolve`, { token: supervisor.token, body: {} });
    assert.equal(abandoned.statusCode, 200, abandoned.body);
    // (an abandon has no route: mark c6 so in the log, as the customer keep-alive does)
    await store().db.query(`update events set type = 'conversation.abandoned' where type = 'conversation.resolved' and conversation_id = $1`, [c6]);
    const c7 = await open(900, 'support');
    await say(910, c7, ann);
    await resolve(1400, c3, bob);
    const c8 = await open(3000, 'sales');
    await say(3100, c8, bob);
    await resolve(3600, c8, bob);
    when(4000);
    return { supervisor, ann, bob };
  }

  it('answers 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [{ method: 'GET', url: `/api/v1/reports?group=agent&${HOUR}` }]);
  });

  it('is for supervisors and admins: an agent gets 403, even for their own row', async () => {
    const { admin, supervisor, agent } = await k.cast();
    assert.equal((await report(admin.token, `group=agent&${HOUR}`)).total.conversations, 0);
    assert.equal((await report(supervisor.token, `group=department&${HOUR}`)).total.conversations, 0);
    await k.unchanged(async () => {
      expectError(await k.call('GET', `/api/v1/reports?group=agent&${HOUR}`, { token: agent.token }), 403, 'SB_FORBIDDEN');
    });
  });

  it('gives each agent first response, resolution and messages of the conversations resolved in the period', async () => {
    const { supervisor, ann, bob } = await scenario();
    const r = await report(supervisor.token, `group=agent&${HOUR}`);
    assert.equal(r.group, 'agent');
    assert.equal(r.from, at(0));
    assert.equal(r.to, at(3600));
    assert.deepEqual(r.rows, [
      { agent_id: ann.agent.id, agent_name: ANN_NAME, ...ANN },
      { agent_id: bob.agent.id, agent_name: 'Bob', ...BOB },
      // closed from the queue: no agent held it
      { agent_id: null, agent_name: null, ...QUEUE },
    ]);
    assert.deepEqual(r.total, TOTAL);
  });

  it('gives each department the same figures, by the department the conversation had when resolved', async () => {
    const { supervisor } = await scenario();
    const r = await report(supervisor.token, `group=department&${HOUR}`);
    assert.deepEqual(r.rows, [
      { department: 'billing', ...QUEUE },
      { department: 'sales', ...BOB },
      { department: 'support', ...ANN },
    ]);
    assert.deepEqual(r.total, TOTAL);
  });

  it('puts a transferred conversation in the row of the agent and department that resolved it, its first reply whoever sent it', async () => {
    const supervisor = await k.user('supervisor');
    const ann = await k.user('agent', { name: 'Ann', status: 'online', capacity: 5, departments: ['support'] });
    const bob = await k.user('agent', { name: 'Bob', status: 'online', capacity: 5, departments: ['sales'] });
    const id = (await k.open(supervisor.token, { department: 'support' })).id;
    k.clock.set(T0 + 10_000);
    assert.equal((await k.call('POST', `/api/v1/conversations/${id}/messages`, { token: ann.token, body: { text: 'Let me pass you to sales' } })).statusCode, 201);
    k.clock.set(T0 + 20_000);
    const moved = await k.call('POST', `/api/v1/conversations/${id}/transfer`, { token: supervisor.token, body: { department: 'sales' } });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.equal((await k.conversation(id)).agent_id, bob.agent.id);
    k.clock.set(T0 + 30_000);
    assert.equal((await k.call('POST', `/api/v1/conversations/${id}/messages`, { token: bob.token, body: { text: 'Sales here' } })).statusCode, 201);
    k.clock.set(T0 + 100_000);
    assert.equal((await k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: bob.token, body: {} })).statusCode, 200);
    const expected = figures({ conversations: 1, responded: 1, first_response_s: 10, first_response_median_s: 10, first_response_p90_s: 10, resolution_s: 100, resolution_median_s: 100, resolution_p90_s: 100, messages: 2, messages_total: 2 });
    assert.deepEqual((await report(supervisor.token, `group=agent&${HOUR}`)).rows, [{ agent_id: bob.agent.id, agent_name: 'Bob', ...expected }]);
    assert.deepEqual((await report(supervisor.token, `group=department&${HOUR}`)).rows, [{ department: 'sales', ...expected }]);
  });

  it('counts a conversation in the period its resolution falls in: from included, to excluded', async () => {
    const { supervisor, bob } = await scenario();
    // c4 was resolved at 500 exactly, c3 at 1400
    const upTo500 = await report(supervisor.token, `group=agent&from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(500))}`);
    assert.deepEqual(upTo500.rows.map((r) => [r.agent_name, r.conversations]), [[ANN_NAME, 1], [null, 1]]);
    const from500 = await report(supervisor.token, `group=agent&from=${encodeURIComponent(at(500))}&to=${encodeURIComponent(at(1400))}`);
    assert.deepEqual(from500.rows.map((r) => [r.agent_name, r.conversations]), [[ANN_NAME, 1], ['Bob', 1]]);
    assert.deepEqual(from500.rows.find((r) => r.agent_id === bob.agent.id), { agent_id: bob.agent.id, agent_name: 'Bob', ...figures({ conversations: 1, resolution_s: 250, resolution_median_s: 250, resolution_p90_s: 250, messages: 1, messages_total: 1 }) });
    // the next hour holds c8 only (resolved at 3600: the first hour's end, this one's start)
    const next = await report(supervisor.token, `group=department&from=${encodeURIComponent(at(3600))}&to=${encodeURIComponent(at(7200))}`);
    assert.deepEqual(next.rows, [{ department: 'sales', ...figures({ conversations: 1, responded: 1, first_response_s: 100, first_response_median_s: 100, first_response_p90_s: 100, resolution_s: 600, resolution_median_s: 600, resolution_p90_s: 600, messages: 1, messages_total: 1 }) }]);
    // dates are whole UTC days; a day before has nothing
    const day = await report(supervisor.token, 'group=agent&from=2026-01-05&to=2026-01-06');
    assert.equal(day.from, '2026-01-05T00:00:00.000Z');
    assert.equal(day.total.conversations, 6);
    assert.deepEqual((await report(supervisor.token, 'group=agent&from=2026-01-04&to=2026-01-05')).rows, []);
    // an offset is honoured: 10:00+01:00 is 09:00Z
    const offset = await report(supervisor.token, `group=agent&from=${encodeURIComponent('2026-01-05T10:00:00+01:00')}&to=${encodeURIComponent('2026-01-05T11:00:00.000+01:00')}`);
    assert.deepEqual(offset.total, TOTAL);
  });

  it('exports the same rows as CSV, quoted so names with commas and quotes come back whole', async () => {
    const { supervisor, ann, bob } = await scenario();
    for (const group of ['agent', 'department'] as const) {
      const json = await report(supervisor.token, `group=${group}&${HOUR}`);
      const res = await k.call('GET', `/api/v1/reports?group=${group}&${HOUR}&format=csv`, { token: supervisor.token });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
      assert.equal(res.headers['content-disposition'], `attachment; filename="switchboard-report-${group}-2026-01-05T090000Z-2026-01-05T100000Z.csv"`);
      // the UTF-8 byte-order mark Excel needs to read "Zoë" as Zoë, not ZoÃ«
      assert.deepEqual([...res.rawPayload.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
      const keys = group === 'agent' ? ['agent_id', 'agent_name'] : ['department'];
      assert.deepEqual(parseCsv(res.body)[0], [...keys, ...Object.keys(TOTAL)]);
      // each cell as JSON has it: numbers as numbers, null as an empty cell
      assert.deepEqual(csvRecords(res.body, keys), json.rows);
    }
    const csv = (await k.call('GET', `/api/v1/reports?group=agent&${HOUR}&format=csv`, { token: supervisor.token })).body;
    assert.ok(csv.includes(`${ann.agent.id},"Ann ""Ace"", Lee",2,2,60,60,84,450,450,570,2.5,5\r\n`), csv);
    assert.ok(csv.includes(`${bob.agent.id},Bob,2,1,60,60,60,725,725,1105,1.5,3\r\n`), csv);
    assert.ok(csv.endsWith(',,1,1,40,40,40,100,100,100,1,1\r\n'), csv);
  });

  it('keeps a spreadsheet from running a name as a formula', async () => {
    const { supervisor } = await scenario();
    await store().db.query(`update agents set name = '=HYPERLINK("http://x.test","click")' where name = 'Bob'`);
    const csv = (await k.call('GET', `/api/v1/reports?group=agent&${HOUR}&format=csv`, { token: supervisor.token })).body;
    assert.ok(csv.includes(`,"'=HYPERLINK(""http://x.test"",""click"")",2,1,`), csv);
  });

  it('gives an empty period one total of zero and no rows, in JSON and CSV', async () => {
    const { supervisor } = await k.cast();
    const r = await report(supervisor.token, `group=department&${HOUR}`);
    assert.deepEqual(r.rows, []);
    assert.deepEqual(r.total, figures({}));
    const csv = await k.call('GET', `/api/v1/reports?group=department&${HOUR}&format=csv`, { token: supervisor.token });
    assert.equal(csv.body, `\uFEFFdepartment,${Object.keys(TOTAL).join(',')}\r\n`);
  });

  it('refuses bad parameters with 400 naming the field, and changes nothing', async () => {
    const { supervisor } = await k.cast();
    await k.unchanged(async () => {
      for (const [query, field] of [
        [HOUR, 'group'],
        [`group=team&${HOUR}`, 'group'],
        [`group=agent&to=${encodeURIComponent(at(0))}`, 'from'],
        [`group=agent&from=${encodeURIComponent(at(0))}`, 'to'],
        [`group=agent&from=yesterday&to=2026-01-06`, 'from'],
        [`group=agent&from=&to=2026-01-06`, 'from'],
        [`group=agent&from=2026-02-30&to=2026-03-06`, 'from'],
        [`group=agent&from=2026-01-05T25:00:00Z&to=2026-01-06`, 'from'],
        [`group=agent&from=2026-01-05T09:00:00&to=2026-01-06`, 'from'], // no offset: whose 09:00?
        [`group=agent&from=2026-01-05T09:00:00%2B24:00&to=2026-01-06`, 'from'], // an offset no zone has
        [`group=agent&from=2026-01-05&to=1%20Jan%202027`, 'to'],
        [`group=agent&from=2026-01-05&to=2026-01-05`, 'to'], // empty period
        [`group=agent&from=2026-01-06&to=2026-01-05`, 'to'],
        [`group=agent&from=2026-01-01&to=2027-01-03`, 'to'], // 367 days
        [`group=agent&${HOUR}&format=xml`, 'format'],
        [`group=agent&${HOUR}&department=sales`, 'department'],
        [`group=agent&from=${'9'.repeat(100)}&to=2026-01-06`, 'from'],
      ] as const) {
        expectInvalid(await k.call('GET', `/api/v1/reports?${query}`, { token: supervisor.token }), field, query);
      }
    });
    // a leap year of days is the most one report covers
    assert.equal((await report(supervisor.token, 'group=agent&from=2024-01-01&to=2025-01-01')).total.conversations, 0);
  });

  it('is in the OpenAPI document: its parameters, and JSON or CSV as the answer', async () => {
    const doc = (await k.call('GET', '/docs/json')).json();
    const route = doc.paths['/api/v1/reports']?.get;
    assert.ok(route, 'GET /api/v1/reports is documented');
    assert.deepEqual(route.parameters.map((p: { name: string; in: string; required?: boolean }) => [p.name, p.in, p.required ?? false]).sort(), [
      ['format', 'query', false],
      ['from', 'query', true],
      ['group', 'query', true],
      ['to', 'query', true],
    ]);
    assert.deepEqual(Object.keys(route.responses['200'].content).sort(), ['application/json', 'text/csv']);
    assert.ok(route.responses['200'].content['application/json'].schema.properties.rows.items.properties.first_response_s);
    for (const status of ['400', '401', '403']) assert.ok(route.responses[status], `documents ${status}`);
  });

  it('reads the event log through its indexes, not by scanning it', async () => {
    const plan = await store().db.transaction(async (tx) => {
      // with a table this small the planner would rightly scan it: forbid that to see whether the indexes can serve the query
      await tx.query('set local enable_seqscan = off');
      const rows = await tx.query<Record<string, string>>(`explain ${REPORT_SQL}`, [new Date(T0), new Date(T0 + 3_600_000), 'agent']);
      return rows.map((r) => Object.values(r)[0]).join('\n');
    });
    assert.match(plan, /events_assignments_resolutions/, plan);
    assert.match(plan, /events_messages/, plan);
    assert.doesNotMatch(plan, /Seq Scan on events/, plan);
  });
});
