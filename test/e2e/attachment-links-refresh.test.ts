import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import type { Download, FrameLocator, Locator, Page } from 'playwright-core';
import { browserServer, haveChromium, noteMissingChromium, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { PDF } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

// A chat stays open longer than its files' signed links live
// (ATTACHMENT_LINK_TTL): a picture first scrolled into view, or a file
// clicked, after they expired must still show and download, in the console
// and in the widget, the app fetching fresh links itself. Time is moved on,
// not waited for: the page's clock is Playwright's and the server's is the
// wall clock shifted by the test, the two moved together.

noteMissingChromium('test/e2e/attachment-links-refresh.test.ts');

const TTL_S = 300;
/** Past the links' lifetime, and past the apps' pause between two reads for fresh links. */
const LATER_MS = (TTL_S + 60) * 1000;
/**
 * Enough text around the picture that it is far out of view (lazy, so not
 * loaded) whether the chat is at its start, as it is drawn first, or its end,
 * where it is then scrolled.
 */
const filler = (label: string) => Array.from({ length: 30 }, (_, i) => `${label} ${i + 1}: ${'and then the settings page showed the same thing again, '.repeat(6)}`);

const loaded = (image: Locator) => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0);

/** Polls `check` until it holds, or fails naming `what` (on this process's clock, which the test does not move). */
async function eventually(check: () => Promise<boolean>, what: string, ms = 8_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function downloaded(page: Page, link: Locator): Promise<Buffer> {
  const [download] = (await Promise.all([page.waitForEvent('download'), link.click()])) as [Download, void];
  assert.equal(await download.failure(), null, 'the download went through');
  return readFile((await download.path())!);
}

describeEachStore('expired attachment links renewed in a real browser', (store) => {
  let shiftMs = 0;
  const suite = browserServer(store, () => ({ ATTACHMENT_LINK_TTL: String(TTL_S), SESSION_KEEP_ALIVE_TIME: '86400000' }), { now: () => new Date(Date.now() + shiftMs) });
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  /** The agent's picture and PDF in one message, in the middle of a long talk. */
  async function agentSendsFiles(conversationId: string, email: string): Promise<void> {
    const token = (await http('POST', '/api/v1/auth/login', { email, password: PASSWORD })).body.token as string;
    const upload = async (name: string, type: string, bytes: Buffer) => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
      const response = await fetch(`${suite.server.url}/api/v1/conversations/${conversationId}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
      assert.equal(response.status, 201);
      return ((await response.json()) as { id: string }).id;
    };
    const say = async (text: string) => assert.equal((await http('POST', `/api/v1/conversations/${conversationId}/messages`, { text }, token)).status, 201);
    for (const text of filler('Before')) await say(text);
    const picture = await upload('settings.png', 'image/png', await readFile('docs/screenshots/widget-queued.png'));
    const pdf = await upload('invoice.pdf', 'application/pdf', PDF);
    const sent = await http('POST', `/api/v1/conversations/${conversationId}/messages`, { text: 'Here they are', attachments: [{ id: picture }, { id: pdf }] }, token);
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    for (const text of filler('Line')) await say(text);
  }

  /** The server's clock and the page's, moved on together (the server's first: the page's heartbeats, fired by the move, then carry the new time). */
  const later = async (page: Page) => {
    shiftMs += LATER_MS;
    await page.clock.fastForward(LATER_MS);
  };

  /**
   * The chat open at its last line, the picture far above and not loaded.
   * Past the links' lifetime the picture is scrolled to: it shows, from a
   * fresh link. Past the fresh links' lifetime the file is clicked: it
   * downloads, and the link now shown answers; clicked again while that link
   * holds, it is followed as it is, with no read for fresh links.
   */
  async function linksOutliveTheirLifetime(page: Page, log: Locator, historyReads: () => number, problems: string[]) {
    await log.getByTestId('message').filter({ hasText: 'Line 30:' }).waitFor();
    const image = log.getByRole('img', { name: 'settings.png' });
    const file = log.getByTestId('attachment-file').filter({ hasText: 'invoice.pdf' });
    assert.equal(await loaded(image), false, 'the picture is out of view: not loaded yet');

    await later(page);
    const expires = Number(new URL((await image.getAttribute('src'))!, suite.server.url).searchParams.get('expires'));
    assert.ok(expires * 1000 <= suite.server.ctx.now().getTime(), 'the picture is about to be fetched with an expired link');
    await image.scrollIntoViewIfNeeded();
    await eventually(() => loaded(image), 'the picture scrolled into view after its link expired shows');
    assert.ok(await image.isVisible(), 'the chat stays where it was scrolled to');

    await later(page);
    assert.deepEqual(await downloaded(page, file), PDF, 'the expired file link was renewed before the download');
    assert.equal(await file.evaluate((a: HTMLAnchorElement) => fetch(a.href).then((r) => r.status)), 200, 'the link shown is the fresh one');
    const reads = historyReads();
    assert.deepEqual(await downloaded(page, file), PDF);
    assert.equal(historyReads(), reads, 'a link still good is followed as it is');

    // the picture's first try, with the expired link, is the one refusal the page logs
    assert.deepEqual(problems, ['console: Failed to load resource: the server responded with a status of 403 (Forbidden)']);
  }

  it('the console renews an expired file link when it is clicked and an expired picture when it comes into view', { skip: !haveChromium }, async () => {
    shiftMs = 0;
    const ctx = suite.server.ctx;
    const agent = await makeAgent(ctx, { status: 'online', capacity: 3, name: 'Grace' });
    // nobody goes offline or loses a chat over the time moved on (the sweep may run meanwhile)
    await ctx.db.query("update settings set value = '86400000'::jsonb where key in ('attendant_keep_alive_ms', 'agent_offline_grace_ms')");
    const chat = await http('POST', '/session', { customer: { id: 'ada', name: 'Ada Lovelace' } });
    assert.equal(chat.status, 201, JSON.stringify(chat.body));
    await agentSendsFiles(chat.body.sessionId as string, agent.email);

    const { page: desk, problems } = await suite.openPage({ width: 1200, height: 700 });
    let historyReads = 0;
    desk.on('request', (request) => void (/\/messages\?after=0&/.test(request.url()) && (historyReads += 1)));
    await desk.clock.install();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await linksOutliveTheirLifetime(desk, desk.getByRole('log', { name: 'Messages' }), () => historyReads, problems);
  });

  it('the widget renews an expired file link when it is clicked and an expired picture when it comes into view', { skip: !haveChromium }, async () => {
    shiftMs = 0;
    const ctx = suite.server.ctx;
    const agent = await makeAgent(ctx, { status: 'online', capacity: 3, name: 'Grace' });
    await ctx.db.query("update settings set value = '86400000'::jsonb where key in ('attendant_keep_alive_ms', 'agent_offline_grace_ms')");

    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    let historyReads = 0;
    shop.on('request', (request) => void (/\/messages\?after=0&/.test(request.url()) && (historyReads += 1)));
    await shop.clock.install();
    const widget: FrameLocator = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    const [{ id } = { id: '' }] = await ctx.db.query<{ id: string }>("select id from conversations where customer ->> 'name' = 'Ada Lovelace'");
    await agentSendsFiles(id, agent.email);
    // seen as it came, the picture was loaded then: the chat resumed after a reload shows it from the history, out of view
    await widget.getByTestId('message').filter({ hasText: 'Line 30:' }).waitFor();
    await shop.reload();

    await linksOutliveTheirLifetime(shop, widget.getByRole('log', { name: 'Messages' }), () => historyReads, problems);
  });
});
