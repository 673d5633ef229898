// An event whose transaction commits late — it drew its id, then stayed open
// while later events committed — is delivered by every reader of the event
// log exactly once, and each conversation's events in order: the webhook
// fan-out, GET /api/v1/events paged with after=<last id>, the RapidPro
// callback feed, the Qiscus removal feed and the MQTT relay.
//
// Writers take no global lock for the log (migration 0022, src/events/log.ts):
// a reader that went by ids alone would read the later events, move its
// cursor past the open writer's id, and never see that event. Each reader
// here runs while the late writer is open, and again after it commits.
//
// PostgreSQL only: the late writer must hold its transaction open on one
// connection while others commit on theirs. PGlite is one connection that
// runs one transaction at a time, so no event can commit late there.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { SYSTEM, type AgentRow } from '../../src/agents/model.js';
import { createTicketer, setCallbackUrl } from '../../src/channels/rapidpro/ticketers.js';
import { openRoom } from '../../src/channels/rapidpro/tickets.js';
import { feedCallbacks } from '../../src/channels/rapidpro/feed.js';
import { QISCUS_SOURCE } from '../../src/channels/qiscus/constants.js';
import { feedRemovals } from '../../src/channels/qiscus/removals.js';
import type { Ctx } from '../../src/context.js';
import { openConversation, requeueConversation } from '../../src/conversations/lifecycle.js';
import { addMessage } from '../../src/conversations/messages.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { createEndpoint } from '../../src/events/webhooks/endpoints.js';
import { topics as topicsOf } from '../../src/realtime/topics.js';
import type { Db } from '../../src/store/db.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';
import { recordingPublisher } from '../helpers/recording-publisher.js';

interface Held {
  /** resolves once the late writer's events are inserted (their ids drawn) */
  drawn: Promise<void>;
  release(): void;
}

/**
 * A store whose transactions insert their events, then wait for `release`
 * before committing: the late writer. Everything else is the real store.
 */
