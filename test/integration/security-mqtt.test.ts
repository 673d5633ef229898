import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { loadRealtimeConfig } from '../../src/realtime/config.js';
import type { Identity } from '../../src/realtime/identity.js';
import { createRealtime, type Realtime } from '../../src/realtime/index.js';
import { startSession } from '../../src/realtime/sessions.js';
import { startServer, type Running } from '../../src/server.js';
import { fakeClock } from '../helpers/clock.js';
import { emqxDouble } from '../helpers/emqx-double.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson, tokenChangeHeard } from '../helpers/http.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// Issue #16, items 1 and 6, over real MQTT connections: a connection ends
// with its token (logout, DELETE /session, expiry, a revocation in another
// process), subscribe and publish check the token again, and an MQTT client
// id belongs to one identity — on the embedded broker, and through the
// /mqtt/auth and /mqtt/acl calls an external broker (EMQX) makes.

/** Resolves when the client's connection closes; rejects after `ms`. */
function closedWithin(client: TestMqttClient, ms: number, what: string): Promise<void> {
  if (!client.client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: the connection was still open after ${ms} ms`)), ms);
    client.client.once('close', () => (clearTimeout(timer), resolve()));
  });
}

/** The CONNACK return code a refused connection got (mqtt.js puts it on the error). */
async function refusedWith(attempt: Promise<TestMqttClient>): Promise<number | undefined> {
  try {
    const client = await attempt;
    await client.end();
  } catch (error) {
    return (error as { code?: number }).code;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('MQTT connections end with their token, over the embedded broker of a real server', (store) => {
  let server: Running;
  let wsUrl: string;
  const { http, connect } = realServerForBlock(store, (started) => ({ server, wsUrl } = started));
  const login = async (options: Parameters<typeof makeAgent>[1]) => {
    const agent = await makeAgent(server.ctx, options);
    const answer = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(answer.status, 200);
    return { agent, token: answer.body.token as string };
  };
  const startChat = async (customerId: string) => {
    const answer = await http('POST', '/session', { customer: { id: customerId } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body as { sessionId: string; sessionTopic: string; token: string };
  };
  const messagesStored = async (conversationId: string) =>
    (await server.ctx.db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1', [conversationId]))[0]!.n;

  it('closes every connection of a token at logout, even when the status does not change (an offline supervisor), and stops its deliveries', async () => {
    await login({ status: 'online', capacity: 1 });
    const chat = await startChat('s1');
    const { token } = await login({ role: 'supervisor' }); // offline: logging out changes nothing else
    const first = await connect(token);
    const second = await connect(token);
    assert.deepEqual(await first.subscribe(`${chat.sessionTopic}/messages`), [1]);
    assert.equal((await http('POST', '/api/v1/auth/logout', undefined, token)).status, 204);
    await closedWithin(first, 2_000, 'first connection after logout');
    await closedWithin(second, 2_000, 'second connection after logout');
    const before = first.received.length;
    const customer = await connect(chat.token);
    await customer.publish(`${chat.sessionTopic}/messages`, { message: { content: 'after the logout' } });
    await sleep(200);
    assert.equal(first.received.length, before, 'nothing reaches a logged-out connection');
    assert.equal(await refusedWith(connectMqtt(wsUrl, token)), 4);
  });

  it('closes the customer’s connections when they end the chat with DELETE /session; the token connects no more', async () => {
    await login({ status: 'online', capacity: 1 });
    const chat = await startChat('d1');
    const customer = await connect(chat.token);
    assert.deepEqual(await customer.subscribe(`${chat.sessionTopic}/#`), [1]);
    const otherTab = await connect(chat.token);
    assert.deepEqual(await otherTab.subscribe(`${chat.sessionTopic}/client/control`), [1]);
    assert.equal((await http('DELETE', '/session', undefined, chat.token)).status, 204);
    await closedWithin(customer, 2_000, 'customer connection after DELETE /session');
    await closedWithin(otherTab, 2_000, "the customer's other connection after DELETE /session");
    // told why before the connection closed
    assert.ok(otherTab.received.some((r) => r.payload?.instruction === 'session/closed'), JSON.stringify(otherTab.received));
    assert.equal(await refusedWith(connectMqtt(wsUrl, chat.token)), 4);
    assert.equal((await http('DELETE', '/session', undefined, chat.token)).status, 401, 'the session is over');
    // …but for an hour it still reads its own closed conversation (the widget's end-of-chat transcript and rating need it)
    assert.equal((await http('GET', `/api/v1/conversations/${chat.sessionId}/messages`, undefined, chat.token)).status, 200);
    const [row] = await server.ctx.db.query<{ state: string; resolve_reason: string }>('select state, resolve_reason from conversations where id = $1', [chat.sessionId]);
    assert.deepEqual({ ...row }, { state: 'resolved', resolve_reason: 'customer' });
  });

  it("re-checks an agent's token at subscribe and publish: revoked or expired since CONNECT (with no event), refused and closed, nothing stored", async () => {
    const { agent, token } = await login({ status: 'online', capacity: 1 });
    const chat = await startChat('p1');
    const agentClient = await connect(token);
    // revoked behind this process's back: no event, no logout call here
    await server.ctx.db.query('update auth_tokens set revoked_at = now() where agent_id = $1', [agent.id]);
    await tokenChangeHeard(server.url, token);
    assert.deepEqual(await agentClient.subscribe(`${chat.sessionTopic}/messages`), [128]);
    await closedWithin(agentClient, 2_000, 'agent connection after a refused subscribe');

    const fresh = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const publisher = await connect(fresh.body.token);
    await server.ctx.db.query(`update auth_tokens set expires_at = now() - interval '1 second' where agent_id = $1`, [agent.id]);
    await tokenChangeHeard(server.url, fresh.body.token);
    await publisher.client.publishAsync(`${chat.sessionTopic}/messages`, JSON.stringify({ message: { content: 'from an expired token' } }), { qos: 0 });
    await closedWithin(publisher, 2_000, 'agent connection after a publish with an expired token');
    assert.equal(await messagesStored(chat.sessionId), 0);
    // A customer's session is read again once its reading is a re-check period old: the next test block.
  });

  it("refuses a client id bound to another identity — a live connection's or a persistent session's — so nobody takes over another's queued messages", async () => {
    const { agent, token: agentToken } = await login({ status: 'online', capacity: 2 });
    const alice = await startChat('alice');
    const mallory = await startChat('mallory');

    // Alice keeps a persistent session and goes away; a message is queued for her
    const aliceClient = await connect(alice.token, { clientId: 'widget-1', clean: false });
    assert.deepEqual(await aliceClient.subscribe(`${alice.sessionTopic}/messages`), [1]);
    await aliceClient.end();
    assert.equal((await http('POST', `/api/v1/conversations/${alice.sessionId}/messages`, { text: 'for Alice only' }, agentToken)).status, 201);
    await server.realtime.publisher.idle();

    // Mallory, with her own live token, asks for Alice's client id and session
    assert.equal(await refusedWith(connectMqtt(wsUrl, mallory.token, { clientId: 'widget-1', clean: false })), 2, 'identifier rejected');
    // an agent may not either
    assert.equal(await refusedWith(connectMqtt(wsUrl, agentToken, { clientId: 'widget-1', clean: false })), 2);

    // Alice comes back and gets what was kept for her
    const back = await connect(alice.token, { clientId: 'widget-1', clean: false });
    const queued = await back.next(`${alice.sessionTopic}/messages`, (p) => p.message?.content === 'for Alice only');
    assert.equal(queued.message.from, agent.id);

    // a live connection's id is no more takeable: Alice stays connected
    assert.equal(await refusedWith(connectMqtt(wsUrl, mallory.token, { clientId: 'widget-1', clean: true })), 2);
    assert.equal(back.client.connected, true);

    // an agent's id is theirs whatever token they log in with
    const console1 = await connect(agentToken, { clientId: 'console-1', clean: false });
    await console1.end();
    const relogin = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const console2 = await connect(relogin.body.token, { clientId: 'console-1', clean: false });
    assert.equal(console2.client.connected, true);
    await console2.end();
    const other = await login({ status: 'online', capacity: 1 });
    assert.equal(await refusedWith(connectMqtt(wsUrl, other.token, { clientId: 'console-1' })), 2);

    // a clean session ends with its connection: its id is free again
    const once = await connect(mallory.token, { clientId: 'widget-2', clean: true });
    await once.end();
    await sleep(50);
    const reused = await connect(alice.token, { clientId: 'widget-2', clean: true });
    assert.equal(reused.client.connected, true);
  });

  it("delivers to a customer only their own conversation's topics, and to an agent only their own inbox", async () => {
    const { agent } = await login({ status: 'online', capacity: 2 });
    const other = await login({ status: 'online', capacity: 1 });
    const mine = await startChat('m1');
    const theirs = await startChat('m2');
    const session = (await server.ctx.db.query<{ conversation_id: string; customer_id: string; last_seen_at: Date; expires_at: Date }>(
      'select conversation_id, customer_id, last_seen_at, expires_at from customer_sessions where conversation_id = $1',
      [mine.sessionId],
    ))[0]!;
    const customer: Identity = { kind: 'customer', session };
    const rules = server.realtime.rules;
    assert.equal(rules.mayReceive(customer, `${mine.sessionTopic}/messages`), true);
    assert.equal(rules.mayReceive(customer, `${theirs.sessionTopic}/messages`), false);
    assert.equal(rules.mayReceive(customer, `${theirs.sessionTopic}/client/control`), false);
    assert.equal(rules.mayReceive(customer, `switchboard/agents/${agent.id}/events`), false);
    assert.equal(rules.mayReceive(customer, 'switchboard/events/queue'), false);
    const agentIdentity: Identity = { kind: 'agent', agent: other.agent };
    assert.equal(rules.mayReceive(agentIdentity, `switchboard/agents/${other.agent.id}/events`), true);
    assert.equal(rules.mayReceive(agentIdentity, `switchboard/agents/${agent.id}/events`), false);
    assert.equal(rules.mayReceive(agentIdentity, `switchboard/client/attendants/assign/${agent.id}`), false);
    assert.equal(rules.mayReceive(agentIdentity, 'switchboard/events/queue'), true);
    assert.equal(rules.mayReceive(agentIdentity, 'switchboard/events/conversations'), false);
  });

  it('answers the EMQX authenticator and authorizer as EMQX calls them: client ids carry their owner, expire_at is the token’s expiry, a revoked or expired token is refused', async () => {
    const { agent, token } = await login({ status: 'online', capacity: 1 });
    const chat = await startChat('x1');
    // EMQX's request templates (docs/realtime.md)
    const auth = async (username: string, password: string, clientid: string) => (await http('POST', '/mqtt/auth', { username, password, clientid })).body;
    const acl = async (username: string, clientid: string, sbToken: string, action: string, topic: string) =>
      (await http('POST', '/mqtt/acl', { username, clientid, token: sbToken, topic, action })).body.result as string;

    const agentAuth = await auth(agent.id, token, `${agent.id}-console-7f3a`);
    assert.equal(agentAuth.result, 'allow');
    const [row] = await server.ctx.db.query<{ expires_at: Date }>('select expires_at from auth_tokens where agent_id = $1', [agent.id]);
    assert.equal(agentAuth.expire_at, Math.floor(new Date(row!.expires_at).getTime() / 1000));
    assert.equal((await auth(agent.id, token, agent.id)).result, 'allow', 'the bare user name');
    assert.equal((await auth(agent.id, token, agent.id.toUpperCase())).result, 'allow', 'client ids are compared as ids, whatever the case');
    for (const clientid of ['mqttjs_12ab34cd', `${chat.sessionId}-widget`, `${agent.id}x`, agent.id.slice(0, 30), '']) {
      assert.equal((await auth(agent.id, token, clientid)).result, 'deny', `client id ${JSON.stringify(clientid)}`);
    }
    const customerAuth = await auth(chat.sessionId, chat.token, `${chat.sessionId}-widget`);
    assert.equal(customerAuth.result, 'allow');
    const [session] = await server.ctx.db.query<{ expires_at: Date }>('select expires_at from customer_sessions where conversation_id = $1', [chat.sessionId]);
    assert.equal(customerAuth.expire_at, Math.floor(new Date(session!.expires_at).getTime() / 1000));
    assert.equal((await auth(chat.sessionId, chat.token, `${agent.id}-console`)).result, 'deny', "an agent's client id");

    // the authorizer holds the connection to the same rule
    const sb = agentAuth.client_attrs.sb_token as string;
    assert.equal(await acl(agent.id, `${agent.id}-console-7f3a`, sb, 'subscribe', 'switchboard/events/queue'), 'allow');
    assert.equal(await acl(agent.id, 'mqttjs_12ab34cd', sb, 'subscribe', 'switchboard/events/queue'), 'deny');

    // logout: the next subscribe and publish are denied, and so is a reconnect
    assert.equal((await http('POST', '/api/v1/auth/logout', undefined, token)).status, 204);
    assert.equal(await acl(agent.id, `${agent.id}-console-7f3a`, sb, 'subscribe', 'switchboard/events/queue'), 'deny');
    assert.equal(await acl(agent.id, `${agent.id}-console-7f3a`, sb, 'publish', `switchboard/server/attendants/online/${agent.id}`), 'deny');
    assert.equal((await auth(agent.id, token, `${agent.id}-console-7f3a`)).result, 'deny');

    // the customer ends the chat: the same for their session token
    const cb = customerAuth.client_attrs.sb_token as string;
    assert.equal(await acl(chat.sessionId, `${chat.sessionId}-widget`, cb, 'subscribe', `${chat.sessionTopic}/#`), 'allow');
    assert.equal((await http('DELETE', '/session', undefined, chat.token)).status, 204);
    assert.equal(await acl(chat.sessionId, `${chat.sessionId}-widget`, cb, 'subscribe', `${chat.sessionTopic}/#`), 'deny');
    assert.equal((await auth(chat.sessionId, chat.token, `${chat.sessionId}-widget`)).result, 'deny');
  });

  it('holds an external broker to the same rules over real MQTT: an EMQX double calling /mqtt/auth and /mqtt/acl as configured in docs/deployment.md', async () => {
    const emqx = await emqxDouble(server.url);
    const external: TestMqttClient[] = [];
    const connectExternal = async (username: string, token: string, clientId: string) => {
      const client = await connectMqtt(emqx.url, token, { username, clientId });
      external.push(client);
      return client;
    };
    try {
      const { agent, token } = await login({ status: 'online', capacity: 2 });
      const alice = await startChat('ext-alice');
      const bob = await startChat('ext-bob');

      // client ids carry their owner: nobody connects under another's
      const console1 = await connectExternal(agent.id, token, `${agent.id}-console-1`);
      assert.deepEqual(await console1.subscribe('switchboard/events/queue', `switchboard/agents/${agent.id}/events`), [1, 1]);
      const widget = await connectExternal(alice.sessionId, alice.token, `${alice.sessionId}-widget-1`);
      assert.deepEqual(await widget.subscribe(`${alice.sessionTopic}/#`, `${bob.sessionTopic}/#`), [1, 128]);
      assert.equal(await refusedWith(connectMqtt(emqx.url, bob.token, { username: bob.sessionId, clientId: `${alice.sessionId}-widget-1` })), 5, "Alice's client id");
      assert.equal(await refusedWith(connectMqtt(emqx.url, bob.token, { username: bob.sessionId, clientId: 'mqttjs_0badc0de' })), 5, 'a client id naming nobody');
      assert.equal(await refusedWith(connectMqtt(emqx.url, bob.token, { username: alice.sessionId, clientId: `${alice.sessionId}-widget-2` })), 5, "Alice's user name");
      assert.equal(widget.client.connected, true, 'Alice was not disturbed');

      // logout: the connection's next subscribe is refused and its next publish disconnects it
      assert.equal((await http('POST', '/api/v1/auth/logout', undefined, token)).status, 204);
      assert.deepEqual(await console1.subscribe(`switchboard/client/attendants/assign/${agent.id}`), [128]);
      await console1.client.publishAsync(`switchboard/server/attendants/online/${agent.id}`, '{}', { qos: 0 });
      await closedWithin(console1, 2_000, 'external connection publishing after logout');
      assert.equal(await refusedWith(connectMqtt(emqx.url, token, { username: agent.id, clientId: `${agent.id}-console-2` })), 5);

      // the customer ends the chat: the same for the session token
      assert.equal((await http('DELETE', '/session', undefined, alice.token)).status, 204);
      assert.deepEqual(await widget.subscribe(`${alice.sessionTopic}/messages`), [128]);

      // a token's expiry, through expire_at: the broker disconnects the client then
      const short = await issueToken(server.ctx.db, agent.id, new Date(), 3);
      const expiring = await connectExternal(agent.id, short.token, `${agent.id}-console-3`);
      await closedWithin(expiring, 5_000, 'external connection past its expire_at');
      await sleep(1_100); // expire_at is in whole seconds: past the token's own expiry too
      assert.equal(await refusedWith(connectMqtt(emqx.url, short.token, { username: agent.id, clientId: `${agent.id}-console-4` })), 5, 'an expired token');
      assert.ok(emqx.calls.every((c) => typeof c.body.clientid === 'string'), 'every call names the client id');
    } finally {
      await Promise.all(external.map((c) => c.end().catch(() => undefined)));
      await emqx.close();
    }
  });
});

