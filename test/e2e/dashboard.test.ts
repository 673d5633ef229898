import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Page } from 'playwright-core';
import { browserServer, haveChromium, holdNextAnswer, noteMissingChromium, signIn as logIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The supervisor dashboard in a real browser (Debian's Chromium through
// playwright-core, as in web.test.ts): the figures match what the test set
// up, and they follow conversations being opened and resolved without a
// reload, through the live MQTT connection.

noteMissingChromium('test/e2e/dashboard.test.ts');

describeEachStore('supervisor dashboard in a real browser', (store) => {
  const suite = browserServer(store);
  const openPage = (viewport: { width: number; height: number }) => suite.openPage(viewport);
  const http = async (method: string, path: string, token: string, body?: unknown) => httpJson(suite.server.url, method, path, body, token);
  const login = async (email: string) => {
    const response = await httpJson(suite.server.url, 'POST', '/api/v1/auth/login', { email, password: PASSWORD });
    assert.equal(response.status, 200);
    return (response.body as { token: string }).token;
  };

  const signIn = (page: Page, email: string) => logIn(page, suite.server.url, email);

  const loadOf = (page: Page, name: string) => page.getByTestId('agent-load').filter({ hasText: name }).getByTestId('agent-load-text');

  it('shows the queue and the agents’ loads as set up, and follows new and resolved conversations live', { skip: !haveChromium }, async () => {
    const supervisor = await makeAgent(suite.server.ctx, { role: 'supervisor', name: 'Sue' });
    const ann = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, departments: ['support'], name: 'Ann' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, departments: ['sales'], name: 'Bob' });
    const token = await login(supervisor.email);
    const open = async (department: string, name: string) => {
      const res = await http('POST', '/api/v1/conversations', token, { customer: { id: name, name }, department });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string; state: string };
    };
    assert.equal((await open('support', 'first')).state, 'assigned'); // Ann 1/2
    const sales = await open('sales', 'second'); // Bob 1/1
    assert.equal((await open('sales', 'third')).state, 'queued'); // Bob is full

    const { page, problems } = await openPage({ width: 1200, height: 900 });
    await signIn(page, supervisor.email);
    // the page is a link of the navigation, reachable from the keyboard
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dashboard' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${suite.server.url}/dashboard`);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();

    await page.getByTestId('queue-length').filter({ hasText: /^1$/ }).waitFor();
    assert.match((await page.getByTestId('longest-wait').textContent()) ?? '', /^\d+ sec$/); // Intl's short unit (web/shared/format.ts)
    assert.equal(await page.getByTestId('assignments-total').textContent(), '2');
    assert.equal(await page.getByTestId('resolutions-total').textContent(), '0');
    assert.equal(await loadOf(page, 'Ann').textContent(), '1 / 2');
    assert.equal(await loadOf(page, 'Bob').textContent(), '1 / 1');
    await page.getByRole('meter', { name: 'Bob: 1 of 1 conversations, online' }).waitFor();
    await page.getByTestId('department-queues').getByRole('row', { name: /sales 1/ }).waitFor();
    // the chart has a text alternative, and a table the keyboard can open
    assert.match((await page.getByTestId('activity-chart').getAttribute('aria-label')) ?? '', /2 assignments and 0 resolutions in all/);
    await page.getByText('Show as a table').focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('activity-table').getByRole('cell', { name: '2', exact: true }).waitFor();

    // the desk's lists are not shown here: the live events below do not re-read them
    const listReads: string[] = [];
    page.on('request', (request) => {
      if (/^\/api\/v1\/(queue|conversations)$/.test(new URL(request.url()).pathname)) listReads.push(request.url());
    });

    // live: a new conversation for Ann, then Bob resolves his and the waiting one comes to him
    await open('support', 'fourth');
    await loadOf(page, 'Ann').filter({ hasText: '2 / 2' }).waitFor();
    await page.getByTestId('assignments-total').filter({ hasText: /^3$/ }).waitFor();
    const resolved = await http('POST', `/api/v1/conversations/${sales.id}/resolve`, token, {});
    assert.equal(resolved.status, 200);
    await page.getByTestId('queue-length').filter({ hasText: /^0$/ }).waitFor();
    await page.getByTestId('resolutions-total').filter({ hasText: /^1$/ }).waitFor();
    await page.getByTestId('assignments-total').filter({ hasText: /^4$/ }).waitFor();
    assert.equal(await loadOf(page, 'Bob').textContent(), '1 / 1');
    assert.equal(await page.getByTestId('longest-wait').textContent(), '—');
    assert.match((await page.getByTestId('activity-chart').getAttribute('aria-label')) ?? '', /4 assignments and 1 resolution in all/);
    // uPlot (loaded with the first chart) drew its canvas
    assert.equal(await page.getByTestId('activity-chart').locator('canvas').count(), 1);
    assert.deepEqual(listReads, []);

    // agents have no dashboard: no link, and /dashboard shows their desk
    const { page: desk, problems: deskProblems } = await openPage({ width: 1200, height: 800 });
    const deskRequests: string[] = [];
    desk.on('request', (request) => deskRequests.push(request.url()));
    await signIn(desk, ann.email);
    assert.equal(await desk.getByRole('link', { name: 'Dashboard' }).count(), 0);
    await desk.goto(`${suite.server.url}/dashboard`);
    await desk.getByTestId('tab-mine').filter({ hasText: 'Mine (2)' }).waitFor();
    assert.equal(await desk.getByTestId('queue-length').count(), 0);
    assert.deepEqual(deskRequests.filter((url) => /uPlot/i.test(url)), [], 'the chart library is loaded with the dashboard only');

    if (process.env.SAVE_SCREENSHOTS) {
      // a fuller picture for docs/screenshots: an hour of history, made by
      // opening and resolving conversations and moving their events back in time
      for (let i = 0; i < 10; i += 1) {
        await open('support', `Customer ${i}`); // waits for Ann, then takes the slot her oldest one frees
        const [oldest] = await suite.server.ctx.db.query<{ id: string }>(
          `select id from conversations where agent_id = $1 and state = 'assigned' order by assigned_at limit 1`,
          [ann.id],
        );
        assert.equal((await http('POST', `/api/v1/conversations/${oldest!.id}/resolve`, token, {})).status, 200);
      }
      await open('sales', 'Xavier');
      await open('sales', 'Yusuf');
      await suite.server.ctx.db.query(`update conversations set queued_at = queued_at - interval '3 minutes' where state = 'queued'`);
      await suite.server.ctx.db.query(
        `update events set created_at = created_at - make_interval(mins => ((id * 7) % 55 + 2)::int)
          where type in ('conversation.assigned', 'conversation.resolved')`,
      );
      await page.getByTestId('queue-length').filter({ hasText: /^2$/ }).waitFor();
      await page.getByRole('button', { name: 'Refresh' }).first().click(); // the live figures' (the reports below have their own)
      await page.getByText('Show as a table').click(); // closes the table opened above: the chart is the picture
      await page.waitForTimeout(300);
      // down to the agents' loads: the page scrolls inside the console, so a full-page shot cut the reports below to a blank
      const agents = await page.locator('section[aria-labelledby="agents-title"]').boundingBox();
      await page.screenshot({ path: 'docs/screenshots/console-dashboard.png', clip: { x: 0, y: 0, width: page.viewportSize()!.width, height: Math.ceil(agents!.y + agents!.height + 16) } });
    }

    assert.deepEqual(problems, []);
    assert.deepEqual(deskProblems, []);
  });

  it('shows the period chosen last when the answer for the one chosen before comes after it', { skip: !haveChromium }, async () => {
    const supervisor = await makeAgent(suite.server.ctx, { role: 'supervisor', name: 'Sue' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Ann' });
    const token = await login(supervisor.email);
    const assignedAgo = async (customer: string, hours: number) => {
      const res = await http('POST', '/api/v1/conversations', token, { customer: { id: customer } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      await suite.server.ctx.db.query(`update events set created_at = created_at - make_interval(hours => $2) where conversation_id = $1`, [res.body.id, hours]);
    };
    // one assignment in the last hour, two in the last 6 hours, three in the last day
    await assignedAgo('now', 0);
    await assignedAgo('earlier', 2);
    await assignedAgo('this morning', 10);

    const { page, problems } = await openPage({ width: 1200, height: 900 });
    await signIn(page, supervisor.email);
    await page.goto(`${suite.server.url}/dashboard`);
    const assignments = page.getByTestId('assignments-total');
    await assignments.filter({ hasText: /^1$/ }).waitFor();

    // the 6 hours' answer is slow: the day is chosen and shown before it comes
    const sixHours = await holdNextAnswer(page, /\/api\/v1\/stats\?interval=300&/);
    const period = page.getByTestId('dashboard-window');
    await period.selectOption({ label: 'Last 6 hours, per 5 minutes' });
    await sixHours.asked;
    await period.selectOption({ label: 'Last day, per hour' });
    await assignments.filter({ hasText: /^3$/ }).waitFor();
    await sixHours.release();
    assert.equal(await assignments.textContent(), '3');
    assert.equal(await period.inputValue(), '2');
    assert.deepEqual(problems, []);
  });

  it('is readable at phone width: no sideways scrolling, big figures, bars and chart in the column', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Ada' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Agent with a rather long name' });
    const token = await login(admin.email);
    assert.equal((await http('POST', '/api/v1/conversations', token, { customer: { id: 'phone' } })).status, 201);

    const { page, problems } = await openPage({ width: 390, height: 844 });
    await signIn(page, admin.email);
    await page.goto(`${suite.server.url}/dashboard`);
    await page.getByTestId('queue-length').filter({ hasText: /^0$/ }).waitFor();
    await loadOf(page, 'Agent with a rather long name').filter({ hasText: '1 / 3' }).waitFor();
    await page.getByTestId('activity-chart').locator('canvas').waitFor();
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      chart: document.querySelector('[data-testid="activity-chart"]')!.getBoundingClientRect().right,
    }));
    assert.ok(widths.page <= 390, `the page is ${widths.page} px wide`);
    assert.ok(widths.chart <= 390, `the chart ends at ${widths.chart} px`);
    assert.deepEqual(problems, []);
  });
});
