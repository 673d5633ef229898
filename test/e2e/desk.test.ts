import assert from 'node:assert/strict';
import { it } from 'node:test';
import { accessibilityViolations } from '../helpers/axe.js';
import { browserServer, haveChromium, noteMissingChromium, shoot, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The agent's desk, part 1, in a real browser (Debian's Chromium through
// playwright-core): an admin keeps labels, an agent manages a personal
// canned response, inserts canned responses with "/" (variables filled in;
// the list a combobox's listbox to a screen reader),
// writes a private note the customer's widget never shows, labels the chat
// and filters the list by label; the dashboard counts it.

noteMissingChromium('test/e2e/desk.test.ts');

describeEachStore('the desk: canned responses, notes and labels in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('an admin adds a label; an agent uses canned responses, writes a private note the widget never shows, labels the chat and filters by label', { skip: !haveChromium }, async () => {
    // (the store is emptied before each test: the bootstrap admin is gone)
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    assert.equal((await http('POST', '/api/v1/labels', { name: 'refund', color: '#3366cc' }, admin)).status, 201);
    for (const [shortcut, text] of [
      ['greet', 'Hello {{customer.name}}, this is {{agent.name}}. How can I help?'],
      ['greet-late', 'Good evening {{customer.name}} <{{customer.email}}>, {{order.id}} noted.'],
    ]) {
      assert.equal((await http('POST', '/api/v1/canned-responses', { shortcut, text, scope: 'shared' }, admin)).status, 201);
    }
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const first = await http('POST', '/session', { customer: { id: 'first', name: 'First Customer' } });
    assert.equal(first.body.state, 'assigned');

    // the admin adds the VIP label on the Labels page
    const { page: adminPage, problems: adminProblems } = await suite.openPage();
    await signIn(adminPage, suite.server.url, adminAgent.email);
    await adminPage.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Labels' }).click();
    const newLabel = adminPage.getByRole('form', { name: 'New label' });
    await newLabel.getByLabel('Name').fill('VIP');
    await newLabel.getByLabel('Colour').fill('#ffaa00');
    await newLabel.getByRole('button', { name: 'Add label' }).click();
    await adminPage.getByTestId('labels-table').getByText('VIP').waitFor();

    // a customer starts a chat on the widget
    const { page: shop, problems: shopProblems } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();

    // the agent adds a personal canned response on its page
    const { page: desk, problems: deskProblems, dialogs } = await suite.openPage(undefined, { acceptConfirms: true });
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Canned responses' }).click();
    const form = desk.getByRole('form', { name: 'New canned response' });
    await form.getByLabel('Shortcut').fill('thanks');
    await form.getByLabel('Text').fill('Thanks {{customer.name}}');
    await form.getByRole('button', { name: 'Add canned response' }).click();
    const table = desk.getByTestId('canned-table');
    await table.getByText('/thanks').waitFor();
    // shared ones are not the agent's to change; their own is
    assert.equal(await table.getByRole('button', { name: 'Edit /greet' }).count(), 0);
    await table.getByRole('button', { name: 'Edit /thanks' }).click();
    await table.getByLabel('Text of /thanks').fill('Thank you, {{customer.name}}!');
    await table.getByRole('button', { name: 'Save', exact: true }).click();
    await table.getByText('Thank you, {{customer.name}}!').waitFor();
    // an agent may not make a shared one: the scope choice is not offered
    assert.equal(await form.getByLabel('For').count(), 0);

    // "/" in the composer: a filtered list, arrows and Enter insert with the variables filled in
    await desk.getByRole('link', { name: 'Switchboard' }).click();
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    const reply = desk.getByLabel('Reply');
    await reply.fill('/gr');
    const list = desk.getByTestId('canned-list');
    await list.getByText('/greet-late').waitFor();
    await shoot(desk, 'console-canned');
    assert.deepEqual(await list.locator('strong').allTextContents(), ['/greet', '/greet-late']);
    await reply.press('ArrowDown');
    await reply.press('Enter');
    // a known variable without a value would be empty; an unknown one is left for the agent to see
    assert.equal(await reply.inputValue(), 'Good evening Ada Lovelace <ada@example.test>, {{order.id}} noted.');
    assert.equal(await list.count(), 0);
    await reply.fill('/thank');
    await list.getByText('/thanks').waitFor();
    await reply.press('Escape');
    assert.equal(await list.count(), 0, 'Escape closes the list');
    await reply.fill('/greet');
    await list.getByText('/greet-late').waitFor();
    await reply.press('Enter');
    assert.equal(await reply.inputValue(), 'Hello Ada Lovelace, this is Grace. How can I help?');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    await widget.getByTestId('message').filter({ hasText: 'Hello Ada Lovelace, this is Grace. How can I help?' }).waitFor();

    // a private note: shown apart in the console, never on the widget
    await desk.getByRole('checkbox', { name: 'Private note' }).check();
    await desk.getByRole('textbox', { name: 'Private note' }).fill('SECRET: she was double charged');
    await desk.getByRole('button', { name: 'Add note' }).click();
    const note = desk.getByTestId('note').filter({ hasText: 'SECRET: she was double charged' });
    await note.waitFor();
    await note.getByText('Private note · you').waitFor();
    const colours = {
      note: await note.evaluate((el) => getComputedStyle(el).backgroundColor),
      reply: await desk.getByTestId('message').filter({ hasText: 'this is Grace' }).evaluate((el) => getComputedStyle(el).backgroundColor),
    };
    assert.notEqual(colours.note, colours.reply, 'a note looks different from a reply');
    // its author edits it, and deletes another
    await note.getByRole('button', { name: 'Edit' }).click();
    await desk.getByLabel('Edit note').fill('SECRET: she was double charged, refund sent');
    await desk.getByRole('button', { name: 'Save note' }).click();
    await desk.getByTestId('note').filter({ hasText: 'SECRET: she was double charged, refund sent' }).getByText('Private note · you · edited').waitFor();
    await desk.getByRole('textbox', { name: 'Private note' }).fill('SECRET: a note to delete');
    await desk.getByRole('button', { name: 'Add note' }).click();
    const doomed = desk.getByTestId('note').filter({ hasText: 'SECRET: a note to delete' });
    await doomed.getByRole('button', { name: 'Delete' }).click();
    await doomed.waitFor({ state: 'detached' });
    assert.equal(dialogs.length, 1);
    await desk.getByRole('checkbox', { name: 'Private note' }).uncheck();
    await reply.fill('/thanks');
    await list.getByText('/thanks').waitFor();
    await reply.press('Enter');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    // the reply sent after the note arrives; the note never does, not even after a reload (history over HTTP)
    await widget.getByTestId('message').filter({ hasText: 'Thank you, Ada Lovelace!' }).waitFor();
    assert.equal(await widget.getByText('SECRET', { exact: false }).count(), 0);
    await shop.reload();
    await widget.getByTestId('message').filter({ hasText: 'Thank you, Ada Lovelace!' }).waitFor();
    assert.equal(await widget.getByText('SECRET', { exact: false }).count(), 0);

    // labels: add one in the panel, see the chip on the chat and in the list, filter the list by it
    await desk.getByLabel('Label to add').selectOption('VIP');
    await desk.getByRole('region', { name: 'Labels' }).getByRole('button', { name: 'Add', exact: true }).click();
    await desk.getByTestId('conversation-labels').getByTestId('label-chip').filter({ hasText: 'VIP' }).waitFor();
    const mine = desk.getByTestId('list-mine');
    await mine.getByRole('link', { name: /Ada Lovelace/ }).getByTestId('label-chip').filter({ hasText: 'VIP' }).waitFor();
    await shoot(desk, 'console-note');
    await mine.getByRole('link', { name: /First Customer/ }).waitFor();
    await desk.getByTestId('label-filter').selectOption('VIP');
    await mine.getByRole('link', { name: /First Customer/ }).waitFor({ state: 'detached' });
    await mine.getByRole('link', { name: /Ada Lovelace/ }).waitFor();
    await desk.getByTestId('label-filter').selectOption('refund');
    await mine.getByText('No conversation labelled refund.').waitFor();
    await desk.getByTestId('label-filter').selectOption('');
    await mine.getByRole('link', { name: /First Customer/ }).waitFor();
    // and off again
    await desk.getByRole('button', { name: 'Remove label VIP' }).click();
    await desk.getByTestId('conversation-labels').getByText('No labels.').waitFor();
    await desk.getByLabel('Label to add').selectOption('VIP');
    await desk.getByRole('region', { name: 'Labels' }).getByRole('button', { name: 'Add', exact: true }).click();
    await desk.getByTestId('conversation-labels').getByTestId('label-chip').filter({ hasText: 'VIP' }).waitFor();
    // (the chip shows what was asked at once; the dashboard below reads what is stored)
    const carryingVip = async () => (await suite.server.ctx.db.query<{ n: number }>(`select count(*)::int as n from conversations where 'VIP' = any(labels)`))[0]!.n;
    for (let tries = 0; (await carryingVip()) !== 1 && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await carryingVip(), 1, 'the label added again is stored');

    // the dashboard counts conversations per label
    await adminPage.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dashboard' }).click();
    const row = adminPage.getByTestId('label-stats').getByRole('row', { name: /VIP/ });
    await row.waitFor();
    assert.deepEqual(await row.locator('td').allTextContents(), ['VIP', '1', '1']);

    // an admin's All list filters on the server (label=), past the newest hundred it holds
    await adminPage.getByRole('link', { name: 'Switchboard' }).click();
    await adminPage.getByTestId('tab-all').click();
    const all = adminPage.getByTestId('list-all');
    await all.getByRole('link', { name: /First Customer/ }).waitFor();
    const filtered = adminPage.waitForResponse((r) => r.url().includes('/api/v1/conversations?label=VIP'));
    await adminPage.getByTestId('label-filter').selectOption('VIP');
    assert.equal((await filtered).status(), 200);
    await all.getByRole('link', { name: /First Customer/ }).waitFor({ state: 'detached' });
    await all.getByRole('link', { name: /Ada Lovelace/ }).waitFor();

    assert.deepEqual(deskProblems, []);
    assert.deepEqual(shopProblems, []);
    assert.deepEqual(adminProblems, []);
  });

  it("keeps an open chat's labels in step with the catalogue while an admin renames and adds labels", { skip: !haveChromium }, async () => {
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    const refund = await http('POST', '/api/v1/labels', { name: 'refund', color: '#3366cc' }, admin);
    assert.equal(refund.status, 201);
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const opened = await http('POST', '/session', { customer: { id: 'labelled', name: 'Lena Label' } });
    assert.equal(opened.body.state, 'assigned');
    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByTestId('list-mine').getByRole('link', { name: /Lena Label/ }).click();
    const toAdd = desk.getByLabel('Label to add');
    await toAdd.locator('option', { hasText: 'refund' }).waitFor({ state: 'attached' });

    // meanwhile the admin renames one and adds another: opening the list shows them as they are now
    assert.equal((await http('PATCH', `/api/v1/labels/${refund.body.id}`, { name: 'Refund request' }, admin)).status, 200);
    assert.equal((await http('POST', '/api/v1/labels', { name: 'Urgent', color: '#cc0000' }, admin)).status, 201);
    await toAdd.focus();
    await toAdd.locator('option', { hasText: 'Urgent' }).waitFor({ state: 'attached' });
    assert.deepEqual(await toAdd.locator('option').allTextContents(), ['Add a label…', 'Refund request', 'Urgent']);
    await toAdd.selectOption('Refund request');
    await desk.getByRole('region', { name: 'Labels' }).getByRole('button', { name: 'Add', exact: true }).click();
    const chip = desk.getByTestId('conversation-labels').getByTestId('label-chip');
    await chip.filter({ hasText: 'Refund request' }).waitFor();

    // every label on: the list stays, says so, and opened again shows one an admin adds meanwhile
    await toAdd.selectOption('Urgent');
    await desk.getByRole('region', { name: 'Labels' }).getByRole('button', { name: 'Add', exact: true }).click();
    await chip.filter({ hasText: 'Urgent' }).waitFor();
    assert.deepEqual(await toAdd.locator('option').allTextContents(), ['No other labels']);
    assert.equal(await desk.getByRole('region', { name: 'Labels' }).getByRole('button', { name: 'Add', exact: true }).isDisabled(), true);
    assert.equal((await http('POST', '/api/v1/labels', { name: 'Billing', color: '#118833' }, admin)).status, 201);
    await desk.getByRole('region', { name: 'Labels' }).getByRole('heading', { name: 'Labels' }).click();
    await toAdd.focus();
    await toAdd.locator('option', { hasText: 'Billing' }).waitFor({ state: 'attached' });
    assert.deepEqual(await toAdd.locator('option').allTextContents(), ['Add a label…', 'Billing']);
    // chosen, then deleted by the admin before Add: the choice goes with it
    await toAdd.selectOption('Billing');
    const billing = ((await http('GET', '/api/v1/labels', undefined, admin)).body as { id: string; name: string }[]).find((l) => l.name === 'Billing')!;
    assert.equal((await http('DELETE', `/api/v1/labels/${billing.id}`, undefined, admin)).status, 204);
    await desk.getByRole('region', { name: 'Labels' }).getByRole('heading', { name: 'Labels' }).click();
    await toAdd.focus();
    await toAdd.locator('option', { hasText: 'Billing' }).waitFor({ state: 'detached' });
    assert.equal(await toAdd.inputValue(), '');
    assert.equal(await desk.getByRole('region', { name: 'Labels' }).getByRole('button', { name: 'Add', exact: true }).isDisabled(), true);
    await desk.getByRole('button', { name: 'Remove label Urgent' }).click();
    await chip.filter({ hasText: 'Urgent' }).waitFor({ state: 'detached' });
    // (the chip goes at once; the rename below waits for the removal to be stored, or it may refuse the label as unknown)
    const stored = async () => (await suite.server.ctx.db.query<{ labels: string[] }>('select labels from conversations where id = $1', [opened.body.sessionId]))[0]!.labels;
    for (let tries = 0; (await stored()).length !== 1 && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await stored(), ['Refund request']);

    // renamed again while on the chat: the chip follows, in the label's colour
    assert.equal((await http('PATCH', `/api/v1/labels/${refund.body.id}`, { name: 'Refunds' }, admin)).status, 200);
    await chip.filter({ hasText: 'Refunds' }).waitFor();
    await desk.waitForFunction(() => {
      const shown = document.querySelector('[data-testid="conversation-labels"] [data-testid="label-chip"]');
      return shown !== null && getComputedStyle(shown).backgroundColor === 'rgb(51, 102, 204)';
    });
    assert.deepEqual(problems, []);
  });

  it('"/refund" lists and inserts the refund response first, ahead of eight whose texts mention refunds and sort before it', { skip: !haveChromium }, async () => {
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    const mentions = ['apology', 'billing', 'cancel', 'delay', 'exchange', 'faq', 'goodwill', 'hours'];
    for (const [shortcut, text] of [...mentions.map((s) => [s, `About ${s}: our refund policy applies.`]), ['refund', 'Your refund of the full amount is on its way.']]) {
      assert.equal((await http('POST', '/api/v1/canned-responses', { shortcut, text, scope: 'shared' }, admin)).status, 201);
    }
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Grace' });
    const opened = await http('POST', '/session', { customer: { id: 'rita', name: 'Rita' } });
    assert.equal(opened.body.state, 'assigned');

    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Rita/ }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    const reply = desk.getByLabel('Reply');
    await reply.fill('/refund');
    const list = desk.getByTestId('canned-list');
    await list.getByText('/refund', { exact: true }).waitFor();
    const shown = await list.locator('strong').allTextContents();
    assert.equal(shown.length, 8);
    assert.deepEqual(shown.slice(0, 2), ['/refund', '/apology']);
    await reply.press('Enter');
    assert.equal(await reply.inputValue(), 'Your refund of the full amount is on its way.');
    assert.deepEqual(problems, []);
  });

  it('the "/" list reads to a screen reader as the reply box’s choices: a combobox, its listbox and the option the arrows are on', { skip: !haveChromium }, async () => {
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    for (const [shortcut, text] of [['hello', 'Hello, how can I help?'], ['help', 'Here is our help centre.']]) {
      assert.equal((await http('POST', '/api/v1/canned-responses', { shortcut, text, scope: 'shared' }, admin)).status, 201);
    }
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Grace' });
    const opened = await http('POST', '/session', { customer: { id: 'rita', name: 'Rita' } });
    assert.equal(opened.body.state, 'assigned');

    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Rita/ }).click();
    const reply = desk.getByRole('textbox', { name: 'Reply' });
    await reply.fill('/hel');
    const box = desk.getByRole('combobox', { name: 'Reply' });
    await box.waitFor();
    assert.equal(await box.getAttribute('aria-expanded'), 'true');
    assert.equal(await box.getAttribute('aria-autocomplete'), 'list');
    const list = desk.getByRole('listbox', { name: 'Canned responses' });
    assert.equal(await box.getAttribute('aria-controls'), await list.getAttribute('id'));
    const options = list.getByRole('option');
    assert.equal(await options.count(), 2);
    const selected = list.getByRole('option', { selected: true });
    assert.equal(await selected.count(), 1);
    assert.equal(await selected.getAttribute('id'), await options.nth(0).getAttribute('id'));
    assert.equal(await box.getAttribute('aria-activedescendant'), await options.nth(0).getAttribute('id'));
    assert.deepEqual(await accessibilityViolations(desk), []);

    // the arrows move the active option, which the box names; the focus stays in the box
    await box.press('ArrowDown');
    await desk.waitForFunction(() => document.querySelector('[role="option"][aria-selected="true"]') === document.querySelectorAll('[role="option"]')[1]);
    assert.equal(await box.getAttribute('aria-activedescendant'), await options.nth(1).getAttribute('id'));
    assert.equal(await box.evaluate((el) => el === document.activeElement), true);

    // closed, it is a text box again
    await box.press('Escape');
    await list.waitFor({ state: 'detached' });
    assert.equal(await desk.getByRole('combobox', { name: 'Reply' }).count(), 0);
    assert.equal(await reply.inputValue(), '/hel');
    assert.deepEqual(problems, []);
  });
});
