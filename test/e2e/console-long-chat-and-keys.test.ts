import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The open chat in the console, in a real browser: a long conversation shows
// its newest messages (not only its first page) and marks them read; Alt
// keys that type a character in the reply box (⌥ Option on a Mac: an accent,
// ç) are typing, not shortcuts; and the Enter that ends an IME composition
// neither sends nor picks a canned response; the canned response the arrows
// reach stays in sight in the list; and Enter does not send a "/" shortcut
// that matches none.

noteMissingChromium('test/e2e/console-long-chat-and-keys.test.ts');

/** Presses a key in `target` as the browser would report it (`key` is what the layout makes of it); whether the page let it be (not preventDefault). */
const press = (target: Locator, init: { key: string; code: string; altKey?: boolean; keyCode?: number; isComposing?: boolean }) =>
  target.evaluate((el, i) => el.dispatchEvent(new KeyboardEvent('keydown', { ...i, bubbles: true, cancelable: true })), init);

/** Makes window.confirm answer `answer`, and keeps what it asked. */
const answerConfirms = (page: Page, answer: boolean) =>
  page.evaluate((a) => {
    const w = window as unknown as { asked?: string[]; confirm: (m: string) => boolean };
    w.asked = [];
    w.confirm = (m) => (w.asked!.push(m), a);
  }, answer);
const confirmsAsked = (page: Page) => page.evaluate(() => (window as unknown as { asked?: string[] }).asked ?? []);