function holdingDb(db: Db): { db: Db; held: Held } {
  let drawn!: () => void;
  let release!: () => void;
  const held: Held = { drawn: new Promise((r) => (drawn = r)), release: () => release() };
  const released = new Promise<void>((r) => (release = r));
  const wrapped: Db = {
    kind: db.kind,
    // A chat message is one autocommit statement (addMessage): held like a routing function's call.
    query: (text, params) => (/\bsb_add_message\(/.test(text) ? wrapped.transactOne(text, params ?? []) : db.query(text, params)),
    exec: (text) => db.exec(text),
    close: () => db.close(),
    listen: (channel, handlers) => db.listen(channel, handlers),
    transaction: (fn, options = {}) =>
      db.transaction(
        async (tx) => {
          const value = await fn(tx);
          const final = options.final?.();
          if (final) final.rows(await tx.query(final.text, final.params));
          drawn();
          await released;
          return value;
        },
        { ...options, final: undefined },
      ),
    // A routing function appends its events itself: the same late writer.
    transactOne: <Row,>(text: string, params: readonly unknown[]) =>
      db.transaction(async (tx) => {
        const rows = await tx.query<Row>(text, params);
        drawn();
        await released;
        return rows;
      }),
    // The statement after the commit sees it like any later read.
    transactOneThen: async <Row, After>(text: string, params: readonly unknown[], after: { text: string; params: readonly unknown[] }) => ({
      rows: await wrapped.transactOne<Row>(text, params),
      after: await db.query<After>(after.text, after.params),
    }),
  };
  return { db: wrapped, held };
}

/**
 * Waits until every committed event is below the read horizon. The horizon
 * is the oldest transaction still open on the whole server, other databases'
 * included: on a shared test server another suite's long transaction (a bulk
 * insert, an index build) holds it back until it ends.
 */
async function settled(db: Db): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const [row] = await db.query<{ ok: boolean }>('select coalesce(max(xid_bound), 0) < event_horizon() as ok from events');
    if (row!.ok) return;
    assert.ok(Date.now() < deadline, 'the read horizon did not pass the committed events within 180 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const maxId = async (db: Db) => Number((await db.query<{ id: number }>('select coalesce(max(id), 0) as id from events'))[0]!.id);

/** The ids a reader delivered must be each committed event of `wanted` once, and each conversation's in increasing order. */
async function assertDeliveredOnceInOrder(db: Db, delivered: readonly number[], wanted: (e: StoredEvent) => boolean, what: string) {
  const events = (await db.query<StoredEvent>('select id, type, conversation_id, agent_id, data, created_at from events order by id')).filter(wanted);
  assert.deepEqual([...delivered].sort((a, b) => a - b), events.map((e) => Number(e.id)), `${what}: every event once`);
  const conversationOf = new Map(events.map((e) => [Number(e.id), e.conversation_id]));
  const last = new Map<string, number>();
  for (const id of delivered) {
    const c = conversationOf.get(id);
    if (!c) continue;
    assert.ok(id > (last.get(c) ?? 0), `${what}: event ${id} of conversation ${c} came after ${last.get(c)}`);
    last.set(c, id);
  }
}

if (process.env.TEST_DATABASE_URL) {
  describe('the event log read while a writer commits late [postgres]', () => {
    let store: TestStore;
    let t: TestApp;
    let ctx: Ctx;
    let agent: AgentRow;
    const committed: StoredEvent[] = [];

    before(async () => {
      store = await openTestStore('postgres', { poolSize: 8 });
    });
    after(async () => {
      await t?.close();
      await store?.close();
    });
    beforeEach(async () => {
      await t?.close();
      await store.reset({ max_customers: 10 });
      committed.length = 0;
      t = await testApp(store);
      ctx = { db: store.db, now: () => new Date(), onCommitted: (events) => committed.push(...events) };
      agent = await makeAgent(ctx, { status: 'online', capacity: 10 });
    });

    /**
     * The scenario every reader meets: conversation A has a message; a late
     * writer (`late`, on A or about A) draws its event ids and stays open
     * while messages on B and C commit and `read` runs; a second message on
     * A waits for the late writer's row lock. Then the writer commits, more
     * commits follow on A and B, and `read` runs again. `read` is told the
     * late writer's last event id while it is open, undefined afterwards.
     */
    async function scenario(options: { a: string; late: (held: Ctx) => Promise<unknown>; read: (openLateId?: number) => Promise<void> }) {
      const others = await Promise.all(['b', 'c'].map(async (id) => (await openConversation(ctx, { customer: { id } })).conversation.id));
      await addMessage(ctx, options.a, { sender: 'customer', sender_id: null, text: 'before' }, SYSTEM);
      const { db, held } = holdingDb(store.db);
      const late = options.late({ ...ctx, db });
      await held.drawn;
      let sameConversation: Promise<unknown> = Promise.resolve();
      let lateId: number;
      try {
        // its events are in the table, invisible to everyone else until it commits
        lateId = Number((await store.db.query<{ n: number }>('select last_value as n from events_id_seq'))[0]!.n);
        for (const c of others) await addMessage(ctx, c, { sender: 'customer', sender_id: null, text: 'meanwhile' }, SYSTEM);
        sameConversation = addMessage(ctx, options.a, { sender: 'customer', sender_id: null, text: 'queued behind the late writer' }, SYSTEM);
        assert.ok((await maxId(store.db)) > lateId, 'events with higher ids committed while the late writer was open');
        await options.read(lateId);
      } finally {
        // also when a check failed, so that the next test's reset does not wait on its locks
        held.release();
        await late.catch(() => undefined);
        await sameConversation.catch(() => undefined);
      }
      await late;
      await addMessage(ctx, options.a, { sender: 'customer', sender_id: null, text: 'after' }, SYSTEM);
      await addMessage(ctx, others[0]!, { sender: 'customer', sender_id: null, text: 'after' }, SYSTEM);
      await settled(store.db);
      await options.read();
      return lateId;
    }

    it('webhooks: the fan-out delivers the late event once, each conversation in order', async () => {
      await createEndpoint(ctx, { url: 'http://receiver.test/hook', events: ['message.created', 'conversation.assigned'] }, null, { allowPrivate: true });
      const a = (await openConversation(ctx, { customer: { id: 'a' } })).conversation.id;
      const read = async (openLateId?: number) => {
        while ((await fanOut(ctx)).events > 0);
        if (openLateId === undefined) return;
        const past = await store.db.query('select event_id from outbound_requests where event_id > $1', [openLateId]);
        assert.deepEqual(past, [], 'nothing was fanned out past the open writer');
      };
      await read();
      await scenario({ a, late: (held) => addMessage(held, a, { sender: 'agent', sender_id: agent.id, text: 'late' }, SYSTEM), read });
      const rows = await store.db.query<{ event_id: number; name: string }>(`select event_id, name from outbound_requests where producer = 'webhook' order by id`);
      const messages = rows.filter((r) => r.name === 'message.created').map((r) => Number(r.event_id));
      await assertDeliveredOnceInOrder(store.db, messages, (e) => e.type === 'message.created', 'webhook deliveries');
      assert.equal(messages.length, 7);
    });

    // The endpoint started at max(id) of the events its creation saw: the open writer's
    // event, with a lower id, committed after it and was never sent, while the same
    // conversation's next one was (review, 2026-11-26; migration 0073).
    it('webhooks: an endpoint created while a writer is open gets its event when it commits late, and the later ones', async () => {
      const a = (await openConversation(ctx, { customer: { id: 'a' } })).conversation.id;
      const b = (await openConversation(ctx, { customer: { id: 'b' } })).conversation.id;
      await addMessage(ctx, a, { sender: 'customer', sender_id: null, text: 'before' }, SYSTEM);
      const { db, held } = holdingDb(store.db);
      const late = addMessage({ ...ctx, db }, a, { sender: 'customer', sender_id: null, text: 'late' }, SYSTEM);
      await held.drawn;
      let endpointId: string;
      try {
        const lateId = Number((await store.db.query<{ n: number }>('select last_value as n from events_id_seq'))[0]!.n);
        await addMessage(ctx, b, { sender: 'customer', sender_id: null, text: 'meanwhile' }, SYSTEM);
        assert.ok((await maxId(store.db)) > lateId, 'a higher id committed while the writer was open');
        ({
          endpoint: { id: endpointId },
        } = await createEndpoint(ctx, { url: 'http://receiver.test/hook', events: ['message.created'] }, null, { allowPrivate: true }));
      } finally {
        held.release();
        await late.catch(() => undefined);
      }
      await late;
      await addMessage(ctx, a, { sender: 'customer', sender_id: null, text: 'after' }, SYSTEM);
      await settled(store.db);
      while ((await fanOut(ctx)).events > 0);
      const sent = await store.db.query<{ conversation_id: string; text: string }>(
        `select e.conversation_id, e.data #>> '{message,text}' as text from outbound_requests o join events e on e.id = o.event_id
          where o.endpoint_id = $1 order by o.id`,
        [endpointId!],
      );
      // 'meanwhile' (on b) committed just before the creation, while the older writer was open: it may go too
      assert.deepEqual(sent.filter((r) => r.conversation_id === a).map((r) => r.text), ['late', 'after']);
    });

    it("a transaction left open in another database of the server holds nothing back; one in this database does", async () => {
      const admin = await t.user('admin');
      const eventsNow = async () => ((await t.call('GET', '/api/v1/events?limit=1000', { token: admin.token })).json() as { id: number }[]).map((e) => e.id);
      // another application's session on the same server, idle in a transaction that has written (it has an xid)
      const elsewhere = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await elsewhere.connect();
      try {
        await elsewhere.query('begin');
        await elsewhere.query('select pg_current_xact_id()');
        const first = (await openConversation(ctx, { customer: { id: 'x' } })).conversation.id;
        const [firstEvent] = await store.db.query<{ id: number }>('select max(id) as id from events where conversation_id = $1', [first]);
        // read at once: no wait for the other database's transaction to end
        assert.ok((await eventsNow()).includes(Number(firstEvent!.id)), 'the event is readable while another database has a transaction open');
      } finally {
        await elsewhere.query('rollback').catch(() => undefined);
        await elsewhere.end();
      }
      // the same in this database: the horizon stops below that transaction's xid until it ends
      const [y, z] = await Promise.all(['y', 'z'].map(async (id) => (await openConversation(ctx, { customer: { id } })).conversation.id));
      const { db: held, held: hold } = holdingDb(store.db);
      const late = addMessage({ ...ctx, db: held }, y!, { sender: 'customer', sender_id: null, text: 'late' }, SYSTEM);
      await hold.drawn;
      try {
        await addMessage(ctx, z!, { sender: 'customer', sender_id: null, text: 'meanwhile' }, SYSTEM);
        const [secondEvent] = await store.db.query<{ id: number }>('select max(id) as id from events where conversation_id = $1', [z]);
        assert.ok(!(await eventsNow()).includes(Number(secondEvent!.id)), 'nothing past a transaction still open in this database');
      } finally {
        hold.release();
        await late;
      }
      await settled(store.db);
      assert.equal((await eventsNow()).length, Number((await store.db.query<{ n: number }>('select count(*)::int as n from events'))[0]!.n));
    });

    it('GET /api/v1/events paged with after=<last id> returns the late event once, in its place', async () => {
      const admin = await t.user('admin');
      const a = (await openConversation(ctx, { customer: { id: 'a' } })).conversation.id;
      const received: number[] = [];
      let last = 0;
      const read = async (openLateId?: number) => {
        for (;;) {
          const res = await t.call('GET', `/api/v1/events?after=${last}&limit=3`, { token: admin.token });
          assert.equal(res.statusCode, 200, res.body);
          const page = res.json() as { id: number }[];
          for (const e of page) received.push(e.id);
          if (page.length === 0) break;
          last = page[page.length - 1]!.id;
        }
        if (openLateId !== undefined) assert.ok(!received.some((id) => id > openLateId), 'nothing was read past the open writer');
      };
      const lateId = await scenario({ a, late: (held) => addMessage(held, a, { sender: 'agent', sender_id: agent.id, text: 'late' }, SYSTEM), read });
      await assertDeliveredOnceInOrder(store.db, received, () => true, 'GET /api/v1/events');
      assert.ok(received.includes(lateId));
      // the pages follow the log's order exactly
      const log = await store.db.query<{ id: number }>('select id from events order by xid_bound, id');
      assert.deepEqual(received, log.map((e) => Number(e.id)));
    });

    it('RapidPro: an agent message that commits late still becomes its callback, once and in order', async () => {
      const ticketer = await createTicketer(ctx, { name: 'workspace' }, null);
      await setCallbackUrl(ctx, ticketer.uuid, 'http://mailroom.test/callback');
      const opened = await openRoom(ctx, ticketer.uuid, { ticketId: 'T1', token: 'contact-1', department: null, priority: 0, customFields: {} });
      const a = opened.conversationId;
      const read = async () => {
        while ((await feedCallbacks(ctx)).events > 0);
      };
      await read();
      let during = -1;
      await scenario({
        a,
        late: (held) => addMessage(held, a, { sender: 'agent', sender_id: agent.id, text: 'late reply' }, SYSTEM),
        read: async () => {
          await read();
          if (during < 0) during = (await store.db.query(`select 1 from outbound_requests where producer = 'rapidpro'`)).length;
        },
      });
      await addMessage(ctx, a, { sender: 'agent', sender_id: agent.id, text: 'last reply' }, SYSTEM);
      await read();
      assert.equal(during, 0, 'no callback while the reply was not committed');
      const bodies = (await store.db.query<{ body: Buffer }>(`select body from outbound_requests where producer = 'rapidpro' order by id`)).map((r) => JSON.parse(r.body.toString()));
      assert.deepEqual(
        bodies.map((b) => `${b.type}:${b.data?.text}`),
        ['agent-message:late reply', 'agent-message:last reply'],
      );
    });

    it('Qiscus: a room taken back by a requeue that commits late still gets its remove_agent, once', async () => {
      await store.db.query('update agents set source = $2, external_ref = $3 where id = $1', [agent.id, QISCUS_SOURCE, '77']);
      const a = (await openConversation(ctx, { customer: { id: 'a' }, channel: 'qiscus', external_ref: 'room-1' })).conversation.id;
      const read = async () => {
        while ((await feedRemovals(ctx, 'http://qiscus.test/remove')).events > 0);
      };
      await read();
      let during = -1;
      await scenario({
        a,
        late: (held) => requeueConversation(held, a, SYSTEM),
        read: async () => {
          await read();
          if (during < 0) during = (await store.db.query(`select 1 from outbound_requests where name = 'remove_agent'`)).length;
        },
      });
      assert.equal(during, 0, 'no removal while the requeue was not committed');
      const removals = await store.db.query<{ body: Buffer }>(`select body from outbound_requests where name = 'remove_agent'`);
      assert.deepEqual(removals.map((r) => r.body.toString()), ['room_id=room-1&agent_id=77']);
      const cursor = await store.db.query<{ behind: number }>(
        `select count(*)::int as behind from events e, outbox_cursors c where c.name = 'qiscus' and (e.xid_bound, e.id) > (c.last_xid_bound, c.last_event_id)`,
      );
      assert.equal(cursor[0]!.behind, 0, 'the feed read the whole log');
    });

    it('MQTT: the relay publishes the late message once, each conversation in order', async () => {
      const published: { topic: string; payload: any }[] = [];
      const topics = topicsOf('sb');
      const publisher = recordingPublisher(ctx, topics, published);
      try {
        const a = (await openConversation(ctx, { customer: { id: 'a' } })).conversation.id;
        committed.length = 0;
        // the relay hears of each commit from the process that made it (ctx.onCommitted), the late one included
        const relay = (events: readonly StoredEvent[]) => {
          committed.push(...events);
          publisher.onCommitted(events);
        };
        ctx.onCommitted = relay;
        await scenario({ a, late: (held) => addMessage({ ...held, onCommitted: relay }, a, { sender: 'agent', sender_id: agent.id, text: 'late' }, SYSTEM), read: async () => {} });
        await publisher.idle();
        const messages = published.filter((p) => p.topic.endsWith('/messages')).map((p) => Number(p.payload.message.id));
        const byConversation = new Map<string, number[]>();
        for (const p of published.filter((q) => q.topic.endsWith('/messages'))) {
          const c = p.payload.sessionInfo.sessionId as string;
          byConversation.set(c, [...(byConversation.get(c) ?? []), Number(p.payload.message.id)]);
        }
        const stored = await store.db.query<{ id: number; conversation_id: string; text: string }>('select id, conversation_id, text from messages order by id');
        assert.deepEqual([...messages].sort((x, y) => x - y), stored.map((m) => Number(m.id)), 'every message published once');
        for (const [c, ids] of byConversation) assert.deepEqual(ids, [...ids].sort((x, y) => x - y), `conversation ${c} in order`);
        assert.deepEqual(
          stored.filter((m) => m.conversation_id === a).map((m) => m.text),
          ['before', 'late', 'queued behind the late writer', 'after'],
          'the message that waited for the late writer came after it',
        );
      } finally {
        await publisher.close();
      }
    });
  });
}
