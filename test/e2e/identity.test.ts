import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import type { Page } from 'playwright-core';
import { SYSTEM } from '../../src/agents/model.js';
import { closeConversation } from '../../src/conversations/lifecycle.js';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// Widget identity verification in Chromium (issue #16): a host site on its
// own origin embeds the widget with or without data-customer-id and
// data-customer-hash; the visitor's id, and what the agent's console shows
// of the customer, follow.

noteMissingChromium('test/e2e/identity.test.ts');

const SECRET = 'e2e-widget-identity-secret';
const sign = (id: string) => createHmac('sha256', SECRET).update(id).digest('hex');
const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

describeEachStore('widget identity in a real browser', (store) => {
  // the host site (another origin) and the customers' statistics service
  let host: Server;
  let switchboardUrl = '';
  before(async () => {
    if (!haveChromium) return;
    host = createServer((req, res) => {
      const url = new URL(req.url!, 'http://host');
      if (url.pathname.startsWith('/chimpassist/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify([{ label: 'Unresolved tickets', value: '3' }]));
        return;
      }
      const id = url.searchParams.get('customer_id');
      const hash = url.searchParams.get('customer_hash');
      const attrs = `${id ? ` data-customer-id="${escape(id)}"` : ''}${hash ? ` data-customer-hash="${escape(hash)}"` : ''}`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Shop</title></head>
        <body><h1>Shop</h1><script src="${switchboardUrl}/widget.js" data-title="Chat with us"${attrs}></script></body></html>`);
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    if (host) await new Promise((resolve) => host.close(resolve));
  });
  const hostUrl = () => `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  const suite = browserServer(store, () => ({ WIDGET_IDENTITY_SECRET: SECRET, STATISTICS_BASE_ENDPOINT: hostUrl() }));
  const conversations = () =>
    suite.server.ctx.db.query<{ id: string; customer_id: string; customer_verified: boolean; state: string }>(
      'select id, customer_id, customer_verified, state from conversations order by seq',
    );

  /** The shop page with the widget open, the chat started under `name`. */
  async function startChat(page: Page, query: string, name: string) {
    switchboardUrl = suite.server.url;
    await page.goto(`${hostUrl()}/shop${query}`);
    await page.getByRole('button', { name: 'Chat with us' }).click();
    const widget = page.frameLocator('iframe[title="Chat with us"]');
    await widget.getByLabel('Name').fill(name);
    await widget.getByLabel('Email').fill(`${name.toLowerCase().replace(/\W+/g, '.')}@example.test`);
    await widget.getByRole('button', { name: 'Start chat' }).click();
    await widget.getByTestId('agent').waitFor();
    return widget;
  }

  it('gives an anonymous visitor a random id, kept across reloads, and marks the chat unverified', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace' });
    const { page, problems } = await suite.openPage();
    const widget = await startChat(page, '', 'Visitor One');
    const [first] = await conversations();
    assert.match(first!.customer_id, /^web-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a crypto.randomUUID visitor id');
    assert.equal(first!.customer_verified, false);

    // the chat ends; after a reload the same browser starts a new chat as the same visitor
    await widget.getByRole('button', { name: 'End chat' }).click();
    await widget.getByTestId('ended').waitFor();
    await page.reload();
    const again = page.frameLocator('iframe[title="Chat with us"]');
    await again.getByRole('button', { name: 'Start chat' }).click();
    await again.getByTestId('agent').waitFor();
    const rows = await conversations();
    assert.equal(rows.length, 2);
    assert.equal(rows[1]!.customer_id, first!.customer_id, 'the visitor id survived the reload');
    assert.equal(rows[1]!.customer_verified, false);

    // another browser is another visitor
    const { page: other } = await suite.openPage();
    await startChat(other, '', 'Visitor Two');
    const third = (await conversations())[2]!;
    assert.notEqual(third.customer_id, first!.customer_id);
    assert.deepEqual(problems, []);
  });

  it("does not resume a signed-in customer's chat on the same browser once the host page is signed out", { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace' });
    const { page, problems } = await suite.openPage();
    // the window's open or closed state is kept for the tab: open it only when it is not
    const openWindow = async () => {
      await page.getByRole('button', { name: /^(Chat with us|Close chat)$/ }).waitFor();
      if ((await page.getByRole('button', { name: 'Chat with us' }).count()) > 0) await page.getByRole('button', { name: 'Chat with us' }).click();
      return page.frameLocator('iframe[title="Chat with us"]');
    };
    const signedIn = await startChat(page, `?customer_id=member-7&customer_hash=${sign('member-7')}`, 'Member Seven');
    await signedIn.getByLabel('Your message').fill('my card ends in 4242');
    await signedIn.getByLabel('Your message').press('Enter');
    await signedIn.getByTestId('message').filter({ hasText: 'my card ends in 4242' }).waitFor();

    // signed in still: a reload resumes the verified chat
    await page.reload();
    const resumed = await openWindow();
    await resumed.getByTestId('message').filter({ hasText: 'my card ends in 4242' }).waitFor();

    // signed out (the embed carries no id now): the next person at this browser starts afresh, as the anonymous visitor
    await page.goto(`${hostUrl()}/shop`);
    let anonymous = await openWindow();
    await anonymous.getByRole('button', { name: 'Start chat' }).waitFor();
    assert.equal(await anonymous.getByTestId('message').count(), 0);

    // signed in again on the next page: the member's chat goes on
    await page.goto(`${hostUrl()}/shop?customer_id=member-7&customer_hash=${sign('member-7')}`);
    await (await openWindow()).getByTestId('message').filter({ hasText: 'my card ends in 4242' }).waitFor();
    await page.goto(`${hostUrl()}/shop`);
    anonymous = await openWindow();
    await anonymous.getByRole('button', { name: 'Start chat' }).waitFor();
    // nor is the member's name and email offered to them
    assert.equal(await anonymous.getByLabel('Name').inputValue(), '');
    assert.equal(await anonymous.getByLabel('Email').inputValue(), '');
    await anonymous.getByLabel('Name').fill('Someone Else');
    await anonymous.getByLabel('Email').fill('someone.else@example.test');
    await anonymous.getByRole('button', { name: 'Start chat' }).click();
    await anonymous.getByTestId('agent').waitFor();
    assert.equal(await anonymous.getByText('my card ends in 4242').count(), 0);
    const rows = await conversations();
    assert.deepEqual(
      rows.map((c) => [c.customer_id.startsWith('web-') ? 'web-…' : c.customer_id, c.customer_verified, c.state]),
      [
        ['member-7', true, 'assigned'],
        ['web-…', false, 'assigned'],
      ],
    );
    assert.deepEqual(problems, []);
  });

  it('shows a signed embed as verified with its history and statistics, and an unsigned claim of the same id as unverified with none', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace' });
    // the real victim-42 chatted before, with their email
    const past = await httpJson(suite.server.url, 'POST', '/session', { customer: { id: 'victim-42', name: 'Victim Before', email: 'victim@example.test', hash: sign('victim-42') } });
    assert.equal(past.status, 201);
    await closeConversation(suite.server.ctx, past.body.sessionId, { reason: 'agent', note: 'earlier order' }, SYSTEM);

    // signed in on the shop: the embed carries the id and its hash
    const { page: shop, problems: shopProblems } = await suite.openPage();
    await startChat(shop, `?customer_id=victim-42&customer_hash=${sign('victim-42')}`, 'Real Victim');
    // someone else types the same id, without a hash
    const { page: fake } = await suite.openPage();
    await startChat(fake, '?customer_id=victim-42', 'Attacker');
    assert.deepEqual(
      (await conversations()).map((c) => [c.customer_id, c.customer_verified]),
      [['victim-42', true], ['victim-42', true], ['victim-42', false]],
    );

    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Real Victim/ }).click();
    await desk.getByTestId('identity').filter({ hasText: 'Verified' }).waitFor();
    await desk.getByTestId('past-conversations').getByText(/victim@example\.test — earlier order/).waitFor();
    await desk.getByTestId('stats-last_24_hours').getByText('Unresolved tickets').waitFor();
    assert.equal(await desk.getByTestId('unverified-note').count(), 0);

    await desk.getByRole('link', { name: /Attacker/ }).click();
    await desk.getByTestId('identity').filter({ hasText: 'Unverified' }).waitFor();
    await desk.getByTestId('unverified-note').getByText(/your site did not sign this customer id.*Past conversations, contact details from earlier chats and statistics are not shown/).waitFor();
    assert.equal(await desk.getByTestId('past-conversations').count(), 0);
    assert.equal(await desk.getByTestId('statistics').count(), 0);
    assert.equal(await desk.getByText('victim@example.test').count(), 0);

    // an agent opening a conversation through the API vouches for nobody: no site signature is missing, the channel vouches for nothing
    const login = await httpJson(suite.server.url, 'POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const opened = await httpJson(suite.server.url, 'POST', '/api/v1/conversations', { customer: { id: 'victim-42', name: 'Api Caller' } }, login.body.token);
    assert.equal(opened.status, 201);
    assert.equal(opened.body.customer_verified, false);
    await desk.getByRole('link', { name: /Api Caller/ }).click();
    await desk.getByTestId('unverified-note').getByText(/the channel this conversation came through does not vouch for this customer id/).waitFor();
    assert.equal(await desk.getByTestId('past-conversations').count(), 0);
    assert.deepEqual(shopProblems, []);
    assert.deepEqual(deskProblems, []);
  });
});
