import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn, startWidgetChat } from '../helpers/browser.js';
import { emqxDouble, type EmqxDouble } from '../helpers/emqx-double.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

// The console and the widget in Chromium against an external broker that
// holds them to the client id rule of docs/realtime.md (an EMQX double
// calling /mqtt/auth and /mqtt/acl): each connects under a client id that
// starts with its owner's id, so both are let in.

noteMissingChromium('test/e2e/mqtt-client-ids.test.ts');

describeEachStore('the web apps on an external broker that checks client ids', (store) => {
  let emqx: EmqxDouble | undefined;
  before(async () => {
    if (haveChromium) emqx = await emqxDouble(() => suite.server.url);
  });
  after(async () => {
    await emqx?.close();
  });
  // The apps connect to the double (MQTT_WS_URL); Switchboard keeps its embedded broker for itself.
  const suite = browserServer(store, () => ({ MQTT_WS_URL: emqx!.wsUrl }));

  it("the console and the widget connect with client ids of their own: <agent id>-console-…, <sessionId>-widget-…", { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Hedy' });

    // signIn waits for the console's "● live": the broker let it in
    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    const consoleAuth = emqx!.calls.filter((c) => c.path === '/mqtt/auth' && c.body.username === agent.id);
    assert.ok(consoleAuth.length > 0);
    assert.ok(consoleAuth.every((c) => c.result === 'allow' && String(c.body.clientid).startsWith(`${agent.id}-console-`)), JSON.stringify(consoleAuth));

    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada Lovelace');
    // the session the widget started (its id is the broker user name)
    const deadline = Date.now() + 10_000;
    let sessionId: string | undefined;
    const widgetAuth = () => emqx!.calls.filter((c) => c.path === '/mqtt/auth' && c.body.username === sessionId);
    while (!widgetAuth().some((c) => c.result === 'allow')) {
      assert.ok(Date.now() < deadline, `the widget was not let in: ${JSON.stringify(emqx!.calls.filter((c) => c.path === '/mqtt/auth'))}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      sessionId ??= (await suite.server.ctx.db.query<{ conversation_id: string }>('select conversation_id from customer_sessions'))[0]?.conversation_id;
    }
    assert.ok(widgetAuth().every((c) => String(c.body.clientid).startsWith(`${sessionId}-widget-`)), JSON.stringify(widgetAuth()));
    assert.deepEqual(problems, []);
  });
});
