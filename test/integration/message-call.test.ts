import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { beforeEach, it } from 'node:test';
import { SYSTEM, type Actor } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { addMessage, markRead, toMessage, type Message, type MessageRow, type NewMessage } from '../../src/conversations/messages.js';
import { AppError } from '../../src/errors.js';
import type { StoredEvent } from '../../src/events/event.js';
import { listEvents } from '../../src/events/outbox.js';
import type { Db, Queryable } from '../../src/store/db.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// A chat message is one call into the store (sb_add_message): its event's
// payload is built in SQL (sb_message_json), and readers depend on it being
// exactly what toMessage makes of the stored row. The call is one autocommit
// statement, committed synchronously: no second transaction to flush the log
// (transactOne's wal_flush write), which doubled PostgreSQL's commits a message.

/** The store, counting what reaches the server: a statement, a one-call transaction, a transaction. */
function counting(db: Db) {
  const calls = { statements: 0, transactOne: 0, transactions: 0 };
  const answers: Record<string, unknown>[][] = [];
  const counted = (q: Queryable): Queryable => ({
    query: (text, params) => ((calls.statements += 1), q.query(text, params)),
    exec: (text) => ((calls.statements += 1), q.exec(text)),
  });
  const wrapped: Db = {
    ...counted(db),
    query: async <Row>(text: string, params?: readonly unknown[]) => {
      calls.statements += 1;
      const rows = await db.query<Row>(text, params);
      answers.push(rows as Record<string, unknown>[]);
      return rows;
    },
    kind: db.kind,
    close: () => db.close(),
    listen: (channel, handlers) => db.listen(channel, handlers),
    transactOne: async <Row>(text: string, params: readonly unknown[]) => {
      calls.transactOne += 1;
      const rows = await db.transactOne<Row>(text, params);
      answers.push(rows as Record<string, unknown>[]);
      return rows;
    },
    transactOneThen: async <Row, After>(text: string, params: readonly unknown[], after: { text: string; params: readonly unknown[] }) => {
      calls.transactOne += 1;
      const result = await db.transactOneThen<Row, After>(text, params, after);
      answers.push(result.rows as Record<string, unknown>[]);
      return result;
    },
    transaction: (fn, options) => ((calls.transactions += 1), db.transaction((tx) => fn(counted(tx)), options)),
  };
  return { db: wrapped, calls, answers };
}

