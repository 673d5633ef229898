import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { buildApp, type App } from '../../src/http/app.js';
import { loadRealtimeConfig } from '../../src/realtime/config.js';
import { createRealtime, type Realtime } from '../../src/realtime/index.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// An admin's change to an agent closes that agent's MQTT connections at once,
// by the agent.* events' revalidateAgent: here with no periodic re-check
// (tokenRecheckMs 0), with the process's token cache on, as a server runs.
// The re-check read the cache before the change had cleared it, and the
// connection stayed until the periodic re-check (5 s): a deleted agent kept
// their inbox, a demoted supervisor every conversation's notes.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Whether `check` holds within `ms`. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (check()) return true;
  return check();
}

describeEachStore("an admin's change to an agent closes their MQTT connections at once", (store) => {
  let app: App;
  let realtime: Realtime;
  let url = '';
  const clients: TestMqttClient[] = [];
  beforeEach(async () => {
    await store().reset();
    let rt: Realtime | undefined;
    const metrics = createMetrics(store().db, () => new Date());
    const ctx: Ctx = { db: store().db, now: () => new Date(), onCommitted: (events) => (metrics.observe(events), rt?.onCommitted(events)) };
    rt = realtime = await createRealtime({ ctx, config: loadRealtimeConfig({ MQTT_TCP_PORT: '0' }), sessionTtlSeconds: 3600, onError: () => undefined, sweepIntervalMs: 0, tokenRecheckMs: 0 });
    const config = { ...loadConfig({}), tokenTtlSeconds: 3600, logLevel: 'silent' as const };
    app = await buildApp({ ctx, config, metrics, realtime: rt, tokenCache: true });
    await app.ready();
    await sleep(300); // the token cache starts listening
    url = `mqtt://127.0.0.1:${(rt.broker as { tcpAddress?: { port: number } }).tcpAddress!.port}`;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await app.close();
    await realtime.close();
  });
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, token: string, body?: unknown) => {
    const res = await app.inject({ method, url: path, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { payload: body as object } : {}) });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
  };
  const user = async (role: 'admin' | 'supervisor' | 'agent') => {
    const agent = await makeAgent({ db: store().db, now: () => new Date() }, { role });
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: agent.email, password: PASSWORD } });
    assert.equal(res.statusCode, 200);
    return { agent, token: JSON.parse(res.body).token as string };
  };
  const mqtt = async (token: string) => {
    const c = await connectMqtt(url, token);
    clients.push(c);
    await sleep(300); // notices of earlier changes heard
    assert.equal((await call('GET', '/api/v1/agents/me', token)).status, 200); // the token is in the cache, as in any console session
    return c;
  };

  it('closes a deleted agent’s connection', async () => {
    const admin = await user('admin');
    const victim = await user('agent');
    const c = await mqtt(victim.token);
    assert.deepEqual(await c.subscribe(`switchboard/agents/${victim.agent.id}/events`), [1]);
    assert.equal((await call('DELETE', `/api/v1/agents/${victim.agent.id}`, admin.token)).status, 204);
    assert.ok(await within(3_000, () => !c.client.connected), 'the deleted agent is still connected to the embedded broker');
  });

  it('a demoted supervisor no longer receives every conversation’s notes on events/conversations', async () => {
    const admin = await user('admin');
    const sup = await user('supervisor');
    const c = await mqtt(sup.token);
    assert.deepEqual(await c.subscribe('switchboard/events/conversations'), [1]);
    const demoted = await call('PATCH', `/api/v1/agents/${sup.agent.id}`, admin.token, { role: 'agent' });
    assert.equal(demoted.status, 200);
    const conv = await call('POST', '/api/v1/conversations', admin.token, { customer: { id: 'c1' } });
    assert.equal(conv.status, 201, JSON.stringify(conv.body));
    assert.equal((await call('POST', `/api/v1/conversations/${conv.body.id}/notes`, admin.token, { text: 'secret note' })).status, 201);
    await sleep(800);
    const leaked = c.received.filter((r) => JSON.stringify(r.payload ?? '').includes('secret note'));
    assert.equal(leaked.length, 0, `a demoted agent received the note: ${JSON.stringify(leaked)}`);
  });

  it('closes the connection of an agent whose password was changed', async () => {
    const admin = await user('admin');
    const victim = await user('agent');
    const c = await mqtt(victim.token);
    assert.equal((await call('PATCH', `/api/v1/agents/${victim.agent.id}`, admin.token, { password: 'a brand new secret' })).status, 200);
    assert.ok(await within(3_000, () => !c.client.connected), 'still connected after a password change revoked its token');
  });
});
