import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { accessibilityViolations } from '../helpers/axe.js';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// Issue #18, item 9: the widget and the console pass axe-core's WCAG 2.1 AA
// rules in every state a customer or an agent meets — the launcher on a
// shop's page, the start form, a live chat, the rating after it, the
// console's sign-in, chat, search, dashboard and every admin page — and a
// customer can start and carry a chat from the keyboard alone.

noteMissingChromium('test/e2e/accessibility.test.ts');

async function expectAccessible(target: Page | Frame, where: string, include?: string): Promise<void> {
  const violations = await accessibilityViolations(target, include);
  assert.deepEqual(violations, [], `${where}: WCAG 2.1 AA violations:\n${violations.join('\n')}`);
}

async function widgetFrame(shop: Page): Promise<Frame> {
  const frame = await (await shop.locator('iframe[title="Chat with us"]').elementHandle())?.contentFrame();
  assert.ok(frame, 'the widget frame');
  return frame;
}

describeEachStore('accessibility (WCAG 2.1 AA) in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('the widget, from the launcher to the rating, passes axe and works from the keyboard alone', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    await shop.goto(`${suite.server.url}/widget/demo`);
    const launcher = shop.getByRole('button', { name: 'Chat with us' });
    await launcher.waitFor();
    await expectAccessible(shop, 'the shop page with the launcher');

    // keyboard only: Tab to the launcher, Enter opens the chat with the focus inside it
    // (the launcher lives in a shadow root: the document's active element is its host)
    const launcherFocused = () => launcher.evaluate((el) => (el.getRootNode() as Document | ShadowRoot).activeElement === el);
    for (let i = 0; i < 20 && !(await launcherFocused()); i++) await shop.keyboard.press('Tab');
    assert.equal(await launcherFocused(), true, 'the launcher is reachable with Tab');
    await shop.keyboard.press('Enter');
    const widget = shop.frameLocator('iframe[title="Chat with us"]');
    const name = widget.getByLabel('Name');
    await name.waitFor();
    const frame = await widgetFrame(shop);
    await expectAccessible(frame, 'the widget start form');
    await name.focus();
    await shop.keyboard.type('Ada Lovelace');
    await shop.keyboard.press('Tab');
    await shop.keyboard.type('ada@example.test');
    await widget.getByRole('button', { name: 'Start chat' }).focus();
    await shop.keyboard.press('Enter');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    const composer = widget.getByLabel('Your message');
    await composer.focus();
    await shop.keyboard.type('Where is my parcel?');
    await shop.keyboard.press('Enter');
    await widget.getByText('Where is my parcel?').waitFor();
    await expectAccessible(frame, 'the widget in a live chat');

    // the agent answers and resolves; the console's chat view passes too
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('message').filter({ hasText: 'Where is my parcel?' }).waitFor();
    await expectAccessible(desk, "the agent's console with an open chat");
    await desk.getByRole('button', { name: 'Resolve' }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();

    // the rating, chosen and sent from the keyboard
    const rating = widget.getByTestId('rating');
    await rating.waitFor();
    await expectAccessible(frame, 'the widget asking for a rating');
    await rating.getByRole('radio', { name: '5 of 5: Excellent' }).focus();
    await shop.keyboard.press('Space');
    await rating.getByRole('button', { name: 'Send rating' }).focus();
    await shop.keyboard.press('Enter');
    await widget.getByTestId('rating-thanks').waitFor();
    await expectAccessible(frame, 'the widget after the rating');
    assert.deepEqual(problems, []);
    assert.deepEqual(deskProblems, []);
  });

  it('the offline form outside business hours, and its thanks, pass axe', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const token = (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
    // a schedule that never opens: every day is closed
    const weekly = Object.fromEntries(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, []]));
    const saved = await http('PUT', '/api/v1/business-hours', { default: { time_zone: 'UTC', weekly } }, token);
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    await shop.goto(`${suite.server.url}/widget/demo`);
    await shop.getByRole('button', { name: 'Chat with us' }).click();
    const widget = shop.frameLocator('iframe[title="Chat with us"]');
    await widget.getByTestId('offline-form').waitFor();
    const frame = await widgetFrame(shop);
    await expectAccessible(frame, 'the offline form');
    // a refused send shows its error at the field: that state passes too
    await widget.getByRole('button', { name: 'Send message' }).click();
    await expectAccessible(frame, 'the offline form with its errors');
    await widget.getByLabel('Name', { exact: true }).fill('Ada Lovelace');
    await widget.getByLabel('Email', { exact: true }).fill('ada@example.test');
    await widget.getByLabel('Message', { exact: true }).fill('Please call me back.');
    await widget.getByRole('button', { name: 'Send message' }).click();
    await widget.getByTestId('offline-thanks').waitFor();
    await expectAccessible(frame, 'the offline thanks');
    assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
  });

  it("the console's sign-in, search, dashboard and every admin page pass axe", { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const { page, problems } = await suite.openPage({ width: 1280, height: 900 });
    await page.goto(`${suite.server.url}/`);
    await page.getByLabel('Email').waitFor();
    await expectAccessible(page, 'the sign-in page');
    await signIn(page, suite.server.url, admin.email);
    await expectAccessible(page, 'the conversation lists');

    const pages = page.getByRole('navigation', { name: 'Pages' });
    const links = await pages.getByRole('link').allTextContents();
    assert.ok(links.length >= 8, `the admin's pages: ${links.join(', ')}`);
    for (const label of links) {
      await pages.getByRole('link', { name: label, exact: true }).click();
      // each page has settled once its loading notes are gone
      await page.waitForLoadState('networkidle');
      await page.waitForTimeout(200);
      await expectAccessible(page, `the ${label.trim()} page`);
    }
    assert.deepEqual(problems, []);
  });
});
