import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { routesOf, type RouteSummary } from '../../src/http/app.js';
import { AttendantOnline, ChannelRequest, ClientMessage, ReadReceipt, readPayload, SessionOnline, SessionRequest } from '../../src/realtime/payloads.js';
import { startServer, type Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// Bad input on every HTTP route and every client MQTT topic: always a 4xx
// (never a 5xx, never a hang), and the database exactly as it was.

const INJECTIONS = [
  "' OR '1'='1",
  "'; drop table agents; --",
  '1; select pg_sleep(10)',
  '"><script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '%00',
  '\u0000',
  '\ud800',
  'x'.repeat(100_000),
];
const SEED = 20_261_122;
const TIMEOUT_MS = 5_000;
const SECRET = 'fuzz-webhook-secret';
const TICKETER_SECRET = 'FUZZTICKETERSECRET23456789ABCDEF';

/** A value of a type the schema does not allow (TypeBox schemas are JSON Schema). */
function wrongTypeFor(schema: any): unknown {
  const type = schema?.type;
  if (type === 'string') return 12345;
  if (type === 'integer' || type === 'number') return 'not a number';
  if (type === 'boolean') return 'yes';
  if (type === 'array') return { not: 'an array' };
  if (type === 'object') return 'not an object';
  return [{ zz_unknown: true }];
}

/**
 * Table name → row count and a checksum of its rows. Not the outbound
 * worker's cursors: its feeds (webhooks, RapidPro, Qiscus) move them through
 * the event log in the background, on their own schedule, whatever the
 * input; an event or outbound request the input wrongly caused still shows
 * in its own table. Nor `wal_flush`: it counts durability flushes per
 * connection, which background sweeps also make, and holds no data.
 */
async function snapshot(server: Running): Promise<Record<string, string>> {
  const tables = await server.db.query<{ name: string }>(
    "select tablename as name from pg_tables where schemaname = 'public' and tablename not in ('outbox_cursors', 'wal_flush') order by tablename",
  );
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    const [row] = await server.db.query<{ n: number; h: string | null }>(`select count(*)::int as n, md5(string_agg(t::text, '|' order by t::text)) as h from "${name}" t`);
    out[name] = `${row!.n}:${row!.h ?? ''}`;
  }
  return out;
}

