// GET /healthz, GET /metrics, GET /docs/json
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

/** Every core route, as OpenAPI spells it. */
const CORE_ROUTES: Record<string, string[]> = {
  '/api/v1/auth/login': ['post'],
  '/api/v1/auth/logout': ['post'],
  '/api/v1/agents': ['get', 'post'],
  '/api/v1/agents/me': ['get', 'patch'],
  '/api/v1/agents/me/heartbeat': ['post'],
  '/api/v1/agents/{id}': ['delete', 'get', 'patch'],
  '/api/v1/conversations': ['get', 'post'],
  '/api/v1/conversations/{id}': ['delete', 'get'],
  '/api/v1/conversations/{id}/resolve': ['post'],
  '/api/v1/conversations/{id}/transfer': ['post'],
  '/api/v1/conversations/{id}/requeue': ['post'],
  '/api/v1/conversations/{id}/accept': ['post'],
  '/api/v1/conversations/{id}/decline': ['post'],
  '/api/v1/conversations/{id}/pick': ['post'],
  '/api/v1/conversations/{id}/messages': ['get', 'post'],
  '/api/v1/queue': ['get'],
  '/api/v1/settings': ['get', 'patch'],
  '/api/v1/events': ['get'],
};

/** `name{labels} value` lines of a Prometheus text body. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describeEachStore('api: health, metrics, docs', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  it('GET /healthz answers 200 with the store kind, without a token', async () => {
    const res = await k.call('GET', '/healthz');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok', store: store().kind });
  });

  it('GET /metrics answers Prometheus text with queue, assignment, agent and event metrics that follow the state', async () => {
    const { admin } = await k.cast({ agentCapacity: 1 });
    await k.user('agent', { status: 'away' });
    for (let i = 0; i < 3; i++) await k.open(admin.token);
    const res = await k.call('GET', '/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.body;
    for (const name of ['switchboard_queue_length', 'switchboard_queue_longest_wait_seconds', 'switchboard_conversations_assigned', 'switchboard_agents', 'switchboard_events_total', 'switchboard_assignments_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'), name);
    }
    assert.equal(sample(text, 'switchboard_queue_length'), 1);
    assert.equal(sample(text, 'switchboard_conversations_assigned'), 2);
    assert.equal(sample(text, 'switchboard_agents{status="online"}'), 2);
    assert.equal(sample(text, 'switchboard_agents{status="away"}'), 1);
    assert.equal(sample(text, 'switchboard_agents{status="offline"}'), 2);
    assert.ok((sample(text, 'switchboard_events_total{type="conversation.created"}') ?? 0) >= 3);
    assert.ok((sample(text, 'switchboard_assignments_total') ?? 0) >= 2);
    assert.match(text, /^switchboard_process_/m, 'process metrics too');
  });

  it('GET /metrics reports the longest queue wait on the application clock, as GET /queue does', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const waiting = await k.open(admin.token);
    assert.equal(waiting.state, 'queued');
    k.clock.advance(90_000);
    const [entry] = (await k.call('GET', '/api/v1/queue', { token: admin.token })).json();
    assert.equal(entry.waiting_seconds, 90);
    const longest = sample((await k.call('GET', '/metrics')).body, 'switchboard_queue_longest_wait_seconds');
    assert.ok(longest !== undefined && Math.abs(longest - 90) <= 1, `switchboard_queue_longest_wait_seconds is ${longest}, GET /queue says 90`);
  });

  it('GET /docs/json is an OpenAPI document listing every core route with its methods and bearer security', async () => {
    const res = await k.call('GET', '/docs/json');
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.match(doc.openapi, /^3\./);
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
    for (const [path, methods] of Object.entries(CORE_ROUTES)) {
      assert.ok(doc.paths[path], `${path} is documented`);
      assert.deepEqual(Object.keys(doc.paths[path]).filter((m) => m !== 'parameters').sort(), methods, `methods of ${path}`);
    }
    assert.deepEqual(doc.paths['/api/v1/auth/login'].post.security, [], 'login needs no token');
    const transfer = doc.paths['/api/v1/conversations/{id}/transfer'].post;
    assert.ok(transfer.parameters.some((p: { name: string; in: string }) => p.name === 'id' && p.in === 'path'));
    assert.ok(transfer.requestBody, 'the transfer body is documented');
    for (const status of ['200', '400', '401', '403', '404', '409']) assert.ok(transfer.responses[status], `transfer documents ${status}`);
  });

  it('GET /docs serves the interactive documentation', async () => {
    const res = await k.call('GET', '/docs');
    assert.ok([200, 302].includes(res.statusCode), `${res.statusCode}`);
    const page = res.statusCode === 302 ? await k.call('GET', String(res.headers.location).startsWith('/') ? String(res.headers.location) : `/docs/${res.headers.location}`) : res;
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger/i);
  });
});

describeEachStore('api: metrics behind METRICS_TOKEN', (store) => {
  const token = 'scrape-7f3c1a9e5b2d4c68';
  const k = kitFor(store, { before, after, env: () => ({ METRICS_TOKEN: token }) });
  beforeEach(() => store().reset());

  it('a stranger gets 401 with a Bearer challenge and no figures; Prometheus with the token gets the metrics', async () => {
    const { admin } = await k.cast({ agentCapacity: 1 });
    await k.open(admin.token);
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer scrape-7f3c1a9e5b2d4c6' }, { authorization: `Bearer ${token}x` }, { authorization: `Basic ${token}` }]) {
      const res = await k.call('GET', '/metrics', { headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"');
      assert.equal(res.json().error.code, 'SB_UNAUTHORIZED');
      assert.match(res.json().error.message, /METRICS_TOKEN/);
      assert.doesNotMatch(res.body, /switchboard_/);
    }
    // an agent's token is not the scrape token either
    assert.equal((await k.call('GET', '/metrics', { token: admin.token })).statusCode, 401);
    const res = await k.call('GET', '/metrics', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(sample(res.body, 'switchboard_conversations_assigned'), 1);
    // the health check stays open for load balancers
    assert.equal((await k.call('GET', '/healthz')).statusCode, 200);
  });
});
