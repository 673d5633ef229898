// MQTT_WS_URL reaches the web apps: the server writes it into
// <meta name="sb-mqtt-url"> of the console and the widget frame, which then
// connect there instead of ws(s)://<host>/mqtt. Needs the built apps
// (`npm test` builds them when stale, before any test file runs).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { webDistDir } from '../../src/http/web.js';
import { testApp } from '../helpers/app.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

const built = existsSync(join(webDistDir(), 'console', 'index.html'));
let store: TestStore;
before(async () => {
  if (built) store = await openTestStore('pglite');
});
after(async () => {
  await store?.close();
});

it('writes MQTT_WS_URL (or nothing) into the pages the apps read it from', { skip: built ? false : 'web apps not built' }, async () => {
  const cases: [Record<string, string>, string][] = [
    [{ MQTT_URL: 'mqtt://broker:1883', MQTT_WS_URL: 'wss://broker.example.com:8084/mqtt' }, 'wss://broker.example.com:8084/mqtt'],
    [{}, ''],
  ];
  for (const [env, expected] of cases) {
    const t = await testApp(store, { env });
    try {
      for (const path of ['/', '/widget/frame']) {
        const html = (await t.call('GET', path)).body;
        assert.ok(html.includes(`<meta name="sb-mqtt-url" content="${expected}"`), `${path} with ${JSON.stringify(env)}: ${html}`);
      }
    } finally {
      await t.close();
    }
  }
});
