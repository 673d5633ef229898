// POST /api/v1/conversations for a conversation that waits: its place and
// expected wait come with the open, in the same round trip into the store:
// read by the statement after the open's COMMIT (Db.transactOneThen,
// sb_queue_place in routing/functions.sql), outside the routing lock the
// open held, and mean what docs/api.md ("Queue position at creation") says:
// the exact place when opens come one after another; side by side, never a
// place behind the one it really has, and every read after the burst has
// the exact places.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import type { Db } from '../../src/store/db.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { describeEachStore } from '../helpers/stores.js';

interface Placed {
  id: string;
  state: string;
  department: string | null;
  queue_position: number | null;
  expected_wait_seconds: number | null;
}

/** `db` with the text of every statement it sends recorded in `sent`; a statement after a commit as `then: <text>` with it. */
function recording(db: Db, sent: string[], faults: { place: boolean; leaveFirst: boolean }): Db {
  const recorded = Object.create(db) as Db;
  recorded.query = (text, params) => (sent.push(text), db.query(text, params));
  recorded.transactOne = (text, params) => (sent.push(text), db.transactOne(text, params));
  recorded.transactOneThen = async <Row, After>(text: string, params: readonly unknown[], after: { text: string; params: readonly unknown[] }) => {
    sent.push(`${text}\nthen: ${after.text}`);
    // a statement after the commit that fails, as a timeout would
    if (faults.place) return db.transactOneThen<Row, After>(text, params, { text: `select 1 / (0 * $1::int)`, params: [1] });
    if (!faults.leaveFirst) return db.transactOneThen<Row, After>(text, params, after);
    // The conversation leaves the queue between the open's commit and the
    // read (abandoned here; given to an agent would do the same), then the
    // place is read as the statement after the commit reads it.
    const { rows } = await db.transactOneThen<Row, unknown>(text, params, { text: 'select 1 where $1::int = 0', params: [1] });
    const id = (rows[0] as { id: string }).id;
    await db.query("update conversations set state = 'abandoned', resolved_at = now() where id = $1::uuid", [id]);
    const read = after.text.replace("nullif(current_setting('sb.opened', true), '')::uuid", '$3::uuid');
    assert.notEqual(read, after.text);
    return { rows, after: await db.query<After>(read, [...after.params, id]) };
  };
  recorded.transaction = (fn, options) =>
    db.transaction((tx) => fn({ query: (text, params) => (sent.push(text), tx.query(text, params)), exec: (text) => (sent.push(text), tx.exec(text)) }), options);
  return recorded;
}

describeEachStore('api: a queued open and its place', (store) => {
  let t: TestApp;
  let token: string;
  const sent: string[] = [];
  const faults = { place: false, leaveFirst: false };
  before(async () => {
    t = await testApp(store(), { beforeApp: (ctx) => void (ctx.db = recording(ctx.db, sent, faults)) });
  });
  after(() => t.close());
  beforeEach(async () => {
    faults.place = false;
    faults.leaveFirst = false;
    await store().reset();
    ({ token } = await t.user('admin'));
  });

  const open = async (customer: string, body: Record<string, unknown> = {}) => {
    const res = await t.call('POST', '/api/v1/conversations', { token, body: { customer: { id: customer }, ...body } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json<Placed>();
  };
  const read = async (id: string) => (await t.call('GET', `/api/v1/conversations/${id}`, { token })).json<Placed>();

  it('answers an open with its place and expected wait from the one call that opened it, queued or not', async () => {
    // Two agents of "sales", full after the first two: the wait is estimated (two slots, the default handle time).
    for (let i = 0; i < 2; i++) await t.user('agent', { status: 'online', departments: ['sales'], capacity: 1 });
    const opensOnly = () => sent.filter((text) => !/auth_tokens/.test(text));
    sent.length = 0;
    const served = await open('first', { department: 'sales' });
    assert.deepEqual([served.state, served.queue_position, served.expected_wait_seconds], ['assigned', null, null]);
    assert.equal(opensOnly().length, 1);
    await open('second', { department: 'sales' });
    await open('ahead-elsewhere');
    sent.length = 0;
    const c = await open('third', { department: 'sales' });
    // The token's look-up is the auth's, not the open's.
    const statements = opensOnly();
    assert.equal(statements.length, 1, `statements sent for the open:\n${statements.join('\n---\n')}`);
    assert.match(statements[0]!, /from sb_open_conversation\(/);
    assert.match(statements[0]!, /then: .*sb_queue_place/s, 'the place is read after the commit, in the same round trip');
    assert.equal(c.state, 'queued');
    assert.equal(c.queue_position, 1, 'the department-less conversation waits in a queue of its own, not ahead in sales');
    assert.equal(c.expected_wait_seconds, 150, 'one ahead of the free slots (none), two slots, the default handle time of 300 s');
    const again = await read(c.id);
    assert.deepEqual([c.queue_position, c.expected_wait_seconds], [again.queue_position, again.expected_wait_seconds]);
    assert.equal(typeof c.expected_wait_seconds, 'number');
  });

  it('answers with the place read anew when the read after the commit fails: the open stands, once', async () => {
    await open('ahead', { department: 'support' });
    faults.place = true;
    const c = await open('second', { department: 'support' });
    assert.deepEqual([c.state, c.queue_position], ['queued', 2]);
    const [row] = await store().db.query<{ n: number }>("select count(*)::int as n from conversations where customer_id = 'second'");
    assert.equal(row!.n, 1);
  });

  it('answers a conversation that left the queue before its place was read as opened, without a place', async () => {
    await open('ahead', { department: 'support' });
    faults.leaveFirst = true;
    const c = await open('second', { department: 'support' });
    assert.deepEqual([c.state, c.queue_position, c.expected_wait_seconds], ['queued', null, null]);
  });

  it('opened one after another, each is told its exact place, higher priorities first', async () => {
    const places: [number, number | null][] = [];
    for (const [i, priority] of [0, 0, 5, 0, 5].entries()) places.push([i, (await open(`seq-${i}`, { department: 'support', priority })).queue_position]);
    // arrival 0 (p0): 1; 1 (p0): 2; 2 (p5): 1, ahead of both; 3 (p0): 4; 4 (p5): 2
    assert.deepEqual(places, [[0, 1], [1, 2], [2, 1], [3, 4], [4, 2]]);
  });

  it('opened side by side, none is told a place behind its own, and reads after the burst have the exact places', async () => {
    const burst = await Promise.all(Array.from({ length: 24 }, (_, i) => open(`burst-${i}`)));
    const exact = new Map<string, number>();
    for (const c of burst) exact.set(c.id, (await read(c.id)).queue_position!);
    // After the burst the places are 1..24, in arrival order.
    assert.deepEqual([...exact.values()].sort((a, b) => a - b), Array.from({ length: 24 }, (_, i) => i + 1));
    for (const c of burst) {
      assert.equal(c.state, 'queued');
      assert.ok(c.queue_position! >= 1 && c.queue_position! <= exact.get(c.id)!, `told ${c.queue_position}, really ${exact.get(c.id)}`);
    }
  });
});
