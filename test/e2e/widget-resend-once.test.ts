import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Frame, FrameLocator, Page, WebSocketRoute } from 'playwright-core';
import { browserServer, haveChromium, noteMissingChromium, startWidgetChat } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// The widget's message whose PUBACK was lost: mqtt.js sends the very packet
// again after reconnecting, and its clientMessageId has the server store it
// once (docs/realtime.md, "Sent again, stored once"). And the refusals that
// are not of a message (a read receipt, a session request past its budget)
// are not shown to the customer as a message that was not sent.

noteMissingChromium('test/e2e/widget-resend-once.test.ts');

const widgetFrame = (shop: Page): Frame => shop.frames().find((f) => f !== shop.mainFrame() && f.url().includes('/widget/'))!;

interface Packet {
  type: number;
  topic?: string;
  payload?: string;
  /** a PUBLISH's (QoS 1) or PUBACK's packet id */
  id?: number;
}

/** The MQTT 3.1.1 packets in a WebSocket frame (mqtt.js may write two at once: a typing signal and the message). */
function packetsOf(frame: string | Buffer): Packet[] {
  const b = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame;
  const packets: Packet[] = [];
  let start = 0;
  while (start < b.length) {
    const type = b[start]! >> 4;
    let length = 0;
    let at = start + 1;
    for (let shift = 0; ; shift += 7) {
      const byte = b[at++]!;
      length += (byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    const end = at + length;
    if (type === 3) {
      const topicLength = b.readUInt16BE(at);
      const topic = b.toString('utf8', at + 2, at + 2 + topicLength);
      at += 2 + topicLength;
      const id = (b[start]! >> 1) & 3 ? b.readUInt16BE(at) : undefined;
      packets.push({ type, topic, payload: b.toString('utf8', id === undefined ? at : at + 2, end), ...(id === undefined ? {} : { id }) });
    } else if (type === 4) packets.push({ type, id: b.readUInt16BE(at) });
    else packets.push({ type });
    start = end;
  }
  return packets;
}

/**
 * The widget's MQTT link on `shop`'s pages through a proxy that the test reads
 * (every control payload the server sent) and can break: `dropAck` closes the
 * link in place of the PUBACK of the next message published on a topic ending
 * in `suffix`, as a connection lost right after the PUBLISH left would; `down`
 * refuses connections until `restore`.
 */
async function proxiedLink(shop: Page) {
  const control: unknown[] = [];
  const published: { topic: string; payload: string }[] = [];
  let down = false;
  let dropFor: string | null = null;
  let droppedId: number | null = null;
  let dropped = () => {};
  await shop.context().routeWebSocket(/\/mqtt$/, (ws: WebSocketRoute) => {
    if (down) return void ws.close();
    const server = ws.connectToServer();
    ws.onMessage((frame) => {
      for (const packet of packetsOf(frame)) {
        if (packet.type !== 3) continue;
        published.push({ topic: packet.topic!, payload: packet.payload! });
        if (dropFor && packet.topic!.endsWith(dropFor)) {
          dropFor = null;
          droppedId = packet.id!;
        }
      }
      server.send(frame);
    });
    server.onMessage((frame) => {
      const packets = packetsOf(frame);
      if (packets.some((p) => p.type === 4 && p.id === droppedId)) {
        droppedId = null;
        void ws.close();
        void server.close();
        dropped();
        return;
      }
      for (const packet of packets) if (packet.type === 3 && packet.topic!.endsWith('/client/control')) control.push(JSON.parse(packet.payload!));
      ws.send(frame);
    });
  });
  return {
    control,
    published,
    dropAck(suffix: string): Promise<void> {
      dropFor = suffix;
      return new Promise((resolve) => (dropped = resolve));
    },
    cut: () => void (down = true),
    restore: () => void (down = false),
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const rejected = (control: unknown[], suffix: string) =>
  control.filter((c) => (c as { instruction?: string }).instruction === 'message/rejected' && String((c as { topic?: string }).topic).endsWith(suffix)) as { error: { code: string } }[];

const notSent = (widget: FrameLocator) => widget.getByRole('alert').filter({ hasText: 'not sent' });

describeEachStore('widget: a message sent again is stored once, and refusals that are not of a message', (store) => {
  const suite = browserServer(store);

  it('stores and shows once the message whose PUBACK the link lost, after mqtt.js sends it again', { skip: !haveChromium, timeout: 60_000 }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 });
    const link = await proxiedLink(shop);
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada');
    await widget.getByTestId('agent').filter({ hasText: 'Grace' }).waitFor();
    const [conv] = await store().db.query<{ id: string }>('select id from conversations');
    const topic = `/conversations/${conv!.id}/messages`;

    const dropped = link.dropAck(topic);
    await widget.getByLabel('Your message').fill('Where is my order?');
    await widget.getByLabel('Your message').press('Enter');
    await dropped;
    // mqtt.js reconnects and sends the same packet again; its PUBACK comes through this time
    await until('the message is sent again', () => link.published.filter((p) => p.topic.endsWith(topic)).length === 2);
    await widget.getByText('Reconnecting…').waitFor({ state: 'hidden' });
    await widget.getByTestId('message').filter({ hasText: 'Where is my order?' }).first().waitFor();
    // the server's answer to the copy (stored again, or the stored one published again) has had time to show
    await shop.waitForTimeout(500);

    const rows = await store().db.query<{ text: string }>(`select text from messages where sender = 'customer'`);
    assert.deepEqual(
      rows.map((r) => r.text),
      ['Where is my order?'],
      'stored once',
    );
    assert.equal(await widget.getByTestId('message').filter({ hasText: 'Where is my order?' }).count(), 1, 'shown once');
    assert.equal(await notSent(widget).count(), 0);
    const [sent, again] = link.published.filter((p) => p.topic.endsWith(topic)).map((p) => JSON.parse(p.payload).message);
    assert.match(sent.clientMessageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(again, sent, 'the very message again, with its id');
    assert.deepEqual(problems, []);
  });
});

describeEachStore('widget: a refused read receipt', (store) => {
  // a receipt a second at most: the second of two close together is refused
  const suite = browserServer(store, () => ({ MQTT_MESSAGE_RATE: '1', MQTT_MESSAGE_BURST: '1' }));
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('is not shown as a message of the customer that was not sent', { skip: !haveChromium, timeout: 60_000 }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const agentToken = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const link = await proxiedLink(shop);
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada');
    await widget.getByTestId('agent').filter({ hasText: 'Grace' }).waitFor();
    const [conv] = await store().db.query<{ id: string }>('select id from conversations');

    for (let i = 1; i <= 10 && rejected(link.control, '/messages/viewed').length === 0; i++) {
      assert.equal((await http('POST', `/api/v1/conversations/${conv!.id}/messages`, { text: `Grace ${i}.` }, agentToken)).status, 201);
      await widget.getByTestId('message').filter({ hasText: `Grace ${i}.` }).waitFor();
      await shop.waitForTimeout(100);
    }
    assert.equal(rejected(link.control, '/messages/viewed')[0]?.error.code, 'SB_RATE_LIMITED', 'no receipt was refused');
    await shop.waitForTimeout(300);
    assert.equal(await notSent(widget).count(), 0, 'no message of the customer was refused');
  });
});

describeEachStore('widget: a refused session request', (store) => {
  // one request at once, then one every 10 s (a minute's 6): the widget's own is refused after another client spent it
  const suite = browserServer(store, () => ({ MQTT_REQUEST_RATE: '6', MQTT_REQUEST_BURST: '1' }));

  it('says nothing of a message not sent when its session request is refused, and asks again once the budget allows', { skip: !haveChromium, timeout: 60_000 }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Grace' });
    const { page: shop } = await suite.openPage({ width: 390, height: 780 });
    const link = await proxiedLink(shop);
    link.cut();
    const widget = await startWidgetChat(shop, suite.server.url, 'Ada');
    let kept: string | null = null;
    await until('the widget has its session', async () => (kept = await widgetFrame(shop).evaluate(() => sessionStorage.getItem('switchboard-session'))) !== null);
    const { sessionId, token, sessionTopic, customerId } = JSON.parse(kept!) as { sessionId: string; token: string; sessionTopic: string; customerId: string };

    // while the widget cannot connect, its session requests' budget (here a burst of 1, then one every 10 s) is spent elsewhere
    let spentAt = 0;
    const other = await connectMqtt(`${suite.server.url.replace('http', 'ws')}/mqtt`, token, { username: sessionId });
    try {
      await other.subscribe(`${sessionTopic}/client/control`);
      const base = sessionTopic.slice(0, sessionTopic.lastIndexOf('/conversations/'));
      // before the request that spends it: the budget refills from that request, not from when the other client is gone
      spentAt = Date.now();
      for (let i = 0; i < 2; i++) await other.publish(`${base}/server/sessions/request`, { sessionId, sessionTopic, customerId, requestID: `spent-${i}` });
      await other.next(`${sessionTopic}/client/control`, (p) => p.instruction === 'message/rejected' && p.error.code === 'SB_RATE_LIMITED');
    } finally {
      await other.end();
    }
    link.restore();

    await until('the widget hears its own request refused', () => rejected(link.control, '/server/sessions/request').length > 0);
    assert.equal(rejected(link.control, '/server/sessions/request')[0]!.error.code, 'SB_RATE_LIMITED');
    await shop.waitForTimeout(300);
    assert.equal(await notSent(widget).count(), 0, 'no message of the customer was refused');

    // asked again once the bucket has a request for it: the chat is with Grace, not "Connecting…" for good
    await widget.getByTestId('agent').filter({ hasText: 'Grace' }).waitFor({ timeout: 20_000 });
    assert.ok(Date.now() - spentAt >= 9_000, 'asked again before the budget allowed it');
    assert.equal(await notSent(widget).count(), 0);
  });
});