describeEachStore('MQTT connections end with their token, across processes and on expiry', (store) => {
  const realtimes: Realtime[] = [];
  const clients: TestMqttClient[] = [];
  const errors: unknown[] = [];

  beforeEach(async () => {
    await store().reset();
    errors.length = 0;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await Promise.all(realtimes.splice(0).map((r) => r.close()));
    assert.deepEqual(errors, []);
  });

  /** A process's real-time layer of its own (its own broker, memory and events) on the shared store. */
  async function startProcess(options: { now?: () => Date; tokenRecheckMs: number; db?: Ctx['db'] }) {
    let realtime: Realtime | undefined;
    const ctx: Ctx = { db: options.db ?? store().db, now: options.now ?? (() => new Date()), onCommitted: (events) => realtime?.onCommitted(events) };
    realtime = await createRealtime({
      ctx,
      config: loadRealtimeConfig({ MQTT_TCP_PORT: '0' }),
      sessionTtlSeconds: 3600,
      onError: (error) => errors.push(error),
      sweepIntervalMs: 0,
      tokenRecheckMs: options.tokenRecheckMs,
    });
    realtimes.push(realtime);
    const url = `mqtt://127.0.0.1:${(realtime.broker as { tcpAddress?: { port: number } }).tcpAddress!.port}`;
    return {
      ctx,
      realtime,
      async connect(token: string) {
        const client = await connectMqtt(url, token);
        clients.push(client);
        return client;
      },
    };
  }

  it('closes, within its re-check period, a connection whose token another process revoked (logout) or whose session another process ended', async () => {
    const a = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'silent', SWEEP_INTERVAL: '60000' }), { db: store().db, keepDb: true });
    try {
      const b = await startProcess({ tokenRecheckMs: 200 });
      const agent = await makeAgent(a.ctx, { role: 'supervisor' });
      const login = await httpJson(a.url, 'POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
      const agentClient = await b.connect(login.body.token);
      const chat = (await httpJson(a.url, 'POST', '/session', { customer: { id: 'cross' } })).body as { token: string; sessionTopic: string };
      const customer = await b.connect(chat.token);
      assert.deepEqual(await customer.subscribe(`${chat.sessionTopic}/#`), [1]);

      assert.equal((await httpJson(a.url, 'POST', '/api/v1/auth/logout', undefined, login.body.token)).status, 204);
      assert.equal((await httpJson(a.url, 'DELETE', '/session', undefined, chat.token)).status, 204);
      await closedWithin(agentClient, 2_000, 'agent connection on process B after logout on process A');
      await closedWithin(customer, 2_000, 'customer connection on process B after DELETE /session on process A');
    } finally {
      await a.close();
    }
  });

  it("keeps a customer session's reading for the re-check period: its publishes cost no session read, its expiry is still checked on the clock, and a session ended elsewhere is refused once the period has passed", async () => {
    const clock = fakeClock(Date.now());
    // The store as this process sees it, counting the session reads (identify's).
    let sessionReads = 0;
    const db = store().db;
    const counting = new Proxy(db, {
      get(target, key) {
        if (key === 'query') {
          return (text: string, params?: readonly unknown[]) => {
            if (/from customer_sessions where token_hash/.test(text)) sessionReads += 1;
            return target.query(text, params);
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    // a minute between re-checks: the periodic one never runs during the test
    const b = await startProcess({ now: clock.now, tokenRecheckMs: 60_000, db: counting });
    await makeAgent(b.ctx, { status: 'online', capacity: 2 });
    const stored = async (conversationId: string) =>
      (await db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1', [conversationId]))[0]!.n;

    const chat = await startSession(b.ctx, { customer: { id: 'chatty' } }, 3600);
    const topic = `switchboard/conversations/${chat.conversation.id}`;
    const customer = await b.connect(chat.token);
    assert.deepEqual(await customer.subscribe(`${topic}/#`), [1]);
    const readsAfterConnect = sessionReads;
    for (let i = 0; i < 5; i++) await customer.publish(`${topic}/messages`, { message: { content: `message ${i}` } });
    assert.equal(await stored(chat.conversation.id), 5);
    assert.equal(sessionReads - readsAfterConnect, 0, 'publishes within the period read no session');

    // the session ended in another process (no event here): refused at the first publish once the period has passed
    await db.query('update customer_sessions set ended_at = $2 where conversation_id = $1', [chat.conversation.id, clock.now()]);
    clock.advance(60_000);
    await customer.client.publishAsync(`${topic}/messages`, JSON.stringify({ message: { content: 'after the end' } }), { qos: 0 });
    await closedWithin(customer, 2_000, 'customer connection publishing after its session ended elsewhere');
    assert.equal(await stored(chat.conversation.id), 5);
    assert.equal(sessionReads - readsAfterConnect, 1, 'read again once the period had passed');

    // expiry needs no read: a session past its expiry on the clock is refused within the period
    const short = await startSession(b.ctx, { customer: { id: 'short-lived' } }, 30);
    const shortTopic = `switchboard/conversations/${short.conversation.id}`;
    const shortClient = await b.connect(short.token);
    await shortClient.publish(`${shortTopic}/messages`, { message: { content: 'in time' } });
    clock.advance(31_000);
    const readsBefore = sessionReads;
    await shortClient.client.publishAsync(`${shortTopic}/messages`, JSON.stringify({ message: { content: 'too late' } }), { qos: 0 });
    await closedWithin(shortClient, 2_000, 'customer connection publishing past its session expiry');
    assert.equal(await stored(short.conversation.id), 1);
    assert.equal(sessionReads, readsBefore);
  });

  it("closes a connection when its token expires: an agent's login token, a customer's session (a timer, no re-check)", async () => {
    const b = await startProcess({ tokenRecheckMs: 0 });
    const agent = await makeAgent(b.ctx, { status: 'online', capacity: 1 });
    const { token } = await issueToken(b.ctx.db, agent.id, b.ctx.now(), 1);
    const { token: customerToken } = await startSession(b.ctx, { customer: { id: 'short' } }, 1);
    const agentClient = await b.connect(token);
    const customer = await b.connect(customerToken);
    await closedWithin(agentClient, 3_000, 'agent connection past its token expiry');
    await closedWithin(customer, 3_000, 'customer connection past its session expiry');
    await assert.rejects(b.connect(token));
  });

  it('closes, at the periodic re-check, connections whose token expired on the test clock or whose agent changed role', async () => {
    const clock = fakeClock(Date.now());
    const b = await startProcess({ now: clock.now, tokenRecheckMs: 0 });
    const agent = await makeAgent(b.ctx, { status: 'online', capacity: 1 });
    const short = await b.connect((await issueToken(b.ctx.db, agent.id, clock.now(), 600)).token);
    const long = await b.connect((await issueToken(b.ctx.db, agent.id, clock.now(), 7200)).token);
    const promoted = await makeAgent(b.ctx, { status: 'online', capacity: 1 });
    const before = await b.connect((await issueToken(b.ctx.db, promoted.id, clock.now(), 7200)).token);
    assert.equal(await b.realtime.broker.recheckConnections!(), 0);

    clock.advance(601_000);
    // a role changed in another process: no event here
    await b.ctx.db.query(`update agents set role = 'supervisor' where id = $1`, [promoted.id]);
    assert.equal(await b.realtime.broker.recheckConnections!(), 2);
    await closedWithin(short, 2_000, 'connection of the expired token');
    await closedWithin(before, 2_000, 'connection of the agent whose role changed');
    assert.equal(long.client.connected, true, 'the live token keeps its connection');
  });
});