describeEachStore('fuzz: bad input on every route and topic', (store) => {
  let server: Running;
  let adminToken: string;
  let ticketerUuid: string;
  let session: { sessionId: string; sessionTopic: string; token: string };
  let agentToken: string;
  let agentId: string;

  const inject = async (options: InjectOptions) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms: ${options.method} ${String(options.url).slice(0, 200)}`)), TIMEOUT_MS);
    });
    try {
      return await Promise.race([server.app.inject(options), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  before(async () => {
    server = await startServer(
      loadConfig({
        PORT: '0',
        LOG_LEVEL: 'silent',
        ADMIN_EMAIL: 'admin@example.test',
        ADMIN_PASSWORD: 'admin password',
        SWEEP_INTERVAL: '60000',
        WEBHOOK_POLL_INTERVAL: '60000',
        QISCUS_BASE_URL: 'http://127.0.0.1:9',
        QISCUS_APP_ID: 'fuzz-app',
        QISCUS_SECRET: 'fuzz-qiscus-secret',
        QISCUS_WEBHOOK_SECRET: SECRET,
        QISCUS_POLL_INTERVAL: '3600000',
        // random bodies that happen to be valid start chats, all from one address: the limits are session-limits.test.ts' subject
        SESSION_RATE_LIMIT: '0',
        SESSION_MAX_OPEN_PER_ADDRESS: '0',
      }),
      { db: store().db, keepDb: true },
    );
    const login = await server.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.test', password: 'admin password' } });
    adminToken = login.json().token;
    const ticketer = await server.app.inject({ method: 'POST', url: '/api/v1/ticketers', headers: { authorization: `Bearer ${adminToken}` }, payload: { name: 'fuzz', secret: TICKETER_SECRET } });
    assert.equal(ticketer.statusCode, 201, ticketer.body);
    ticketerUuid = ticketer.json().uuid;
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 5 });
    agentId = agent.id;
    agentToken = (await server.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password: PASSWORD } })).json().token;
    const started = await server.app.inject({ method: 'POST', url: '/session', payload: { customer: { id: 'fuzz-customer' } } });
    assert.equal(started.statusCode, 201);
    session = started.json();
  });
  after(async () => {
    await server.close();
  });

  /** The credentials a route takes: the ticketer's secret, Qiscus' webhook secret, or the admin's token. */
  function credentials(route: RouteSummary): Record<string, string> {
    if (route.url.startsWith('/api/v1/ticketers/:uuid/') && !route.url.endsWith('/callbacks')) return { authorization: `Token ${TICKETER_SECRET}` };
    if (/^\/api\/v1\/(webhook\/|new_request|close_request)/.test(route.url)) return { 'x-webhook-secret': SECRET };
    if (route.url === '/session' && route.method === 'DELETE') return { authorization: `Bearer ${session.token}` };
    return { authorization: `Bearer ${adminToken}` };
  }

  /** The route's path with valid-looking ids nobody has (the ticketer's own uuid for mailroom's routes). */
  function pathOf(route: RouteSummary, override?: string): string {
    return route.url.replace(/:(\w+)/g, (_, name: string) => {
      if (override !== undefined) return override;
      if (name === 'uuid') return route.url.startsWith('/api/v1/ticketers/:uuid/') && !route.url.endsWith('/callbacks') ? ticketerUuid : randomUUID();
      if (route.url.startsWith('/api/v1/deliveries/')) return '987654321';
      return randomUUID();
    });
  }

  const fuzzable = (routes: readonly RouteSummary[]) =>
    routes.filter((r) => {
      if (r.method === 'HEAD' || r.method === 'OPTIONS') return false;
      if (r.url === '/mqtt' || r.url.startsWith('/docs') || r.url === '/healthz' || r.url === '/metrics' || r.url.includes('*')) return false;
      return true;
    });

  const takesBody = (route: RouteSummary) => route.method !== 'GET' || /\/room(\.close)?$/.test(route.url);
  /** the EMQX hooks answer a refusal as 200 {"result":"deny"}, which is their protocol */
  const emqxHook = (route: RouteSummary) => route.url === '/mqtt/auth' || route.url === '/mqtt/acl';

  function assertRefused(route: RouteSummary, what: string, res: { statusCode: number; body: string }) {
    if (emqxHook(route) && res.statusCode === 200) {
      assert.equal(JSON.parse(res.body).result, 'deny', `${route.method} ${route.url} ${what}: ${res.body}`);
      return;
    }
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${route.method} ${route.url} ${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  }

  it('answers every route 4xx to malformed, oversized and hostile input, and changes nothing', async () => {
    const routes = fuzzable(routesOf(server.app));
    assert.ok(routes.length >= 45, `only ${routes.length} routes found`);
    const before = await snapshot(server);
    let sent = 0;

    const send = async (route: RouteSummary, what: string, options: Omit<InjectOptions, 'method'> & { auth?: boolean }) => {
      const { auth = true, ...rest } = options;
      const headers = { ...(auth ? credentials(route) : {}), ...(rest.headers as Record<string, string> | undefined) };
      const res = await inject({ method: route.method as InjectOptions['method'], ...rest, headers });
      sent += 1;
      assertRefused(route, `${what}${auth ? '' : ' (no credentials)'}`, res);
    };
    const json = { 'content-type': 'application/json' };

    for (const route of routes) {
      for (const auth of [true, false]) {
        // hostile path parameters
        // customer ids are free-form strings (any value is someone's id): only the other parameters are checked
        if (route.url.includes(':') && !route.url.includes(':customerId')) {
          // department names are free-form too: only what cannot be a name is checked there
          const hostile = ['not-an-id', '0', '-1', '%FF%FE', '%C0%AF', '%00', '..%2F..%2Fetc', encodeURIComponent(INJECTIONS[1]!), 'a'.repeat(5_000)];
          for (const bad of route.url.includes('/departments/:name') ? ['%FF%FE', '%C0%AF', '%00', '%1B', 'a'.repeat(5_000)] : hostile) {
            await send(route, `param ${bad.slice(0, 20)}`, { url: pathOf(route, bad), auth, ...(takesBody(route) ? { payload: '{}', headers: json } : {}) });
          }
        }
        // hostile query strings, where the route reads one
        const query = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
        if (query?.properties) {
          for (const [name, schema] of Object.entries(query.properties)) {
            const wrong = (schema as any).type === 'string' ? 'x'.repeat(3_000) : 'abc';
            for (const value of [wrong, INJECTIONS[0]!, '%FF', '-1']) {
              if ((schema as any).type === 'string' && value !== wrong && !(schema as any).format && !(schema as any).enum && !(schema as any).anyOf) continue;
              await send(route, `query ${name}=${value.slice(0, 20)}`, { url: `${pathOf(route)}?${name}=${encodeURIComponent(value).replace('%25FF', '%FF')}`, auth });
            }
          }
          await send(route, 'unknown query parameter', { url: `${pathOf(route)}?zz_unknown=1`, auth });
        }
        if (!takesBody(route)) continue;
        const url = pathOf(route);
        // bodies that are not JSON, not UTF-8, too big, too deep, of the wrong media type
        const fixed: [string, string | Buffer, Record<string, string>][] = [
          ['invalid JSON', '{"a":', json],
          ['single quotes', "{'a':1}", json],
          ['trailing comma', '[1,]', json],
          ['empty body', '', json],
          ['prototype pollution', '{"__proto__":{"admin":true}}', json],
          ['constructor pollution', '{"constructor":{"prototype":{"admin":true}}}', json],
          ['invalid UTF-8', Buffer.concat([Buffer.from('{"zz":"'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('"}')]), json],
          ['NUL', '{"zz_unknown":"\\u0000"}', json],
          ['lone surrogate', '{"text":"\\ud800"}', json],
          ['deep nesting', `{"zz":${'['.repeat(5_000)}${']'.repeat(5_000)}}`, json],
          ['deep objects', `${'{"a":'.repeat(2_000)}1${'}'.repeat(2_000)}`, json],
          ['huge body', JSON.stringify({ zz: 'x'.repeat(1_100_000) }), json],
          ['xml', '<a>1</a>', { 'content-type': 'application/xml' }],
          ['plain text', 'hello', { 'content-type': 'text/plain' }],
          ['wrong content-length', '{"zz":1}', { ...json, 'content-length': '3' }],
        ];
        for (const [what, payload, headers] of fixed) await send(route, what, { url, payload, headers, auth });
        // wrong types for each declared field, and unknown fields
        const props = (route.schema?.body as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
        for (const [name, schema] of Object.entries(props)) {
          await send(route, `wrong type for ${name}`, { url, payload: JSON.stringify({ [name]: wrongTypeFor(schema), zz_unknown: 1 }), headers: json, auth });
          await send(route, `long ${name}`, { url, payload: JSON.stringify({ [name]: 'x'.repeat(300_000) }), headers: json, auth });
        }
        // random JSON that cannot be a valid body: never an object, or an object with an unknown field
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              fc.jsonValue().filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
              fc.dictionary(fc.string({ maxLength: 20 }).map((k) => `zz_${k}`), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(...INJECTIONS.slice(0, 7))), { minKeys: 1, maxKeys: 4 }),
            ),
            async (body) => {
              await send(route, `body ${JSON.stringify(body).slice(0, 80)}`, { url, payload: JSON.stringify(body), headers: json, auth });
            },
          ),
          { numRuns: 6, seed: SEED },
        );
        // random bytes
        await fc.assert(
          fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
            const text = Buffer.from(bytes);
            try {
              JSON.parse(text.toString('utf8'));
              return; // happens to be JSON: the property above covers it
            } catch {
              await send(route, 'random bytes', { url, payload: text, headers: json, auth });
            }
          }),
          { numRuns: 4, seed: SEED },
        );
      }
    }

    assert.ok(sent > 3_000, `only ${sent} requests sent`);
    // the server is fine and nothing was written
    assert.equal((await inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.deepEqual(await snapshot(server), before);
  });

  it('stores injection strings in free text verbatim and escapes nothing on the way in', async () => {
    const text = INJECTIONS.slice(0, 6).join(' | ');
    const res = await inject({
      method: 'POST',
      url: '/api/v1/conversations',
      headers: { authorization: `Bearer ${adminToken}` },
      payload: { customer: { id: INJECTIONS[1], name: INJECTIONS[3] }, department: INJECTIONS[0] },
    });
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().id as string;
    const msg = await inject({ method: 'POST', url: `/api/v1/conversations/${id}/messages`, headers: { authorization: `Bearer ${adminToken}` }, payload: { text } });
    assert.equal(msg.statusCode, 201, msg.body);
    const read = await inject({ method: 'GET', url: `/api/v1/conversations/${id}/messages`, headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(read.json()[0].text, text);
    assert.equal((await inject({ method: 'GET', url: `/api/v1/conversations/${id}`, headers: { authorization: `Bearer ${adminToken}` } })).json().customer.id, INJECTIONS[1]);
    const [agents] = await server.db.query<{ n: number }>('select count(*)::int as n from agents');
    assert.ok(agents!.n >= 2);
  });

  it('refuses malformed payloads on every client topic without storing anything or crashing', async () => {
    const wsUrl = `${server.url.replace('http', 'ws')}/mqtt`;
    const base = 'switchboard';
    // the agent holds the session's conversation
    const [row] = await server.db.query<{ agent_id: string | null }>('select agent_id from conversations where id = $1', [session.sessionId]);
    assert.equal(row!.agent_id, agentId);
    const customer = await connectMqtt(wsUrl, session.token);
    const agent = await connectMqtt(wsUrl, agentToken);
    const clients: TestMqttClient[] = [customer, agent];
    try {
      const control = `${session.sessionTopic}/client/control`;
      assert.deepEqual(await customer.subscribe(`${session.sessionTopic}/#`), [1]);
      assert.deepEqual(await agent.subscribe(`${session.sessionTopic}/#`), [1]);
      const before = await snapshot(server);

      const payloads: (string | Buffer)[] = [
        '',
        'not json',
        '{"message":',
        'null',
        '[]',
        '42',
        '"text"',
        '{"message":"text"}',
        '{"message":{"content":42}}',
        '{"message":{"content":""}}',
        '{"message":{"content":"\\u0000"}}',
        '{"message":{"content":"\\ud800"}}',
        '{"message":{"attachments":[{"type":"x","url":"javascript:alert(1)"}]}}',
        `{"message":{"content":"${'x'.repeat(10_001)}"}}`,
        '{"readMessages":"all"}',
        '{"readMessages":[-1]}',
        '{"readMessages":[]}',
        '{"sessionId":42}',
        '{"sessionId":"\' OR 1=1 --"}',
        `{"sessionId":"${randomUUID()}"}`,
        '{"responseTopic":"#"}',
        '{"attendantInfo":"x"}',
        `{"a":${'['.repeat(100)}${']'.repeat(100)}}`,
        Buffer.concat([Buffer.from('{"message":{"content":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]),
        Buffer.from(JSON.stringify({ message: { content: 'x'.repeat(70_000) } })),
      ];
      const allowed = {
        customer: ['server/sessions/request', 'server/sessions/online', 'server/channels/request', `conversations/${session.sessionId}/messages`, `conversations/${session.sessionId}/messages/viewed`],
        agent: ['server/attendants/online', `conversations/${session.sessionId}/messages`, `conversations/${session.sessionId}/messages/viewed`],
      };
      for (const [who, client] of [['customer', customer], ['agent', agent]] as const) {
        for (const relative of allowed[who]) {
          const schema = relative.endsWith('/viewed') ? ReadReceipt : relative.endsWith('/messages') ? ClientMessage : relative.endsWith('sessions/request') ? SessionRequest : relative.endsWith('sessions/online') ? SessionOnline : relative.endsWith('channels/request') ? ChannelRequest : AttendantOnline;
          for (const payload of payloads) {
            const topic = `${base}/${relative}`;
            try {
              readPayload(schema, Buffer.from(payload));
              continue; // a well-formed payload for this topic (unknown fields are tolerated): not what this test sends
            } catch {
              // malformed: send it
            }
            if (Buffer.byteLength(payload) > 64 * 1024) continue; // over the limit: the broker closes the connection (below)
            await client.client.publishAsync(topic, payload, { qos: 1 });
            assert.ok(client.client.connected, `${who} was disconnected by a malformed payload on ${relative}: ${String(payload).slice(0, 60)}`);
          }
        }
      }
      // refusals are explained on the control topic
      const rejected = await customer.next(control, (p) => p.instruction === 'message/rejected' && p.topic === `${session.sessionTopic}/messages`);
      assert.equal(rejected.error.code.startsWith('SB_'), true);

      // a payload over 64 KiB, or a forbidden topic, closes the connection; nothing else breaks
      for (const [client, topic, payload] of [
        [customer, `${base}/server/attendants/online`, '{}'],
        [agent, `${base}/conversations/${session.sessionId}/client/control`, '{}'],
        [agent, `${base}/conversations/${session.sessionId}/messages`, JSON.stringify({ message: { content: 'x'.repeat(70_000) } })],
      ] as const) {
        const fresh = await connectMqtt(wsUrl, client === customer ? session.token : agentToken);
        clients.push(fresh);
        const closed = new Promise<void>((resolve) => fresh.client.once('close', () => resolve()));
        fresh.client.publish(topic, payload, { qos: 1 });
        await closed;
      }
      assert.equal((await inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      // nothing stored (the customer's keep-alive column aside: a refused payload is still no sign of life, so it must not move either)
      assert.deepEqual(await snapshot(server), before);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  });
});
