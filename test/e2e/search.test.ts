import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, shoot, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The console's Search page in a real browser (Debian's Chromium through
// playwright-core): an agent searches, sees only their own conversations'
// hits with the words marked, and a click opens the conversation scrolled
// to the message that matched, marked — even one far past the first page of
// history; a Ctrl-click opens a hit in a new tab instead. SAVE_SCREENSHOTS=1
// refreshes docs/screenshots/console-search.png.

noteMissingChromium('test/e2e/search.test.ts');

describeEachStore('console search in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  /** A widget chat, assigned to whichever online agent has room; `before` and `after` filler messages around `text`. */
  async function chat(name: string, text: string, before: number, after: number): Promise<{ id: string; hit: number }> {
    const started = await http('POST', '/session', { customer: { id: `cust-${name.toLowerCase()}`, name } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.sessionId as string;
    const db = suite.server.ctx.db;
    const fill = (n: number, at: number) =>
      db.query(
        `insert into messages (conversation_id, sender, text, created_at)
         select $1, case when i % 2 = 0 then 'agent' else 'customer' end, 'line ' || ($3::int + i) || ' of small talk', now() - interval '1 hour' + ($3::int + i) * interval '1 second'
           from generate_series(1, $2::int) as i`,
        [id, n, at],
      );
    await fill(before, 0);
    const [row] = await db.query<{ id: number }>(
      `insert into messages (conversation_id, sender, text, created_at) values ($1, 'customer', $2, now() - interval '1 hour' + $3::int * interval '1 second') returning id`,
      [id, text, before + 1],
    );
    await fill(after, before + 1);
    return { id, hit: row!.id };
  }

  it('finds an agent’s own messages, marks the words, and opens the conversation at the message that matched', { skip: !haveChromium }, async () => {
    const alice = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Alice' });
    const own = await chat('Maria Gomez', 'The parcel arrived crushed and the glass inside is broken', 130, 40);
    const bruno = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Bruno' });
    const theirs = await chat('Tomas Other', 'My parcel arrived crushed as well', 2, 2);
    const [a, b] = await suite.server.ctx.db.query<{ id: string; agent_id: string }>('select id, agent_id from conversations order by seq');
    assert.deepEqual([a!.agent_id, b!.agent_id], [alice.id, bruno.id]);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, alice.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Search' }).click();
    await page.getByRole('searchbox', { name: 'Search messages and customers' }).fill('crushed');
    await page.getByRole('button', { name: 'Search', exact: true }).click();

    const results = page.getByTestId('search-result');
    await results.first().waitFor();
    assert.equal(await results.count(), 1, 'Bruno’s conversation is not Alice’s to find');
    assert.match(await results.first().innerText(), /Maria Gomez/);
    assert.equal(await results.first().locator('mark').first().innerText(), 'crushed');
    assert.equal(await page.getByText('Tomas Other').count(), 0);
    assert.match(page.url(), /\/search\?q=crushed$/);

    await results.first().click();
    const hit = page.locator('[data-highlighted="true"]');
    await hit.waitFor();
    assert.equal(await hit.getAttribute('data-message-id'), String(own.hit));
    assert.match(await hit.innerText(), /parcel arrived crushed/);
    assert.equal(await page.locator('[data-highlighted="true"]').count(), 1);
    // scrolled to it: the marked message is inside the visible part of the chat log, which holds all 171 messages
    await page.waitForFunction(() => {
      const log = document.querySelector('[role="log"]')!.getBoundingClientRect();
      const marked = document.querySelector('[data-highlighted="true"]')!.getBoundingClientRect();
      return marked.top >= log.top && marked.bottom <= log.bottom;
    });
    assert.equal(await page.getByTestId('message').count(), 171);
    const logBox = (await page.getByRole('log', { name: 'Messages' }).boundingBox())!;
    const lastBox = (await page.getByTestId('message').last().boundingBox())!;
    assert.ok(lastBox.y > logBox.y + logBox.height, 'the log is not scrolled to its end');
    await shoot(page, 'console-search');

    // a customer's name finds the conversation too; the reload keeps the search
    await page.getByRole('searchbox', { name: 'Search messages and customers' }).fill('gomez');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('search-result').filter({ hasText: 'customer cust-maria gomez' }).waitFor();
    await page.reload();
    await page.getByTestId('search-result').filter({ hasText: 'Maria Gomez' }).waitFor();
    assert.equal(theirs.id, b!.id);
    assert.deepEqual(problems, []);
  });

  it('narrows a search to a label chosen from the catalogue', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 5, name: 'Alice' });
    const damaged = await chat('Maria Gomez', 'The parcel arrived crushed', 1, 1);
    await chat('Tomas Other', 'My parcel is late', 1, 1);
    const lead = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Lea' });
    const token = (await http('POST', '/api/v1/auth/login', { email: lead.email, password: PASSWORD })).body.token as string;
    assert.equal((await http('POST', '/api/v1/labels', { name: 'Damaged', color: '#cc3300' }, token)).status, 201);
    assert.equal((await http('POST', '/api/v1/labels', { name: 'Late', color: '#3366cc' }, token)).status, 201);
    assert.equal((await http('PUT', `/api/v1/conversations/${damaged.id}/labels`, { labels: ['Damaged'] }, token)).status, 200);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, lead.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Search' }).click();
    await page.getByRole('searchbox', { name: 'Search messages and customers' }).fill('parcel');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const results = page.getByTestId('search-result');
    await results.nth(1).waitFor();
    assert.equal(await results.count(), 2);

    await page.getByText('Filters').click();
    await page.getByLabel('Label').selectOption('Damaged');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL(/label=Damaged/);
    await results.filter({ hasText: 'Maria Gomez' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="search-result"]').length === 1);
    await page.getByLabel('Label').selectOption('Late');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await results.first().waitFor({ state: 'detached' });
    assert.deepEqual(problems, []);
  });

  it('pages on with More results, each hit once, though newer hits arrive between the pages', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Alice' });
    const { id } = await chat('Maria Gomez', 'parcel 0 of many', 0, 0);
    const db = suite.server.ctx.db;
    await db.query(
      `insert into messages (conversation_id, sender, text, created_at)
       select $1, 'customer', 'parcel ' || i || ' of many', now() - interval '1 hour' + (1 + i) * interval '1 second' from generate_series(1, 24) as i`,
      [id],
    );
    const lead = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Lea' });
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, lead.email);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Search' }).click();
    await page.getByRole('searchbox', { name: 'Search messages and customers' }).fill('parcel');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const results = page.getByTestId('search-result');
    await results.nth(19).waitFor();
    assert.equal(await results.count(), 20);

    // a page of newer hits arrives before the second page is asked for: they push nothing down, and the second page is not the first again
    await db.query(
      `insert into messages (conversation_id, sender, text, created_at)
       select $1, 'customer', 'the parcel is here now', now() + i * interval '1 millisecond' from generate_series(1, 20) as i`,
      [id],
    );
    await page.getByRole('button', { name: 'More results' }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="search-result"]').length > 20);
    // "parcel" is marked, in an element of its own
    const shown = (await results.allInnerTexts()).map((text) => text.replace(/^[^]*?parcel\s+(\d+) of many[^]*$/, 'parcel $1 of many'));
    assert.deepEqual(
      shown,
      Array.from({ length: 25 }, (_, i) => `parcel ${24 - i} of many`),
    );
    assert.equal(await page.getByRole('button', { name: 'More results' }).count(), 0);
    assert.deepEqual(problems, []);
  });

  it('says what is wrong with a search instead of sending a blank one', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Carla' });
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.goto(`${suite.server.url}/search`);
    await page.getByRole('searchbox', { name: 'Search messages and customers' }).fill('   ');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Type something to search for.' }).waitFor();
    await page.getByRole('searchbox', { name: 'Search messages and customers' }).fill('nothing at all here');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('Nothing found.').waitFor();
    assert.deepEqual(problems, []);
  });

  it('Ctrl-click (⌘ on a Mac) opens a page or a hit in a new tab and leaves this one as it was', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Alice' });
    const { id } = await chat('Maria Gomez', 'The parcel arrived crushed', 1, 1);
    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    const newTab = async (click: () => Promise<void>) => {
      const opened = page.context().waitForEvent('page', { timeout: 10_000 });
      await click();
      const tab = await opened;
      await tab.waitForLoadState('domcontentloaded');
      return new URL(tab.url()).pathname;
    };

    // a link of the header: the page stays on the desk
    assert.equal(await newTab(() => page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Search' }).click({ modifiers: ['ControlOrMeta'] })), '/search');
    assert.equal(new URL(page.url()).pathname, '/');
    await page.getByTestId('list-mine').waitFor();

    // a search hit: the conversation in a tab of its own, nothing opened beside the hits here
    await page.goto(`${suite.server.url}/search?q=crushed`);
    const hit = page.getByTestId('search-result').first();
    await hit.waitFor();
    assert.equal(await newTab(() => hit.click({ modifiers: ['ControlOrMeta'] })), `/conversations/${id}`);
    assert.equal(await hit.getAttribute('aria-current'), null);
    assert.equal(await page.getByRole('log', { name: 'Messages' }).count(), 0);
    await page.getByText('Pick a result to open its conversation at the message.').waitFor();
    assert.deepEqual(problems, []);
  });
});
