import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { MESSAGE_BURST, MESSAGES_PER_SECOND, MessageRate } from '../../src/realtime/message-rate.js';
import { MAX_TOPIC_LEVELS, topicNameProblem } from '../../src/realtime/topics.js';
import { startServer, type Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// What a client publishes that Switchboard must check before acting on it:
// the answer topic of a channel request (Switchboard publishes there, and a
// wildcard or control character in a published topic makes a broker drop the
// connection), a customer's rate of messages, and attachment links (the same
// rule as POST …/messages).

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** answer topics a customer may not name, as suffixes of their session topic */
const BAD_ANSWER_TOPICS = ['/#', '/+/x', '/ch#an', '/a+b', '//x', '/x/', '/a\u0001b', '/a\u0085b', '/a\ufffeb', '/x'.repeat(100)];

describe('topicNameProblem', () => {
  it('refuses wildcards, control characters, noncharacters and empty levels anywhere, and nothing else', () => {
    for (const suffix of BAD_ANSWER_TOPICS) assert.ok(topicNameProblem(`sb/conversations/x${suffix}`), JSON.stringify(suffix));
    for (const bad of ['', '/a', 'a/', 'a\u0000', 'a\u007f', 'a\ufdd0', 'a\u{1ffff}', 'a\ud800']) assert.ok(topicNameProblem(bad), JSON.stringify(bad));
    for (const good of ['a', 'a/b/c', 'sb/conversations/x/channel', 'a/ü/日本', 'a/😀', 'a b/c']) assert.equal(topicNameProblem(good), undefined, good);
  });

  it(`refuses more than ${MAX_TOPIC_LEVELS} levels, which the embedded broker cannot match (and EMQX refuses past 128)`, () => {
    const levels = (n: number) => Array.from({ length: n }, (_, i) => `l${i}`).join('/');
    assert.equal(topicNameProblem(levels(MAX_TOPIC_LEVELS)), undefined);
    assert.equal(topicNameProblem(levels(MAX_TOPIC_LEVELS + 1)), `must have at most ${MAX_TOPIC_LEVELS} levels`);
  });
});

describe('MessageRate', () => {
  it('lets a burst through, then the steady rate, per key', () => {
    let now = 0;
    const rate = new MessageRate({ perSecond: 5, burst: 3 }, () => now);
    for (let i = 0; i < 3; i++) rate.take('a');
    assert.throws(() => rate.take('a'), (e: any) => e.code === 'SB_RATE_LIMITED' && e.status === 429 && e.retryAfterSeconds === 1);
    rate.take('b');
    now += 200; // one message regained
    rate.take('a');
    assert.throws(() => rate.take('a'), { code: 'SB_RATE_LIMITED' });
    now += 10_000; // never more than the burst
    for (let i = 0; i < 3; i++) rate.take('a');
    assert.throws(() => rate.take('a'), { code: 'SB_RATE_LIMITED' });
  });

  it('limits nothing at MQTT_MESSAGE_RATE=0', () => {
    const rate = new MessageRate({ perSecond: 0, burst: 1 }, () => 0);
    for (let i = 0; i < 1_000; i++) rate.take('a');
  });
});

describeEachStore('realtime publish checks (embedded broker)', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));
  const agentOnline = async () => {
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 5 });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(login.status, 200);
    return { agent, token: login.body.token as string };
  };
  const startChat = async (customerId: string) => {
    const session = await http('POST', '/session', { customer: { id: customerId } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    return session.body as { sessionId: string; sessionTopic: string; token: string };
  };
  const count = async (conversationId: string, like = '%') =>
    (await server.ctx.db.query<{ n: number }>("select count(*)::int as n from messages where conversation_id = $1 and sender = 'customer' and coalesce(text, '') like $2", [conversationId, like]))[0]!.n;

  it('refuses an answer topic with a wildcard, a control character or an empty level, on the sender’s control topic, and publishes nothing there', async () => {
    await agentOnline();
    const chat = await startChat('wild');
    const c = await connect(chat.token);
    assert.deepEqual(await c.subscribe(`${chat.sessionTopic}/#`), [1]);
    const control = `${chat.sessionTopic}/client/control`;
    for (const [i, suffix] of [...BAD_ANSWER_TOPICS, '/a\u0000'].entries()) {
      await c.publish('switchboard/server/channels/request', { responseTopic: `${chat.sessionTopic}${suffix}` });
      const rejected = await c.next(control, () => c.received.filter((r) => r.topic === control && r.payload.instruction === 'message/rejected').length > i);
      assert.equal(rejected.topic, 'switchboard/server/channels/request');
      assert.deepEqual([rejected.error.code, rejected.error.field], ['SB_VALIDATION', 'responseTopic'], JSON.stringify(suffix));
    }
    // a good one is still answered, and nothing went anywhere else
    await c.publish('switchboard/server/channels/request', { responseTopic: `${chat.sessionTopic}/channel` });
    assert.equal((await c.next(`${chat.sessionTopic}/channel`)).sessionId, chat.sessionId);
    assert.ok(c.client.connected);
    const elsewhere = c.received.filter((r) => r.topic !== control && r.topic !== `${chat.sessionTopic}/channel`);
    assert.deepEqual(elsewhere.map((r) => r.topic), []);
  });

  it('refuses a customer’s messages past the burst with SB_RATE_LIMITED, stores none of them, and lets the steady rate through after', async () => {
    await agentOnline();
    const chat = await startChat('burst');
    const other = await startChat('calm');
    const c = await connect(chat.token);
    assert.deepEqual(await c.subscribe(`${chat.sessionTopic}/client/control`), [1]);
    const started = Date.now();
    await Promise.all(Array.from({ length: 300 }, (_, i) => c.publish(`${chat.sessionTopic}/messages`, { message: { content: `m${i}` } })));
    const seconds = (Date.now() - started) / 1000;
    const stored = await count(chat.sessionId, 'm%');
    assert.ok(stored >= MESSAGE_BURST && stored <= MESSAGE_BURST + Math.ceil(seconds * MESSAGES_PER_SECOND) + 1, `stored ${stored} of 300 in ${seconds} s`);
    const control = `${chat.sessionTopic}/client/control`;
    const limited = () => c.received.filter((r) => r.topic === control && r.payload.instruction === 'message/rejected');
    await c.next(control, () => limited().length === 300 - stored);
    for (const { payload } of limited()) {
      assert.equal(payload.error.code, 'SB_RATE_LIMITED');
      assert.equal(payload.topic, `${chat.sessionTopic}/messages`);
    }
    assert.ok(c.client.connected);
    // another chat has its own budget
    const o = await connect(other.token);
    await o.publish(`${other.sessionTopic}/messages`, { message: { content: 'unaffected' } });
    assert.equal(await count(other.sessionId, 'unaffected'), 1);
    // the bucket refills at the steady rate
    await sleep(1000 / MESSAGES_PER_SECOND + 50);
    await c.publish(`${chat.sessionTopic}/messages`, { message: { content: 'later' } });
    assert.equal(await count(chat.sessionId, 'later'), 1);
  });

  it('POST …/messages takes no session token, so a customer has no way round the budget there', async () => {
    await agentOnline();
    const chat = await startChat('rest');
    const posted = await http('POST', `/api/v1/conversations/${chat.sessionId}/messages`, { text: 'over REST' }, chat.token);
    assert.equal(posted.status, 401, JSON.stringify(posted.body));
    assert.equal(await count(chat.sessionId), 0);
  });

  it('refuses over MQTT exactly the attachment links POST …/messages refuses', async () => {
    const { token } = await agentOnline();
    const chat = await startChat('links');
    const c = await connect(chat.token);
    const urls = [
      'https://example.com/a.png',
      'http://example.com/path/to?x=1&y=(2)#frag',
      "https://example.com/it's",
      'https://example.com/%41',
      'https://[::1]:8080/x',
      'https://exa mple.com/"><img src=x onerror=alert(1)>',
      'https://example.com/a b',
      'https://example.com/"x"',
      'https://example.com/<x>',
      'https://example.com/a\u0007',
      'https://example.com/a\tb',
      'https://example.com/ä',
      'https://example.com/%zz',
      'https://example.com/a\\b',
      'https://example.com/{x}',
      'https://example.com/a|b',
      'https://example.com/`x`',
      'https:',
      'javascript:alert(1)',
    ];
    const outcomes: [string, boolean, boolean][] = [];
    for (const [i, url] of urls.entries()) {
      const rest = await http('POST', `/api/v1/conversations/${chat.sessionId}/messages`, { text: `rest${i}`, attachments: [{ type: 'link', url }] }, token);
      assert.ok(rest.status === 201 || (rest.status === 400 && rest.body.error.code === 'SB_VALIDATION'), `${url}: ${rest.status} ${JSON.stringify(rest.body)}`);
      // acknowledged once handled: stored or refused by then
      await c.publish(`${chat.sessionTopic}/messages`, { message: { content: `mqtt${i}`, attachments: [{ type: 'link', url }] } });
      outcomes.push([url, rest.status === 201, (await count(chat.sessionId, `mqtt${i}`)) === 1]);
    }
    assert.deepEqual(
      outcomes.filter(([, rest, mqtt]) => rest !== mqtt),
      [],
      'links REST and MQTT disagree on: [url, REST stored, MQTT stored]',
    );
    // both sides refuse the review's link, and take a plain one
    assert.deepEqual(outcomes.filter(([, ok]) => ok).map(([url]) => url), urls.slice(0, 5));
    const control = `${chat.sessionTopic}/client/control`;
    assert.deepEqual(await c.subscribe(control), [1]);
    await c.publish(`${chat.sessionTopic}/messages`, { message: { attachments: [{ type: 'link', url: 'https://example.com/a b' }] } });
    const rejected = await c.next(control, (p) => p.instruction === 'message/rejected');
    assert.deepEqual(rejected.error, { code: 'SB_VALIDATION', message: 'message.attachments.0.url must be an http:// or https:// URL', field: 'message.attachments.0.url' });
  });
});

