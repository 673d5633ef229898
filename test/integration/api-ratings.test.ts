// Customer satisfaction: POST/GET /api/v1/conversations/:id/rating, the
// conversation.rated event and webhook, the csat_* settings and
// GET /api/v1/reports/satisfaction.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { closeConversation } from '../../src/conversations/lifecycle.js';
import { issueToken } from '../../src/agents/tokens.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { startSession } from '../../src/realtime/sessions.js';
import { expectError, expectInvalid, kitFor, rawJson, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const MONTH_S = 31 * 24 * 3600;

describeEachStore('api: ratings (CSAT)', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  let n = 0;
  /** A widget chat (as POST /session makes it): the conversation id and the customer's session token. */
  async function chat(department: string | null = null) {
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: `csat-${++n}`, name: `Customer ${n}` }, department }, MONTH_S);
    return { id: conversation.id, token, state: conversation.state, agentId: conversation.agent_id };
  }
  const resolve = async (who: User, id: string) => {
    const res = await k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: who.token, body: {} });
    assert.equal(res.statusCode, 200, res.body);
  };
  const rate = (token: string | undefined, id: string, body: unknown) =>
    k.call('POST', `/api/v1/conversations/${id}/rating`, { ...(token ? { token } : {}), body });
  /** admin, supervisor and one online agent, who serves every chat */
  const team = async () => ({ admin: await k.user('admin'), supervisor: await k.user('supervisor'), agent: await k.user('agent', { status: 'online', capacity: 100 }) });
  /** what k.unchanged does not see: the ratings table */
  const ratings = () => k.count('ratings');

  it('the customer rates the resolved conversation once: 201, then 409 SB_RATING_EXISTS changing nothing', async () => {
    const { agent, admin } = await team();
    const c = await chat();
    assert.equal(c.agentId, agent.agent.id);
    await resolve(agent, c.id);
    k.clock.advance(5_000);
    const res = await rate(c.token, c.id, { score: 4, comment: '  Quick and kind.  ' });
    assert.equal(res.statusCode, 201, res.body);
    const ratedAt = new Date(T0 + 5_000).toISOString();
    assert.deepEqual(res.json(), { conversation_id: c.id, score: 4, comment: 'Quick and kind.', created_at: ratedAt });

    await k.unchanged(async () => {
      expectError(await rate(c.token, c.id, { score: 1 }), 409, 'SB_RATING_EXISTS', undefined, 'second rating');
      expectError(await rate(c.token, c.id, { score: 4, comment: 'Quick and kind.' }), 409, 'SB_RATING_EXISTS', undefined, 'same rating again');
    });
    assert.equal(await ratings(), 1);

    // on the conversation, for the agent who served it and for an admin, in the list too
    const rating = { score: 4, comment: 'Quick and kind.', created_at: ratedAt };
    for (const who of [agent, admin]) {
      assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: who.token })).json().rating, rating);
      const status = await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: who.token });
      assert.equal(status.statusCode, 200, status.body);
      assert.deepEqual(status.json().rating, rating);
    }
    const listed = (await k.call('GET', '/api/v1/conversations?state=resolved', { token: admin.token })).json() as { id: string; rating: unknown }[];
    assert.deepEqual(listed.find((x) => x.id === c.id)?.rating, rating);
    // the customer's widget, after a reload, learns it need not ask again
    const mine = (await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: c.token })).json();
    assert.deepEqual([mine.can_rate, mine.rating], [false, rating]);
  });

  it('writes conversation.rated with score, comment, agent and department in the same transaction, and delivers it as a webhook', async () => {
    const { admin } = await team();
    const ann = await k.user('agent', { status: 'online', departments: ['support'], name: 'Ann' });
    const hook = await k.call('POST', '/api/v1/webhooks', { token: admin.token, body: { url: 'https://93.184.215.14/hook', events: ['conversation.rated'], app_code: 'APP' } });
    assert.equal(hook.statusCode, 201, hook.body);
    const c = await chat('support');
    assert.equal(c.agentId, ann.agent.id);
    await resolve(ann, c.id);
    assert.equal((await rate(c.token, c.id, { score: 5, comment: 'Great' })).statusCode, 201);

    const events = (await k.call('GET', '/api/v1/events?type=conversation.rated', { token: admin.token })).json() as { id: number; conversation_id: string; agent_id: string; data: any }[];
    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event!.conversation_id, c.id);
    assert.equal(event!.agent_id, ann.agent.id);
    assert.deepEqual(event!.data.rating, { score: 5, comment: 'Great', created_at: new Date(T0).toISOString() });
    assert.equal(event!.data.agent_id, ann.agent.id);
    assert.equal(event!.data.department, 'support');
    assert.equal(event!.data.conversation.id, c.id);
    assert.equal(event!.data.conversation.state, 'resolved');
    // one transaction: the rating and its event, or neither (a refused rating wrote no event above)

    while ((await fanOut(k.t.ctx)).events > 0);
    const rows = await store().db.query<{ name: string; body: string }>(
      `select name, convert_from(body, 'UTF8') as body from outbound_requests where endpoint_id = $1`,
      [hook.json().id],
    );
    assert.deepEqual(rows.map((r) => r.name), ['conversation.rated']);
    const payload = JSON.parse(rows[0]!.body);
    assert.equal(payload.type, 'conversation.rated');
    assert.equal(payload.event_id, event!.id);
    assert.equal(payload.app_code, 'APP');
    assert.deepEqual(payload.data, event!.data);
  });

  it('refuses before the conversation is resolved, and an abandoned one, with 409 SB_NOT_RESOLVED', async () => {
    const { agent } = await team();
    const open = await chat();
    assert.equal(open.state, 'assigned');
    const waiting = await chat('nobody-here');
    assert.equal(waiting.state, 'queued');
    const left = await chat('nobody-here');
    // the customer left before anyone answered (what DELETE /session does then)
    await closeConversation(k.t.ctx, left.id, { state: 'abandoned', reason: 'customer' }, SYSTEM);
    await k.unchanged(async () => {
      expectError(await rate(open.token, open.id, { score: 5 }), 409, 'SB_NOT_RESOLVED', undefined, 'assigned');
      expectError(await rate(waiting.token, waiting.id, { score: 5 }), 409, 'SB_NOT_RESOLVED', undefined, 'queued');
      expectError(await rate(left.token, left.id, { score: 5 }), 409, 'SB_NOT_RESOLVED', undefined, 'abandoned');
    });
    assert.equal(await ratings(), 0);
    const status = (await k.call('GET', `/api/v1/conversations/${open.id}/rating`, { token: open.token })).json();
    assert.deepEqual([status.state, status.can_rate, status.rating], ['assigned', false, null]);
    await resolve(agent, open.id);
    assert.equal((await k.call('GET', `/api/v1/conversations/${open.id}/rating`, { token: open.token })).json().can_rate, true);
  });

  it("admits only the conversation's own session token: 401 without a valid one, 403 for agents' tokens and another session's", async () => {
    const { agent, admin, supervisor } = await team();
    const c = await chat();
    const other = await chat();
    await resolve(agent, c.id);
    await resolve(agent, other.id);
    const stranger = await k.user('agent', { status: 'away' });
    await k.unchanged(async () => {
      expectError(await rate(undefined, c.id, { score: 5 }), 401, 'SB_UNAUTHORIZED', undefined, 'no token');
      expectError(await rate('sbc_not-a-live-session', c.id, { score: 5 }), 401, 'SB_UNAUTHORIZED', undefined, 'unknown session token');
      expectError(await rate('sbt_garbage', c.id, { score: 5 }), 401, 'SB_UNAUTHORIZED', undefined, 'garbage agent token');
      for (const who of [agent, supervisor, admin]) {
        expectError(await rate(who.token, c.id, { score: 5 }), 403, 'SB_FORBIDDEN', undefined, `${who.agent.role}'s token`);
        // refused before the body is read: a bad body changes nothing of that
        expectError(await rate(who.token, c.id, { score: 9 }), 403, 'SB_FORBIDDEN', undefined, `${who.agent.role}'s token, bad body`);
      }
      expectError(await rate(other.token, c.id, { score: 5 }), 403, 'SB_FORBIDDEN', undefined, "another session's token");
      expectError(await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: other.token }), 403, 'SB_FORBIDDEN', undefined, "another session reads the rating");
      expectError(await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: stranger.token }), 403, 'SB_FORBIDDEN', undefined, 'an agent it was not assigned to');
    });
    assert.equal(await ratings(), 0);
  });

  it('answers 400 naming score or comment for a bad body, changing nothing', async () => {
    const { agent } = await team();
    const c = await chat();
    await resolve(agent, c.id);
    await k.unchanged(async () => {
      for (const score of [0, 6, -1, 4.5, '4', null, true]) expectInvalid(await rate(c.token, c.id, { score }), 'score', `score ${JSON.stringify(score)}`);
      expectInvalid(await rate(c.token, c.id, {}), 'score', 'no score');
      expectInvalid(await rate(c.token, c.id, { comment: 'no score' }), 'score', 'comment without score');
      expectInvalid(await rate(c.token, c.id, { score: 3, comment: 'x'.repeat(1001) }), 'comment', 'comment too long');
      expectInvalid(await rate(c.token, c.id, { score: 3, comment: 7 }), 'comment', 'comment not a string');
      expectInvalid(await rate(c.token, c.id, { score: 3, stars: 3 }), 'stars', 'unknown field');
      expectError(await k.call('POST', `/api/v1/conversations/${c.id}/rating`, { token: c.token, ...rawJson('{"score": 3') }), 400, 'SB_INVALID_JSON');
    });
    assert.equal(await ratings(), 0);
    // the longest comment is accepted, and a blank one is stored as none
    assert.equal((await rate(c.token, c.id, { score: 3, comment: 'x'.repeat(1000) })).statusCode, 201);
    const blank = await chat();
    await resolve(agent, blank.id);
    assert.equal((await rate(blank.token, blank.id, { score: 1, comment: '   ' })).json().comment, null);
    // blank as everywhere (isBlank): zero-width characters alone are no comment either
    const invisible = await chat();
    await resolve(agent, invisible.id);
    assert.equal((await rate(invisible.token, invisible.id, { score: 2, comment: '\u200b\u200d' })).json().comment, null);
    const [row] = await store().db.query<{ comment: string | null }>('select comment from ratings where conversation_id = $1', [invisible.id]);
    assert.equal(row!.comment, null);
  });

  it('two parallel posts for one conversation give one 201 and one 409, and one rating', async () => {
    const { agent } = await team();
    for (let round = 0; round < 5; round++) {
      const c = await chat();
      await resolve(agent, c.id);
      const answers = await Promise.all([rate(c.token, c.id, { score: 5 }), rate(c.token, c.id, { score: 2, comment: 'racing' })]);
      assert.deepEqual(answers.map((r) => r.statusCode).sort(), [201, 409], answers.map((r) => r.body).join(' | '));
      expectError(answers.find((r) => r.statusCode === 409)!, 409, 'SB_RATING_EXISTS');
      const winner = answers.find((r) => r.statusCode === 201)!.json();
      const stored = await store().db.query<{ score: number }>('select score from ratings where conversation_id = $1', [c.id]);
      assert.deepEqual(stored.map((r) => Number(r.score)), [winner.score]);
      assert.equal(await k.count('events', `type = 'conversation.rated' and conversation_id = '${c.id}'`), 1);
    }
  });

  it('csat_enabled off: the route answers 409 SB_CSAT_DISABLED and the widget is told not to ask; the wording is a setting', async () => {
    const { agent, admin } = await team();
    const c = await chat();
    await resolve(agent, c.id);
    const patch = await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { csat_enabled: false, csat_question: 'Did we help?', csat_thanks: 'Merci !' } });
    assert.equal(patch.statusCode, 200, patch.body);
    assert.deepEqual([patch.json().csat_enabled, patch.json().csat_question, patch.json().csat_thanks], [false, 'Did we help?', 'Merci !']);
    await k.unchanged(async () => {
      expectError(await rate(c.token, c.id, { score: 5 }), 409, 'SB_CSAT_DISABLED');
    });
    const off = (await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: c.token })).json();
    assert.deepEqual([off.can_rate, off.csat], [false, { enabled: false, question: 'Did we help?', thanks: 'Merci !' }]);
    assert.equal((await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { csat_enabled: true } })).statusCode, 200);
    const on = (await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: c.token })).json();
    assert.deepEqual([on.can_rate, on.csat.question], [true, 'Did we help?']);
    assert.equal((await rate(c.token, c.id, { score: 5 })).statusCode, 201);
    await k.unchanged(async () => {
      expectInvalid(await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { csat_question: '' } }), 'csat_question');
      expectInvalid(await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { csat_enabled: 'yes' } }), 'csat_enabled');
      expectInvalid(await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { csat_thanks: 'x'.repeat(301) } }), 'csat_thanks');
    });
  });

  it('GET /reports/satisfaction: ratings, average, CSAT % and scores per agent, per department and per day, exactly', async () => {
    const { admin: overseer, supervisor: boss, agent: plainAgent } = await k.cast({ agentCapacity: 0 });
    const ann = await k.user('agent', { status: 'online', departments: ['support'], name: 'Ann' });
    const bob = await k.user('agent', { status: 'online', departments: ['Sales'], name: 'Bob' });
    // the clock jumps days: each step logs in afresh
    const fresh = async (who: User): Promise<User> => ({ agent: who.agent, token: (await issueToken(store().db, who.agent.id, k.clock.now(), 600)).token });
    const ratedAt = async (iso: string, department: string | null, by: User | null, score: number) => {
      k.clock.set(Date.parse(iso) - 60_000);
      const c = await chat(department);
      if (by) assert.equal(c.agentId, by.agent.id);
      await resolve(await fresh(by ?? boss), c.id); // nobody in billing: a supervisor closes it from the queue
      k.clock.set(Date.parse(iso));
      assert.equal((await rate(c.token, c.id, { score })).statusCode, 201);
    };
    await ratedAt('2026-03-02T09:00:00Z', 'support', ann, 5);
    await ratedAt('2026-03-02T10:00:00Z', 'support', ann, 4);
    await ratedAt('2026-03-02T23:59:59Z', 'billing', null, 1);
    await ratedAt('2026-03-03T08:00:00Z', 'Sales', bob, 2);
    await ratedAt('2026-03-03T12:00:00Z', 'Sales', bob, 5);
    await ratedAt('2026-03-04T00:00:00Z', 'Sales', bob, 1); // the period's end is excluded
    await ratedAt('2026-03-01T23:59:59Z', 'support', ann, 1); // before it

    const admin = await fresh(overseer);
    const plain = await fresh(plainAgent);
    const get = async (token: string, query: string) => {
      const res = await k.call('GET', `/api/v1/reports/satisfaction?${query}`, { token });
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const f = (ratings: number, average: number | null, csat: number | null, scores: number[]) => ({ ratings, average, csat, scores });
    const byAgent = await get(admin.token, 'group=agent&from=2026-03-02&to=2026-03-04');
    assert.deepEqual(byAgent, {
      group: 'agent',
      from: '2026-03-02T00:00:00.000Z',
      to: '2026-03-04T00:00:00.000Z',
      rows: [
        { agent_id: ann.agent.id, agent_name: 'Ann', ...f(2, 4.5, 100, [0, 0, 0, 1, 1]) },
        { agent_id: bob.agent.id, agent_name: 'Bob', ...f(2, 3.5, 50, [0, 1, 0, 0, 1]) },
        { agent_id: null, agent_name: null, ...f(1, 1, 0, [1, 0, 0, 0, 0]) },
      ],
      total: f(5, 3.4, 60, [1, 1, 0, 1, 2]),
      days: [
        { day: '2026-03-02', ...f(3, 3.33, 66.7, [1, 0, 0, 1, 1]) },
        { day: '2026-03-03', ...f(2, 3.5, 50, [0, 1, 0, 0, 1]) },
      ],
    });
    const byDepartment = await get((await fresh(boss)).token, 'group=department&from=2026-03-02&to=2026-03-04');
    // by name, case aside (as GET /reports orders them), whatever the database's collation
    assert.deepEqual(byDepartment.rows, [
      { department: 'billing', ...f(1, 1, 0, [1, 0, 0, 0, 0]) },
      { department: 'Sales', ...f(2, 3.5, 50, [0, 1, 0, 0, 1]) },
      { department: 'support', ...f(2, 4.5, 100, [0, 0, 0, 1, 1]) },
    ]);
    assert.deepEqual(byDepartment.total, byAgent.total);
    // an empty period
    const empty = await get(admin.token, 'group=agent&from=2025-01-01&to=2025-02-01');
    assert.deepEqual([empty.rows, empty.total, empty.days], [[], f(0, null, null, [0, 0, 0, 0, 0]), []]);

    // who may read it, and bad periods
    await k.unchanged(async () => {
      expectError(await k.call('GET', '/api/v1/reports/satisfaction?group=agent&from=2026-03-02&to=2026-03-04', { token: plain.token }), 403, 'SB_FORBIDDEN');
      expectError(await k.call('GET', '/api/v1/reports/satisfaction?group=agent&from=2026-03-02&to=2026-03-04'), 401, 'SB_UNAUTHORIZED');
      expectInvalid(await k.call('GET', '/api/v1/reports/satisfaction?group=team&from=2026-03-02&to=2026-03-04', { token: admin.token }), 'group');
      expectInvalid(await k.call('GET', '/api/v1/reports/satisfaction?group=agent&from=2026-03-04&to=2026-03-02', { token: admin.token }), 'to');
      expectInvalid(await k.call('GET', '/api/v1/reports/satisfaction?group=agent&from=2026-02-30&to=2026-03-02', { token: admin.token }), 'from');
      expectInvalid(await k.call('GET', '/api/v1/reports/satisfaction?group=agent&from=2024-01-01&to=2026-03-02', { token: admin.token }), 'to');
    });
  });
});
