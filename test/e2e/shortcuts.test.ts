import assert from 'node:assert/strict';
import { it } from 'node:test';
import { accessibilityViolations } from '../helpers/axe.js';
import { browserServer, haveChromium, noteMissingChromium, shoot, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The console from the keyboard (issue #17, item 8): an agent with three
// chats moves between them, replies, looks at the transfer choices,
// resolves and searches without the mouse, and `?` lists the shortcuts.
// Moving between chats follows the list as shown, label filter and all.

noteMissingChromium('test/e2e/shortcuts.test.ts');

describeEachStore('keyboard shortcuts in the console, in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('moves between chats, replies, resolves and searches from the keyboard; ? shows the list', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Linus' });
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const adminToken = (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
    // three chats for Grace (Linus, also online, takes his share: open them while he is away)
    await http('PATCH', '/api/v1/agents/me', { status: 'away' }, (await http('POST', '/api/v1/auth/login', { email: (await suite.server.db.query<{ email: string }>("select email from agents where name = 'Linus'"))[0]!.email, password: PASSWORD })).body.token);
    const ids: string[] = [];
    for (const name of ['Ada Lovelace', 'Alan Turing', 'Barbara Liskov']) {
      const opened = await http('POST', '/api/v1/conversations', { customer: { id: name.toLowerCase().replace(' ', '-'), name } }, adminToken);
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      assert.equal(opened.body.agent_id, agent.id);
      ids.push(opened.body.id);
    }

    assert.equal((await http('POST', '/api/v1/canned-responses', { shortcut: 'thanks', text: 'Thank you, {{customer.name}}!', scope: 'shared' }, adminToken)).status, 201);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.getByTestId('list-mine').getByRole('link').nth(2).waitFor();
    const mine = (await page.getByTestId('list-mine').getByRole('link').evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).pathname.split('/').pop())));
    assert.deepEqual([...mine].sort(), [...ids].sort());
    const openIs = async (id: string) => page.waitForURL((url) => url.pathname === `/conversations/${id}`);

    // ? lists the shortcuts in a dialog, which passes axe and Escape closes
    await page.locator('body').press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    for (const what of ['Next conversation in the list', 'Resolve the open conversation', 'Transfer the open conversation', 'Canned responses', 'Search conversations']) {
      await help.getByRole('cell', { name: new RegExp(what) }).waitFor();
    }
    assert.deepEqual(await accessibilityViolations(page), []);
    await shoot(page, 'console-shortcuts');
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'hidden' });

    // Alt+↓ opens the first chat of the list, again the next, Alt+K goes back
    await page.keyboard.press('Alt+ArrowDown');
    await openIs(mine[0]!);
    await page.keyboard.press('Alt+ArrowDown');
    await openIs(mine[1]!);
    await page.keyboard.press('Alt+KeyK');
    await openIs(mine[0]!);

    // Alt+R: the reply box (once the chat is on screen); a ? typed there is text, not the help
    const reply = page.getByLabel('Reply', { exact: true });
    await reply.waitFor();
    await page.keyboard.press('Alt+KeyR');
    assert.equal(await reply.evaluate((el) => el === document.activeElement), true);
    await page.keyboard.type('Did that help?');
    assert.equal(await help.isVisible(), false);
    await page.keyboard.press('Enter');
    await page.getByTestId('message').filter({ hasText: 'Did that help?' }).waitFor();

    // Alt+C opens the canned responses in the empty reply box; Enter inserts one, filled in
    await page.keyboard.press('Alt+KeyC');
    const canned = page.getByTestId('canned-list');
    await canned.getByText('Thank you, {{customer.name}}!').or(canned.getByText(/Thank you/)).first().waitFor();
    await page.keyboard.press('Enter');
    const [customer] = await suite.server.db.query<{ name: string }>("select customer->>'name' as name from conversations where id = $1", [mine[0]]);
    assert.equal(await reply.inputValue(), `Thank you, ${customer!.name}!`);
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');

    // Alt+T puts the focus on the transfer choice, with Linus away and so marked
    await page.keyboard.press('Alt+KeyT');
    const transfer = page.getByLabel('Transfer to');
    assert.equal(await transfer.evaluate((el) => el === document.activeElement), true);

    // Alt+E resolves the open chat (from the reply box too)
    await page.keyboard.press('Alt+KeyR');
    await page.keyboard.press('Alt+KeyE');
    await page.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    const [resolved] = await suite.server.db.query<{ state: string }>('select state from conversations where id = $1', [mine[0]]);
    assert.equal(resolved!.state, 'resolved');

    // Alt+S: the search page, its field ready for typing
    await page.keyboard.press('Alt+KeyS');
    await page.waitForURL((url) => url.pathname === '/search');
    const field = page.getByRole('searchbox');
    await field.waitFor();
    assert.equal(await field.evaluate((el) => el === document.activeElement), true);
    await page.keyboard.type('Did that help');
    await page.keyboard.press('Enter');
    const [first] = await suite.server.db.query<{ name: string }>("select customer->>'name' as name from conversations where id = $1", [mine[0]]);
    await page.getByTestId('search-result').filter({ hasText: first!.name }).waitFor();
    assert.deepEqual(problems, []);
  });

  it('Alt+↓ and Alt+↑ walk the list as its label filter shows it, never opening a conversation the filter hides', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Grace' });
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const adminToken = (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
    const agentToken = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    for (const name of ['Ada Lovelace', 'Alan Turing', 'Barbara Liskov']) {
      assert.equal((await http('POST', '/api/v1/conversations', { customer: { id: name.toLowerCase().replace(' ', '-'), name } }, adminToken)).status, 201);
    }
    // the first and the last of the desk's list are VIPs; the one between them is not
    const listed = (await http('GET', `/api/v1/conversations?state=assigned&agent=${agent.id}&limit=100`, undefined, agentToken)).body as { id: string }[];
    assert.equal(listed.length, 3);
    assert.equal((await http('POST', '/api/v1/labels', { name: 'VIP', color: '#cc3300' }, adminToken)).status, 201);
    for (const c of [listed[0]!, listed[2]!]) assert.equal((await http('PUT', `/api/v1/conversations/${c.id}/labels`, { labels: ['VIP'] }, adminToken)).status, 200);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    const links = page.getByTestId('list-mine').getByRole('link');
    await links.nth(2).waitFor();
    await page.getByTestId('label-filter').selectOption('VIP');
    await links.nth(2).waitFor({ state: 'detached' });
    const shown = await links.evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).pathname.split('/').pop()));
    assert.deepEqual(shown, [listed[0]!.id, listed[2]!.id]);
    const openIs = async (id: string) => page.waitForURL((url) => url.pathname === `/conversations/${id}`);

    await page.keyboard.press('Alt+ArrowDown');
    await openIs(shown[0]!);
    await page.keyboard.press('Alt+ArrowDown');
    await openIs(shown[1]!);
    await page.keyboard.press('Alt+ArrowUp');
    await openIs(shown[0]!);
    // the list stays filtered: the hidden one was never opened
    assert.equal(await links.count(), 2);
    assert.deepEqual(problems, []);
  });
});
