// What anyone on the internet can send to /mqtt before authenticating must
// not fill the error log (#16): an oversized WebSocket frame before CONNECT
// closes the connection and is logged at debug, without a stack. And what the
// server sends there comes in whole MQTT packets, one WebSocket frame each.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import pino from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore, openTestStore, type TestStore } from '../helpers/stores.js';

let store: TestStore;
let server: Running;
const lines: { level: number; msg: string; err?: { stack?: string }; code?: string }[] = [];

before(async () => {
  store = await openTestStore('pglite');
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
  server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'debug', SWEEP_INTERVAL: '60000', WEBHOOK_POLL_INTERVAL: '60000' }), { db: store.db, keepDb: true, logger: logger as never });
});
after(async () => {
  await server?.close();
  await store?.close();
});

it('closes a connection whose first frame is over the 256 KiB limit and logs it at debug, not as an error with a stack', async () => {
  lines.length = 0;
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/mqtt`, 'mqtt');
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send(Buffer.alloc(300 * 1024, 0x10));
  assert.ok([1006, 1009].includes(await closed), 'the server ends the connection');
  const deadline = Date.now() + 2_000;
  while (!lines.some((l) => l.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const note = lines.find((l) => l.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  assert.ok(note, 'the refusal is logged');
  assert.equal(note.level, 20, 'at debug');
  assert.equal(note.err, undefined, 'without the error and its stack');
  assert.deepEqual(
    lines.filter((l) => l.level >= 40).map((l) => l.msg),
    [],
    'nothing at warn or above',
  );
});

/** The MQTT packets in one WebSocket frame, read by a parser of its own: what a client that expects whole packets per frame sees. */
function packetsIn(frame: Buffer): { packets: Packet[]; leftover: number } {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  parser.on('packet', (packet) => packets.push(packet));
  parser.on('error', () => {});
  const leftover = parser.parse(frame);
  return { packets, leftover };
}

describeEachStore('MQTT over WebSocket', (store) => {
  let running: Running;
  let wsUrl: string;
  const { http } = realServerForBlock(store, (started) => ({ server: running, wsUrl } = started));

  it('sends every MQTT packet whole, in a WebSocket frame of its own: CONNACK, SUBACK and a PUBLISH of an assignment', async () => {
    const agent = await makeAgent(running.ctx, { status: 'online', capacity: 2 });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(login.status, 200);
    const token = (login.body as { token: string }).token;
    const ws = new WebSocket(wsUrl, 'mqtt');
    const frames: Buffer[] = [];
    const arrived: (() => void)[] = [];
    ws.on('message', (data) => {
      frames.push(Buffer.from(data as Buffer));
      arrived.splice(0).forEach((wake) => wake());
    });
    const frameCount = async (n: number) => {
      const deadline = Date.now() + 5_000;
      while (frames.length < n) {
        assert.ok(Date.now() < deadline, `${n} frames within 5 s; got ${frames.length}`);
        await new Promise<void>((resolve) => {
          arrived.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    };
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `frames-${agent.id}`, keepalive: 30, username: 'switchboard', password: Buffer.from(token) }));
      await frameCount(1);
      const assign = `switchboard/client/attendants/assign/${agent.id}`;
      ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: assign, qos: 1 }] }));
      await frameCount(2);
      const opened = await http('POST', '/api/v1/conversations', { customer: { id: 'frames-customer' } }, token);
      assert.equal(opened.status, 201);
      await frameCount(3);

      const read = frames.map(packetsIn);
      assert.deepEqual(read.map((r) => r.leftover), [0, 0, 0], 'no frame ends inside a packet');
      assert.deepEqual(read.map((r) => r.packets.map((p) => p.cmd)), [['connack'], ['suback'], ['publish']], 'each frame is one whole packet');
      const [connack] = read[0]!.packets as mqttPacket.IConnackPacket[];
      assert.equal(connack!.returnCode, 0, 'the token is accepted');
      const [suback] = read[1]!.packets as mqttPacket.ISubackPacket[];
      assert.deepEqual(suback!.granted, [1]);
      const [publish] = read[2]!.packets as mqttPacket.IPublishPacket[];
      assert.equal(publish!.topic, assign);
      assert.equal(JSON.parse(String(publish!.payload)).conversation.id, (opened.body as { id: string }).id);
    } finally {
      ws.close();
    }
  });
});
