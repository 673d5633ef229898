// A Qiscus webhook is not refused for one odd value in a field Switchboard
// ignores or mends: a refused allocation webhook is refused again at every
// message of its room, which is then never allocated. A customer's name with
// a lone surrogate (a cut emoji), an ignored field with a NUL, nulls and
// loose types where the contract has booleans or objects are taken; what is
// stored is mended (U+FFFD). Only the room's id (and a resolve's session id)
// stay exact. Found by review (scratch tests).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { expectInvalid } from '../helpers/api-kit.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const OLD = 115830865;

describeEachStore('Qiscus webhooks with odd values in fields not needed', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  /** The contract's allocation webhook (§1.1), newer payload, for `roomId`, with `changes` over it. */
  const allocation = (roomId: string, changes: Record<string, unknown> = {}) => ({
    app_id: fake.appId,
    app_code: fake.appId,
    avatar_url: 'https://omnichannel.qiscus.com/img/ic_qiscus_client.png',
    candidate_agent: null,
    channel: { id: 123, name: 'WA Support', source: 'wa' },
    email: `cust${roomId}@example.com`,
    extras: '{"additional_extras":{"timezone_offset":7},"notes":null}',
    is_new_session: true,
    is_resolved: false,
    latest_service: null,
    name: `cust${roomId}`,
    room_id: roomId,
    source: 'qiscus',
    ...changes,
  });
  /** The contract's resolve webhook (§1.2) for `roomId`, with `changes` over it. */
  const resolve = (roomId: string, changes: Record<string, unknown> = {}, service: Record<string, unknown> = {}) => ({
    customer: { additional_info: [], avatar: 'https://example.com/a.png', name: 'cust#2', user_id: 'hello@world.com' },
    resolved_by: { email: 'agent@example.com', id: 162787, is_available: true, name: 'QTicketing Demo 1', type: 'admin' },
    service: { first_comment_id: '2487134935', id: 115830999, is_resolved: true, last_comment_id: '2488202680', notes: 'selesai.', room_id: roomId, source: 'qiscus', ...service },
    ...changes,
  });
  const post = (url: string, body: unknown) => h.t.call('POST', url, { headers: { 'x-webhook-secret': h.secret! }, body });
  const conversation = async (roomId: string) =>
    (
      await store().db.query<{ state: string; customer: { name: string | null; email: string | null; fields: Record<string, string> }; note: string | null; previous_service_id: string | null }>(
        `select c.state, c.customer, c.note, nullif(q.previous_service_id, '') as previous_service_id
           from conversations c left join qiscus_rooms q on q.conversation_id = c.id
          where c.channel = 'qiscus' and c.external_ref = $1 order by c.seq desc limit 1`,
        [roomId],
      )
    )[0];

  it('records and allocates a room whatever odd value one field it ignores or mends holds', async () => {
    h = await harness();
    fake.addAgents(1);
    const odd: [string, Record<string, unknown>][] = [
      ['a name with a lone surrogate', { name: 'Budi \uD83D' }],
      ['candidate_agent.name with a NUL', { candidate_agent: { id: 5, name: 'Agent\u0000X', email: 'a@x.com' } }],
      ['is_new_session null', { is_new_session: null }],
      ['is_resolved null', { is_resolved: null }],
      ['app_id null', { app_id: null }],
      ['latest_service.is_resolved 1', { latest_service: { id: OLD, is_resolved: 1, notes: 'selesai.', room_id: '1' } }],
      ['latest_service.id of no usable type', { latest_service: { id: true, is_resolved: true } }],
      ['is_new_session as text', { is_new_session: 'yes' }],
      ['email a number', { email: 42 }],
      ['channel a string', { channel: 'wa' }],
      ['extras with a NUL inside its JSON', { extras: '{"notes":"a\\u0000b","x\\u0000":1}' }],
      ['the avatar with a NUL', { avatar_url: 'https://x.example/\u0000.png' }],
    ];
    for (const [i, [what, changes]] of odd.entries()) {
      const room = String(1000 + i);
      const res = await post('/api/v1/webhook/agent_allocation', allocation(room, changes));
      assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), { status: 200, message: 'Successfully received.', data: null });
      assert.equal((await conversation(room))?.state, 'queued', what);
    }
    await h.settle();
    assert.equal((await conversation('1000'))?.state, 'assigned', 'allocated');
  });

  it('stores what it mends as U+FFFD, and reads the loose values as the contract means them', async () => {
    h = await harness();
    let res = await post('/api/v1/new_request', allocation('2000', { name: 'Budi \uD83D', extras: '{"notes":"a\\u0000b"}', avatar_url: 'https://x.example/\u0000.png' }));
    assert.equal(res.statusCode, 200, res.body);
    const mended = (await conversation('2000'))!;
    assert.equal(mended.customer.name, 'Budi \uFFFD');
    assert.equal(mended.customer.fields.notes, 'a\uFFFDb');
    assert.equal(mended.customer.fields.avatar_url, 'https://x.example/\uFFFD.png');
    // is_resolved 1 names the previous session; an email of another type is none (the room stands for its customer)
    res = await post('/api/v1/webhook/agent_allocation', allocation('2001', { latest_service: { id: OLD, is_resolved: 1 }, email: 42 }));
    assert.equal(res.statusCode, 200, res.body);
    const loose = (await conversation('2001'))!;
    assert.equal(loose.previous_service_id, String(OLD));
    assert.equal(loose.customer.email, null);
    // a latest_service whose id is no id is no previous session
    res = await post('/api/v1/webhook/agent_allocation', allocation('2002', { latest_service: { id: { n: 1 }, is_resolved: true } }));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await conversation('2002'))!.previous_service_id, null);
  });

  it('takes texts longer than their limits: a name and notes cut to theirs, an e-mail, avatar, source or extras passed over', async () => {
    h = await harness();
    const long = (n: number) => '\u{1F600}'.repeat(n);
    const res = await post(
      '/api/v1/webhook/agent_allocation',
      allocation('5000', {
        name: long(600),
        email: `${'x'.repeat(495)}@example.com`,
        avatar_url: `https://x.example/${'a'.repeat(2000)}.png`,
        source: 'q'.repeat(101),
        extras: JSON.stringify({ notes: 'n'.repeat(100_000) }),
      }),
    );
    assert.equal(res.statusCode, 200, res.body);
    const stored = (await conversation('5000'))!;
    assert.equal(stored.state, 'queued');
    assert.equal(stored.customer.name, long(500), 'the first 500 characters (code points, not UTF-16 units)');
    assert.equal(stored.customer.email, null, 'an e-mail cut short would be someone else’s');
    assert.deepEqual(Object.keys(stored.customer.fields).sort(), ['qiscus_channel', 'qiscus_room_id']);
    const [row] = await store().db.query<{ customer_id: string }>("select customer_id from conversations where external_ref = '5000'");
    assert.equal(row!.customer_id, 'qiscus-room:5000', 'the room stands for its customer');

    const resolved = await post('/api/v1/webhook/mark_as_resolved', resolve('5000', {}, { notes: `${'s'.repeat(10_000)}TAIL` }));
    assert.equal(resolved.statusCode, 200, resolved.body);
    const closed = (await conversation('5000'))!;
    assert.equal(closed.state, 'resolved');
    assert.equal(closed.note, 's'.repeat(10_000));
  });

  it('a customer whose id is a long e-mail (up to 500) can be listed and asked about, as any other', async () => {
    h = await harness();
    const email = `${'x'.repeat(488)}@example.com`; // 500 characters: the longest Qiscus id kept
    assert.equal(email.length, 500);
    const res = await post('/api/v1/webhook/agent_allocation', allocation('5001', { email }));
    assert.equal(res.statusCode, 200, res.body);
    const { token } = await h.t.user('admin');

    const listed = await h.t.call('GET', `/api/v1/conversations?customer=${encodeURIComponent(email)}`, { token });
    assert.equal(listed.statusCode, 200, listed.body);
    const conversations = listed.json() as { external_ref: string; customer: { id: string } }[];
    assert.deepEqual(
      conversations.map((c) => [c.external_ref, c.customer.id]),
      [['5001', email]],
    );
    const asked = await h.t.call('GET', `/api/v1/customers/${encodeURIComponent(email)}/statistics`, { token });
    assert.equal(asked.statusCode, 200, asked.body);

    // past what any channel stores: refused, naming the field
    const tooLong = await h.t.call('GET', `/api/v1/conversations?customer=${'y'.repeat(501)}`, { token });
    expectInvalid(tooLong, 'customer');
  });

  it('closes the room on a resolve whatever its customer and resolved_by hold, its notes mended', async () => {
    h = await harness();
    const odd: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['customer null', { customer: null }, {}],
      ['customer.name with a lone surrogate', { customer: { name: 'Budi \uD83D', user_id: 'b@x.com' } }, {}],
      ['resolved_by null', { resolved_by: null }, {}],
      ['resolved_by.name with a NUL', { resolved_by: { id: 1, name: 'A\u0000' } }, {}],
      ['notes with a NUL', {}, { notes: 'sel\u0000esai' }],
      ['notes a number', {}, { notes: 5 }],
    ];
    for (const [i, [what, changes, service]] of odd.entries()) {
      const room = String(3000 + i);
      assert.equal((await post('/api/v1/webhook/agent_allocation', allocation(room))).statusCode, 200);
      const res = await post('/api/v1/webhook/mark_as_resolved', resolve(room, changes, service));
      assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), { status: 200, message: 'Room marked as resolved.', data: null });
      assert.equal((await conversation(room))?.state, 'resolved', what);
    }
    assert.equal((await conversation('3004'))?.note, 'sel\uFFFDesai');
    assert.equal((await conversation('3005'))?.note, null);
  });

  it('still refuses, naming it, a room id or session id that cannot be stored, and records nothing', async () => {
    h = await harness();
    for (const [url, body, message] of [
      ['/api/v1/webhook/agent_allocation', allocation('4000\u0000', { email: 'c@example.com', name: 'c' }), /^room_id contains a NUL character/],
      ['/api/v1/webhook/mark_as_resolved', resolve('4001\uD83D'), /^service.room_id contains a NUL character or invalid Unicode/],
      ['/api/v1/webhook/mark_as_resolved', resolve('4002', {}, { id: '9\u0000' }), /^service.id contains a NUL character/],
    ] as const) {
      const res = await post(url, body);
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().message, message);
    }
    assert.deepEqual(await store().db.query('select id from conversations'), []);
  });
});
