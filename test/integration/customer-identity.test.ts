// Issue #16, items 2 and 3: a customer is who the host site says (an
// HMAC-SHA256 of the id with WIDGET_IDENTITY_SECRET), not who the caller
// claims; history and statistics follow that trust. POST /session with a
// valid, a missing and a wrong hash; the previous secret during and after its
// grace period; an unverified claim of a verified customer's id; and the
// agent who opens a conversation to read statistics they were refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { recordRoom } from '../../src/channels/qiscus/rooms.js';
import { openRoom } from '../../src/channels/rapidpro/tickets.js';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { payloadFor } from '../../src/events/webhooks/payloads.js';
import { buildApp, type App } from '../../src/http/app.js';
import { loadRealtimeConfig } from '../../src/realtime/config.js';
import { createRealtime, type Realtime } from '../../src/realtime/index.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { migrate } from '../../src/store/migrate.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { storeMigratedBefore } from '../helpers/scratch-database.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

const SECRET = 'identity-secret-of-the-host-site';
const OLD_SECRET = 'the-secret-it-replaced-last-week';
const GRACE_ENDS = '2026-03-01T12:00:00Z';
const sign = (id: string, secret = SECRET) => createHmac('sha256', secret).update(id).digest('hex');

describeEachStore('customer identity verification and who sees a customer', (store) => {
  const clock = fakeClock(Date.parse('2026-03-01T09:00:00Z'));
  const ctx: () => Ctx = () => ({ db: store().db, now: clock.now, onCommitted: () => undefined });
  const running: { app: App; realtime: Realtime }[] = [];
  let app: App;

  /** The HTTP API with chat sessions (the embedded broker, no socket), on the test clock. */
  async function start(env: Record<string, string>): Promise<App> {
    const c = ctx();
    const realtime = await createRealtime({ ctx: c, config: loadRealtimeConfig({}), sessionTtlSeconds: 3600, onError: (e) => assert.fail(String(e)), sweepIntervalMs: 0 });
    const config = { ...loadConfig(env), logLevel: 'silent' as const };
    const built = await buildApp({ ctx: c, config, metrics: createMetrics(c.db, c.now), realtime });
    await built.ready();
    running.push({ app: built, realtime });
    return built;
  }

  before(async () => {
    app = await start({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD_SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: GRACE_ENDS });
  });
  after(async () => {
    for (const r of running) {
      await r.app.close();
      await r.realtime.close();
    }
  });
  beforeEach(async () => {
    await store().reset();
    clock.set(Date.parse('2026-03-01T09:00:00Z'));
  });

  const call = (method: 'GET' | 'POST', url: string, options: { token?: string; body?: unknown } = {}, on = app) =>
    on.inject({ method, url, headers: options.token ? { authorization: `Bearer ${options.token}` } : {}, ...(options.body !== undefined ? { payload: options.body as object } : {}) });
  const user = async (role: 'admin' | 'supervisor' | 'agent', status: 'online' | 'offline' = 'offline', capacity = 5) => {
    const agent = await makeAgent(ctx(), { role, status, capacity });
    return { agent, token: (await issueToken(store().db, agent.id, clock.now(), 3600)).token };
  };
  const session = (customer: Record<string, unknown>, on = app) => call('POST', '/session', { body: { customer } }, on);
  const counts = async () => {
    const [row] = await store().db.query<{ conversations: number; sessions: number; events: number }>(
      `select (select count(*)::int from conversations) as conversations, (select count(*)::int from customer_sessions) as sessions,
              (select count(*)::int from events) as events`,
    );
    return row!;
  };
  const conversation = async (id: string, token: string) => {
    const res = await call('GET', `/api/v1/conversations/${id}`, { token });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  it('starts a verified chat for a valid hash and an unverified one without a hash; conversations, events and webhooks say which', async () => {
    const admin = await user('admin');
    const signed = await session({ id: 'cust-1', name: 'Ada', hash: sign('cust-1') });
    assert.equal(signed.statusCode, 201, signed.body);
    const plain = await session({ id: 'cust-1', name: 'Ada' });
    assert.equal(plain.statusCode, 201, plain.body);
    const asNull = await session({ id: 'cust-1', hash: null });
    assert.equal(asNull.statusCode, 201, asNull.body);
    // any case of the same hex digest is the same MAC
    const upper = await session({ id: 'cust-2', hash: sign('cust-2').toUpperCase() });
    assert.equal(upper.statusCode, 201, upper.body);

    const verified = await conversation(signed.json().sessionId, admin.token);
    assert.equal(verified.customer_verified, true);
    assert.equal(verified.channel, 'widget');
    assert.deepEqual(verified.customer, { id: 'cust-1', name: 'Ada', email: null, phone: null, fields: {} }, 'the hash is not stored with the customer');
    assert.equal((await conversation(plain.json().sessionId, admin.token)).customer_verified, false);
    assert.equal((await conversation(asNull.json().sessionId, admin.token)).customer_verified, false);
    assert.equal((await conversation(upper.json().sessionId, admin.token)).customer_verified, true);
    const [row] = await store().db.query<{ stored: string }>('select customer::text as stored from conversations where id = $1', [signed.json().sessionId]);
    assert.doesNotMatch(row!.stored, /hash/);

    const events = await store().db.query<{ id: number; type: string; conversation_id: string; agent_id: string | null; data: Record<string, unknown>; created_at: Date }>(
      `select * from events where type like 'conversation.%' and conversation_id in ($1, $2) order by id`,
      [signed.json().sessionId, plain.json().sessionId],
    );
    assert.ok(events.length >= 4);
    for (const event of events) {
      const expected = event.conversation_id === signed.json().sessionId;
      assert.equal((event.data.conversation as { customer_verified: boolean }).customer_verified, expected, `${event.type} data`);
      const body = payloadFor(event as never, event.type as never, null) as { data: { conversation: { customer_verified: boolean } } };
      assert.equal(body.data.conversation.customer_verified, expected, `${event.type} webhook payload`);
    }
  });

  it('refuses a wrong hash with 401 SB_IDENTITY_INVALID naming customer.hash, and creates nothing', async () => {
    const before = await counts();
    for (const hash of [sign('cust-1', 'some-other-secret-entirely'), sign('someone-else'), 'f'.repeat(64), 'not hex at all', sign('cust-1').slice(0, 63), `${sign('cust-1')}00`]) {
      const res = await session({ id: 'cust-1', hash });
      assert.equal(res.statusCode, 401, `${hash}: ${res.body}`);
      const { error } = res.json();
      assert.equal(error.code, 'SB_IDENTITY_INVALID');
      assert.equal(error.field, 'customer.hash');
      assert.match(error.message, /customer\.hash is not the HMAC-SHA256 of customer\.id/);
    }
    assert.deepEqual(await counts(), before, 'no conversation, no session, no event');
  });

  it('accepts the previous secret until WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL, and refuses it from then on', async () => {
    clock.set(Date.parse(GRACE_ENDS) - 1);
    const admin = await user('admin');
    const inGrace = await session({ id: 'cust-old', hash: sign('cust-old', OLD_SECRET) });
    assert.equal(inGrace.statusCode, 201, inGrace.body);
    assert.equal((await conversation(inGrace.json().sessionId, admin.token)).customer_verified, true);

    clock.set(Date.parse(GRACE_ENDS));
    const before = await counts();
    const late = await session({ id: 'cust-old', hash: sign('cust-old', OLD_SECRET) });
    assert.equal(late.statusCode, 401, late.body);
    assert.equal(late.json().error.code, 'SB_IDENTITY_INVALID');
    assert.deepEqual(await counts(), before);
    const current = await session({ id: 'cust-old', hash: sign('cust-old') });
    assert.equal(current.statusCode, 201, 'the current secret still works');
  });

  it('without WIDGET_IDENTITY_SECRET starts every chat unverified, a hash sent anyway included', async () => {
    const bare = await start({});
    const admin = await user('admin');
    const res = await session({ id: 'cust-1', hash: sign('cust-1') }, bare);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((await conversation(res.json().sessionId, admin.token)).customer_verified, false);
  });

  it('shows an unverified claim of victim-42 none of the real victim-42’s history, contact details or statistics', async () => {
    const supervisor = await user('supervisor');
    const alice = await user('agent', 'online', 1);
    // the real victim-42, signed by the host site, served by Alice, resolved
    const real = await session({ id: 'victim-42', name: 'Real Victim', email: 'victim@example.test', hash: sign('victim-42') });
    const realId = real.json().sessionId as string;
    assert.equal((await conversation(realId, supervisor.token)).agent_id, alice.agent.id);
    assert.equal((await call('POST', `/api/v1/conversations/${realId}/resolve`, { token: alice.token, body: {} })).statusCode, 200);
    // Bob comes online; the attacker claims victim-42 without a hash
    const bob = await user('agent', 'online', 1);
    const fake = await session({ id: 'victim-42', name: 'Attacker' });
    const fakeId = fake.json().sessionId as string;
    const fakeConversation = await conversation(fakeId, supervisor.token);
    assert.equal(fakeConversation.customer_verified, false);
    // equal loads: the one idle longest (Bob, never assigned) takes it
    assert.equal(fakeConversation.agent_id, bob.agent.id);

    // statistics: refused to the agent serving the unverified claim
    const bobStats = await call('GET', '/api/v1/customers/victim-42/statistics', { token: bob.token });
    assert.equal(bobStats.statusCode, 403, bobStats.body);
    assert.match(bobStats.json().error.message, /no conversation you hold or held whose customer is verified/);
    assert.equal((await call('GET', '/api/v1/customers/victim-42/statistics', { token: alice.token })).statusCode, 200, 'Alice served the real one');

    // history of the unverified conversation: nothing, for its holder and for a supervisor
    for (const token of [bob.token, supervisor.token]) {
      const res = await call('GET', `/api/v1/conversations/${fakeId}/customer-history`, { token });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { customer_verified: false, conversations: [] });
    }
    // and the real customer's history does not take in the claim
    const history = await call('GET', `/api/v1/conversations/${realId}/customer-history`, { token: supervisor.token });
    assert.deepEqual(history.json(), { customer_verified: true, conversations: [] }, 'the unverified claim is not part of victim-42’s past');
    // the listing can be narrowed the same way
    const present = await call('GET', '/api/v1/customers', { token: supervisor.token });
    assert.deepEqual(present.json().map((p: { conversation_id: string; customer_verified: boolean }) => [p.conversation_id, p.customer_verified]), [[fakeId, false]]);
    const listed = await call('GET', '/api/v1/conversations?customer=victim-42&customer_verified=true', { token: supervisor.token });
    assert.deepEqual(listed.json().map((c: { id: string }) => c.id), [realId]);
    const unverified = await call('GET', '/api/v1/conversations?customer=victim-42&customer_verified=false', { token: supervisor.token });
    assert.deepEqual(unverified.json().map((c: { id: string }) => c.id), [fakeId]);
  });

  it('shares history between a customer’s verified conversations, agents seeing those they held', async () => {
    const supervisor = await user('supervisor');
    const alice = await user('agent', 'online', 5);
    const first = (await session({ id: 'cust-7', email: 'first@example.test', hash: sign('cust-7') })).json().sessionId as string;
    await call('POST', `/api/v1/conversations/${first}/resolve`, { token: alice.token, body: {} });
    // opened by a supervisor through the API: vouched for
    const second = await call('POST', '/api/v1/conversations', { token: supervisor.token, body: { customer: { id: 'cust-7', phone: '+100' } } });
    assert.equal(second.statusCode, 201, second.body);
    assert.equal(second.json().customer_verified, true);
    const third = (await session({ id: 'cust-7', hash: sign('cust-7') })).json().sessionId as string;

    const res = await call('GET', `/api/v1/conversations/${third}/customer-history`, { token: alice.token });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.customer_verified, true);
    assert.deepEqual(body.conversations.map((c: { id: string }) => c.id), [second.json().id, first], 'newest first, the current one left out');
    assert.equal(body.conversations[1].customer.email, 'first@example.test', 'contact details from the earlier chat');
    assert.ok(body.conversations.every((c: { customer_verified: boolean }) => c.customer_verified));
    assert.equal((await call('GET', `/api/v1/conversations/${third}/customer-history?limit=1`, { token: alice.token })).json().conversations.length, 1);

    // an agent sees the history of conversations they may see, and only the conversations they held
    const carol = await user('agent');
    const refused = await call('GET', `/api/v1/conversations/${third}/customer-history`, { token: carol.token });
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal((await call('GET', `/api/v1/conversations/${third}/customer-history`)).statusCode, 401);
  });

  it('does not let an agent refused a customer’s statistics unlock them by opening a conversation for that customer (#16 item 3)', async () => {
    const admin = await user('admin');
    const mallory = await user('agent', 'online', 5);
    const refused = await call('GET', '/api/v1/customers/victim-42/statistics', { token: mallory.token });
    assert.equal(refused.statusCode, 403, refused.body);

    const opened = await call('POST', '/api/v1/conversations', { token: mallory.token, body: { customer: { id: 'victim-42' } } });
    assert.equal(opened.statusCode, 201, opened.body);
    assert.equal(opened.json().agent_id, mallory.agent.id, 'routed straight to the agent who opened it');
    assert.equal(opened.json().customer_verified, false, 'an agent does not vouch for a customer id');
    const again = await call('GET', '/api/v1/customers/victim-42/statistics', { token: mallory.token });
    assert.equal(again.statusCode, 403, again.body);
    const history = await call('GET', `/api/v1/conversations/${opened.json().id}/customer-history`, { token: mallory.token });
    assert.deepEqual(history.json(), { customer_verified: false, conversations: [] });

    // a conversation an admin opened and the engine routed to her does open them
    const vouched = await call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'victim-42' } } });
    assert.equal(vouched.json().customer_verified, true);
    assert.equal(vouched.json().agent_id, mallory.agent.id);
    assert.equal((await call('GET', '/api/v1/customers/victim-42/statistics', { token: mallory.token })).statusCode, 200);
  });

  it('counts a Qiscus room verified only when its channel authenticated the contact, and RapidPro tickets as verified', async () => {
    const admin = await user('admin');
    // contract §1.1: the top-level source is "qiscus" whatever the channel; channel.source tells WhatsApp from Qiscus's web widget
    const rooms: [string, Record<string, unknown>, boolean][] = [
      ['wa', { source: 'qiscus', channel: { id: 123, name: 'WA Support', source: 'wa' } }, true],
      ['line', { source: 'qiscus', channel: { id: 7, name: 'LINE', source: 'line' } }, true],
      ['Telegram', { source: 'qiscus', channel: { id: 9, name: 'TG', source: 'telegram' } }, true],
      // an allow-list: a custom channel's ids are its integrator's, a source Qiscus adds later is not known to vouch
      ['custom', { source: 'qiscus', channel: { id: 8, name: 'Custom', source: 'custom' } }, false],
      ['unknown source', { source: 'qiscus', channel: { id: 10, name: 'New', source: 'sms-gateway' } }, false],
      ['web widget', { source: 'qiscus', channel: { id: 1, name: 'Web', source: 'qiscus' } }, false],
      ['web widget (QISCUS)', { source: 'qiscus', channel: { id: 1, name: 'Web', source: ' QISCUS ' } }, false],
      ['web', { source: 'qiscus', channel: { id: 2, name: 'Web', source: 'web' } }, false],
      ['widget', { source: 'qiscus', channel: { id: 3, name: 'Web', source: 'widget' } }, false],
      ['blank channel source', { source: 'qiscus', channel: { id: 4, name: 'Web', source: '' } }, false],
      ['channel without source', { source: 'qiscus', channel: { id: 5, name: 'Web' } }, false],
      ['non-text channel source', { source: 'qiscus', channel: { id: 6, name: 'Web', source: 42 } }, false],
      ['null channel', { source: 'qiscus', channel: null }, false],
      ['no channel (older payload)', { source: 'qiscus' }, false],
    ];
    for (const [label, extra, verified] of rooms) {
      const room = await recordRoom(ctx(), { room_id: `room-${label}`, email: 'qiscus-customer@example.test', name: 'Q', ...extra } as never);
      assert.equal((await conversation(room.conversation.id, admin.token)).customer_verified, verified, label);
    }
    await store().db.query(
      `insert into rapidpro_ticketers (uuid, name, secret, created_at, updated_at) values ('6a9a3c1e-2f4b-4d7e-9b1a-1c2d3e4f5a6b', 't', 'SECRETSECRETSECRETSECRETSECRET12', now(), now())`,
    );
    const ticket = await openRoom(ctx(), '6a9a3c1e-2f4b-4d7e-9b1a-1c2d3e4f5a6b', { ticketId: 't-1', token: 'v-1', department: null, priority: 0, customFields: {} });
    assert.equal((await conversation(ticket.conversationId, admin.token)).customer_verified, true);
  });

  // Reviewer "identity": on Qiscus's web widget the email is the visitor's own typing; vouched for, it merged with the
  // customer a host site signed under that id. Both ways: the claim sees nothing of Bob, and Bob's history takes nothing in.
  const webRoom = (roomId: string, email: string) =>
    recordRoom(ctx(), { room_id: roomId, email, name: 'Mallory', source: 'qiscus', channel: { id: 1, name: 'Web', source: 'qiscus' } } as never);

  it('a Qiscus web-widget visitor typing a signed customer’s id sees none of their history, contact details or statistics', async () => {
    const supervisor = await user('supervisor');
    const alice = await user('agent', 'online');
    const real = await session({ id: 'bob@example.test', name: 'Bob', email: 'bob@example.test', hash: sign('bob@example.test') });
    assert.equal(real.statusCode, 201, real.body);
    const realId = real.json().sessionId as string;
    assert.equal((await call('POST', `/api/v1/conversations/${realId}/resolve`, { token: alice.token, body: {} })).statusCode, 200);

    for (const room of [await webRoom('room-mallory', 'bob@example.test'), await recordRoom(ctx(), { room_id: 'room-old', email: 'bob@example.test', source: 'qiscus' } as never)]) {
      const history = await call('GET', `/api/v1/conversations/${room.conversation.id}/customer-history`, { token: supervisor.token });
      assert.equal(history.statusCode, 200, history.body);
      assert.deepEqual(history.json(), { customer_verified: false, conversations: [] });
    }

    // an agent holding the Qiscus room is not let into Bob's statistics by it
    const bert = await user('agent', 'online');
    await store().db.query(`update conversations set state = 'assigned', agent_id = $1, assigned_at = now() where external_ref = 'room-mallory'`, [bert.agent.id]);
    const stats = await call('GET', `/api/v1/customers/${encodeURIComponent('bob@example.test')}/statistics`, { token: bert.token });
    assert.equal(stats.statusCode, 403, stats.body);
  });

  it('a signed customer’s history does not take in a Qiscus web-widget visitor who typed their id; a WhatsApp room’s it does', async () => {
    const supervisor = await user('supervisor');
    await webRoom('room-mallory', 'cust-42');
    const real = await session({ id: 'cust-42', name: 'Bob', hash: sign('cust-42') });
    assert.equal(real.statusCode, 201, real.body);
    const history = async () => {
      const res = await call('GET', `/api/v1/conversations/${real.json().sessionId}/customer-history`, { token: supervisor.token });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().conversations.map((c: { customer: { name: string } }) => c.customer.name);
    };
    assert.deepEqual(await history(), []);

    // a channel that authenticated its contact still vouches: its room is part of the verified customer's history
    await recordRoom(ctx(), { room_id: 'room-wa', email: 'cust-42', name: 'Bob on WhatsApp', source: 'qiscus', channel: { id: 123, name: 'WA Support', source: 'wa' } } as never);
    assert.deepEqual(await history(), ['Bob on WhatsApp']);
  });
});

describe('migration 0009 on conversations that existed before it', () => {
  for (const kind of storeKinds()) {
    it(`marks widget and mqtt chats unverified, Qiscus, RapidPro and API ones verified [${kind}]`, async () => {
      const { db, drop, all } = await storeMigratedBefore(kind, '0009');
      try {
        for (const channel of ['widget', 'mqtt', 'qiscus', 'rapidpro', 'api']) {
          await db.query(
            `insert into conversations (channel, customer_id, customer, state, created_at, queued_at, updated_at)
             values ($1, 'c', '{"id":"c"}', 'queued', now(), now(), now())`,
            [channel],
          );
        }
        assert.deepEqual(await migrate(db), all.filter((m) => m.version >= '0009').map((m) => m.version));
        const rows = await db.query<{ channel: string; customer_verified: boolean }>('select channel, customer_verified from conversations order by seq');
        assert.deepEqual(Object.fromEntries(rows.map((r) => [r.channel, r.customer_verified])), { widget: false, mqtt: false, qiscus: true, rapidpro: true, api: true });
      } finally {
        await drop();
      }
    });
  }
});