const MQTT_URL = process.env.TEST_MQTT_URL;

describe('realtime publish checks through an external broker', { skip: !MQTT_URL ? 'needs TEST_MQTT_URL (.ci/run sets it when the broker answers)' : false }, () => {
  describeEachStore('realtime publish checks (external broker)', (store) => {
    let server: Running;
    const clients: TestMqttClient[] = [];
    // a base topic of this run's own, so parallel runs on one broker do not meet
    const base = `sbtest${process.pid}${Date.now().toString(36)}`;
    before(async () => {
      server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'silent', MQTT_URL, MQTT_BASE_TOPIC: base, SWEEP_INTERVAL: '60000' }), { db: store().db, keepDb: true });
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await server?.close();
    });

    async function customerOf(customerId: string) {
      await makeAgent(server.ctx, { status: 'online', capacity: 1 });
      const session = (await httpJson(server.url, 'POST', '/session', { customer: { id: customerId } })).body as { sessionId: string; sessionTopic: string; token: string };
      const customer = await connectMqtt(MQTT_URL!, session.token, { username: session.sessionId, clientId: `${session.sessionId}-widget-1` });
      clients.push(customer);
      assert.deepEqual(await customer.subscribe(`${session.sessionTopic}/client/control`), [1]);
      return { session, customer };
    }
    const count = async (conversationId: string, like: string) =>
      (await server.ctx.db.query<{ n: number }>("select count(*)::int as n from messages where conversation_id = $1 and sender = 'customer' and text like $2", [conversationId, like]))[0]!.n;
    async function eventually(what: () => Promise<boolean>, ms = 5_000) {
      const deadline = Date.now() + ms;
      while (!(await what())) {
        if (Date.now() > deadline) return false;
        await sleep(50);
      }
      return true;
    }

    it('refuses a wildcard or control-character answer topic instead of publishing on it, and keeps its own connection to the broker', async () => {
      await store().reset();
      const { session, customer } = await customerOf('ext-wild');
      const control = `${session.sessionTopic}/client/control`;
      for (const [i, suffix] of BAD_ANSWER_TOPICS.entries()) {
        await customer.publish(`${base}/server/channels/request`, { sessionId: session.sessionId, responseTopic: `${session.sessionTopic}${suffix}` });
        const rejections = () => customer.received.filter((r) => r.topic === control && r.payload.instruction === 'message/rejected').map((r) => r.payload);
        await customer.next(control, () => rejections().length > i, 5_000);
        const rejected = rejections()[i];
        assert.deepEqual([rejected.error.code, rejected.error.field], ['SB_VALIDATION', 'responseTopic'], `${JSON.stringify(suffix)}: ${JSON.stringify(customer.received.filter((r) => r.topic === control).map((r) => r.payload))}`);
      }
      // published right away: Switchboard's connection was never dropped, so nothing is lost
      await customer.publish(`${session.sessionTopic}/messages`, { message: { content: 'after the requests' } });
      assert.ok(await eventually(async () => (await count(session.sessionId, 'after the requests')) === 1), 'the message after the channel requests was not stored');
    });

    it('refuses a customer’s messages past the burst with SB_RATE_LIMITED', async () => {
      await store().reset();
      const { session, customer } = await customerOf('ext-burst');
      const control = `${session.sessionTopic}/client/control`;
      const started = Date.now();
      await Promise.all(Array.from({ length: 300 }, (_, i) => customer.publish(`${session.sessionTopic}/messages`, { message: { content: `m${i}` } })));
      const limited = () => customer.received.filter((r) => r.topic === control && r.payload.instruction === 'message/rejected');
      // every one of the 300 is either stored or refused
      assert.ok(await eventually(async () => (await count(session.sessionId, 'm%')) + limited().length === 300, 20_000), `stored ${await count(session.sessionId, 'm%')}, refused ${limited().length}`);
      const seconds = (Date.now() - started) / 1000;
      const stored = await count(session.sessionId, 'm%');
      assert.ok(stored >= MESSAGE_BURST && stored <= MESSAGE_BURST + Math.ceil(seconds * MESSAGES_PER_SECOND) + 1, `stored ${stored} of 300 in ${seconds} s`);
      assert.deepEqual([...new Set(limited().map((r) => r.payload.error.code))], ['SB_RATE_LIMITED']);
    });
  });
});
