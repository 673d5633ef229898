import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

// Email in a real browser (#18): an agent sends a transcript from the
// console, the customer asks for it in the widget once the chat is over,
// and an admin sees the deliveries; every email is checked as the SMTP
// server started here received it.

noteMissingChromium('test/e2e/email.test.ts');

describeEachStore('email in a real browser', (store) => {
  let smtp: SmtpReceiver;
  before(async () => {
    if (haveChromium) smtp = await startSmtpReceiver();
  });
  after(async () => {
    await smtp?.close();
  });
  const suite = browserServer(store, () => ({ SMTP_URL: smtp.url, EMAIL_FROM: 'Support <support@example.test>' }));
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('the agent sends the transcript from the console, the customer asks for it after the chat, the admin sees both', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);

    const { page: shop, problems: shopProblems } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    await widget.getByLabel('Your message').fill('Where is <b>order</b> 77?');
    await widget.getByLabel('Your message').press('Enter');

    // the agent: Send transcript, to the customer's address (prefilled)
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('message').filter({ hasText: 'Where is <b>order</b> 77?' }).waitFor();
    // the customer is offered the transcript once an agent has answered
    await desk.getByLabel('Reply').fill('It ships today');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    await widget.getByTestId('message').filter({ hasText: 'It ships today' }).waitFor();
    assert.equal(await desk.getByLabel('Transcript to').inputValue(), 'ada@example.test');
    await desk.getByRole('button', { name: 'Send transcript' }).click();
    await desk.getByTestId('transcript-outcome').filter({ hasText: 'Transcript queued for ada@example.test' }).waitFor();
    const [first] = await smtp.waitFor(1);
    assert.deepEqual(first!.envelopeTo, ['ada@example.test']);
    assert.match(first!.parsed.text ?? '', /Ada Lovelace \(customer\):\n {2}Where is <b>order<\/b> 77\?/);
    assert.ok(String(first!.parsed.html).includes('Where is &lt;b&gt;order&lt;/b&gt; 77?'));

    // the customer ends the chat and asks for the transcript: the address is prefilled
    await widget.getByRole('button', { name: 'End chat' }).click();
    await widget.getByTestId('ended').waitFor();
    assert.equal(await widget.getByLabel('Email', { exact: true }).inputValue(), 'ada@example.test');
    await widget.getByRole('button', { name: 'Email me the transcript' }).click();
    await widget.getByText('The transcript is on its way to ada@example.test.').waitFor();
    const mails = await smtp.waitFor(2);
    assert.deepEqual(mails[1]!.envelopeTo, ['ada@example.test']);
    assert.match(mails[1]!.parsed.subject ?? '', /^Transcript of your conversation/);
    assert.match(mails[1]!.parsed.text ?? '', /Grace \(agent\):\n {2}It ships today/);

    // the admin: email is on, the team address is set, both emails are in the log as delivered
    const { page: office, problems: officeProblems } = await suite.openPage();
    await signIn(office, suite.server.url, admin.email);
    await office.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Email' }).click();
    await office.getByTestId('email-status').filter({ hasText: 'Email is on' }).waitFor();
    await office.getByLabel('Offline messages are emailed to').fill('team@example.test');
    await office.getByRole('button', { name: 'Save' }).click();
    await office.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const log = office.getByTestId('email-deliveries');
    await log.getByRole('row').filter({ hasText: 'ada@example.test' }).filter({ hasText: 'delivered' }).nth(1).waitFor();
    assert.equal(await log.getByText('SMTP 250').count(), 2);

    // an offline message through the API reaches the team address just saved
    const left = await fetch(`${suite.server.url}/api/v1/offline-messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bea', email: 'bea@example.test', message: 'Please call me' }),
    });
    assert.equal(left.status, 201);
    const all = await smtp.waitFor(3);
    assert.deepEqual(all[2]!.envelopeTo, ['team@example.test']);

    assert.deepEqual([...deskProblems, ...shopProblems, ...officeProblems], []);
  });

  it('after a pre-chat form, the transcript is offered to the address given in it, not to an earlier chat\'s', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    const agentToken = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    // an earlier chat in this browser, before the site had a pre-chat form
    let widget = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace', 'old@example.test');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    await widget.getByRole('button', { name: 'End chat' }).click();
    await widget.getByTestId('ended').waitFor();
    await widget.getByRole('button', { name: 'Start a new chat' }).click();
    // now the site asks for the email in a pre-chat form
    const form = { fields: [{ key: 'name', label: 'Your name', type: 'text' }, { key: 'email', label: 'Email', type: 'email', required: true }] };
    assert.equal((await http('PUT', '/api/v1/prechat-form', form, admin)).status, 200);
    await shop.reload();
    await shop.waitForLoadState('networkidle');
    // the launcher, unless the widget remembered it was open
    const opener = shop.getByRole('button', { name: 'Chat with us' });
    if (await opener.isVisible()) await opener.click();
    widget = shop.frameLocator('iframe[title="Chat with us"]');
    await widget.getByTestId('prechat').waitFor();
    await widget.getByLabel('Your name').fill('Ada Lovelace');
    await widget.getByLabel('Email').fill('new@example.test');
    await widget.getByRole('button', { name: 'Start chat' }).click();
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    const [c] = await suite.server.ctx.db.query<{ id: string; email: string }>("select id, customer ->> 'email' as email from conversations where state = 'assigned'");
    assert.equal(c!.email, 'new@example.test');
    assert.equal((await http('POST', `/api/v1/conversations/${c!.id}/messages`, { text: 'Hello Ada' }, agentToken)).status, 201);
    await widget.getByTestId('message').filter({ hasText: 'Hello Ada' }).waitFor();
    await widget.getByRole('button', { name: 'End chat' }).click();
    await widget.getByTestId('ended').waitFor();
    assert.equal(await widget.getByLabel('Email', { exact: true }).inputValue(), 'new@example.test');
    const sent = smtp.received.length;
    await widget.getByRole('button', { name: 'Email me the transcript' }).click();
    await widget.getByRole('status').filter({ hasText: 'The transcript is on its way to new@example.test.' }).waitFor();
    const mail = (await smtp.waitFor(sent + 1)).at(-1)!;
    assert.deepEqual(mail.envelopeTo, ['new@example.test']);
    assert.match(mail.parsed.text ?? '', /Hello Ada/);
  });

  it('a chat no agent answered ends without the transcript offer', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Quiet' });
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Visit http://phish.example', 'someone@example.test');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Quiet' }).waitFor();
    await widget.getByLabel('Your message').fill('URGENT: verify your card');
    await widget.getByLabel('Your message').press('Enter');
    await widget.getByTestId('message').filter({ hasText: 'URGENT' }).waitFor();
    await widget.getByRole('button', { name: 'End chat' }).click();
    await widget.getByTestId('ended').waitFor();
    assert.equal(await widget.getByRole('button', { name: 'Email me the transcript' }).count(), 0);
    assert.deepEqual(problems, []);
  });
});

describeEachStore('email switched off, in a real browser', (store) => {
  const suite = browserServer(store);

  it('the admin page says email is off, and Send transcript says why nothing was sent', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    const chat = await fetch(`${suite.server.url}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customer: { id: 'c-off', name: 'Off Customer', email: 'off@example.test' } }),
    });
    assert.equal(chat.status, 201);

    const { page: office, problems: officeProblems } = await suite.openPage();
    await signIn(office, suite.server.url, admin.email);
    await office.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Email' }).click();
    await office.getByTestId('email-status').filter({ hasText: 'Email is off: set SMTP_URL' }).waitFor();
    await office.getByTestId('email-deliveries').getByText('No emails yet.').waitFor();

    const { page: desk } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Off Customer/ }).click();
    await desk.getByRole('button', { name: 'Send transcript' }).click();
    await desk.getByTestId('transcript-outcome').filter({ hasText: /Not sent: .*email is off/ }).waitFor();
    assert.deepEqual(officeProblems, []);
  });
});
