// GET /api/v1/search pages through hits tied on their time exactly once
// each, and search and stats answer a date-time the schema accepts but no
// instant JavaScript or PostgreSQL holds (a leap second, a year outside
// 1970–9999 in UTC) with a 400 naming the field, not a 500.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { expectInvalid, kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

interface Result {
  conversation: { id: string };
  message: { id: number } | null;
}

const T0 = Date.parse('2026-07-01T00:10:00Z');

describeEachStore('search paging over tied hits; date-times out of reach', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  const search = (token: string, params: Record<string, string>) => k.call('GET', `/api/v1/search?${new URLSearchParams(params).toString()}`, { token });
  /** A hit as one string: m<id> for a message, c<conversation id> for a customer match. */
  const hits = async (token: string, params: Record<string, string>) => {
    const res = await search(token, params);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { results: Result[] }).results.map((r) => (r.message ? `m${r.message.id}` : `c${r.conversation.id}`));
  };
  /** Every page of `limit` from offset 0 on, until an empty one. */
  const everyPage = async (token: string, params: Record<string, string>, limit: number) => {
    const all: string[] = [];
    for (let offset = 0; ; offset += limit) {
      const page = await hits(token, { ...params, limit: String(limit), offset: String(offset) });
      if (page.length === 0) return all;
      all.push(...page);
    }
  };

  it('pages over six conversations of one customer opened at the same instant (and messages written at it) return each hit once, in the documented order', async () => {
    const admin = await k.user('admin');
    const bea = await k.user('agent', { status: 'online', capacity: 10 });
    const opened: string[] = [];
    for (let i = 0; i < 6; i++) opened.push((await k.open(admin.token, { customer: { id: 'cust-ana', name: 'Ana Lima' } })).id);
    // two messages naming her, written at that instant too (the clock did not move)
    const said: number[] = [];
    for (const id of opened.slice(0, 2)) {
      const res = await k.call('POST', `/api/v1/conversations/${id}/messages`, { token: bea.token, body: { text: 'Ana asked again' } });
      assert.equal(res.statusCode, 201, res.body);
      said.push((res.json() as { id: number }).id);
    }
    // The clock stood still; make sure of it in the store as well.
    const at = new Date(T0).toISOString();
    await store().db.query('update conversations set created_at = $1', [at]);
    await store().db.query('update message_search set created_at = $1', [at]);
    await store().db.query('update messages set created_at = $1', [at]);
    const [{ n }] = (await store().db.query<{ n: number }>('select count(distinct created_at)::int as n from conversations')) as [{ n: number }];
    assert.equal(n, 1);

    // newest hit first; at one instant the later message, then messages before customer matches, then the newer conversation (seq)
    const bySeq = (await store().db.query<{ id: string }>('select id from conversations order by seq desc')).map((r) => `c${r.id}`);
    const expected = [...said.map((id) => `m${id}`).reverse(), ...bySeq];
    assert.equal(expected.length, 8);

    assert.deepEqual(await hits(admin.token, { q: 'Ana', limit: '100' }), expected, 'one page holds them all');
    // the three statements: everything (admin), an agent filter, an agent's own
    for (const [who, token, params] of [
      ['admin', admin.token, { q: 'Ana' }],
      ['admin, agent filter', admin.token, { q: 'Ana', agent: bea.agent.id }],
      ['the agent', bea.token, { q: 'Ana' }],
    ] as const) {
      for (const limit of [1, 2, 3]) {
        assert.deepEqual(await everyPage(token, params, limit), expected, `${who}, pages of ${limit}`);
      }
    }
    // the customer matches alone (no message hits), pages of two: the reviewer's case
    assert.deepEqual(await everyPage(admin.token, { q: 'Lima' }, 2), bySeq);
  });

  it('search answers 400 naming from or to for a leap second or a year outside 1970–9999 in UTC, never 500', async () => {
    const admin = await k.user('admin');
    await k.open(admin.token, { customer: { id: 'cust-ana', name: 'Ana Lima' } });
    const refused = [
      '2026-06-30T23:59:60Z', // a leap second
      '2026-06-30T23:59:60.5Z',
      '2026-07-01T06:59:60+07:00', // the same second, at +07:00
      '0000-01-01T00:00:00Z', // no year 0 in PostgreSQL
      '9999-12-31T23:59:59-23:59', // 10000-01-01 in UTC
      '1969-12-31T23:59:59Z',
    ];
    for (const value of refused) {
      expectInvalid(await search(admin.token, { q: 'Ana', from: value }), 'from', `from=${value}`);
      expectInvalid(await search(admin.token, { q: 'Ana', to: value }), 'to', `to=${value}`);
      // with the other bound too
      expectInvalid(await search(admin.token, { q: 'Ana', from: value, to: '2026-07-02T00:00:00Z' }), 'from', `from=${value}&to`);
      expectInvalid(await search(admin.token, { q: 'Ana', from: '2026-01-01T00:00:00Z', to: value }), 'to', `from&to=${value}`);
    }
    // what the schema takes keeps its meaning: the same instant written five ways
    for (const from of ['2026-07-01T00:00:00Z', '2026-07-01 00:00:00Z', '2026-07-01T07:00:00+0700', '2026-07-01T07:00:00+07', '2026-07-01t00:00:00.0000000000z']) {
      assert.equal((await hits(admin.token, { q: 'Ana', from })).length, 1, `from=${from}`);
      assert.equal((await hits(admin.token, { q: 'Ana', to: from.replace('2026-07-01', '2026-07-02') })).length, 1, `to=${from}`);
    }
    assert.equal((await hits(admin.token, { q: 'Ana', from: '2026-07-01T00:10:00.001Z' })).length, 0);
  });

  it('stats answers 400 naming since for a leap second or a year outside 1970–9999 in UTC, never 500', async () => {
    const supervisor = await k.user('supervisor');
    const stats = (since: string) => k.call('GET', `/api/v1/stats?since=${encodeURIComponent(since)}`, { token: supervisor.token });
    for (const since of ['2026-06-30T23:59:60Z', '2026-07-01T06:59:60+07:00', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59-23:59']) {
      expectInvalid(await stats(since), 'since', `since=${since}`);
    }
    for (const since of ['2026-06-30T23:59:00Z', '2026-06-30 23:59:00Z', '2026-07-01T06:59:00+0700', '2026-07-01T06:59:00+07']) {
      const res = await stats(since);
      assert.equal(res.statusCode, 200, `since=${since}: ${res.body}`);
      assert.equal((res.json() as { activity: { since: string } }).activity.since, '2026-06-30T23:59:00.000Z', `since=${since}`);
    }
  });
});
