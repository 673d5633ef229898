import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// Private notes after the resolve, in a real browser: the API takes a note
// on a closed conversation from the agent who last held it (a follow-up for
// colleagues), so the console offers the note writer there too, notes only;
// another agent still only reads.

noteMissingChromium('test/e2e/notes-closed.test.ts');

describeEachStore('private notes on a closed conversation, in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('the agent who resolved a chat adds a note to it afterwards; nothing reaches the customer; another agent only reads', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    const opened = await http('POST', '/session', { customer: { id: 'after-hours', name: 'Ada Closed' } });
    assert.equal(opened.body.state, 'assigned', JSON.stringify(opened.body));
    const id = opened.body.sessionId as string;
    assert.equal((await http('POST', `/api/v1/conversations/${id}/resolve`, { note: 'refund sent' }, token)).status, 200);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, agent.email);
    await page.goto(`${suite.server.url}/conversations/${id}`);
    await page.getByText('Closed (resolved by an agent): refund sent').waitFor();
    // notes only: no toggle to a reply, no file or link to attach
    const writer = page.getByLabel('Private note');
    await writer.waitFor();
    const composer = page.locator('form.composer');
    assert.equal(await composer.getByRole('checkbox', { name: 'Private note' }).count(), 0);
    assert.deepEqual(await composer.getByRole('button').allTextContents(), ['Add note']);
    await writer.fill('Customer called back: refund arrived.');
    await writer.press('Enter');
    await page.getByTestId('note').filter({ hasText: 'Customer called back: refund arrived.' }).waitFor();
    const stored = await suite.server.ctx.db.query<{ text: string; private: boolean }>('select text, private from messages where conversation_id = $1', [id]);
    assert.deepEqual(stored, [{ text: 'Customer called back: refund arrived.', private: true }]);
    assert.equal(await writer.inputValue(), '');
    assert.deepEqual(problems, []);

    // another agent (who never held it) reads nothing here at all, let alone writes
    const other = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Other' });
    const second = await suite.openPage();
    await signIn(second.page, suite.server.url, other.email);
    await second.page.goto(`${suite.server.url}/conversations/${id}`);
    await second.page.getByTestId('chat-forbidden').waitFor();
    assert.equal(await second.page.getByLabel('Private note').count(), 0);
  });
});