describeEachStore('a message in one call', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  let committed: StoredEvent[];
  let calls: ReturnType<typeof counting>['calls'];
  let answers: ReturnType<typeof counting>['answers'];
  let ctx: Ctx;
  beforeEach(async () => {
    await store().reset();
    clock = fakeClock();
    committed = [];
    const c = counting(store().db);
    calls = c.calls;
    answers = c.answers;
    ctx = { db: c.db, now: clock.now, onCommitted: (events) => committed.push(...events) };
  });

  const messageEvents = async () => (await listEvents(store().db, 0, 1000, 'message.created')).map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]);
  const firstResponse = async (id: string) =>
    (await store().db.query<{ first_response_at: Date | null }>('select first_response_at from conversations where id = $1', [id]))[0]!.first_response_at;
  const storedMessages = async () => (await store().db.query<MessageRow>('select * from messages order by id')).map(toMessage);
  const messageCount = async () => Number((await store().db.query<{ n: number }>('select count(*)::int as n from messages'))[0]!.n);
  const refusal = async (conversationId: string, input: NewMessage, actor: Actor) => {
    const error = await addMessage(ctx, conversationId, input, actor).then(
      () => assert.fail('the message was taken'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AppError, String(error));
    return [error.status, error.code, error.message];
  };

  it('stores, stops the SLA clock once and logs message.created as toMessage shows it, in one call, the listeners hearing what the log holds', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const { conversation: c } = await openConversation(ctx, { customer: { id: 'c-1' } });
    assert.equal(c.agent_id, agent.id);
    const actor: Actor = { id: agent.id, role: 'agent' };
    committed = [];
    const before = { ...calls };

    clock.advance(1234);
    const fromCustomer = await addMessage(ctx, c.id, { sender: 'customer', sender_id: 'c-1', text: 'hello', attachments: [] }, SYSTEM);
    assert.equal(await firstResponse(c.id), null, 'a customer message is no response');
    clock.advance(1);
    const link = { type: 'image', url: 'https://cdn.example.test/a.png' };
    const reply = await addMessage(ctx, c.id, { sender: 'agent', sender_id: agent.id, text: null, attachments: [link] }, actor);
    assert.deepEqual(await firstResponse(c.id), clock.now());
    const respondedAt = clock.now();
    clock.advance(1);
    const again = await addMessage(ctx, c.id, { sender: 'agent', sender_id: agent.id, text: 'anything else?' }, actor);
    assert.deepEqual(await firstResponse(c.id), respondedAt, 'only the first agent message stops the clock');

    assert.deepEqual(calls, { ...before, statements: before.statements + 3 }, 'one statement each, its own transaction, and nothing else');
    // The store sends each message once, in its event: one value, no messages row or conversation beside it.
    assert.deepEqual(
      answers.slice(-3).map((rows) => rows.map((r) => [Object.keys(r), Object.keys(r.added as object)])),
      [1, 2, 3].map(() => [[['added'], ['event']]]),
    );
    assert.deepEqual([reply.text, reply.attachments, reply.sender_id, reply.private, reply.read_at], [null, [link], agent.id, false, null]);
    const stored = await storedMessages();
    assert.deepEqual([fromCustomer, reply, again], stored, 'the answer is the message as stored, in the API shape');
    const inLog = await messageEvents();
    assert.deepEqual(
      inLog.map(([, ...rest]) => rest),
      stored.map((m) => ['message.created', c.id, agent.id, { message: m }]),
    );
    assert.deepEqual(
      committed.map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]),
      inLog,
    );
    assert.deepEqual(
      committed.map((e) => e.created_at.toISOString()),
      inLog.map(([, , , , data]) => (data as { message: { created_at: string } }).message.created_at),
    );
  });

  it('commits each message once, durable when answered with no flush transaction after it; concurrent messages stored, logged and heard once each, in order per conversation', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 2 });
    const chats = [(await openConversation(ctx, { customer: { id: 'c-a' } })).conversation, (await openConversation(ctx, { customer: { id: 'c-b' } })).conversation];
    // PostgreSQL: transactOne's group commit writes wal_flush after each commit (PGlite has no such table rows to write).
    const flushes = async () => Number((await store().db.query<{ n: number }>('select coalesce(sum(n), 0)::int as n from wal_flush'))[0]!.n);
    const flushed = await flushes();
    committed = [];
    const before = { ...calls };
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) => addMessage(ctx, chats[i % 2]!.id, { sender: 'customer', sender_id: null, text: `m${i}` }, SYSTEM)),
    );
    assert.equal(await flushes(), flushed, 'no flush transaction after a message');
    assert.deepEqual(calls, { ...before, statements: before.statements + 20 }, 'one statement a message, nothing else');
    const stored = await storedMessages();
    assert.deepEqual(
      stored.map((m) => m.text).sort(),
      sent.map((m) => m.text).sort(),
    );
    const inLog = await messageEvents();
    assert.deepEqual(
      committed.map((e) => e.id).sort((a, b) => a - b),
      inLog.map(([id]) => id as number).sort((a, b) => a - b),
      'each message heard once, with its logged event',
    );
    for (const chat of chats) {
      const ids = stored.filter((m) => m.conversation_id === chat.id).map((m) => m.id);
      const logged = inLog.filter(([, , conversation]) => conversation === chat.id).map(([, , , , data]) => (data as { message: Message }).message.id);
      assert.equal(ids.length, 10);
      assert.deepEqual(logged, ids, 'the log holds a conversation\'s messages in their order');
    }
  });

  it('the listeners hear a conversation\'s messages in commit order when the first committed answers last; another conversation\'s are not held back', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 2 });
    const [a, b] = [(await openConversation(ctx, { customer: { id: 'c-a' } })).conversation, (await openConversation(ctx, { customer: { id: 'c-b' } })).conversation];
    // The first message's answer is read only after the second's: two connections, the first committed, the second read first.
    let secondAnswered!: () => void;
    const second = new Promise<void>((r) => (secondAnswered = r));
    let calls = 0;
    const slowFirst: Db = {
      ...ctx.db,
      query: async <Row>(text: string, params?: readonly unknown[]) => {
        const rows = await ctx.db.query<Row>(text, params);
        if (/sb_add_message/.test(text) && ++calls === 1) await second;
        return rows;
      },
    };
    const heard: string[] = [];
    const hear = (events: readonly StoredEvent[]) => heard.push(...events.map((e) => (e.data as { message: Message }).message.text!));
    const say = (conversation: string, text: string) => addMessage({ ...ctx, db: slowFirst, onCommitted: hear }, conversation, { sender: 'customer', sender_id: null, text }, SYSTEM);
    const first = say(a.id, 'a1');
    while (calls < 1) await new Promise((r) => setTimeout(r, 1));
    await say(a.id, 'a2');
    await say(b.id, 'b1');
    assert.deepEqual(heard, ['b1'], 'a2 waits for a1, which committed before it; b1 waits for nobody');
    secondAnswered();
    await first;
    assert.deepEqual(heard, ['b1', 'a1', 'a2']);
    assert.deepEqual((await storedMessages()).map((m) => m.text), ['a1', 'a2', 'b1']);
  });

  it('a message held for an earlier one still in flight goes out with it, not after a later message that is slow to answer', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 2 });
    const { conversation: a } = await openConversation(ctx, { customer: { id: 'c-a' } });
    // a1 commits first and answers late; a2 commits and answers while a1 is out;
    // a3 starts after a2 answered and answers late too. a1's answer must let a1
    // and a2 out, in that order, without waiting for a3 (which committed after both).
    const gates = new Map<number, { open: () => void; opened: Promise<void> }>();
    for (const n of [1, 3]) {
      let open!: () => void;
      const opened = new Promise<void>((r) => (open = r));
      gates.set(n, { open, opened });
    }
    let calls = 0;
    const slow: Db = {
      ...ctx.db,
      query: async <Row>(text: string, params?: readonly unknown[]) => {
        const rows = await ctx.db.query<Row>(text, params);
        if (/sb_add_message/.test(text)) await gates.get(++calls)?.opened;
        return rows;
      },
    };
    const heard: string[] = [];
    const hear = (events: readonly StoredEvent[]) => heard.push(...events.map((e) => (e.data as { message: Message }).message.text!));
    const say = (text: string) => addMessage({ ...ctx, db: slow, onCommitted: hear }, a.id, { sender: 'customer', sender_id: null, text }, SYSTEM);
    const a1 = say('a1');
    while (calls < 1) await new Promise((r) => setTimeout(r, 1));
    await say('a2');
    const a3 = say('a3');
    while (calls < 3) await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(heard, [], 'a2 waits for a1');
    gates.get(1)!.open();
    await a1;
    assert.deepEqual(heard, ['a1', 'a2'], 'a1 and a2 go out together, in commit order; a3 committed after both');
    gates.get(3)!.open();
    await a3;
    assert.deepEqual(heard, ['a1', 'a2', 'a3']);
  });

  it('a listener that throws on one held message does not keep the others of its batch from the listeners', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 1 });
    const { conversation: a } = await openConversation(ctx, { customer: { id: 'c-t' } });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let calls = 0;
    const slowFirst: Db = {
      ...ctx.db,
      query: async <Row>(text: string, params?: readonly unknown[]) => {
        const rows = await ctx.db.query<Row>(text, params);
        if (/sb_add_message/.test(text) && ++calls === 1) await released;
        return rows;
      },
    };
    const heard: string[] = [];
    const hear = (events: readonly StoredEvent[]) => {
      const text = (events[0]!.data as { message: Message }).message.text!;
      heard.push(text);
      if (text === 'a1') throw new Error('a listener failed on a1');
    };
    const say = (text: string) => addMessage({ ...ctx, db: slowFirst, onCommitted: hear }, a.id, { sender: 'customer', sender_id: null, text }, SYSTEM);
    const first = say('a1');
    while (calls < 1) await new Promise((r) => setTimeout(r, 1));
    await say('a2');
    release();
    await assert.rejects(first, /a listener failed on a1/);
    assert.deepEqual(heard, ['a1', 'a2'], 'a2 is delivered after a1 failed');
    assert.deepEqual((await storedMessages()).map((m) => m.text), ['a1', 'a2']);
  });

  it('a message with files waits in the same relay order: a plain message committed after it is heard after it', async () => {
    const { conversation: c } = await openConversation(ctx, { customer: { id: 'c-f' } });
    const file = randomUUID();
    await store().db.query(
      `insert into attachments (id, conversation_id, uploaded_by, name, content_type, size, storage, created_at)
       values ($1, $2, 'customer', 'a.pdf', 'application/pdf', 42, 'database', $3)`,
      [file, c.id, clock.now()],
    );
    // The message with a file commits in its transaction, and its answer is read only after the plain one's.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let committedFiles = false;
    const slowFiles: Db = {
      ...ctx.db,
      transaction: async (fn, options) => {
        const value = await ctx.db.transaction(fn, options);
        committedFiles = true;
        await released;
        return value;
      },
    };
    const heard: string[] = [];
    const hear = (events: readonly StoredEvent[]) => heard.push(...events.map((e) => (e.data as { message: Message }).message.text!));
    const withFile = addMessage({ ...ctx, db: slowFiles, onCommitted: hear }, c.id, { sender: 'customer', sender_id: null, text: 'f1', attachments: [{ id: file }] }, SYSTEM);
    while (!committedFiles) await new Promise((r) => setTimeout(r, 1));
    await addMessage({ ...ctx, db: slowFiles, onCommitted: hear }, c.id, { sender: 'customer', sender_id: null, text: 'p2' }, SYSTEM);
    assert.deepEqual(heard, [], 'p2 waits for f1, which committed before it');
    release();
    await withFile;
    assert.deepEqual(heard, ['f1', 'p2']);
  });

  it('resolves files referred to by id in one transaction with the same call, and logs the same payload', async () => {
    const { conversation: c } = await openConversation(ctx, { customer: { id: 'c-2' } });
    const file = randomUUID();
    await store().db.query(
      `insert into attachments (id, conversation_id, uploaded_by, name, content_type, size, storage, created_at)
       values ($1, $2, 'customer', 'a.pdf', 'application/pdf', 42, 'database', $3)`,
      [file, c.id, clock.now()],
    );
    committed = [];
    const before = { ...calls };
    const m = await addMessage(ctx, c.id, { sender: 'customer', sender_id: 'c-2', text: 'see', attachments: [{ id: file }] }, SYSTEM);
    assert.equal(calls.transactions, before.transactions + 1);
    assert.equal(calls.transactOne, before.transactOne, 'the call runs inside the transaction');
    assert.deepEqual(m.attachments, [{ type: 'application/pdf', url: `/api/v1/attachments/${file}`, id: file, name: 'a.pdf', size: 42 }]);
    const inLog = await messageEvents();
    assert.deepEqual([m], await storedMessages(), 'the answer is the message as stored, in the API shape');
    assert.deepEqual(
      inLog.map(([, ...rest]) => rest),
      [['message.created', c.id, null, { message: m }]],
    );
    assert.deepEqual(
      committed.map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]),
      inLog,
    );
  });

  it('a read receipt is one statement: marks the other side\'s unread messages once, logs message.read with their ids, refuses an outsider writing nothing', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const outsider: Actor = { id: (await makeAgent(ctx, { status: 'online', capacity: 0 })).id, role: 'agent' };
    const actor: Actor = { id: agent.id, role: 'agent' };
    const { conversation: c } = await openConversation(ctx, { customer: { id: 'c-r' } });
    const m1 = await addMessage(ctx, c.id, { sender: 'customer', sender_id: 'c-r', text: 'one' }, SYSTEM);
    const m2 = await addMessage(ctx, c.id, { sender: 'customer', sender_id: 'c-r', text: 'two' }, SYSTEM);
    const a1 = await addMessage(ctx, c.id, { sender: 'agent', sender_id: agent.id, text: 'hi' }, actor);
    const readEvents = async () => (await listEvents(store().db, 0, 1000, 'message.read')).map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]);
    const readAt = async () =>
      (await store().db.query<{ id: string; read_at: Date | null }>('select id, read_at from messages where conversation_id = $1 order by id', [c.id])).map((r) => r.read_at?.toISOString() ?? null);
    committed = [];
    const before = { ...calls };

    clock.advance(500);
    const at = clock.now().toISOString();
    assert.deepEqual(await markRead(ctx, c.id, [a1.id, m2.id, m1.id, 999_999_999], 'agent', actor), [m1.id, m2.id], 'only the customer\'s messages, ascending');
    assert.deepEqual(calls, { ...before, statements: before.statements + 1 }, 'one statement, its own transaction, and nothing else');
    assert.deepEqual(await readAt(), [at, at, null]);
    const logged = await readEvents();
    assert.deepEqual(logged.map(([, ...rest]) => rest), [['message.read', c.id, agent.id, { message_ids: [m1.id, m2.id], reader: 'agent', read_at: at }]]);
    assert.deepEqual(committed.map((e) => [e.id, e.type, e.conversation_id, e.agent_id, e.data]), logged, 'the listeners hear what the log holds');

    clock.advance(500);
    assert.deepEqual(await markRead(ctx, c.id, [m1.id, m2.id], 'agent', actor), [], 'read once');
    assert.deepEqual([(await readEvents()).length, committed.length], [1, 1], 'nothing new read: no event');
    assert.deepEqual(await markRead(ctx, c.id, [a1.id], 'customer', SYSTEM), [a1.id]);
    assert.equal((await readEvents()).length, 2);

    const unread = await addMessage(ctx, c.id, { sender: 'customer', sender_id: 'c-r', text: 'three' }, SYSTEM);
    const refused = await markRead(ctx, c.id, [unread.id], 'agent', outsider).then(() => assert.fail('read by an outsider'), (e: unknown) => e);
    assert.ok(refused instanceof AppError && refused.status === 403 && refused.code === 'SB_FORBIDDEN', String(refused));
    const unknown = randomUUID();
    const missing = await markRead(ctx, unknown, [unread.id], 'agent', SYSTEM).then(() => assert.fail('read on no conversation'), (e: unknown) => e);
    assert.ok(missing instanceof AppError && missing.status === 404, String(missing));
    assert.deepEqual([(await readAt()).at(-1), (await readEvents()).length], [null, 2], 'nothing written');
  });

  it('refuses as before, access first, then a Qiscus room, an offer not accepted, a closed conversation; writing nothing', async () => {
    const owner = await makeAgent(ctx, { status: 'online', capacity: 5, departments: ['sales', 'offers'] });
    const outsider: Actor = { id: (await makeAgent(ctx, { status: 'online', capacity: 0 })).id, role: 'agent' };
    const asOwner: Actor = { id: owner.id, role: 'agent' };
    const agentSays = (text: string): NewMessage => ({ sender: 'agent', sender_id: owner.id, text });
    const open = async (department: string) => (await openConversation(ctx, { customer: { id: randomUUID() }, department })).conversation;

    const closed = await open('sales');
    await closeConversation(ctx, closed.id, {}, SYSTEM);
    const qiscus = await open('sales');
    await store().db.query(`update conversations set channel = 'qiscus' where id = $1`, [qiscus.id]);
    const qiscusClosed = await open('sales');
    await store().db.query(`update conversations set channel = 'qiscus' where id = $1`, [qiscusClosed.id]);
    await closeConversation(ctx, qiscusClosed.id, {}, SYSTEM);
    await store().db.query(`insert into department_routing (department, settings) values ('offers', '{"mode": "offer"}')`);
    const offered = await open('offers');
    assert.deepEqual([closed.agent_id, qiscus.agent_id, offered.state, offered.agent_id], [owner.id, owner.id, 'offered', owner.id]);

    const messages = await messageCount();
    const events = (await messageEvents()).length;
    const unknown = randomUUID();
    assert.deepEqual(await refusal(unknown, agentSays('hi'), SYSTEM), [404, 'SB_NOT_FOUND', `conversation "${unknown}" does not exist`]);
    for (const c of [closed, qiscus, qiscusClosed, offered]) {
      const [status, code] = await refusal(c.id, agentSays('hi'), outsider);
      assert.deepEqual([status, code], [403, 'SB_FORBIDDEN'], `an outsider hears no more than that, about ${c.id}`);
    }
    assert.equal((await refusal(qiscus.id, agentSays('hi'), asOwner))[1], 'SB_QISCUS_AGENT_MESSAGE');
    assert.equal((await refusal(qiscusClosed.id, agentSays('hi'), SYSTEM))[1], 'SB_QISCUS_AGENT_MESSAGE');
    assert.deepEqual(await refusal(offered.id, agentSays('hi'), asOwner), [409, 'SB_NOT_ACCEPTED', `conversation ${offered.id} is offered, not assigned: accept it before replying`]);
    assert.deepEqual(await refusal(closed.id, agentSays('hi'), asOwner), [409, 'SB_CONVERSATION_CLOSED', `conversation ${closed.id} is resolved; messages can no longer be added`]);
    assert.equal((await refusal(closed.id, { sender: 'customer', sender_id: null, text: 'hi' }, SYSTEM))[1], 'SB_CONVERSATION_CLOSED');
    assert.deepEqual([await messageCount(), (await messageEvents()).length], [messages, events], 'nothing written');
    assert.equal(await firstResponse(qiscus.id), null);

    // what is allowed still goes in: the customer's message to an offered conversation or a Qiscus room
    await addMessage(ctx, offered.id, { sender: 'customer', sender_id: null, text: 'still there?' }, SYSTEM);
    await addMessage(ctx, qiscus.id, { sender: 'customer', sender_id: null, text: 'hello' }, SYSTEM);
    assert.equal(await messageCount(), messages + 2);
  });
});
