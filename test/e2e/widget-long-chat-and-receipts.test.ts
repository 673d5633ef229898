import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { browserServer, cuttableLink, haveChromium, noteMissingChromium, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The customer's widget in a chat longer than one page of messages (100),
// its read receipts for what arrived while its tab was hidden, and Enter
// while an input method composes.

noteMissingChromium('test/e2e/widget-long-chat-and-receipts.test.ts');

// Headless Chromium's documents are always visible: this lets a test hide and
// show the widget's frame as a customer switching tabs would. Installed in the
// frame's document when first needed, not as an init script: the frame's
// window is kept from its blank first page (same origin), and Chromium does
// not always run init scripts again for the document that follows.
const widgetFrame = (shop: Page): Frame => shop.frames().find((f) => f !== shop.mainFrame() && f.url().includes('/widget/'))!;
// (a string: the compiled tests keep function names through a helper the page does not have)
const HIDE = `(next) => {
  if (!Object.getOwnPropertyDescriptor(document, 'visibilityState')) {
    Object.defineProperty(document, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { get: () => window.__hidden === true });
  }
  window.__hidden = next;
  document.dispatchEvent(new Event('visibilitychange'));
}`;
const setHidden = (shop: Page, hidden: boolean) => widgetFrame(shop).evaluate(`(${HIDE})(${hidden})`);

describeEachStore('widget in a long chat', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  /** A chat of the widget on `shop` with Grace: `say` writes as she does (heard live), `wrote` stores many of her messages at once, `unread` counts hers not yet read. */
  async function chatWithGrace(shop: Page) {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada');
    await widget.getByTestId('agent').filter({ hasText: 'Grace' }).waitFor();
    const [conv] = await store().db.query<{ id: string }>('select id from conversations');
    const say = async (text: string) => assert.equal((await http('POST', `/api/v1/conversations/${conv!.id}/messages`, { text }, token)).status, 201);
    const wrote = (count: number, prefix: string) =>
      store().db.query(
        `insert into messages (conversation_id, sender, sender_id, text, created_at)
         select $1, 'agent', $2, $3 || ' ' || i || '.', now() + i * interval '1 millisecond' from generate_series(1, $4::int) as i`,
        [conv!.id, agent.id, prefix, count],
      );
    const unread = async () => {
      const [row] = await store().db.query<{ n: number }>(`select count(*)::int as n from messages where conversation_id = $1 and sender = 'agent' and read_at is null`, [conv!.id]);
      return row!.n;
    };
    return { widget, conversationId: conv!.id, token, say, wrote, unread };
  }

  it('shows the newest of 105 agent messages after the shop page is reloaded', { skip: !haveChromium }, async () => {
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    const { widget, say, wrote } = await chatWithGrace(shop);
    await wrote(104, 'line');
    await say('line 105.');
    await widget.getByTestId('message').filter({ hasText: 'line 105.' }).waitFor();

    await shop.reload();
    // (the chat window stays open across the reload)
    await widget.getByTestId('agent').filter({ hasText: 'Grace' }).waitFor();
    await widget.getByTestId('message').filter({ hasText: 'line 105.' }).waitFor();
    assert.equal(await widget.getByTestId('message').count(), 105, 'every message once, in one list');
    assert.deepEqual(problems, []);
  });

  it('reads back all of the 105 agent messages written while its link was down', { skip: !haveChromium }, async () => {
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const link = await cuttableLink(shop);
    const { widget, say, wrote } = await chatWithGrace(shop);
    await say('before the outage.');
    await widget.getByTestId('message').filter({ hasText: 'before the outage.' }).waitFor();

    await link.cut();
    await widget.getByText('Reconnecting…').waitFor();
    await wrote(105, 'missed');
    link.restore();

    await widget.getByTestId('message').filter({ hasText: 'missed 105.' }).waitFor();
    assert.equal(await widget.getByTestId('message').count(), 106, 'every message once, in one list');
  });

  it('marks an agent message read once the customer comes back to the hidden tab it arrived in', { skip: !haveChromium }, async () => {
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const { widget, conversationId, token, say } = await chatWithGrace(shop);
    const readAt = async () =>
      ((await http('GET', `/api/v1/conversations/${conversationId}/messages`, undefined, token)).body as { text: string; read_at: string | null }[]).find((m) => m.text === 'hello from Grace')!.read_at;

    await setHidden(shop, true);
    await say('hello from Grace');
    await widget.getByTestId('message').filter({ hasText: 'hello from Grace' }).waitFor();
    // shown on a hidden page is not seen
    await shop.waitForTimeout(500);
    assert.equal(await readAt(), null);

    await setHidden(shop, false);
    const until = Date.now() + 5_000;
    while ((await readAt()) === null && Date.now() < until) await shop.waitForTimeout(100);
    assert.notEqual(await readAt(), null, 'the customer saw the message but it was never marked read');
  });

  it('leaves an agent message unread while the chat is minimised, counts it on the launcher, and marks it read once reopened', { skip: !haveChromium }, async () => {
    const { page: shop } = await suite.openPage({ width: 1000, height: 780 });
    const { widget, conversationId, token, say } = await chatWithGrace(shop);
    const readAt = async (text: string) =>
      ((await http('GET', `/api/v1/conversations/${conversationId}/messages`, undefined, token)).body as { text: string; read_at: string | null }[]).find((m) => m.text === text)!.read_at;
    await say('first from Grace');
    await widget.getByTestId('message').filter({ hasText: 'first from Grace' }).waitFor();
    const until = Date.now() + 5_000;
    while ((await readAt('first from Grace')) === null && Date.now() < until) await shop.waitForTimeout(100);
    assert.notEqual(await readAt('first from Grace'), null, 'a message on screen is read');

    await widget.getByRole('button', { name: 'Minimise the chat' }).click();
    await shop.locator('iframe[title="Chat with us"]').waitFor({ state: 'hidden' });
    await say('are you still there?');
    await say('I can help with the refund.');
    // the launcher says so, in its badge and in its name
    const launcher = shop.getByRole('button', { name: 'Chat with us (2 new messages)' });
    await launcher.waitFor();
    assert.equal(await shop.locator('[data-switchboard-widget] .badge').textContent(), '2');
    // the frame has them, but nobody can see them
    await widget.getByTestId('message').filter({ hasText: 'I can help with the refund.' }).waitFor({ state: 'attached' });
    await shop.waitForTimeout(500);
    assert.equal(await readAt('are you still there?'), null, 'marked read while the chat was minimised');
    assert.equal(await readAt('I can help with the refund.'), null);

    await launcher.click();
    await widget.getByTestId('message').filter({ hasText: 'I can help with the refund.' }).waitFor();
    const reopened = Date.now() + 5_000;
    while ((await readAt('I can help with the refund.')) === null && Date.now() < reopened) await shop.waitForTimeout(100);
    assert.notEqual(await readAt('are you still there?'), null, 'the customer saw the message but it was never marked read');
    assert.notEqual(await readAt('I can help with the refund.'), null);
    assert.equal(await shop.locator('[data-switchboard-widget] .badge').isVisible(), false);
    await shop.getByRole('button', { name: 'Close chat', exact: true }).waitFor();
  });

  it('marks read more agent messages than one receipt may carry (500) when the customer comes back', { skip: !haveChromium }, async () => {
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const link = await cuttableLink(shop);
    const { widget, wrote, unread } = await chatWithGrace(shop);
    // read back after an outage while the tab is hidden: all of them unread on screen at once
    await setHidden(shop, true);
    await link.cut();
    await widget.getByText('Reconnecting…').waitFor();
    await wrote(620, 'while away');
    link.restore();
    await widget.getByTestId('message').filter({ hasText: 'while away 620.' }).waitFor();
    assert.equal(await unread(), 620);

    await setHidden(shop, false);
    const until = Date.now() + 5_000;
    while ((await unread()) > 0 && Date.now() < until) await shop.waitForTimeout(100);
    assert.equal(await unread(), 0, 'messages the customer has seen are left unread');
  });

  it('does not send a message when Enter only confirms what an input method composes', { skip: !haveChromium }, async () => {
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const { widget } = await chatWithGrace(shop);
    const composer = widget.getByLabel('Your message');
    await composer.fill('にほんご');
    // Chromium and Firefox: isComposing; Safari ends the composition first and sends keyCode 229
    for (const init of [{ isComposing: true, keyCode: 229 }, { isComposing: true }, { keyCode: 229 }]) {
      await composer.evaluate((el, init) => el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', bubbles: true, cancelable: true, ...init })), init);
    }
    assert.equal(await composer.inputValue(), 'にほんご', 'the half-typed message is still being written');

    await composer.press('Enter');
    await widget.getByTestId('message').filter({ hasText: 'にほんご' }).waitFor();
    const rows = await store().db.query<{ text: string }>(`select text from messages where sender = 'customer'`);
    assert.deepEqual(
      rows.map((r) => r.text),
      ['にほんご'],
    );
  });
});
