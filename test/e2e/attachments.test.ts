import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import type { FrameLocator, Locator, Page } from 'playwright-core';
import { browserServer, haveChromium, noteMissingChromium, shoot, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { PDF, PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

// Files in a real browser: the agent attaches a picture in the console (the
// button, and by dropping it onto the chat), the customer sees it inline in
// the widget; the customer sends a PDF from the widget and the agent
// downloads it; a file over the size limit is refused with the limit named;
// an admin erases a resolved conversation and its files with it.

noteMissingChromium('test/e2e/attachments.test.ts');

/** The picture was fetched (signed link) and decoded, not a broken image. */
const loaded = (image: Locator) => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0);

describeEachStore('file attachments in a real browser', (store) => {
  const suite = browserServer(store);

  async function startChat(name: string): Promise<{ shop: Page; widget: FrameLocator; problems: string[] }> {
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, name);
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    return { shop, widget, problems };
  }

  it('the agent attaches a picture, the customer sees it inline; the customer sends a PDF and the agent downloads it', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    const { shop, widget, problems: shopProblems } = await startChat('Ada Lovelace');
    await widget.getByLabel('Your message').fill('My screen looks wrong');
    await widget.getByLabel('Your message').press('Enter');

    // a label and a colleague's note, as a desk in use has them (the README's screenshot)
    const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    assert.equal((await http('POST', '/api/v1/labels', { name: 'display', color: '#2f6fdf' }, admin)).status, 201);
    const [{ id: chatId } = { id: '' }] = await suite.server.ctx.db.query<{ id: string }>("select id from conversations where customer ->> 'name' = 'Ada Lovelace'");
    assert.equal((await http('PUT', `/api/v1/conversations/${chatId}/labels`, { labels: ['display'] }, admin)).status, 200);
    assert.equal((await http('POST', `/api/v1/conversations/${chatId}/notes`, { text: 'Pro plan since 2024; she reported the same glitch in March' }, admin)).status, 201);
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('message').filter({ hasText: 'My screen looks wrong' }).waitFor();
    await desk.getByTestId('note').filter({ hasText: 'Pro plan since 2024' }).waitFor();
    await desk.getByTestId('conversation-labels').getByTestId('label-chip').filter({ hasText: 'display' }).waitFor();
    // the attach button's file picker
    // a real picture (one of the README's own), so the screenshot shows one
    const picture = await readFile('docs/screenshots/widget-queued.png');
    await desk.getByTestId('attach-file').setInputFiles({ name: 'settings.png', mimeType: 'image/png', buffer: picture });
    await desk.getByTestId('pending-file').filter({ hasText: 'settings.png' }).waitFor();
    await desk.getByLabel('Reply').fill('Open these settings');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    const sent = desk.getByTestId('message').filter({ hasText: 'Open these settings' });
    await sent.getByRole('img', { name: 'settings.png' }).waitFor();
    assert.ok(await loaded(sent.getByRole('img', { name: 'settings.png' })), 'the console shows the picture');
    assert.equal(await desk.getByTestId('pending-file').count(), 0, 'the composer is cleared');

    // the customer sees the picture inline
    const received = widget.getByTestId('message').filter({ hasText: 'Open these settings' });
    const shown = received.getByRole('img', { name: 'settings.png' });
    await shown.waitFor();
    await widget.locator('body').evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
    assert.ok(await loaded(shown), 'the widget shows the picture');
    await shoot(shop, 'widget-attachment');

    // the customer sends a PDF; the agent gets a download link with name and size
    await widget.getByTestId('send-file').setInputFiles({ name: 'invoice.pdf', mimeType: 'application/pdf', buffer: PDF });
    const link = desk.getByTestId('attachment-file').filter({ hasText: 'invoice.pdf' });
    await link.waitFor();
    assert.match((await link.textContent()) ?? '', new RegExp(`invoice\\.pdf \\(${PDF.length} byte\\)`));
    await widget.getByTestId('attachment-file').filter({ hasText: 'invoice.pdf' }).waitFor();
    const [download] = await Promise.all([desk.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'invoice.pdf');
    assert.deepEqual(await readFile((await download.path())!), PDF);
    await shoot(desk, 'console-attachments');

    // dropped onto the chat: uploaded and waiting in the composer
    await desk.locator('section.chat').evaluate((chat, bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }));
      chat.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      chat.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, [...PNG]);
    await desk.getByTestId('pending-file').filter({ hasText: 'dropped.png' }).waitFor();
    // pasted into the reply (a screenshot)
    await desk.getByLabel('Reply').evaluate((reply, bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }));
      reply.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
    }, [...PNG]);
    await desk.getByTestId('pending-file').filter({ hasText: 'pasted.png' }).waitFor();
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    await widget.getByRole('img', { name: 'dropped.png' }).waitFor();
    await widget.getByRole('img', { name: 'pasted.png' }).waitFor();
    const [stored] = await suite.server.ctx.db.query<{ n: number }>("select count(*)::int as n from attachments where name in ('dropped.png', 'pasted.png')");
    assert.equal(stored!.n, 2);

    assert.deepEqual(deskProblems, []);
    assert.deepEqual(shopProblems, []);
  });

  it('an admin lowers the largest file on the Attachments page (bad values refused by their field); an agent’s bigger upload is then refused, naming the limit', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const { page: adminPage, problems: adminProblems } = await suite.openPage();
    await signIn(adminPage, suite.server.url, admin.email);
    await adminPage.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Attachments' }).click();
    const size = adminPage.getByLabel('Largest file (MB)');
    assert.equal(await size.inputValue(), '10', 'the default, 10 MiB, shown in MB');
    const stored = async () => (await suite.server.ctx.db.query<{ key: string; value: unknown }>("select key, value from settings where key like 'attachments_%' order by key")).map((r) => r.value);
    const before = await stored();

    // checked here as the server would: a size of 0 MB, a type that is no MIME type, family or extension
    await size.fill('0');
    await adminPage.getByRole('button', { name: 'Save limits' }).click();
    await adminPage.locator('#attachments-attachments_max_bytes-error').filter({ hasText: 'Largest file must be a number of MB above 0 and at most 100' }).waitFor();
    assert.equal(await size.getAttribute('aria-invalid'), 'true');
    await size.fill('10');
    await adminPage.getByLabel('Allowed types').fill('image/*\nImage/PNG');
    await adminPage.getByRole('button', { name: 'Save limits' }).click();
    await adminPage.locator('#attachments-attachments_allowed_types-error').filter({ hasText: '"Image/PNG" is not a lowercase MIME type' }).waitFor();
    await adminPage.getByRole('button', { name: 'Undo changes' }).click();
    // the server's own refusal, shown by its field
    await adminPage.getByLabel('Files per message').fill('25');
    await adminPage.getByRole('button', { name: 'Save limits' }).click();
    const files = adminPage.locator('#attachments-attachments_max_files-error');
    await files.waitFor();
    assert.match((await files.textContent()) ?? '', /attachments_max_files must be <= 20/);
    assert.deepEqual(await stored(), before, 'nothing refused was stored');

    await adminPage.getByLabel('Files per message').fill('3');
    await size.fill('1');
    await adminPage.getByText('1,048,576 bytes.').waitFor();
    await adminPage.getByRole('button', { name: 'Save limits' }).click();
    await adminPage.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal(await files.count(), 0);
    const settings = await suite.server.ctx.db.query<{ key: string; value: number }>("select key, value from settings where key in ('attachments_max_bytes', 'attachments_max_files') order by key");
    assert.deepEqual(settings.map((r) => r.value), [1024 * 1024, 3]);

    const { problems: shopProblems } = await startChat('Ada Lovelace');
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('attach-file').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: Buffer.alloc(1024 * 1024 + 1, 1) });
    await desk.getByText(/attachments_max_bytes \(1048576 bytes\)/).waitFor();
    assert.equal(await desk.getByTestId('pending-file').count(), 0);
    assert.equal((await suite.server.ctx.db.query('select 1 from attachments')).length, 0);

    // the refused save and the refused upload are the only errors the browsers log
    assert.deepEqual(adminProblems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    assert.deepEqual(deskProblems, ['console: Failed to load resource: the server responded with a status of 413 (Payload Too Large)']);
    assert.deepEqual(shopProblems, []);
  });

  it('a file over attachments_max_bytes is refused in the widget and the console, naming the limit, and nothing is sent', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    await suite.server.ctx.db.query("update settings set value = '100'::jsonb where key = 'attachments_max_bytes'");
    const { widget, problems: shopProblems } = await startChat('Alan Turing');
    await widget.getByTestId('send-file').setInputFiles({ name: 'huge.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(500, 1) });
    await widget.getByRole('alert').filter({ hasText: /Could not send huge\.pdf: .*attachments_max_bytes \(100 bytes\)/ }).waitFor();

    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Alan Turing/ }).click();
    await desk.getByTestId('attach-file').setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(500, 1) });
    await desk.getByText(/attachments_max_bytes \(100 bytes\)/).waitFor();
    assert.equal(await desk.getByTestId('pending-file').count(), 0);
    assert.equal((await suite.server.ctx.db.query('select 1 from attachments')).length, 0);
    assert.equal((await suite.server.ctx.db.query('select 1 from messages')).length, 0);
    // the browsers log the refused uploads, nothing else
    const refusal = 'console: Failed to load resource: the server responded with a status of 413 (Payload Too Large)';
    assert.deepEqual(shopProblems, [refusal]);
    assert.deepEqual(deskProblems, [refusal]);
  });

  it('an admin erases a resolved conversation after confirming: it leaves the console and its file is gone', { skip: !haveChromium }, async () => {
    const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = (await http('POST', '/api/v1/auth/login', { email: adminAgent.email, password: PASSWORD })).body.token as string;
    const chat = await http('POST', '/session', { customer: { id: 'erin', name: 'Erin Example' } });
    const id = chat.body.sessionId as string;
    const upload = await fetch(`${suite.server.url}/api/v1/conversations/${id}/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${chat.body.token}` },
      body: (() => {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(PDF)], { type: 'application/pdf' }), 'contract.pdf');
        return form;
      })(),
    });
    assert.equal(upload.status, 201);
    const file = (await upload.json()) as { id: string; url: string };
    assert.equal((await http('POST', `/api/v1/conversations/${id}/messages`, { sender: 'customer', text: 'Here is my contract', attachments: [{ id: file.id }] }, admin)).status, 201);

    // an agent never sees the button, not even on the resolved conversation they served
    const { page: desk } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByRole('link', { name: /Erin Example/ }).click();
    await desk.getByTestId('attachment-file').filter({ hasText: 'contract.pdf' }).waitFor();
    await desk.getByTestId('resolve').click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    assert.equal(await desk.getByTestId('erase').count(), 0);

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, adminAgent.email);
    await page.goto(`${suite.server.url}/conversations/${id}`);
    await page.getByTestId('conversation-state').filter({ hasText: 'resolved' }).waitFor();
    await page.getByTestId('erase').click();
    const confirm = page.getByRole('dialog', { name: 'Erase this conversation?' });
    await confirm.waitFor();
    // Cancel keeps everything
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    assert.equal((await http('GET', `/api/v1/conversations/${id}`, undefined, admin)).status, 200);
    await page.getByTestId('erase').click();
    await confirm.getByTestId('erase-confirm').click();
    await confirm.waitFor({ state: 'hidden' });
    await page.getByTestId('conversation-state').waitFor({ state: 'detached' });
    assert.equal((await http('GET', `/api/v1/conversations/${id}`, undefined, admin)).status, 404);
    assert.equal((await fetch(`${suite.server.url}${file.url}`)).status, 404, 'the signed link is dead');
    assert.equal((await suite.server.ctx.db.query('select 1 from attachments')).length, 0);
    assert.deepEqual(problems, []);
  });
});
