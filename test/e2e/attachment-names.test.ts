// A downloaded file keeps its name in a real browser: the download's
// content-disposition names it in filename* (RFC 8187), which Chromium
// drops for the ASCII shadow when it is not strictly formed — "l'été.txt",
// its apostrophe left unescaped, was saved as "l'_t_.txt".
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { haveChromium, launchChromium, noteMissingChromium } from '../helpers/browser.js';
import { multipartFile } from '../helpers/multipart.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

noteMissingChromium('test/e2e/attachment-names.test.ts');

describeEachStore('file names in a browser download', (store) => {
  let server: Running;
  const { http } = realServerForBlock(store, (started) => ({ server } = started));

  it('Chromium saves files named with apostrophes, accents and parentheses under their own names', { skip: !haveChromium }, async () => {
    const session = await http('POST', '/session', { customer: { id: 'eloise' } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const s = session.body as { sessionId: string; token: string };
    const names = ["l'été.txt", "l'été (final).txt", 'résumé (final).txt', "it's.txt", '東京 ✓.txt'];
    const saved: Record<string, string> = {};
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ acceptDownloads: true });
      const page = await context.newPage();
      await page.goto(`${server.url}/healthz`).catch(() => undefined);
      for (const name of names) {
        const { body, headers } = multipartFile('file', name, 'text/plain', Buffer.from('hello'));
        const res = await fetch(`${server.url}/api/v1/conversations/${s.sessionId}/attachments`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${s.token}` }, body: new Uint8Array(body) });
        const text = await res.text();
        assert.equal(res.status, 201, text);
        const file = JSON.parse(text) as { url: string; name: string };
        assert.equal(file.name, name);
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.evaluate((url) => {
            const a = document.createElement('a');
            a.href = url;
            document.body.appendChild(a);
            a.click();
            a.remove();
          }, `${server.url}${file.url}`),
        ]);
        saved[name] = download.suggestedFilename();
      }
      await context.close();
    } finally {
      await browser.close();
    }
    assert.deepEqual(saved, Object.fromEntries(names.map((n) => [n, n])));
  });
});
