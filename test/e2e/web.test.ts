import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { browserServer, haveChromium, holdNextAnswer, noteMissingChromium, shoot, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The web apps in a real browser: Debian's Chromium (installed by .ci/run)
// driven by playwright-core. A customer on the widget demo page and an agent
// in the console chat through a real server.

// npm test (scripts/test.mjs) builds the apps before any test file runs.
// SAVE_SCREENSHOTS=1 refreshes docs/screenshots/ from the chat test.
noteMissingChromium('test/e2e/web.test.ts');

describeEachStore('web apps in a real browser', (store) => {
  // the customers' statistics service (STATISTICS_BASE_ENDPOINT): one good answer, one that is not the contract
  let statistics: Server;

  before(async () => {
    if (!haveChromium) return;
    statistics = createServer((req, res) => {
      const good = req.url!.startsWith('/chimpassist/stats-good/statistics?');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          good
            ? [
                { label: 'Unresolved tickets', value: '3' },
                { label: 'Last orders', value: [{ url: 'https://shop.example/orders/77', label: 'Order 77' }] },
                { label: 'Spend', value: [{ x: 'Mon', y: 3 }, { x: 'Tue', y: 9 }, { x: 'Wed', y: 4 }] },
              ]
            : { tickets: 3 },
        ),
      );
    });
    await new Promise<void>((resolve) => statistics.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    if (statistics) await new Promise((resolve) => statistics.close(resolve));
  });
  const IDENTITY_SECRET = 'web-test-identity-secret';
  const suite = browserServer(store, () => ({ STATISTICS_BASE_ENDPOINT: `http://127.0.0.1:${(statistics.address() as AddressInfo).port}`, WIDGET_IDENTITY_SECRET: IDENTITY_SECRET }));

  const openPage = (viewport?: { width: number; height: number }) => suite.openPage(viewport);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('serves the console, the widget loader and hashed assets with the right cache headers, and never the console for API paths', { skip: !haveChromium }, async () => {
    const index = await fetch(`${suite.server.url}/conversations/123`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    const asset = /src="(\/assets\/console-[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, html);
    const hashed = await fetch(`${suite.server.url}${asset}`);
    assert.equal(hashed.status, 200);
    assert.match(hashed.headers.get('cache-control') ?? '', /max-age=31536000, immutable/);
    const loader = await fetch(`${suite.server.url}/widget.js`);
    assert.equal(loader.headers.get('cache-control'), 'no-cache');
    assert.match(loader.headers.get('content-type') ?? '', /javascript/);
    for (const path of ['/api/v1/nothing', '/session/x', '/assets/nothing.js', '/metrics/x']) {
      const response = await fetch(`${suite.server.url}${path}`);
      assert.equal(response.status, 404, path);
      assert.match(response.headers.get('content-type') ?? '', /json/, path);
    }
  });

  it('a customer on the widget waits in line, is served, chats with the agent in the console (as text only), and sees the chat end', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Grace' });
    // the agent's only slot is taken by another chat
    const first = await http('POST', '/session', { customer: { id: 'first', name: 'First Customer', email: 'first@example.test' } });
    assert.equal(first.status, 201);
    assert.equal(first.body.state, 'assigned');

    // the agent logs in to the console
    const { page: desk, problems: deskProblems } = await openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByTestId('tab-mine').filter({ hasText: 'Mine (1)' }).waitFor();

    // a customer opens the widget on the demo page (phone width) and starts a chat
    const { page: shop, problems: shopProblems } = await openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace');
    await widget.getByTestId('queue').filter({ hasText: 'You are number 1 in line' }).waitFor();
    await shoot(shop, 'widget-queued');

    // the agent sees her waiting, then resolves the first chat: she gets the agent
    await desk.getByTestId('tab-waiting').filter({ hasText: 'Waiting (1)' }).click();
    await desk.getByTestId('waiting').getByText('Ada Lovelace').waitFor();
    await shoot(desk, 'console-waiting');
    await desk.getByTestId('tab-mine').click();
    await desk.getByRole('link', { name: /First Customer/ }).click();
    await desk.getByRole('button', { name: 'Resolve' }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();

    // messages both ways
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    await widget.getByLabel('Your message').fill('Hello, my order is late');
    await widget.getByLabel('Your message').press('Enter');
    await desk.getByTestId('message').filter({ hasText: 'Hello, my order is late' }).waitFor();
    // the send's own answer reaches the desk late, after the customer has read the message
    const sent = await holdNextAnswer(desk, /\/api\/v1\/conversations\/[^/]+\/messages$/, 'POST');
    await desk.getByLabel('Reply').fill('Let me check');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    await sent.asked;
    await widget.getByTestId('message').filter({ hasText: 'Let me check' }).waitFor();
    // the customer saw it: the agent's message is ticked read, and stays so when the send's answer (unread then) arrives
    const checking = desk.getByTestId('message').filter({ hasText: 'Let me check' });
    await checking.getByTestId('read').waitFor();
    await sent.release();
    assert.equal(await checking.getByTestId('read').count(), 1, 'a late answer does not take the read tick back');
    // and the agent saw hers
    await widget.getByTestId('message').filter({ hasText: 'Hello, my order is late' }).getByText('Read').waitFor();
    // a link as an attachment, with no text: the customer gets it as a link
    await desk.getByRole('button', { name: 'Attach link' }).click();
    await desk.getByLabel('Link to send').fill('https://shop.example/track/77');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    const tracking = widget.getByRole('link', { name: /shop\.example\/track\/77/ });
    await tracking.waitFor();
    assert.equal(await tracking.getAttribute('href'), 'https://shop.example/track/77');
    assert.equal(await desk.getByLabel('Link to send').count(), 0);
    // before the markup test below: the pictures show a chat as customers have it
    await shoot(desk, 'console-chat');
    await shoot(shop, 'widget-chat');

    // markup is text, on both sides
    const attack = '<img src=x onerror=alert(1)>';
    await widget.getByLabel('Your message').fill(attack);
    await widget.getByRole('button', { name: 'Send' }).click();
    await desk.getByTestId('message').filter({ hasText: attack }).waitFor();
    await widget.getByTestId('message').filter({ hasText: attack }).waitFor();
    assert.equal(await desk.locator('.log img').count(), 0);
    assert.equal(await widget.locator('.log img').count(), 0);

    // a reload resumes the session with its history
    await shop.reload();
    await widget.getByTestId('message').filter({ hasText: 'Let me check' }).waitFor();
    await widget.getByTestId('agent').waitFor();

    // the agent resolves with a note; the customer is told
    await desk.getByLabel('Resolution note').fill('late parcel, refunded');
    await desk.getByRole('button', { name: 'Resolve' }).click();
    await widget.getByTestId('ended').filter({ hasText: 'The chat has ended' }).waitFor();
    await desk.getByText('Closed (resolved by an agent): late parcel, refunded').waitFor();
    await shoot(shop, 'widget-ended');

    assert.deepEqual(deskProblems, []);
    assert.deepEqual(shopProblems, []);
  });

  it("shows the customer's statistics (text, links, a sparkline), a note when the service answers something else, and sends an external message", { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Stats' });
    for (const [id, name] of [['stats-good', 'Good Stats'], ['stats-bad', 'Bad Stats']]) {
      // statistics are shown for verified customers: the host site signed these ids
      const chat = await http('POST', '/session', { customer: { id, name, hash: createHmac('sha256', IDENTITY_SECRET).update(id!).digest('hex') } });
      assert.equal(chat.body.state, 'assigned');
    }
    const { page, problems } = await openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.getByRole('link', { name: /Good Stats/ }).click();
    const day = page.getByTestId('stats-last_24_hours');
    await day.getByText('Unresolved tickets').waitFor();
    assert.equal(await day.locator('dd').first().textContent(), '3');
    assert.equal(await day.getByRole('link', { name: 'Order 77' }).getAttribute('href'), 'https://shop.example/orders/77');
    await day.getByRole('img', { name: 'Spend: Mon 3, Tue 9, Wed 4' }).waitFor();
    await page.getByTestId('stats-last_7_days').getByText('Unresolved tickets').waitFor();

    await page.getByLabel('External message').fill('Your parcel left the warehouse');
    await page.getByRole('button', { name: 'Send external message' }).click();
    await page.getByTestId('external-outcome').filter({ hasText: 'Handed to the integrations' }).waitFor();
    await shoot(page, 'console-customer-panel');

    await page.getByRole('link', { name: /Bad Stats/ }).click();
    await page.getByTestId('stats-last_24_hours').getByText(/Statistics unavailable: the statistics service answered something that is not a list of \{label, value\}/).waitFor();
    assert.deepEqual(problems, []);
  });

  it("keeps the newer lists when the desk's first read answers after a re-read a live event started", { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Lin' });
    const { page, problems } = await openPage();
    // the first read of the agent's own list, made as the desk appears, is slow
    const first = await holdNextAnswer(page, /\/api\/v1\/conversations\?state=assigned&/);
    await signIn(page, suite.server.url, agent.email);
    await first.asked;
    // a conversation assigned meanwhile: its live event makes the desk read again, and that answer comes first
    const chat = await http('POST', '/session', { customer: { id: 'newer', name: 'Newer Customer' } });
    assert.equal(chat.body.state, 'assigned');
    const mine = page.getByTestId('tab-mine');
    await mine.filter({ hasText: 'Mine (1)' }).waitFor();
    await first.release();
    assert.equal(await mine.textContent(), 'Mine (1)');
    await page.getByTestId('list-mine').getByRole('link', { name: /Newer Customer/ }).waitFor();
    // the header's load comes with the event's re-read, which may answer after the list shows the
    // conversation: waited for, not read at once; the held first read (load 0) must not put it back
    await page.getByText('Lin · 1/2').waitFor({ timeout: 5_000 });
    assert.equal(await page.getByText('Lin · 1/2').count(), 1);
    assert.deepEqual(problems, []);
  });

  it('reads the open chat once on coming back to the desk from the dashboard, and still follows it live', { skip: !haveChromium }, async () => {
    const supervisor = await makeAgent(suite.server.ctx, { role: 'supervisor', name: 'Sue' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Ann' });
    const chat = await http('POST', '/session', { customer: { id: 'returning', name: 'Desk Customer' } });
    assert.equal(chat.body.state, 'assigned');
    const id = chat.body.sessionId as string;

    const { page, problems } = await openPage();
    await signIn(page, suite.server.url, supervisor.email);
    await page.getByTestId('tab-all').click();
    await page.getByRole('link', { name: /Desk Customer/ }).click();
    const state = page.getByTestId('conversation-state');
    await state.filter({ hasText: 'assigned' }).waitFor();
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();

    const reads: string[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path.startsWith(`/api/v1/conversations/${id}`)) reads.push(path);
    });
    // the desk's lists are re-read on the way back (stale meanwhile); a supervisor's read ends with all conversations
    const listsRead = page.waitForEvent('requestfinished', { predicate: (request) => request.url().endsWith('/api/v1/conversations?limit=100') });
    await page.goBack();
    await state.filter({ hasText: 'assigned' }).waitFor();
    await listsRead;
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
    assert.deepEqual(reads.sort(), [`/api/v1/conversations/${id}`, `/api/v1/conversations/${id}/messages`]);

    // resolved elsewhere: the chat hears of it
    const token = (await http('POST', '/api/v1/auth/login', { email: supervisor.email, password: PASSWORD })).body.token as string;
    assert.equal((await http('POST', `/api/v1/conversations/${id}/resolve`, {}, token)).status, 200);
    await state.filter({ hasText: 'resolved' }).waitFor();
    assert.deepEqual(problems, []);
  });

  it("does not open another agent's conversation", { skip: !haveChromium }, async () => {
    const mine = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Alan' });
    const chat = await http('POST', '/session', { customer: { id: 'theirs', name: 'Someone Else' } });
    assert.equal(chat.status, 201);
    const [held] = await suite.server.ctx.db.query<{ agent_id: string }>('select agent_id from conversations where id = $1', [chat.body.sessionId]);
    assert.equal(held!.agent_id, mine.id);
    const other = await makeAgent(suite.server.ctx, { status: 'away', capacity: 1, name: 'Barbara' });
    const { page, problems } = await openPage();
    await signIn(page, suite.server.url, other.email);
    await page.getByTestId('tab-mine').filter({ hasText: 'Mine (0)' }).waitFor();
    await page.goto(`${suite.server.url}/conversations/${chat.body.sessionId}`);
    await page.getByTestId('chat-forbidden').getByText('This conversation is not yours.').waitFor();
    assert.equal(await page.getByText('Someone Else').count(), 0);
    // the 403 of the refused read is the only console error
    assert.ok(problems.every((p) => /403/.test(p)), problems.join('\n'));
  });
});
