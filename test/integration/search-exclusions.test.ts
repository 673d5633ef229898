// GET /api/v1/search with a question of exclusions only (q=-x, "-a -b -c",
// "x or -y"): such a question matches nearly every customer, and the search
// used to compute the words of every conversation of the store to find them
// (0.6–1 s on 100,000 conversations, for any agent, growing with the
// history). Now it matches messages, and customers only by their whole id or
// email; and an agent's search matches customers among their own
// conversations only, not in the whole history first. Each plan is read with
// EXPLAIN ANALYZE: no step of it may read more rows than a page needs.
//
// And paging while hits arrive: `offset` counts the hits as they are at each
// request, so docs/api.md says to pin the later pages with `to` just after
// the first page's first hit; pinned so, a hit that arrives between two
// pages neither repeats nor moves one.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import type { Actor } from '../../src/agents/model.js';
import { SEARCH_SETTINGS, searchStatement, type SearchInput } from '../../src/search/search.js';
import { kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Subplan Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Rows Removed by Join Filter'?: number;
  Plans?: PlanNode[];
}

interface Result {
  conversation: { id: string; customer: { id: string } };
  message: { id: number; text: string | null } | null;
}

const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
/** Rows a step of the plan produced or looked at and dropped, over all its loops. */
const rowsRead = (n: PlanNode) =>
  (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0) + (n['Rows Removed by Join Filter'] ?? 0)) * n['Actual Loops'];
const describe = (n: PlanNode) => [n['Subplan Name'], n['Node Type'], n['Relation Name'], n['Index Name']].filter(Boolean).join(' ');

/** Conversations in the store, a few hundred times a page. */
const HISTORY = 2000;
/** What a page of 20 may read in any one step: the page, the agent's few conversations and their messages, and room. */
const BOUND = 100;

