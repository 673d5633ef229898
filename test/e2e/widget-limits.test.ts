import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The limits on anonymous chat sessions (#16) as a customer meets them in the
// widget: a refused start says why and when to try again, and the chat starts
// once the address has room.

noteMissingChromium('test/e2e/widget-limits.test.ts');

describeEachStore('widget under the per-address session limits', (store) => {
  const suite = browserServer(store, () => ({ SESSION_RATE_LIMIT: '0', SESSION_MAX_OPEN_PER_ADDRESS: '1' }));

  it('tells a customer whose address holds too many open chats why the chat did not start, and starts it when one ends', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Grace' });
    // another chat from this machine's address takes the one place
    const other = await httpJson(suite.server.url, 'POST', '/session', { customer: { id: 'other', name: 'Other' } });
    assert.equal(other.status, 201);

    const { page, problems } = await suite.openPage({ width: 390, height: 780 });
    await page.goto(`${suite.server.url}/widget/demo`);
    await page.getByRole('button', { name: 'Chat with us' }).click();
    const widget = page.frameLocator('iframe[title="Chat with us"]');
    await widget.getByLabel('Name').fill('Ada Lovelace');
    await widget.getByLabel('Email').fill('ada@example.test');
    await widget.getByRole('button', { name: 'Start chat' }).click();
    const alert = widget.getByRole('alert');
    await alert.filter({ hasText: 'Could not start the chat' }).waitFor();
    assert.match(await alert.innerText(), /already holds 1 open chat session, the most allowed \(SESSION_MAX_OPEN_PER_ADDRESS=1\).*try again in \d+ s/);
    // the form is still there, filled in, for another try
    assert.equal(await widget.getByLabel('Name').inputValue(), 'Ada Lovelace');
    const [row] = await store().db.query<{ n: number }>('select count(*)::int as n from conversations');
    assert.equal(row!.n, 1, 'the refused start opened nothing');

    const ended = await httpJson(suite.server.url, 'DELETE', '/session', undefined, other.body.token as string);
    assert.equal(ended.status, 204);
    await widget.getByRole('button', { name: 'Start chat' }).click();
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    // the browser reports the refused request itself; nothing else went wrong
    assert.deepEqual(
      problems.filter((p) => !/status of 429/.test(p)),
      [],
    );
  });
});
