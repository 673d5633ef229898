import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('core API smoke', (store) => {
  let t: TestApp;
  before(async () => {
    t = await testApp(store());
  });
  after(() => t.close());

  it('opens a conversation through the API and assigns it to an online agent', async () => {
    const { token } = await t.user('admin');
    const { agent } = await t.user('agent', { status: 'online' });
    const res = await t.call('POST', '/api/v1/conversations', { token, body: { customer: { id: 'cust-1', name: 'Ada' } } });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().state, 'assigned');
    assert.equal(res.json().agent_id, agent.id);
    const resolved = await t.call('POST', `/api/v1/conversations/${res.json().id}/resolve`, { token });
    assert.equal(resolved.statusCode, 200, 'a resolve needs no body');
    assert.equal(resolved.json().state, 'resolved');
  });
});
