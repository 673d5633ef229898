import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { PASSWORD } from '../helpers/fixtures.js';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The pre-chat form end to end in Chromium (issue #18, item 5): an admin
// defines it in the console (a refused definition is shown at its field), a
// customer on a shop page fills it in the widget (an invalid email is caught
// at the field, and nothing is sent), and the agent reads the answers in the
// customer panel.

noteMissingChromium('test/e2e/prechat.test.ts');

describeEachStore('pre-chat form in a real browser', (store) => {
  let host: Server;
  let switchboardUrl = '';
  before(async () => {
    if (!haveChromium) return;
    // the shop: another origin, whose signed-in customer's name the embed passes on
    host = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Shop</title></head>
        <body><h1>Shop</h1><script src="${switchboardUrl}/widget.js" data-title="Chat with us" data-customer-name="Ada Lovelace"></script></body></html>`);
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    if (host) await new Promise((resolve) => host.close(resolve));
  });
  const hostUrl = () => `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('an admin defines the form, a customer fills it in the widget (a bad email stopped at its field), the agent reads the answers', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace', departments: ['sales'] });

    // 1. the admin builds the form: name, a required email, a required custom choice
    const { page: console_, problems: adminProblems } = await suite.openPage();
    await signIn(console_, suite.server.url, admin.email);
    await console_.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Pre-chat form' }).click();
    assert.equal(new URL(console_.url()).pathname, '/admin/prechat');
    await console_.getByText('No fields yet.').waitFor();
    const rows = console_.getByTestId('prechat-field');
    const fill = async (i: number, key: string, label: string, type: string, required: boolean) => {
      await console_.getByRole('button', { name: 'Add field' }).click();
      const row = rows.nth(i);
      await row.getByLabel('Key').fill(key);
      await row.getByLabel('Label', { exact: true }).fill(label);
      await row.getByLabel('Type').selectOption(type);
      if (required) await row.getByLabel('Required').check();
      return row;
    };
    await fill(0, 'name', 'Your name', 'text', false);
    await fill(1, 'email', 'Email', 'email', true);
    const plan = await fill(2, 'plan', 'Plan', 'select', true);
    // a length that is no number is refused at its field, not saved as no limit at all
    const nameLength = rows.nth(0).getByLabel('Max length');
    await nameLength.fill('20 chars');
    await console_.getByRole('button', { name: 'Save form' }).click();
    await rows.nth(0).getByRole('alert').filter({ hasText: 'fields.0.max_length must be of type integer' }).waitFor();
    assert.equal(await nameLength.getAttribute('aria-invalid'), 'true');
    assert.deepEqual((await http('GET', '/api/v1/prechat-form')).body, { fields: [] }, 'nothing saved');
    await nameLength.fill('');
    // a choice field without choices is refused, next to its choices
    await console_.getByRole('button', { name: 'Save form' }).click();
    const choices = plan.getByLabel('Choices, one per line');
    await plan.getByRole('alert').filter({ hasText: 'fields[2].options must list at least one choice' }).waitFor();
    assert.equal(await choices.getAttribute('aria-invalid'), 'true');
    assert.deepEqual((await http('GET', '/api/v1/prechat-form')).body, { fields: [] }, 'nothing saved');
    await choices.fill('Free\nGold');
    // reordered: the email first
    await console_.getByRole('button', { name: 'Move field 2 up' }).click();
    await console_.getByRole('button', { name: 'Save form' }).click();
    await console_.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const saved = (await http('GET', '/api/v1/prechat-form')).body as { fields: { key: string; type: string; required: boolean; options: string[] }[] };
    assert.deepEqual(
      saved.fields.map((f) => [f.key, f.type, f.required, f.options]),
      [
        ['email', 'email', true, []],
        ['name', 'text', false, []],
        ['plan', 'select', true, ['Free', 'Gold']],
      ],
    );

    // 2. the customer: name prefilled by the shop, an invalid email caught at its field, nothing sent
    switchboardUrl = suite.server.url;
    const { page: shop, problems: shopProblems } = await suite.openPage();
    const sessions: string[] = [];
    shop.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/session') sessions.push(request.url());
    });
    await shop.goto(`${hostUrl()}/shop`);
    await shop.getByRole('button', { name: 'Chat with us' }).click();
    const widget = shop.frameLocator('iframe[title="Chat with us"]');
    await widget.getByTestId('prechat').waitFor();
    assert.equal(await widget.getByLabel('Your name').inputValue(), 'Ada Lovelace');
    assert.equal(await widget.getByLabel('Email').getAttribute('aria-required'), 'true');
    await widget.getByLabel('Email').fill('ada@invalid');
    await widget.getByLabel('Plan').selectOption('Gold');
    await widget.getByRole('button', { name: 'Start chat' }).click();
    const emailError = widget.locator('#prechat-email-error');
    await emailError.waitFor();
    assert.equal(await emailError.getAttribute('role'), 'alert');
    assert.match((await emailError.textContent()) ?? '', /Email must be an email address/);
    const email = widget.getByLabel('Email');
    assert.equal(await email.getAttribute('aria-invalid'), 'true');
    assert.equal(await email.getAttribute('aria-describedby'), 'prechat-email-error');
    assert.equal(await email.evaluate((el) => el === document.activeElement), true, 'the field at fault has the focus');
    assert.deepEqual(sessions, [], 'no POST /session for an invalid answer');
    assert.equal((await suite.server.db.query('select id from conversations')).length, 0);

    await email.fill('ada@example.com');
    assert.equal(await emailError.count(), 0, 'the error goes once the answer changes');
    await widget.getByRole('button', { name: 'Start chat' }).click();
    await widget.getByTestId('agent').waitFor();
    assert.equal(sessions.length, 1);

    // 3. the agent sees the answers in the customer panel, under the form's labels
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    const panel = desk.getByRole('complementary', { name: 'Customer' });
    await panel.getByText('ada@example.com').waitFor();
    const planAnswer = panel.locator('[data-testid="customer-field"][data-key="plan"]');
    await planAnswer.getByText('Gold').waitFor();
    assert.equal(await planAnswer.locator('dt').textContent(), 'Plan');

    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    const [conversation] = (await http('GET', '/api/v1/conversations', undefined, token)).body as { customer: { name: string; email: string; fields: Record<string, string> } }[];
    assert.deepEqual([conversation!.customer.name, conversation!.customer.email, conversation!.customer.fields], ['Ada Lovelace', 'ada@example.com', { plan: 'Gold' }]);
    // the two refused saves (the length, the choices) are the browser's own reports
    assert.deepEqual(adminProblems, Array(2).fill('console: Failed to load resource: the server responded with a status of 400 (Bad Request)'));
    assert.deepEqual(shopProblems, []);
    assert.deepEqual(deskProblems, []);
  });

  it('shows a refusal the server still makes (the form changed after the widget read it) at the field, and keeps the answers', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace' });
    const token = (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
    const form = (options: string[]) => ({ fields: [{ key: 'email', label: 'Email', type: 'email', required: true }, { key: 'plan', label: 'Plan', type: 'select', required: true, options }] });
    assert.equal((await http('PUT', '/api/v1/prechat-form', form(['Free', 'Gold']), token)).status, 200);

    switchboardUrl = suite.server.url;
    const { page: shop, problems } = await suite.openPage();
    await shop.goto(`${hostUrl()}/shop`);
    await shop.getByRole('button', { name: 'Chat with us' }).click();
    const widget = shop.frameLocator('iframe[title="Chat with us"]');
    await widget.getByLabel('Email').fill('ada@example.com');
    await widget.getByLabel('Plan').selectOption('Gold');
    // meanwhile the admin withdraws Gold
    assert.equal((await http('PUT', '/api/v1/prechat-form', form(['Free']), token)).status, 200);
    await widget.getByRole('button', { name: 'Start chat' }).click();
    const planError = widget.locator('#prechat-plan-error');
    await planError.waitFor();
    assert.equal(await planError.textContent(), 'Plan must be one of: Free.');
    assert.equal(await widget.getByLabel('Plan').getAttribute('aria-invalid'), 'true');
    assert.equal(await widget.getByLabel('Email').inputValue(), 'ada@example.com', 'the answers are still there');
    assert.equal((await suite.server.db.query('select id from conversations')).length, 0);
    // the refused start was a 400 on purpose
    assert.deepEqual(problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });
});
