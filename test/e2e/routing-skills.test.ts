import assert from 'node:assert/strict';
import { it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// Skills in a real browser (#20 item 2, docs/routing.md#skills): an admin
// sets an agent's skills on the console's Agents page (a bad one is refused
// with the field named and nothing saved); a conversation that requires
// skills goes to that agent, whose desk shows what it requires.

noteMissingChromium('test/e2e/routing-skills.test.ts');

describeEachStore('skills in a real browser', (store) => {
  const suite = browserServer(store);
  const api = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${suite.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('an admin sets an agent’s skills in the console; the desk shows a conversation’s required skills', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    const token = (await issueToken(suite.server.db, admin.id, new Date(), 3600)).token;
    const rosa = await makeAgent(suite.server.ctx, { name: 'Rosa' });
    const bo = await makeAgent(suite.server.ctx, { name: 'Bo' });

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, admin.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Agents' }).click();
    const skills = page.getByLabel('Skills of Rosa');
    // a name the API refuses: the error names the field and nothing changes
    await skills.fill('Spanish:3');
    await skills.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'skills.Spanish' }).waitFor();
    assert.deepEqual((await api(token, 'GET', `/api/v1/agents/${rosa.id}`)).body.skills, {});

    await skills.fill('spanish:3, billing');
    await skills.press('Enter');
    // the list is read again after the change: the field shows the skills as stored, by name
    await page.locator('input[aria-label="Skills of Rosa"][value="billing:1, spanish:3"]').waitFor();
    assert.deepEqual((await api(token, 'GET', `/api/v1/agents/${rosa.id}`)).body.skills, { spanish: 3, billing: 1 });
    // what the page shows after a reload is what was stored
    await page.reload();
    assert.equal(await page.getByLabel('Skills of Rosa').inputValue(), 'billing:1, spanish:3');
    assert.equal(await page.getByLabel('Skills of Bo').inputValue(), '');

    // both online, Bo without Spanish: the conversation requiring it goes to Rosa
    for (const id of [bo.id, rosa.id]) assert.equal((await api(token, 'PATCH', `/api/v1/agents/${id}`, { status: 'online' })).status, 200);
    const opened = await api(token, 'POST', '/api/v1/conversations', { customer: { id: 'ana', name: 'Ana Customer' }, required_skills: { spanish: 2 } });
    assert.equal(opened.status, 201);
    assert.equal(opened.body.agent_id, rosa.id);
    assert.deepEqual(opened.body.required_skills, { spanish: 2 });

    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, rosa.email);
    await desk.getByRole('link', { name: /Ana Customer/ }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    assert.equal(await desk.getByTestId('required-skills').textContent(), 'spanish:2');

    assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
    assert.deepEqual(deskProblems, []);
  });
});