describeEachStore('the open chat in the console, in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
  const stateOf = async (id: string) => (await suite.server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [id]))[0]!.state;

  /** A widget chat for `name`, assigned to the one online agent. */
  async function chat(name: string): Promise<{ id: string; token: string }> {
    const opened = await http('POST', '/session', { customer: { id: name.toLowerCase().replace(/\W+/g, '-'), name } });
    assert.equal(opened.body.state, 'assigned', JSON.stringify(opened.body));
    return { id: opened.body.sessionId as string, token: opened.body.token as string };
  }

  it('shows the newest of 600 messages, then live ones after them, and marks them all read (more than one receipt carries)', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const { id } = await chat('Long Talker');
    await suite.server.ctx.db.query(
      `insert into messages (conversation_id, sender, text, created_at)
       select $1, 'customer', 'customer line ' || i, now() - interval '1 hour' + i * interval '1 second' from generate_series(1, 600) as i`,
      [id],
    );
    const [newest] = await suite.server.ctx.db.query<{ id: number }>('select max(id)::int as id from messages where conversation_id = $1', [id]);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.goto(`${suite.server.url}/conversations/${id}`);
    const messages = page.getByTestId('message');
    await messages.getByText('customer line 600', { exact: true }).waitFor();
    assert.equal(await messages.count(), 600);
    assert.equal(await messages.last().getAttribute('data-message-id'), String(newest!.id));

    // marked read up to the last message: the agent's marker, and no unread count left
    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    const until = Date.now() + 5_000;
    let read = 0;
    while (read !== newest!.id && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      read = (await suite.server.ctx.db.query<{ id: number }>('select last_read_message_id::int as id from conversation_reads where conversation_id = $1 and agent_id = $2', [id, agent.id]))[0]?.id ?? 0;
    }
    assert.equal(read, newest!.id);
    // and the customer is told: every one of their messages read (a receipt takes 500 ids at most)
    const readFor = async () => (await suite.server.ctx.db.query<{ n: number }>(`select count(*)::int as n from messages where conversation_id = $1 and sender = 'customer' and read_at is not null`, [id]))[0]!.n;
    const receiptsBy = Date.now() + 5_000;
    while ((await readFor()) < 600 && Date.now() < receiptsBy) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await readFor(), 600);
    assert.equal((await http('GET', `/api/v1/conversations/${id}`, undefined, token)).body.unread, 0);

    // a live message comes after them, at the end of the log
    assert.equal((await http('POST', `/api/v1/conversations/${id}/messages`, { text: 'and one more, live' }, token)).status, 201);
    await messages.filter({ hasText: 'and one more, live' }).waitFor();
    assert.match((await messages.last().textContent()) ?? '', /and one more, live/);
    assert.equal(await messages.count(), 601);
    assert.deepEqual(problems, []);
  });

  it('Alt keys that type a character in the reply box are typing; the plain Alt+E resolves, asking first when a reply is unsent', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const first = await chat('Ana Lima');
    const second = await chat('Bea Costa');
    const { page, problems } = await suite.openPage();
    // a Mac's browser, where ⌥ Option types characters (elsewhere Alt+letter is always the shortcut: test/unit/console-shortcuts.test.ts)
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setUserAgentOverride', { userAgent: await page.evaluate(() => navigator.userAgent), platform: 'MacIntel' });
    await signIn(page, suite.server.url, agent.email);
    await page.goto(`${suite.server.url}/conversations/${first.id}`);
    const reply = page.locator('#reply');
    await reply.fill('Hola, est');
    assert.equal(await page.evaluate(() => navigator.platform), 'MacIntel');

    // ⌥E on a Mac starts an accent (a dead key), ⌥C types ç, ⌥R ®: the reply box gets them, nothing else happens
    for (const typed of [{ code: 'KeyE', key: 'Dead' }, { code: 'KeyE', key: 'é' }, { code: 'KeyC', key: 'ç' }, { code: 'KeyR', key: '®' }, { code: 'KeyT', key: '†' }]) {
      assert.equal(await press(reply, { ...typed, altKey: true }), true, `Alt+${typed.code} typing ${typed.key} was taken as a shortcut`);
    }
    await page.waitForTimeout(500);
    assert.equal(await stateOf(first.id), 'assigned');
    assert.equal(await reply.inputValue(), 'Hola, est');
    assert.equal(await page.getByTestId('canned-list').count(), 0);
    assert.equal(await reply.evaluate((el) => el === document.activeElement), true);

    // Alt+E where Alt types nothing (Windows, Linux) is the shortcut, and with a reply unsent it asks first
    await answerConfirms(page, false);
    await page.keyboard.press('Alt+KeyE');
    await page.waitForTimeout(500);
    assert.equal((await confirmsAsked(page)).length, 1);
    assert.equal(await stateOf(first.id), 'assigned');
    assert.equal(await reply.inputValue(), 'Hola, est');
    await answerConfirms(page, true);
    await page.keyboard.press('Alt+KeyE');
    await page.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    assert.equal(await stateOf(first.id), 'resolved');

    // outside a text field nothing is typed: ⌥E (a dead key there too) is the shortcut, and with no reply written it does not ask
    await page.goto(`${suite.server.url}/conversations/${second.id}`);
    await reply.waitFor();
    await answerConfirms(page, false);
    const log = page.getByRole('log', { name: 'Messages' });
    await log.focus();
    assert.equal(await press(log, { code: 'KeyE', key: 'Dead', altKey: true }), false);
    await page.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    assert.equal(await stateOf(second.id), 'resolved');
    assert.deepEqual(await confirmsAsked(page), []);
    assert.deepEqual(problems, []);
  });

  it('the Enter that ends an IME composition neither sends the reply nor picks a canned response', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    assert.equal((await http('POST', '/api/v1/canned-responses', { shortcut: 'wait', text: 'おまたせしました', scope: 'personal' }, token)).status, 201);
    const { id } = await chat('Haruki');
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.goto(`${suite.server.url}/conversations/${id}`);
    const reply = page.locator('#reply');
    const messageCount = async () => (await suite.server.ctx.db.query<{ n: number }>('select count(*)::int as n from messages where conversation_id = $1', [id]))[0]!.n;

    // Chromium reports the Enter that confirms a composition with isComposing (Safari: keyCode 229)
    await reply.fill('にほんご');
    await press(reply, { key: 'Enter', code: 'Enter', isComposing: true, keyCode: 229 });
    await press(reply, { key: 'Enter', code: 'Enter', keyCode: 229 });
    await page.waitForTimeout(500);
    assert.equal(await messageCount(), 0);
    assert.equal(await reply.inputValue(), 'にほんご');

    // (the list finds a canned response by its text too)
    await reply.fill('/おまた');
    await page.getByTestId('canned-list').getByText('おまたせしました').waitFor();
    await press(reply, { key: 'Enter', code: 'Enter', isComposing: true, keyCode: 229 });
    await page.waitForTimeout(300);
    assert.equal(await reply.inputValue(), '/おまた');

    // the Enter after the composition sends, as always
    await reply.fill('にほんごでおねがいします');
    await reply.press('Enter');
    await page.getByTestId('message').filter({ hasText: 'にほんごでおねがいします' }).waitFor();
    assert.equal(await messageCount(), 1);
    assert.deepEqual(problems, []);
  });

  it('keeps the canned response the arrows reach in sight, round from the first to the last; a shortcut matching none is sent only after Escape', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    for (let i = 1; i <= 20; i++) {
      const n = String(i).padStart(2, '0');
      assert.equal((await http('POST', '/api/v1/canned-responses', { shortcut: `answer${n}`, text: `Answer number ${n}`, scope: 'personal' }, token)).status, 201);
    }
    const { id } = await chat('Scroller');
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.goto(`${suite.server.url}/conversations/${id}`);
    const reply = page.locator('#reply');
    await reply.fill('/answer');
    const list = page.getByTestId('canned-list');
    // the eight best, more than the list's height holds (else nothing here could go out of sight)
    await list.getByRole('option').nth(7).waitFor({ state: 'attached' });
    assert.equal(await list.getByRole('option').count(), 8);
    const heights = await list.evaluate((el) => ({ content: el.scrollHeight, box: el.clientHeight }));
    assert.ok(heights.content > heights.box + 40, `the list overflows its height: ${JSON.stringify(heights)}`);
    /** the active option's text, and whether all of it lies inside the list's visible box */
    const active = async () => {
      const option = list.locator('[role=option][aria-selected=true]');
      const [box, within] = [await option.boundingBox(), await list.boundingBox()];
      return { text: (await option.locator('strong').textContent())!, inSight: !!box && !!within && box.y >= within.y - 1 && box.y + box.height <= within.y + within.height + 1 };
    };
    assert.deepEqual(await active(), { text: '/answer01', inSight: true });

    for (let i = 0; i < 7; i++) await reply.press('ArrowDown');
    assert.deepEqual(await active(), { text: '/answer08', inSight: true });
    for (let i = 0; i < 7; i++) await reply.press('ArrowUp');
    assert.deepEqual(await active(), { text: '/answer01', inSight: true });
    await reply.press('ArrowUp');
    assert.deepEqual(await active(), { text: '/answer08', inSight: true });

    await reply.press('Enter');
    assert.equal(await reply.inputValue(), 'Answer number 08');

    // a shortcut that matches nothing is not sent by the Enter meant to pick it; Escape, then Enter, sends it as typed
    const sentTexts = async () => (await suite.server.ctx.db.query<{ text: string }>('select text from messages where conversation_id = $1', [id])).map((m) => m.text);
    await reply.fill('/answr');
    await list.getByText('No canned response matches “/answr”. Esc, then Enter, sends it as typed.').waitFor();
    await reply.press('Enter');
    await page.waitForTimeout(300);
    assert.deepEqual(await sentTexts(), []);
    assert.equal(await reply.inputValue(), '/answr');
    await reply.press('Escape');
    await list.waitFor({ state: 'detached' });
    await reply.press('Enter');
    await page.getByTestId('message').filter({ hasText: '/answr' }).waitFor();
    assert.deepEqual(await sentTexts(), ['/answr']);
    assert.deepEqual(problems, []);
  });
});
