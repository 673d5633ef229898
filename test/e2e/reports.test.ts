import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { csvRecords } from '../helpers/csv.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The dashboard's Reports section in a real browser: the table shows the
// figures of the conversations resolved in the chosen period, per agent and
// per department, and "Download CSV" saves the same rows, fetched with the
// supervisor's token.

noteMissingChromium('test/e2e/reports.test.ts');

describeEachStore('dashboard reports in a real browser', (store) => {
  const suite = browserServer(store);
  const http = async (method: string, path: string, token: string, body?: unknown) => httpJson(suite.server.url, method, path, body, token);
  const login = async (email: string) => {
    const response = await httpJson(suite.server.url, 'POST', '/api/v1/auth/login', { email, password: PASSWORD });
    assert.equal(response.status, 200);
    return (response.body as { token: string }).token;
  };

  it('shows the figures per agent and per department, and downloads the same rows as CSV', { skip: !haveChromium }, async () => {
    const db = suite.server.ctx.db;
    const supervisor = await makeAgent(suite.server.ctx, { role: 'supervisor', name: 'Sue' });
    const ann = await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, departments: ['support'], name: 'Ann' });
    const bob = await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, departments: ['sales'], name: 'Bob' });
    const tokens = { sue: await login(supervisor.email), ann: await login(ann.email), bob: await login(bob.email) };

    /**
     * A conversation served and resolved now, then moved back in time in the
     * event log: created `resolution` seconds before its resolution, the
     * agent's reply (if any) `firstResponse` seconds after creation.
     */
    const served = async (department: string, agent: 'ann' | 'bob', firstResponse: number | null, resolution: number) => {
      const opened = await http('POST', '/api/v1/conversations', tokens.sue, { customer: { id: `${department}-${resolution}` }, department });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      const id = opened.body.id as string;
      if (firstResponse !== null) assert.equal((await http('POST', `/api/v1/conversations/${id}/messages`, tokens[agent], { text: 'Hello' })).status, 201);
      assert.equal((await http('POST', `/api/v1/conversations/${id}/resolve`, tokens[agent], {})).status, 200);
      const [resolved] = await db.query<{ created_at: Date }>(`select created_at from events where type = 'conversation.resolved' and conversation_id = $1`, [id]);
      const created = new Date(resolved!.created_at).getTime() - resolution * 1000;
      await db.query(`update events set data = jsonb_set(data, '{conversation,created_at}', to_jsonb($2::text)) where type = 'conversation.resolved' and conversation_id = $1`, [id, new Date(created).toISOString()]);
      if (firstResponse !== null) await db.query(`update events set created_at = $2 where type = 'message.created' and conversation_id = $1`, [id, new Date(created + firstResponse * 1000)]);
    };
    await served('support', 'ann', 120, 600); // answered in 2 min, resolved in 10
    await served('sales', 'bob', 240, 1200); // 4 min, 20 min
    await served('sales', 'bob', null, 300); // never answered, 5 min

    const { page, problems } = await suite.openPage({ width: 1200, height: 900 });
    const reportReads: { url: string; authorization: string | undefined }[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/v1/reports') reportReads.push({ url: request.url(), authorization: request.headers().authorization });
    });
    await signIn(page, suite.server.url, supervisor.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dashboard' }).click();
    const section = page.getByRole('region', { name: 'Reports' });
    await section.waitFor();
    const table = section.getByTestId('report-table');
    const row = (name: string) => table.getByRole('row', { name: new RegExp(`^${name} `) });
    const cellsOf = async (name: string) => (await row(name).getByRole('cell').allTextContents()).map((c) => c.trim());

    // the last 7 days, per agent: Ann 1 conversation, Bob 2 (one never answered)
    await row('Ann').waitFor();
    assert.deepEqual(await cellsOf('Ann'), ['1', '2 min', '2 min', '10 min', '10 min', '1']);
    assert.deepEqual(await cellsOf('Bob'), ['2', '4 min', '4 min', '13 min', '13 min', '0.5']);
    assert.deepEqual(await cellsOf('All'), ['3', '3 min', '3 min', '12 min', '10 min', '0.67']);
    assert.deepEqual(await table.getByRole('columnheader').allTextContents(), ['Agent', 'Resolved', 'First response (mean)', 'First response (median)', 'Resolution (mean)', 'Resolution (median)', 'Messages per conversation']);

    // per department, from the keyboard
    await section.getByRole('button', { name: 'Per department' }).focus();
    await page.keyboard.press('Enter');
    await row('sales').waitFor();
    assert.equal(await section.getByRole('button', { name: 'Per department' }).getAttribute('aria-pressed'), 'true');
    assert.deepEqual(await cellsOf('sales'), ['2', '4 min', '4 min', '13 min', '13 min', '0.5']);
    assert.deepEqual(await cellsOf('support'), ['1', '2 min', '2 min', '10 min', '10 min', '1']);
    assert.equal(await table.getByTestId('report-row').count(), 2);
    // SAVE_SCREENSHOTS=1 refreshes the picture docs/web.md shows
    if (process.env.SAVE_SCREENSHOTS) await section.screenshot({ path: 'docs/screenshots/console-reports.png' });

    // Download CSV: the file holds the rows the API gives for the period shown, fetched with the token (never in the URL)
    const [download] = await Promise.all([page.waitForEvent('download'), section.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^switchboard-report-department-[0-9TZ-]+\.csv$/);
    const csvRead = reportReads.find((r) => r.url.includes('format=csv'));
    assert.ok(csvRead, JSON.stringify(reportReads));
    assert.match(csvRead.authorization ?? '', /^Bearer sbt_/, 'the download carries the console’s token');
    assert.doesNotMatch(csvRead.url, /sbt_|token/);
    const query = new URL(csvRead.url).search.replace('&format=csv', '');
    const json = await http('GET', `/api/v1/reports${query}`, tokens.sue);
    assert.equal(json.status, 200);
    const csv = await readFile((await download.path())!, 'utf8');
    assert.deepEqual(csvRecords(csv, ['department']), json.body.rows);
    assert.deepEqual(json.body.rows.map((r: { department: string; conversations: number }) => [r.department, r.conversations]), [['sales', 2], ['support', 1]]);

    // a period with nothing in it
    await section.getByLabel('From').fill('2020-01-01');
    await section.getByLabel('To (included)').fill('2020-01-31');
    await section.getByText('No conversation was resolved in this period.').waitFor();
    // a period that ends before it starts: the server's message, next to the form, and no stale table
    await section.getByLabel('From').fill('2020-02-10');
    await section.getByRole('alert').filter({ hasText: /^to must be after from/ }).waitFor();
    assert.equal(await section.getByLabel('To (included)').getAttribute('aria-invalid'), 'true');
    assert.equal(await table.count(), 0);
    await section.getByLabel('To (included)').fill('2020-02-11');
    await section.getByText('No conversation was resolved in this period.').waitFor();
    assert.equal(await section.getByRole('alert').count(), 0);

    assert.deepEqual(problems.filter((p) => !p.includes('400 (Bad Request)')), []);
  });

  it('a cleared day hides the table and says the period is incomplete; the dashboard stays, and the table comes back with the day', { skip: !haveChromium }, async () => {
    const supervisor = await makeAgent(suite.server.ctx, { role: 'supervisor', name: 'Sue' });
    const { page, problems } = await suite.openPage({ width: 1200, height: 900 });
    const reads: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/api/v1/reports')) reads.push(request.url());
    });
    await signIn(page, suite.server.url, supervisor.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dashboard' }).click();
    const heading = page.getByRole('heading', { name: 'Dashboard', exact: true });
    await heading.waitFor();

    for (const [name, prefix, label] of [
      ['Reports', 'report', 'From'],
      ['Greetings', 'greetings', 'To (included)'],
    ] as const) {
      const section = page.getByRole('region', { name, exact: true });
      const table = section.getByTestId(`${prefix}-table`);
      const hint = section.getByText('Choose both days of the period to see its figures.');
      await table.waitFor();
      assert.equal(await hint.count(), 0, name);
      const day = await section.getByLabel(label).inputValue();
      const before = reads.length;

      await section.getByLabel(label).fill('');
      await hint.waitFor();
      assert.equal(await table.count(), 0, `${name}: the last period's table is gone`);
      assert.ok(await heading.isVisible(), `${name}: the dashboard is still there`);
      assert.equal(reads.length, before, `${name}: nothing is read for half a period`);
      assert.deepEqual(problems, [], name);

      await section.getByLabel(label).fill(day);
      await table.waitFor();
      assert.equal(await hint.count(), 0, name);
    }
    assert.deepEqual(problems, []);
  });

  it('is not there for agents: no dashboard, and the API says 403', { skip: !haveChromium }, async () => {
    const ann = await makeAgent(suite.server.ctx, { status: 'online', name: 'Ann' });
    const token = await login(ann.email);
    const res = await http('GET', '/api/v1/reports?group=agent&from=2026-01-01&to=2026-02-01', token);
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'SB_FORBIDDEN');
    const { page, problems } = await suite.openPage({ width: 1200, height: 800 });
    await signIn(page, suite.server.url, ann.email);
    await page.goto(`${suite.server.url}/dashboard`);
    await page.getByTestId('tab-mine').waitFor();
    assert.equal(await page.getByRole('region', { name: 'Reports' }).count(), 0);
    assert.deepEqual(problems, []);
  });
});
