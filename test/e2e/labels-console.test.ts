import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, holdNextAnswer, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// Labels in the console, used quickly and while an admin changes them, in a
// real browser: two chips removed one after the other before the first
// answer leave none; the desk's filter lets go of a label renamed or
// deleted; the colour picker saves once per pick, not per step of a drag;
// and a name of emoji the server takes is not cut short in the form.

noteMissingChromium('test/e2e/labels-console.test.ts');

describeEachStore('labels in the console, in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
  const storedLabels = async (id: string) => (await suite.server.ctx.db.query<{ labels: string[] }>('select labels from conversations where id = $1', [id]))[0]!.labels;

  async function adminToken(): Promise<{ email: string; token: string }> {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    return { email: admin.email, token: (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string };
  }

  /** A widget chat for `name`, assigned to the one online agent. */
  async function chat(name: string): Promise<string> {
    const opened = await http('POST', '/session', { customer: { id: name.toLowerCase().replace(/\W+/g, '-'), name } });
    assert.equal(opened.body.state, 'assigned', JSON.stringify(opened.body));
    return opened.body.sessionId as string;
  }

  /** What `read` gives once it is `expected`, or after ten seconds (a loaded machine) what it gives then. */
  async function settled<T>(read: () => Promise<T>, expected: T): Promise<T> {
    const until = Date.now() + 10_000;
    let value = await read();
    while (Date.now() < until) {
      try {
        assert.deepEqual(value, expected);
        return value;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
        value = await read();
      }
    }
    return value;
  }

  it('× on two chips, the second before the first removal has answered, leaves the chat with no labels', { skip: !haveChromium }, async () => {
    const admin = await adminToken();
    for (const name of ['billing', 'urgent']) assert.equal((await http('POST', '/api/v1/labels', { name, color: '#3366cc' }, admin.token)).status, 201);
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Grace' });
    const id = await chat('Quick Clicker');
    assert.equal((await http('PUT', `/api/v1/conversations/${id}/labels`, { labels: ['billing', 'urgent'] }, admin.token)).status, 200);

    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.goto(`${suite.server.url}/conversations/${id}`);
    const chips = desk.getByTestId('conversation-labels').getByTestId('label-chip');
    await chips.filter({ hasText: 'urgent' }).waitFor();

    // the first removal reaches the server, its answer (and the read after it) comes late
    const slow = await holdNextAnswer(desk, /\/labels$/, 'PUT');
    await desk.getByRole('button', { name: 'Remove label billing' }).click();
    await slow.asked;
    await desk.getByRole('button', { name: 'Remove label urgent' }).click();
    await slow.release();

    await desk.getByTestId('conversation-labels').getByText('No labels.').waitFor();
    assert.deepEqual(await settled(() => storedLabels(id), []), []);
    // and it stays so once the chat is read again
    await desk.reload();
    await desk.getByTestId('conversation-labels').getByText('No labels.').waitFor();
    assert.equal(await chips.count(), 0);
    assert.deepEqual(problems, []);
  });

  it("the desk's label filter lets go of a label renamed, then of the last label deleted, and lists every chat again", { skip: !haveChromium }, async () => {
    const admin = await adminToken();
    const vip = await http('POST', '/api/v1/labels', { name: 'VIP', color: '#ffaa00' }, admin.token);
    assert.equal(vip.status, 201);
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const labelled = await chat('Vera Important');
    await chat('Plain Customer');
    assert.equal((await http('PUT', `/api/v1/conversations/${labelled}/labels`, { labels: ['VIP'] }, admin.token)).status, 200);

    // the agent's own list, filtered in the page; the admin's All list, filtered by the server
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    const mine = desk.getByTestId('list-mine');
    const { page: overseer, problems: overseerProblems } = await suite.openPage();
    await signIn(overseer, suite.server.url, admin.email);
    await overseer.getByTestId('tab-all').click();
    const all = overseer.getByTestId('list-all');
    for (const [page, list] of [[desk, mine], [overseer, all]] as const) {
      await list.getByRole('link', { name: /Plain Customer/ }).waitFor();
      await page.getByTestId('label-filter').selectOption('VIP');
      await list.getByRole('link', { name: /Plain Customer/ }).waitFor({ state: 'detached' });
      await list.getByRole('link', { name: /Vera Important/ }).waitFor();
    }

    // renamed: the filter is cleared, both lists show every chat, the new name is there to choose
    assert.equal((await http('PATCH', `/api/v1/labels/${vip.body.id}`, { name: 'Gold' }, admin.token)).status, 200);
    for (const [page, list] of [[desk, mine], [overseer, all]] as const) {
      await page.getByTestId('label-filter').locator('option', { hasText: 'Gold' }).waitFor({ state: 'attached' });
      await list.getByRole('link', { name: /Plain Customer/ }).waitFor();
      await list.getByRole('link', { name: /Vera Important/ }).getByTestId('label-chip').filter({ hasText: 'Gold' }).waitFor();
      assert.equal(await page.getByTestId('label-filter').inputValue(), '');
      await page.getByTestId('label-filter').selectOption('Gold');
      await list.getByRole('link', { name: /Plain Customer/ }).waitFor({ state: 'detached' });
    }

    // the last label deleted: no filter left to clear, and none applies
    assert.equal((await http('DELETE', `/api/v1/labels/${vip.body.id}`, undefined, admin.token)).status, 204);
    for (const [page, list] of [[desk, mine], [overseer, all]] as const) {
      await page.getByTestId('label-filter').waitFor({ state: 'detached' });
      await list.getByRole('link', { name: /Plain Customer/ }).waitFor();
      await list.getByRole('link', { name: /Vera Important/ }).waitFor();
    }
    assert.deepEqual(deskProblems, []);
    assert.deepEqual(overseerProblems, []);
  });

  it('dragging in the colour picker saves the colour once, when the pick is made, and the field does not snap back meanwhile', { skip: !haveChromium }, async () => {
    const admin = await adminToken();
    assert.equal((await http('POST', '/api/v1/labels', { name: 'refund', color: '#3366cc' }, admin.token)).status, 201);
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, admin.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Labels' }).click();
    const colour = page.getByLabel('Colour of refund');
    await colour.waitFor();
    const patches: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'PATCH' && /\/api\/v1\/labels\//.test(request.url())) patches.push(request.postData() ?? '');
    });

    // a drag through the picker: an input event per step, then the change when it is let go
    const steps = ['#3f6fd0', '#5a80d8', '#7a90e0', '#9aa0e8', '#cc2200'];
    for (const step of steps) {
      await colour.evaluate((el, value) => {
        Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(el, value);
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }, step);
      assert.equal(await colour.inputValue(), step, 'the field shows the colour being picked');
    }
    await page.waitForTimeout(200);
    assert.deepEqual(patches, [], 'nothing is saved while the admin is still picking');
    await colour.evaluate((el) => el.dispatchEvent(new Event('change', { bubbles: true })));

    await page.getByTestId('labels-table').getByTestId('label-chip').filter({ hasText: 'refund' }).waitFor();
    await page.waitForFunction(() => {
      const chip = document.querySelector('[data-testid="labels-table"] [data-testid="label-chip"]');
      return chip !== null && getComputedStyle(chip).backgroundColor === 'rgb(204, 34, 0)';
    });
    assert.deepEqual(patches.map((p) => JSON.parse(p)), [{ color: '#cc2200' }]);
    const updated = await suite.server.ctx.db.query<{ n: number }>("select count(*)::int as n from events where type = 'label.updated'");
    assert.equal(updated[0]!.n, 1);
    assert.equal(await colour.inputValue(), '#cc2200');
    assert.deepEqual(problems, []);
  });

  it('a name of 30 emoji (60 UTF-16 units, 30 characters) is sent whole; one of 51 characters is refused by the server, by the field', { skip: !haveChromium }, async () => {
    const admin = await adminToken();
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, admin.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Labels' }).click();
    const form = page.getByRole('form', { name: 'New label' });
    const party = '🎉'.repeat(30);
    await form.getByLabel('Name').pressSequentially(party);
    assert.equal(await form.getByLabel('Name').inputValue(), party);
    await form.getByRole('button', { name: 'Add label' }).click();
    await page.getByTestId('labels-table').getByTestId('label-chip').filter({ hasText: party }).waitFor();
    const stored = (await http('GET', '/api/v1/labels', undefined, admin.token)).body as { name: string }[];
    assert.deepEqual(stored.map((l) => l.name), [party]);

    // past the server's limit: its answer, by the field, says so
    await form.getByLabel('Name').fill('x'.repeat(51));
    await form.getByRole('button', { name: 'Add label' }).click();
    await form.getByRole('alert').filter({ hasText: '50' }).waitFor();
    assert.equal(((await http('GET', '/api/v1/labels', undefined, admin.token)).body as unknown[]).length, 1);
    assert.deepEqual(problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });
});
