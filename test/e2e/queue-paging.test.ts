import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// GET /api/v1/queue answers a page at a time (500 at most, issue #22): the
// console's waiting list still shows a queue longer than a page, read page
// after page, each entry at its place in line.

noteMissingChromium('test/e2e/queue-paging.test.ts');

const WAITING = 620;

describeEachStore('the console lists a queue longer than a page', (store) => {
  const suite = browserServer(store);

  it('an agent sees every one of 620 waiting customers, in order, at their places', { skip: !haveChromium }, async () => {
    const ctx = suite.server.ctx;
    const agent = await makeAgent(ctx, { name: 'Ann', status: 'away' });
    // queued by SQL, as a backlog arrives from a channel: no queue event, so the list comes from the pages alone
    await ctx.db.query(
      `insert into conversations (channel, customer_id, customer, state, created_at, queued_at, updated_at)
       select 'api', 'c' || i, jsonb_build_object('id', 'c' || i, 'name', 'Customer ' || i), 'queued', now(), now(), now()
         from generate_series(1, $1::int) as i`,
      [WAITING],
    );
    const { page, problems } = await suite.openPage({ width: 1200, height: 900 });
    await signIn(page, suite.server.url, agent.email);
    await page.getByTestId('tab-waiting').filter({ hasText: `Waiting (${WAITING})` }).click();
    const entries = page.getByTestId('waiting').getByRole('listitem');
    await entries.filter({ hasText: `#${WAITING} Customer ${WAITING}` }).waitFor();
    assert.equal(await entries.count(), WAITING);
    const titles = await page.getByTestId('waiting').locator('li strong').allTextContents();
    assert.deepEqual(
      titles.map((t) => t.trim()),
      Array.from({ length: WAITING }, (_, i) => `#${i + 1} Customer ${i + 1}`),
      'first in, first out, across the pages',
    );
    assert.deepEqual(problems, []);
  });
});
