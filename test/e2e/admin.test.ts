import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { AgentRow } from '../../src/agents/model.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { SUBSCRIBABLE_EVENTS } from '../../src/events/webhooks/catalog.js';
import { browserServer, haveChromium, holdNextAnswer, noteMissingChromium, shoot, signIn, startWidgetChat, valueOnceLoaded } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The console's admin pages, transfers by a plain agent and the Customers
// tab, in Debian's Chromium driven by playwright-core (as test/e2e/web.test.ts).

// SAVE_SCREENSHOTS=1 refreshes docs/screenshots/console-admin-webhooks.png and console-customers.png.
noteMissingChromium('test/e2e/admin.test.ts');

describeEachStore('console admin pages, transfers and customers in a real browser', (store) => {
  // a webhook receiver on this machine
  let receiver: Server;
  const received: { path: string; body: Record<string, unknown> }[] = [];

  before(async () => {
    if (!haveChromium) return;
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ path: req.url!, body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    if (receiver) await new Promise((resolve) => receiver.close(resolve));
  });
  const suite = browserServer(store, () => ({ ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true', WEBHOOK_POLL_INTERVAL: '100' }));
  beforeEach(() => {
    received.length = 0;
  });

  // confirmation dialogs are accepted and recorded (an unexpected one fails the test)
  const openPage = (viewport?: { width: number; height: number }) => suite.openPage(viewport, { acceptConfirms: true });
  const logIn = async (page: Page, email: string) => {
    await signIn(page, suite.server.url, email);
    await page.getByTestId('tab-mine').waitFor();
  };
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
  // (each test starts from an empty store: the admin of the first start is gone too)
  let admin: AgentRow;
  beforeEach(async () => {
    if (haveChromium) admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
  });
  const adminToken = async () => (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;

  it('an admin changes max customers (a bad value is refused next to the field), edits an agent’s departments', { skip: !haveChromium }, async () => {
    const grace = await makeAgent(suite.server.ctx, { name: 'Grace', departments: ['sales'] });
    // a Qiscus agent's mirror, as the Qiscus allocator makes it
    const ana = await makeAgent(suite.server.ctx, { name: 'Ana' });
    await suite.server.ctx.db.query(`update agents set source = 'qiscus', external_ref = '7', departments = '{@qiscus}' where id = $1`, [ana.id]);
    const { page, problems } = await openPage();
    await logIn(page, admin.email);

    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Settings' }).click();
    assert.equal(new URL(page.url()).pathname, '/admin/settings');
    const max = page.getByLabel('Max customers per agent');
    await max.fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    const error = page.locator('#settings-max_customers-error');
    await error.waitFor();
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.match((await error.textContent()) ?? '', /max_customers/);
    assert.equal(await max.getAttribute('aria-invalid'), 'true');
    assert.equal((await http('GET', '/api/v1/settings', undefined, await adminToken())).body.max_customers, 2);

    await max.fill('4');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal(await error.count(), 0);
    assert.equal((await http('GET', '/api/v1/settings', undefined, await adminToken())).body.max_customers, 4);

    // departments are edited in the agents table
    await page.getByRole('link', { name: 'Agents' }).click();
    const departments = page.getByLabel('Departments of Grace');
    assert.equal(await departments.inputValue(), 'sales');
    await departments.fill('sales, billing ,billing');
    await departments.press('Enter');
    await page.waitForFunction(
      async ([url, id]) => {
        const auth = JSON.parse(localStorage.getItem('switchboard-console')!).token;
        const agent = await (await fetch(`${url}/api/v1/agents/${id}`, { headers: { authorization: `Bearer ${auth}` } })).json();
        return agent.departments.join() === 'sales,billing';
      },
      [suite.server.url, grace.id] as const,
    );
    await page.reload();
    assert.equal(await valueOnceLoaded(page.getByLabel('Departments of Grace'), 'sales, billing'), 'sales, billing');
    // Qiscus decides a mirror's availability and queue: shown, not editable
    const anaRow = page.getByRole('row').filter({ hasText: 'Ana' });
    assert.deepEqual((await anaRow.getByRole('cell').allTextContents()).slice(2, 6), ['agent', 'Qiscus', '0 / ', '@qiscus']);
    assert.equal(await page.getByLabel('Departments of Ana').count(), 0);
    assert.equal(await page.getByLabel('Role of Ana').count(), 0);
    assert.equal(await page.getByLabel('Capacity of Ana').count(), 1, 'its capacity is the admin’s');
    // nor does the routing page offer its queue, which the engine does not route
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Routing' }).click();
    const department = page.getByLabel('Department', { exact: true });
    assert.equal(await valueOnceLoaded(department, 'billing'), 'billing', 'the page opens on the first department people work in');
    const offered = page.locator(`#${await department.getAttribute('list')} option`);
    assert.deepEqual(await offered.evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value)), ['billing', 'sales']);
    // the refused value was a 400 on purpose
    assert.deepEqual(problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });

  it('an admin adds a webhook endpoint, pings it, sees the delivery in the log and redelivers it', { skip: !haveChromium }, async () => {
    const { page, problems, dialogs } = await openPage();
    await logIn(page, admin.email);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('No endpoints yet.').waitFor();

    // every event the server accepts is offered, and nothing else
    const offered = await page.locator('fieldset.events label').allTextContents();
    assert.deepEqual(offered, [...SUBSCRIBABLE_EVENTS]);

    // no event chosen: the server's answer appears by the events
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/switchboard`;
    await page.getByLabel('URL').fill(url);
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.locator('#webhook-events-error[role="alert"]').waitFor();

    await page.getByLabel('message.created').check();
    await page.getByLabel('session_state_close').check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = page.getByTestId('webhook-secret').getByLabel('Signing secret');
    const created = await secret.inputValue();
    assert.match(created, /^whsec_/);
    const row = page.getByTestId('webhooks').getByRole('row').filter({ hasText: url });
    await row.getByText('message.created, session_state_close').waitFor();

    await row.getByRole('button', { name: `Ping ${url}` }).click();
    const deliveries = page.getByTestId('deliveries');
    const ping = deliveries.getByTestId('delivery').filter({ hasText: 'ping' });
    await ping.getByText('delivered').waitFor();
    assert.equal(await ping.locator('td').nth(3).textContent(), '1');
    assert.equal(await ping.getByText('HTTP 204').count(), 1);
    assert.equal(received.length, 1);
    assert.equal(received[0]!.path, '/hooks/switchboard');
    assert.equal(received[0]!.body.type, 'ping');

    await ping.getByRole('button', { name: /Redeliver/ }).click();
    await deliveries.getByTestId('delivery').filter({ hasText: /again of #\d+/ }).getByText('delivered').waitFor();
    assert.equal(received.length, 2);
    await deliveries.getByText(/Attempts of #/).first().click();
    await shoot(page, 'console-admin-webhooks');

    // rotating keeps the old secret signing a day; rotating again within that day drops every old one, and says so first
    const endpointOf = async () => ((await http('GET', '/api/v1/webhooks', undefined, await adminToken())).body as { previous_secret_expires_at: string | null }[])[0]!;
    await row.getByRole('button', { name: `Rotate secret of ${url}` }).click();
    await page.getByTestId('webhook-secret').getByText('New signing secret').waitFor();
    await page.waitForFunction((before) => (document.querySelector('[data-testid="webhook-secret"] input') as HTMLInputElement | null)?.value !== before, created);
    const first = await secret.inputValue();
    assert.match(first, /^whsec_/);
    assert.ok((await endpointOf()).previous_secret_expires_at !== null, 'the old secret signs through its grace');
    await row.getByRole('button', { name: `Rotate secret of ${url}` }).click();
    await page.waitForFunction((before) => (document.querySelector('[data-testid="webhook-secret"] input') as HTMLInputElement | null)?.value !== before, first);
    assert.equal((await endpointOf()).previous_secret_expires_at, null, 'the second rotation dropped the old secrets');

    // disabling and deleting ask first
    await row.getByRole('button', { name: `Disable ${url}` }).click();
    await row.getByText('disabled').waitFor();
    await row.getByRole('button', { name: `Delete ${url}` }).click();
    await page.getByText('No endpoints yet.').waitFor();
    assert.equal(dialogs.length, 4);
    assert.match(dialogs[0]!, /^confirm: Rotate the secret of .*keeps signing for 24 hours/);
    assert.match(dialogs[1]!, /^confirm: The secret of .* was rotated lately: its previous secret still signs until .*Every old secret stops signing at once/);
    assert.match(dialogs[2]!, /^confirm: Disable/);
    assert.match(dialogs[3]!, /^confirm: Delete the endpoint/);
    assert.deepEqual((await http('GET', '/api/v1/webhooks', undefined, await adminToken())).body, []);
    // the refused creation was a 400 on purpose
    assert.ok(problems.every((p) => /400/.test(p)), problems.join('\n'));
  });

  it('an admin adds a RapidPro ticketer, reads its base URL and secret, and deletes it', { skip: !haveChromium }, async () => {
    const { page, problems, dialogs } = await openPage({ width: 390, height: 800 });
    await logIn(page, admin.email);
    await page.getByRole('link', { name: 'RapidPro' }).click();
    await page.getByLabel('Name (optional)').fill('Main workspace');
    await page.getByRole('button', { name: 'Add ticketer' }).click();
    const card = page.getByTestId('ticketer').filter({ hasText: 'Main workspace' });
    const [ticketer] = (await http('GET', '/api/v1/ticketers', undefined, await adminToken())).body as { uuid: string; secret: string; base_url: string }[];
    assert.equal(ticketer!.base_url, `${suite.server.url}/api/v1/ticketers/${ticketer!.uuid}`);
    assert.equal(await card.getByTestId('base-url').inputValue(), ticketer!.base_url);
    assert.equal(await card.getByTestId('ticketer-secret').inputValue(), ticketer!.secret);
    await card.getByText('not connected yet').waitFor();
    // readable at phone width: nothing wider than the screen
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390);

    await card.getByRole('button', { name: /Delete/ }).click();
    await page.getByText('No ticketers yet.').waitFor();
    assert.match(dialogs[0]!, /^confirm: Delete the ticketer Main workspace/);
    assert.deepEqual(problems, []);
  });

  it('the Qiscus rooms show the filter chosen last when the answer for the one chosen before comes after it', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Alan' });
    // opened as the Qiscus channel opens its rooms: the core API refuses channel qiscus
    const room = async (roomId: string, state: string) => {
      const { conversation } = await openConversation(suite.server.ctx, { customer: { id: `customer-${roomId}` }, channel: 'qiscus', external_ref: roomId });
      assert.equal(conversation.state, state);
    };
    await room('1001', 'assigned');
    await room('1002', 'queued'); // Alan is full

    const { page, problems } = await openPage();
    await logIn(page, admin.email);
    await page.getByRole('link', { name: 'Qiscus' }).click();
    const rooms = page.getByTestId('qiscus-rooms');
    const shown = () => rooms.locator('tbody td:first-child').allTextContents();
    await rooms.getByRole('link', { name: '1002' }).waitFor();
    assert.deepEqual(await shown(), ['1001', '1002']);

    // the waiting rooms' answer is slow: the assigned ones are chosen and shown before it comes
    const waiting = await holdNextAnswer(page, /\/api\/v1\/qiscus\/rooms\?limit=1000&status=waiting$/);
    await page.getByRole('radio', { name: 'waiting' }).click();
    await waiting.asked;
    await page.getByRole('radio', { name: 'assigned' }).click();
    await rooms.getByRole('link', { name: '1002' }).waitFor({ state: 'detached' });
    await waiting.release();
    assert.deepEqual(await shown(), ['1001']);
    assert.equal(await page.getByRole('radio', { name: 'assigned' }).getAttribute('aria-checked'), 'true');
    assert.deepEqual(problems, []);
  });

  it('a plain agent transfers a conversation to a colleague with room, picked from the directory', { skip: !haveChromium }, async () => {
    const alan = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Alan' });
    const chat = await http('POST', '/session', { customer: { id: 'moving', name: 'Moving Customer' } });
    assert.equal(chat.body.state, 'assigned');
    const barbara = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Barbara' });
    await makeAgent(suite.server.ctx, { status: 'away', capacity: 1, name: 'Away Agent' });

    const { page, problems } = await openPage();
    await logIn(page, alan.email);
    await page.getByRole('link', { name: /Moving Customer/ }).click();
    const target = page.getByLabel('Transfer to');
    assert.equal(await target.locator('option', { hasText: 'Away Agent' }).isDisabled(), true);
    await target.selectOption({ label: 'Barbara (has room)' });
    await page.getByRole('button', { name: 'Transfer' }).click();
    // no longer Alan's: back to the lists
    await page.getByTestId('tab-mine').filter({ hasText: 'Mine (0)' }).waitFor();
    await page.waitForURL(`${suite.server.url}/`);
    const [row] = await suite.server.ctx.db.query<Pick<AgentRow, 'id'> & { agent_id: string }>('select agent_id from conversations where id = $1', [chat.body.sessionId]);
    assert.equal(row!.agent_id, barbara.id);
    assert.deepEqual(problems, []);
  });

  it('offers @qiscus as a transfer only for a Qiscus room, which goes back there to be assigned through Qiscus', { skip: !haveChromium }, async () => {
    const alan = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Alan', departments: ['sales'] });
    const token = await adminToken();
    const chat = await http('POST', '/api/v1/conversations', { customer: { id: 'plain', name: 'Plain Customer' }, department: 'sales' }, token);
    assert.equal(chat.body.agent_id, alan.id);
    // a Qiscus room an earlier version's engine gave Alan (he was in @qiscus then)
    const [room] = await suite.server.ctx.db.query<{ id: string }>(
      `insert into conversations (channel, external_ref, customer_id, customer, department, state, agent_id, created_at, queued_at, assigned_at, updated_at, customer_verified)
       values ('qiscus', 'r-7', 'q-1', '{"id":"q-1","name":"Qiscus Customer"}', '@qiscus', 'assigned', $1, now(), now(), now(), now(), true) returning id`,
      [alan.id],
    );
    await suite.server.ctx.db.query('update agents set load = load + 1 where id = $1', [alan.id]);

    const { page, problems } = await openPage();
    await logIn(page, alan.email);
    const departmentsOffered = () => page.getByLabel('Transfer to').locator('optgroup[label="Departments"] option').allTextContents();
    await page.getByRole('link', { name: /Plain Customer/ }).click();
    await page.getByLabel('Transfer to').locator('option', { hasText: 'sales' }).waitFor({ state: 'attached' });
    assert.deepEqual(await departmentsOffered(), ['General queue', 'sales']);
    await page.getByRole('link', { name: /Qiscus Customer/ }).click();
    await page.getByLabel('Transfer to').locator('option', { hasText: '@qiscus' }).waitFor({ state: 'attached' });
    assert.deepEqual(await departmentsOffered(), ['General queue', '@qiscus', 'sales']);
    await page.getByLabel('Transfer to').selectOption({ label: '@qiscus' });
    await page.getByRole('button', { name: 'Transfer' }).click();
    await page.getByTestId('tab-mine').filter({ hasText: 'Mine (1)' }).waitFor();
    const [moved] = await suite.server.ctx.db.query<{ state: string; agent_id: string | null }>('select state, agent_id from conversations where id = $1', [room!.id]);
    assert.deepEqual(moved, { state: 'queued', agent_id: null });
    assert.deepEqual(problems, []);
  });

  it('the customer panel reads the past conversations again when one of them changes, not when the one shown is transferred', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Alan' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Barbara' });
    const token = await adminToken();
    const earlier = await http('POST', '/api/v1/conversations', { customer: { id: 'returning', name: 'Returning Customer' } }, token);
    const shown = await http('POST', '/api/v1/conversations', { customer: { id: 'returning', name: 'Returning Customer' } }, token);
    assert.equal(shown.body.state, 'assigned');

    const { page, problems } = await openPage();
    await logIn(page, admin.email);
    await page.goto(`${suite.server.url}/conversations/${shown.body.id}`);
    const past = page.locator('ul.past');
    await past.getByText('api · assigned').waitFor();
    const pastReads: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.endsWith('/customer-history')) pastReads.push(request.url());
    });

    // a supervisor stays in the chat after a transfer; the directory is read again (rooms changed), the past is not
    const target = page.getByLabel('Transfer to');
    const colleague = (await target.locator('option', { hasText: 'has room' }).first().textContent())!;
    const directory = page.waitForEvent('requestfinished', { predicate: (request) => request.url().endsWith('/api/v1/agents/directory') });
    await target.selectOption({ label: colleague });
    await page.getByRole('button', { name: 'Transfer' }).click();
    await directory;
    assert.notEqual((await http('GET', `/api/v1/conversations/${shown.body.id}`, undefined, token)).body.agent_id, shown.body.agent_id);
    assert.deepEqual(pastReads, []);

    // the earlier conversation is resolved elsewhere: its live event brings the panel up to date
    assert.equal((await http('POST', `/api/v1/conversations/${earlier.body.id}/resolve`, {}, token)).status, 200);
    await past.getByText('api · resolved').waitFor();
    assert.deepEqual(problems, []);
  });

  it('the Customers tab shows a customer on the widget as online and one reached through the API as offline', { skip: !haveChromium }, async () => {
    const ada = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Ada' });
    const login = await http('POST', '/api/v1/auth/login', { email: ada.email, password: PASSWORD });
    const viaApi = await http('POST', '/api/v1/conversations', { customer: { id: 'by-mail', name: 'Mail Customer' } }, login.body.token);
    assert.equal(viaApi.body.agent_id, ada.id);

    const { page: shop } = await openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Live Customer', 'live@example.test');
    await widget.getByTestId('agent').waitFor();
    await widget.getByLabel('Your message').fill('Hi! Has my order shipped?');
    await widget.getByLabel('Your message').press('Enter');

    const { page, problems } = await openPage();
    await logIn(page, ada.email);
    await page.getByTestId('tab-customers').click();
    const online = page.getByTestId('customers-online');
    await online.getByRole('link', { name: /Live Customer\W+online/ }).waitFor();
    await page.getByTestId('customers-offline').getByRole('link', { name: /Mail Customer\W+offline/ }).waitFor();
    assert.equal(await online.getByText('Mail Customer').count(), 0);
    await online.getByRole('link', { name: /Live Customer/ }).click();
    await page.getByRole('heading', { name: 'Live Customer' }).waitFor();
    await page.getByTestId('message').filter({ hasText: 'Has my order shipped?' }).waitFor();
    await shoot(page, 'console-customers');
    assert.deepEqual(problems, []);
  });

  it('the Widget page and the satisfaction survey say why when their settings cannot be read, rather than loading for ever or vanishing', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const { page, problems } = await openPage();
    const refusal = { status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'SB_UNAVAILABLE', message: 'the database is away' } }) };
    await page.route('**/api/v1/widget-settings', (route) => (route.request().method() === 'GET' ? route.fulfill(refusal) : route.continue()));
    // the Settings page reads the settings, then its survey section reads them again: only that second read fails
    let settingsReads = 0;
    await page.route('**/api/v1/settings', (route) => (route.request().method() === 'GET' && ++settingsReads === 2 ? route.fulfill(refusal) : route.continue()));
    await logIn(page, admin.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Widget' }).click();
    await page.getByRole('alert').filter({ hasText: 'the database is away' }).waitFor();
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Save settings' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'the database is away' }).waitFor();
    // (the refusals the test made are the only errors)
    assert.deepEqual(problems.filter((p) => !p.includes('503')), []);
  });

  it('the Customers tab keeps a customer online behind 200 newer open conversations, and says the offline group goes on', { skip: !haveChromium }, async () => {
    const boss = await makeAgent(suite.server.ctx, { role: 'supervisor', status: 'offline', capacity: 0, name: 'Boss' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Ada' });
    const { page: shop } = await openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Early Visitor', 'early@example.test');
    await widget.getByTestId('agent').waitFor();
    // then a backlog from a channel, all newer, waiting for Ada (full)
    await suite.server.ctx.db.query(
      `insert into conversations (channel, customer_id, customer, state, created_at, queued_at, updated_at)
       select 'api', 'backlog' || i, jsonb_build_object('id', 'backlog' || i, 'name', 'Backlog ' || i), 'queued', now(), now(), now()
         from generate_series(1, 205) as i`,
    );
    const { page, problems } = await openPage();
    await logIn(page, boss.email);
    await page.getByTestId('tab-customers').click();
    await page.getByTestId('customers-online').getByRole('link', { name: /Early Visitor\W+online/ }).waitFor();
    await page.getByRole('heading', { name: 'Online (1)' }).waitFor();
    await page.getByRole('heading', { name: 'Offline (200+)' }).waitFor();
    assert.deepEqual(problems, []);
  });
});
