// In login mode every Qiscus call needs a token. Found by review
// (2026-11-26): while the login failed, a call went out without one, got a
// 401, and a 401 is retried at once; during the login's 5 s cool-down every
// retry did the same, so a room's six assign_agent attempts went in
// milliseconds and the room was failed. Now an attempt without a token sends
// nothing and is retried on the schedule, no sooner than the next login.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createQiscusClient, QiscusError, type QiscusClient } from '../../src/channels/qiscus/client.js';
import { ASSIGN_MAX_ATTEMPTS, qiscusProducer, qiscusTransport } from '../../src/channels/qiscus/producer.js';
import type { OutboundRow } from '../../src/events/outbound/outbox.js';
import type { SendRequest } from '../../src/events/outbound/send.js';
import { startFakeQiscus } from '../helpers/fake-qiscus.js';

const assignAgent = 'https://multichannel.test/api/v1/admin/service/assign_agent';
const request: SendRequest = {
  url: assignAgent,
  method: 'POST',
  headers: {},
  body: Buffer.from('room_id=7&agent_id=3'),
  verifyTls: true,
  timeoutMs: 1_000,
  allowPrivate: true,
};

describe('Qiscus calls while the login fails', () => {
  const refusingLogin = () => {
    const logins = { count: 0 };
    const client = {
      api: { appId: 'app' },
      forgetToken() {},
      authHeaders: async () => {
        logins.count += 1;
        throw new QiscusError(503, 'Qiscus login as admin@example.test failed: HTTP 503');
      },
    } as unknown as QiscusClient;
    return { client, logins };
  };

  it('sends no call without a token, and tries the login again only after its cool-down', async () => {
    const { client, logins } = refusingLogin();
    const calls: SendRequest[] = [];
    const transport = qiscusTransport(client, async (sent) => (calls.push(sent), { status: 401, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 }));
    const first = await transport(request);
    assert.equal(first.status, null);
    assert.match(first.error ?? '', /^no call: Qiscus login as admin@example.test failed: HTTP 503/);
    assert.ok(first.retryAfterMs! > 4_000 && first.retryAfterMs! <= 5_000, `retry after ${first.retryAfterMs} ms`);
    const second = await transport(request);
    assert.equal(second.status, null);
    assert.match(second.error ?? '', /less than 5 s ago/);
    assert.equal(logins.count, 1, 'the login was tried again within its cool-down');
    assert.deepEqual(calls, [], 'a call went out without a token');
  });

  it("spreads an assign_agent's attempts over the schedule instead of spending them at once", async () => {
    const { client } = refusingLogin();
    const producer = qiscusProducer(client, 1_000, { onFreed() {}, random: () => 0.5 });
    const outcome = await producer.transport!(request);
    const startedAt = new Date('2026-11-26T12:00:00Z');
    const row = { id: 1, name: 'assign_agent', message_id: 'assign:00000000-0000-0000-0000-000000000001', attempts: 0, max_attempts: ASSIGN_MAX_ATTEMPTS } as OutboundRow;
    const next = producer.decide!(row, outcome, startedAt)!;
    assert.equal(next.outcome, 'retry');
    assert.ok(next.nextAttemptAt!.getTime() - startedAt.getTime() >= 4_000, `retried ${next.nextAttemptAt!.getTime() - startedAt.getTime()} ms later`);
  });

  it('forgets a token Qiscus answered 401 to as the attempt ends, so the retry at once logs in again', async () => {
    let forgotten = 0;
    const client = { api: { appId: 'app' }, forgetToken: () => void (forgotten += 1), authHeaders: async () => ({ 'qiscus-app-id': 'app', authorization: 'tok-1' }) } as unknown as QiscusClient;
    const transport = qiscusTransport(client, async () => ({ status: 401, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 }));
    assert.equal((await transport(request)).status, 401);
    assert.equal(forgotten, 1);
  });

  it('after a login that outlasts the attempt, the next attempts within the cool-down wait for no login', { timeout: 10_000 }, async () => {
    let logins = 0;
    const client = { api: { appId: 'app' }, forgetToken() {}, authHeaders: () => ((logins += 1), new Promise(() => {})) } as unknown as QiscusClient;
    const calls: SendRequest[] = [];
    const transport = qiscusTransport(client, async (sent) => (calls.push(sent), { status: 200, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 }));
    const first = await transport({ ...request, timeoutMs: 200 });
    assert.match(first.error ?? '', /^timeout: logging in to Qiscus/);
    const started = Date.now();
    const second = await transport({ ...request, timeoutMs: 200 });
    assert.ok(Date.now() - started < 100, 'the second attempt waited for a login');
    assert.match(second.error ?? '', /^no call: .*the login took over 200 ms/);
    assert.equal(logins, 1);
    assert.deepEqual(calls, []);
  });

  it('keeps a fresh token when a call sent with the one before it is answered 401 late', async () => {
    const fake = await startFakeQiscus();
    try {
      const client = createQiscusClient(
        { baseUrl: fake.url, appId: fake.appId, auth: { mode: 'login', email: fake.email, password: fake.password }, agentId: undefined },
        { timeoutMs: 5_000 },
      );
      const first = (await client.authHeaders()).authorization;
      fake.expireTokens();
      client.forgetToken(first);
      const fresh = (await client.authHeaders()).authorization;
      assert.notEqual(fresh, first);
      // a second call sent with the first token comes back 401 after the new login
      client.forgetToken(first);
      assert.equal((await client.authHeaders()).authorization, fresh);
      assert.equal(fake.requests.filter((r) => r.path === '/api/v1/auth').length, 2, 'logged in again for a token already replaced');
    } finally {
      await fake.close();
    }
  });
});