describeEachStore('search: a question of exclusions only reads a page, not the history', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(Date.parse('2026-07-01T10:00:00Z'));
  });

  /**
   * HISTORY resolved conversations, customers cust-1… named "Name 1"…, one of
   * them with the id "-vip"; the agent held the last five. Two messages in
   * each of the newest fifteen, "refund please" then "thanks a lot", a
   * second apart.
   */
  async function history() {
    const admin = await k.user('admin');
    const agent = await k.user('agent');
    const db = store().db;
    await db.query(
      `insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, resolved_at, updated_at)
       select 'api', c.id, jsonb_build_object('id', c.id, 'name', 'Name ' || i, 'email', 'person-' || i || '@mail.example'), 'resolved',
              case when i > $1::int - 5 then $2::uuid end, at, at, at, at
         from generate_series(1, $1::int) as i,
              lateral (select case when i = 7 then '-vip' else 'cust-' || i end as id,
                              timestamptz '2026-06-01T00:00:00Z' + i * interval '1 minute' as at) as c`,
      [HISTORY, agent.agent.id],
    );
    const said = await db.query<{ id: string; text: string; created_at: Date; agent: boolean }>(
      `insert into messages (conversation_id, sender, text, created_at)
       select c.id, 'customer', t.text, timestamptz '2026-06-20T00:00:00Z' + (c.seq * 2 + t.n) * interval '1 second'
         from (select id, seq from conversations order by seq desc limit 15) as c,
              (values (0, 'refund please'), (1, 'thanks a lot')) as t (n, text)
       returning id, text, created_at, conversation_id in (select id from conversations where agent_id = $1) as agent`,
      [agent.agent.id],
    );
    await db.query('analyze');
    const vip = (await db.query<{ id: string }>(`select id from conversations where customer_id = '-vip'`))[0]!.id;
    // newest first, as the search answers
    const messages = said.map((m) => ({ ...m, id: Number(m.id) })).sort((a, b) => new Date(b.created_at).getTime() - new Date(a.created_at).getTime());
    return { admin, agent, vip, messages };
  }

  /** The steps of the plan of the search `actor` asks, with the settings search() sets. */
  async function plan(actor: Actor, input: Partial<SearchInput> & { q: string }) {
    const { text, params } = searchStatement(actor, { limit: 20, offset: 0, ...input }, null);
    return store().db.transaction(async (tx) => {
      await tx.query(SEARCH_SETTINGS);
      const rows = await tx.query<Record<string, unknown>>(`explain (analyze, format json) ${text}`, params);
      const value = Object.values(rows[0]!)[0];
      return nodes(((typeof value === 'string' ? JSON.parse(value) : value) as { Plan: PlanNode }[])[0]!.Plan);
    });
  }

  const find = async (token: string, params: Record<string, string>) => {
    const res = await k.call('GET', `/api/v1/search?${new URLSearchParams(params).toString()}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { results: Result[] }).results;
  };

  it('reads no more rows than a page needs, for an admin, with the agent filter and for an agent', async () => {
    const h = await history();
    const admin: Actor = { id: h.admin.agent.id, role: 'admin' };
    const agent: Actor = { id: h.agent.agent.id, role: 'agent' };
    const asks: [string, Actor, Partial<SearchInput> & { q: string }][] = [];
    for (const q of ['-zq123', '-a -b -c', 'zq123 or -zq987', '-"a phrase"']) {
      asks.push([`admin q=${q}`, admin, { q }], [`admin q=${q} agent=`, admin, { q, agent: h.agent.agent.id }], [`agent q=${q}`, agent, { q }]);
    }
    // a word every customer has: the agent's search matches it among their five conversations only
    asks.push(['agent q=name', agent, { q: 'name' }], ['admin q=name agent=', admin, { q: 'name', agent: h.agent.agent.id }]);
    const over: string[] = [];
    for (const [label, actor, input] of asks) {
      const steps = await plan(actor, input);
      for (const n of steps) if (rowsRead(n) > BOUND) over.push(`${label}: ${describe(n)} read ${rowsRead(n)} rows`);
    }
    assert.deepEqual(over, [], `of ${HISTORY} conversations, for a page of 20`);
  });

  it('finds the messages without the words, and a customer only by the whole id as typed', async () => {
    const h = await history();
    const all = async (token: string, q: string) => find(token, { q, limit: '100' });
    const ids = (results: Result[]) => results.map((r) => (r.message ? r.message.id : `customer ${r.conversation.customer.id}`));

    const thanks = h.messages.filter((m) => m.text === 'thanks a lot').map((m) => m.id);
    assert.deepEqual(ids(await all(h.admin.token, '-refund')), thanks);
    assert.deepEqual(ids(await all(h.admin.token, '-refund -zq123')), thanks);
    assert.deepEqual(ids(await all(h.admin.token, 'refund or -thanks')), h.messages.filter((m) => m.text === 'refund please').map((m) => m.id));
    // every message (no message has "vip"), and the conversation whose customer id is "-vip" as typed; no other customer
    assert.deepEqual(ids(await all(h.admin.token, '-vip')), [...h.messages.map((m) => m.id), 'customer -vip']);
    // a page is a page: the newest 20 of them
    assert.deepEqual(ids(await find(h.admin.token, { q: '-vip' })), h.messages.slice(0, 20).map((m) => m.id));

    // an agent: the messages of the five conversations they held
    const theirs = h.messages.filter((m) => m.agent);
    assert.equal(theirs.length, 10);
    assert.deepEqual(ids(await all(h.agent.token, '-refund')), theirs.filter((m) => m.text === 'thanks a lot').map((m) => m.id));
    assert.deepEqual(ids(await all(h.agent.token, '-vip')), theirs.map((m) => m.id));
    // the agent filter: the same
    assert.deepEqual(ids(await all(h.admin.token, `-refund`)).length, 15);
    assert.deepEqual(ids(await find(h.admin.token, { q: '-refund', agent: h.agent.agent.id, limit: '100' })), theirs.filter((m) => m.text === 'thanks a lot').map((m) => m.id));

    // a word still finds customers: every one for an admin, the agent's five for the agent
    assert.equal((await find(h.admin.token, { q: 'name -refund', limit: '100' })).length, 100);
    const named = await all(h.agent.token, 'name');
    assert.deepEqual(
      named.map((r) => r.message),
      [null, null, null, null, null],
    );
    assert.deepEqual(ids(await all(h.agent.token, 'name -thanks')).length, 5);

    // operators are never an error
    for (const q of ['-', '--', '!!!', '-"', 'or', '- -', '-(a|b)', '"-x" -']) {
      const res = await k.call('GET', `/api/v1/search?q=${encodeURIComponent(q)}`, { token: h.agent.token });
      assert.equal(res.statusCode, 200, `${q}: ${res.body}`);
    }
  });
});

describeEachStore('search: paging pinned while hits arrive', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(Date.parse('2026-07-01T10:00:00Z'));
  });

  it('pages asked with to = just after the first page’s first hit return each hit once, though a hit arrives between them', async () => {
    const admin = await k.user('admin');
    await k.user('agent', { status: 'online', capacity: 10 });
    const c = await k.open(admin.token, { customer: { id: 'cust-x' } });
    const say = async () => {
      k.clock.advance(1000);
      const res = await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: admin.token, body: { sender: 'customer', text: 'refund please' } });
      assert.equal(res.statusCode, 201, res.body);
      return (res.json() as { id: number }).id;
    };
    const written: number[] = [];
    for (let i = 0; i < 5; i++) written.unshift(await say());
    const page = async (params: Record<string, string>) => {
      const res = await k.call('GET', `/api/v1/search?${new URLSearchParams({ q: 'refund', limit: '2', ...params }).toString()}`, { token: admin.token });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { results: { message: { id: number; created_at: string } }[] }).results.map((r) => r.message);
    };
    const first = await page({});
    const to = new Date(Date.parse(first[0]!.created_at) + 1).toISOString();
    await say();
    const second = await page({ offset: '2', to });
    await say();
    const third = await page({ offset: '4', to });
    assert.deepEqual([...first, ...second, ...third].map((m) => m.id), written);
  });
});
