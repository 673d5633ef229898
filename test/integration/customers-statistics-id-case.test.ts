// Path uuids are taken in lower case (src/http/app.ts), but only the
// parameters a route declares uuids: :customerId is an integrator's own,
// case-sensitive id, and one that looks like a uuid (a .NET or SQL Server
// GUID is often upper case) reaches the access check and the statistics
// service as it was given. Found by review: the holder was refused, and the
// service asked for another id.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

const CUSTOMER = '0B8A53F6-6F2A-4C9E-9A59-1F2F4F3B9D11';

describeEachStore('customer ids in the path, uuid-like', (store) => {
  const clock = fakeClock(Date.parse('2026-05-06T07:08:09Z'));
  let service: Server;
  const asked: string[] = [];
  let t: TestApp;
  before(async () => {
    service = createServer((req, res) => {
      asked.push(req.url!);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify([{ label: 'x', value: '1' }]));
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    t = await testApp(store(), { now: clock.now, env: { STATISTICS_BASE_ENDPOINT: `http://127.0.0.1:${(service.address() as AddressInfo).port}/stats/` } });
  });
  after(async () => {
    await t.close();
    service.closeAllConnections();
    await new Promise((r) => service.close(r));
  });
  const user = async (role: 'admin' | 'agent', status: 'online' | 'offline' = 'offline') => {
    const agent = await makeAgent(t.ctx, { role, status, capacity: 5 });
    return { agent, token: (await issueToken(store().db, agent.id, clock.now(), 3600)).token };
  };

  it('an upper-case customer id reaches the check and the statistics service as it was given', async () => {
    await store().reset();
    const admin = await user('admin');
    const alice = await user('agent', 'online');
    const open = await t.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: CUSTOMER } } });
    assert.equal(open.statusCode, 201, open.body);
    assert.equal(open.json().customer.id ?? open.json().customer_id, CUSTOMER);
    assert.equal(open.json().agent_id, alice.agent.id);
    const admins = await t.call('GET', `/api/v1/customers/${CUSTOMER}/statistics`, { token: admin.token });
    assert.equal(admins.statusCode, 200, admins.body);
    const holder = await t.call('GET', `/api/v1/customers/${CUSTOMER}/statistics`, { token: alice.token });
    assert.ok(asked.every((u) => u.includes(CUSTOMER)), `the service was asked for ${asked.join(', ')}`);
    assert.equal(holder.statusCode, 200, 'the agent who holds the customer’s conversation');
  });
});
