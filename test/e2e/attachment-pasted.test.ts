// A picture pasted into the console's reply with no name (as some browsers
// paste a copied image) is named after its type: a JPEG goes up as
// pasted-image.jpg, which the default attachments_allowed_types let in,
// where pasted-image.png claiming image/jpeg was refused (422).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn, startWidgetChat } from '../helpers/browser.js';
import { makeAgent } from '../helpers/fixtures.js';
import { PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

noteMissingChromium('test/e2e/attachment-pasted.test.ts');

describeEachStore('a pasted picture without a name', (store) => {
  const suite = browserServer(store);

  it('a pasted unnamed JPEG and PNG are uploaded as pasted-image.jpg and pasted-image.png and reach the customer', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Grace' });
    const { page: desk, problems: deskProblems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    const { page: shop, problems: shopProblems } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace');
    await widget.getByTestId('agent').filter({ hasText: 'You are chatting with Grace' }).waitFor();
    await widget.getByLabel('Your message').fill('Here is my screen');
    await widget.getByLabel('Your message').press('Enter');
    await desk.getByRole('link', { name: /Ada Lovelace/ }).click();
    await desk.getByTestId('message').filter({ hasText: 'Here is my screen' }).waitFor();

    for (const type of ['image/jpeg', 'image/png']) {
      await desk.getByLabel('Reply').evaluate(
        (reply, [bytes, type]) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([new Uint8Array(bytes as number[])], '', { type: type as string }));
          reply.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
        },
        [[...PNG], type] as const,
      );
    }
    await desk.getByTestId('pending-file').filter({ hasText: 'pasted-image.jpg' }).waitFor();
    await desk.getByTestId('pending-file').filter({ hasText: 'pasted-image.png' }).waitFor();
    await desk.getByLabel('Reply').fill('Like this');
    await desk.getByRole('button', { name: 'Send', exact: true }).click();
    await widget.getByRole('img', { name: 'pasted-image.jpg' }).waitFor();
    await widget.getByRole('img', { name: 'pasted-image.png' }).waitFor();
    const rows = await suite.server.ctx.db.query<{ name: string; content_type: string }>('select name, content_type from attachments order by name');
    assert.deepEqual(
      rows.map((r) => `${r.name} ${r.content_type}`),
      ['pasted-image.jpg image/jpeg', 'pasted-image.png image/png'],
    );
    assert.deepEqual(deskProblems, []);
    assert.deepEqual(shopProblems, []);
  });
});
