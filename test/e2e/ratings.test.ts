import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, shoot, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// Customer satisfaction in a real browser: a customer chats on the widget,
// the agent resolves in the console, the widget asks for a rating once, the
// customer rates 4 with a comment; the agent sees it on the conversation and
// the admin in the dashboard's Satisfaction section. The admin words the
// question in the settings, and turning it off stops the widget asking.

noteMissingChromium('test/e2e/ratings.test.ts');

describeEachStore('customer satisfaction in a real browser', (store) => {
  const suite = browserServer(store);

  async function startChat(name: string) {
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, name);
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    return { shop, widget, problems };
  }

  it('the widget asks after the agent resolves, the customer rates 4 with a comment, and the console shows it on the conversation and on the dashboard', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);

    const { shop, widget, problems: shopProblems } = await startChat('Ada Lovelace');
    await widget.getByLabel('Your message').fill('Where is my parcel?');
    await widget.getByLabel('Your message').press('Enter');

    // the agent opens the chat and resolves it
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('message').filter({ hasText: 'Where is my parcel?' }).waitFor();
    assert.equal(await desk.getByTestId('conversation-rating').count(), 0, 'an open conversation shows no rating');
    await desk.getByRole('button', { name: 'Resolve' }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    await desk.getByTestId('conversation-rating').getByText('Not rated.').waitFor();

    // the widget asks, once the chat has ended
    await widget.getByTestId('ended').waitFor();
    const form = widget.getByTestId('rating');
    await form.getByRole('radiogroup', { name: 'How would you rate this conversation?' }).waitFor();
    assert.equal(await form.getByRole('radio').count(), 5);
    assert.ok(await form.getByRole('button', { name: 'Send rating' }).isDisabled(), 'nothing to send before a score is chosen');
    // from the keyboard: the group's radios are named by score and word
    await form.getByRole('radio', { name: '4 of 5: Good' }).check();
    await form.getByLabel('Comment (optional)').fill('Quick and friendly, thanks');
    await shoot(shop, 'widget-rating');
    await form.getByRole('button', { name: 'Send rating' }).click();
    await widget.getByTestId('rating-thanks').filter({ hasText: 'Thank you for your feedback!' }).waitFor();
    assert.equal(await widget.getByTestId('rating').count(), 0, 'asked once');

    // the agent's open conversation hears of it live
    const shown = desk.getByTestId('conversation-rating');
    await shown.getByTestId('rating-score').filter({ hasText: '4/5' }).waitFor();
    await shown.getByTestId('rating-comment').filter({ hasText: 'Quick and friendly, thanks' }).waitFor();
    await shoot(desk, 'console-rating');

    // a reload does not ask again
    await shop.reload();
    // (the chat window stays open across the reload)
    await widget.getByRole('button', { name: 'Start chat' }).waitFor();
    assert.equal(await widget.getByTestId('rating').count(), 0);

    // the admin's dashboard: Satisfaction per agent and per department
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const { page: boss, problems: bossProblems } = await suite.openPage({ width: 1200, height: 900 });
    await signIn(boss, suite.server.url, admin.email);
    await boss.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dashboard' }).click();
    const section = boss.getByRole('region', { name: 'Satisfaction' });
    const table = section.getByTestId('satisfaction-table');
    const cellsOf = async (name: string) => (await table.getByRole('row', { name: new RegExp(`^${name} `) }).getByRole('cell').allTextContents()).map((c) => c.trim());
    await table.getByRole('row', { name: /^Grace / }).waitFor();
    assert.deepEqual(await cellsOf('Grace'), ['1', '4.00', '100.0 %', '0 / 0 / 0 / 1 / 0']);
    assert.deepEqual(await cellsOf('All'), ['1', '4.00', '100.0 %', '0 / 0 / 0 / 1 / 0']);
    await section.getByRole('button', { name: 'Per department' }).click();
    await table.getByRole('row', { name: /^No department / }).waitFor();
    assert.deepEqual(await cellsOf('No department'), ['1', '4.00', '100.0 %', '0 / 0 / 0 / 1 / 0']);
    await section.scrollIntoViewIfNeeded();
    await shoot(boss, 'dashboard-satisfaction');

    assert.deepEqual(deskProblems, []);
    assert.deepEqual(shopProblems, []);
    assert.deepEqual(bossProblems, []);
  });

  it("the admin words the question in the settings, and when it is turned off the widget does not ask", { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const boss = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const { page: admin, problems: adminProblems } = await suite.openPage({ width: 1200, height: 900 });
    await signIn(admin, suite.server.url, boss.email);
    await admin.goto(`${suite.server.url}/admin/settings`);
    const csat = admin.getByRole('form', { name: 'Customer satisfaction' });
    await csat.getByLabel('Question').fill('Did we solve it?');
    await csat.getByLabel('Thank-you message').fill('Thanks a lot!');
    await csat.getByRole('button', { name: 'Save satisfaction settings' }).click();
    await csat.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    // an empty question is refused by the server, next to its field
    await csat.getByLabel('Question').fill('');
    await csat.getByRole('button', { name: 'Save satisfaction settings' }).click();
    await csat.locator('#csat-csat_question[aria-invalid="true"]').waitFor();
    await csat.getByLabel('Question').fill('Did we solve it?');

    const { widget, problems: shopProblems } = await startChat('Alan Turing');
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Alan Turing/ }).click();
    await desk.getByRole('button', { name: 'Resolve' }).click();
    const form = widget.getByTestId('rating');
    await form.getByRole('radiogroup', { name: 'Did we solve it?' }).waitFor();
    await form.getByRole('radio', { name: '5 of 5: Excellent' }).check();
    await form.getByRole('button', { name: 'Send rating' }).click();
    await widget.getByTestId('rating-thanks').filter({ hasText: 'Thanks a lot!' }).waitFor();

    // off: the next resolved chat ends without a question
    await csat.getByLabel(/Ask customers for a rating/).uncheck();
    await csat.getByRole('button', { name: 'Save satisfaction settings' }).click();
    await csat.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await widget.getByRole('button', { name: 'Start a new chat' }).click();
    await widget.getByRole('button', { name: 'Start chat' }).click();
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    await desk.getByRole('link', { name: /Alan Turing/ }).first().click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    await desk.getByRole('button', { name: 'Resolve' }).click();
    await widget.getByTestId('ended').waitFor();
    // the answer that says not to ask has come back before this looks
    await widget.locator('body').evaluate(() => new Promise((resolve) => setTimeout(resolve, 500)));
    assert.equal(await widget.getByTestId('rating').count(), 0);
    assert.equal(await suite.server.ctx.db.query('select 1 from ratings').then((r) => r.length), 1);

    // (the one refusal: the empty question)
    assert.deepEqual(adminProblems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    assert.deepEqual(shopProblems, []);
    assert.deepEqual(deskProblems, []);
  });
});
