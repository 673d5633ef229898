import assert from 'node:assert/strict';
import { it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { browserServer, haveChromium, noteMissingChromium, signIn, valueOnceLoaded } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// The routing admin page in a real browser (#20): an admin picks a
// department its agents serve, switches it to offers with a shorter
// timeout, adds an overflow step and an SLA target, and the API then routes
// by them; an overflow to the department itself is shown at the overflow
// steps and nothing is saved.

noteMissingChromium('test/e2e/routing-admin.test.ts');

describeEachStore('routing settings in a real browser', (store) => {
  const suite = browserServer(store);
  const get = async (token: string, department: string) => {
    const res = await fetch(`${suite.server.url}/api/v1/departments/${department}/routing`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  };

  it('an admin sets a department to offers with overflow and an SLA; a bad step is shown and nothing is saved', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    await makeAgent(suite.server.ctx, { departments: ['sales'], name: 'Sam' });
    await makeAgent(suite.server.ctx, { departments: ['support'], name: 'Sue' });
    const token = (await issueToken(suite.server.db, admin.id, new Date(), 3600)).token;
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, admin.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Routing' }).click();
    await page.getByRole('heading', { name: 'Routing' }).waitFor();

    // the first department an agent serves is shown, with the defaults
    assert.equal(await valueOnceLoaded(page.getByLabel('Department', { exact: true }), 'sales'), 'sales');
    const form = page.getByRole('form', { name: 'Routing of sales' });
    assert.equal(await valueOnceLoaded(form.getByLabel('Mode'), 'auto'), 'auto');

    await form.getByLabel('Mode').selectOption('offer');
    await form.getByLabel('Seconds to accept an offer').fill('20');
    await form.getByLabel('First response target (s)').fill('120');
    await form.getByLabel('Required skills').fill('spanish:2, billing');
    await form.getByRole('button', { name: 'Add overflow step' }).click();
    await form.getByLabel('After (s)', { exact: true }).fill('90');
    await form.getByLabel('Also to', { exact: true }).fill('sales');
    await form.getByRole('button', { name: 'Save routing' }).click();
    await form.getByRole('alert').filter({ hasText: 'must name another department' }).waitFor();
    assert.equal((await get(token, 'sales')).mode, 'auto', 'nothing saved');

    await form.getByLabel('Also to', { exact: true }).fill('support');
    await form.getByRole('button', { name: 'Save routing' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const saved = await get(token, 'sales');
    assert.equal(saved.mode, 'offer');
    assert.equal(saved.offer_timeout_s, 20);
    assert.equal(saved.sla_first_response_s, 120);
    assert.deepEqual(saved.required_skills, { spanish: 2, billing: 1 });
    assert.deepEqual(saved.overflow, [{ after_s: 90, to: 'support' }]);
    assert.equal((await get(token, 'support')).mode, 'auto', 'another department is untouched');

    // after a reload the page shows what is saved
    await page.reload();
    const again = page.getByRole('form', { name: 'Routing of sales' });
    await again.waitFor();
    assert.equal(await valueOnceLoaded(again.getByLabel('Mode'), 'offer'), 'offer');
    assert.equal(await valueOnceLoaded(again.getByLabel('Also to', { exact: true }), 'support'), 'support');
    assert.equal(await valueOnceLoaded(again.getByLabel('Required skills'), 'billing:1, spanish:2'), 'billing:1, spanish:2', 'skills in alphabetical order');
    assert.deepEqual(problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });
});
