// What one client may make the embedded broker hold: an MQTT packet is
// limited in size as it streams in (a header announcing more closes the
// connection before its body is sent, let alone buffered: 4 KiB until the
// CONNECT is accepted, 70 KiB after), over WebSocket and plain TCP alike;
// one identity holds a bounded number of connections, one connection a
// bounded number of subscriptions, of persistent sessions; a persistent
// session is forgotten once its token is dead (a customer's session over, an
// agent's login ended); and what is only true for the moment (typing, the
// waiting list) is never queued for an absent session.
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, before, beforeEach, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { MAX_INBOUND_QOS2_PER_CONNECTION, MAX_SUBSCRIPTIONS_PER_CONNECTION } from '../../src/realtime/broker.js';
import { MAX_CONNECTIONS_PER_IDENTITY, MAX_PERSISTENT_SESSIONS_PER_IDENTITY } from '../../src/realtime/connections.js';
import { MAX_CONNECT_BYTES, MAX_PACKET_BYTES, PacketScanner } from '../../src/realtime/packet-limit.js';
import { MAX_PAYLOAD_BYTES } from '../../src/realtime/payloads.js';
import { startServer, type Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** an MQTT remaining length, encoded (7 bits a byte, low first) */
function varint(n: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return bytes;
}

it('the scanner follows packets across chunks, a remaining length split anywhere, and refuses the first byte that shows a packet over its limit', () => {
  const limit = 1000;
  const packet = (length: number) => Buffer.from([0x30, ...varint(length), ...Buffer.alloc(length, 0x61)]);
  // Three packets, the last exactly at the limit, fed a byte at a time.
  const stream = Buffer.concat([packet(0), packet(200), packet(limit)]);
  const byByte = new PacketScanner(() => limit);
  for (const byte of stream) assert.equal(byByte.scan(Buffer.from([byte])), undefined);
  // All in one chunk, then one over the limit, its length split over two chunks.
  const whole = new PacketScanner(() => limit);
  assert.equal(whole.scan(stream), undefined);
  const over = varint(limit + 1); // two bytes: the first alone is within the limit
  assert.equal(over.length, 2);
  assert.equal(whole.scan(Buffer.from([0x30, over[0]!])), undefined);
  assert.match(whole.scan(Buffer.from([over[1]!])) ?? '', /announces 1001\+ bytes; at most 1000/);
  // A length announcing 200 MB is refused with its header, before any body.
  const huge = new PacketScanner(() => limit);
  assert.ok(huge.scan(Buffer.from([0x10, ...varint(200 * 1024 * 1024)])));
  // A fifth length byte is malformed whatever the limit.
  assert.match(new PacketScanner(() => Infinity).scan(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01])) ?? '', /longer than 4 bytes/);
  // The limit is read per packet: raised, the next packet may be larger.
  let raised = 10;
  const step = new PacketScanner(() => raised);
  assert.equal(step.scan(packet(10)), undefined);
  raised = 100;
  assert.equal(step.scan(packet(100)), undefined);
});

/** A raw connection to the broker, over WebSocket or TCP: bytes out, packets in, and whether the server closed it. */
interface Raw {
  send(bytes: Buffer): Promise<void>;
  packets: Packet[];
  closed(withinMs: number): Promise<boolean>;
  next(cmd: string, withinMs?: number): Promise<Packet>;
  end(): void;
}

function rawOver(kind: 'ws' | 'tcp', address: string): Promise<Raw> {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  parser.on('packet', (packet) => packets.push(packet));
  parser.on('error', () => {});
  let isClosed = false;
  const closing: (() => void)[] = [];
  const closedNow = () => ((isClosed = true), closing.splice(0).forEach((wake) => wake()));
  const raw = (send: Raw['send'], end: () => void): Raw => ({
    send,
    packets,
    closed: (withinMs) =>
      isClosed ? Promise.resolve(true) : new Promise((resolve) => (closing.push(() => resolve(true)), setTimeout(() => resolve(isClosed), withinMs))),
    async next(cmd, withinMs = 5_000) {
      const deadline = Date.now() + withinMs;
      while (Date.now() < deadline) {
        const found = packets.find((p) => p.cmd === cmd);
        if (found) return found;
        await sleep(10);
      }
      throw new Error(`no ${cmd} within ${withinMs} ms`);
    },
    end,
  });
  if (kind === 'ws') {
    const ws = new WebSocket(address, 'mqtt');
    ws.on('message', (data) => parser.parse(Buffer.from(data as Buffer)));
    ws.on('close', closedNow);
    ws.on('error', () => {});
    const send = (bytes: Buffer) => new Promise<void>((done, fail) => ws.send(bytes, (e) => (e && !isClosed ? fail(e) : done())));
    return new Promise((resolve, reject) => ws.once('open', () => resolve(raw(send, () => ws.terminate()))).once('error', reject));
  }
  const socket: Socket = tcpConnect(Number(address), '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('data', (data) => parser.parse(data));
  socket.on('close', closedNow);
  socket.on('error', () => {});
  const send = (bytes: Buffer) => new Promise<void>((done) => (isClosed ? done() : void socket.write(bytes, () => done())));
  return new Promise((resolve, reject) => socket.once('connect', () => resolve(raw(send, () => socket.destroy()))).once('error', reject));
}

describeEachStore('realtime limits', (store) => {
  let server: Running;
  let wsUrl = '';
  let tcpPort = '';
  const clients: TestMqttClient[] = [];
  const raws: Raw[] = [];
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(server.url, method, path, body, token);
  before(async () => {
    server = await startServer(
      loadConfig({ PORT: '0', LOG_LEVEL: 'silent', SWEEP_INTERVAL: '60000', WEBHOOK_POLL_INTERVAL: '60000', MQTT_TCP_PORT: '0' }),
      { db: store().db, keepDb: true },
    );
    wsUrl = `${server.url.replace('http', 'ws')}/mqtt`;
    tcpPort = String((server.realtime.broker as { tcpAddress?: { port: number } }).tcpAddress!.port);
  });
  const endAll = async () => {
    raws.splice(0).forEach((r) => r.end());
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  };
  after(async () => {
    await endAll();
    await server?.close();
  });
  beforeEach(async () => {
    await endAll();
    await store().reset();
  });

  const open = async (kind: 'ws' | 'tcp') => {
    const raw = await rawOver(kind, kind === 'ws' ? wsUrl : tcpPort);
    raws.push(raw);
    return raw;
  };
  const connect = async (token: string, options: Parameters<typeof connectMqtt>[2] = {}) => {
    const client = await connectMqtt(wsUrl, token, options);
    clients.push(client);
    return client;
  };
  const agentToken = async () => {
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 2 });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(login.status, 200);
    return { agent, token: (login.body as { token: string }).token };
  };
  const startChat = async (customerId: string) => {
    const session = await http('POST', '/session', { customer: { id: customerId } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    return session.body as { sessionId: string; sessionTopic: string; token: string };
  };
  const connectPacket = (password: string, username = 'switchboard', options: { clientId?: string; clean?: boolean } = {}) =>
    mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: options.clean ?? true, keepalive: 60,
      clientId: options.clientId ?? `raw-${Math.random().toString(36).slice(2)}`, username, password: Buffer.from(password),
    });

  for (const kind of ['ws', 'tcp'] as const) {
    it(`${kind}: a CONNECT announcing 200 MB closes the connection at its header, before any of its body is sent`, async () => {
      const raw = await open(kind);
      await raw.send(Buffer.from([0x10, ...varint(200 * 1024 * 1024)]));
      assert.equal(await raw.closed(3_000), true, 'closed with only the 5-byte header sent (aedes would wait 30 s for the rest, buffering it)');
    });

    it(`${kind}: spread over many small writes, a pre-CONNECT packet is cut off once it announces more than ${MAX_CONNECT_BYTES} bytes`, async () => {
      const raw = await open(kind);
      // The length a byte at a time, then body: closed at the length's second byte.
      const header = [0x10, ...varint(MAX_CONNECT_BYTES + 1)];
      let sent = 0;
      for (const byte of header) {
        if (await raw.closed(0)) break;
        await raw.send(Buffer.from([byte]));
        sent += 1;
        await sleep(20);
      }
      for (let i = 0; i < 20 && !(await raw.closed(50)); i++) {
        await raw.send(Buffer.alloc(1024, 0x41));
        sent += 1024;
      }
      assert.equal(await raw.closed(2_000), true, `still open after ${sent} bytes`);
      assert.ok(sent <= MAX_CONNECT_BYTES, `closed only after ${sent} bytes`);
    });

    it(`${kind}: once authenticated, a packet just under ${MAX_PACKET_BYTES} bytes is accepted and one announcing more closes the connection`, async () => {
    const chat = await startChat(`big-${kind}`);
      const raw = await open(kind);
      await raw.send(connectPacket(chat.token));
      const connack = (await raw.next('connack')) as Packet & { returnCode: number };
      assert.equal(connack.returnCode, 0);
      // A QoS 1 publish of a 64 KiB payload (what Switchboard accepts): not a
      // request Switchboard understands, so it is refused to the customer,
      // but acknowledged, the connection kept.
      const payload = Buffer.alloc(MAX_PAYLOAD_BYTES, 0x20);
      const publish = mqttPacket.generate({ cmd: 'publish', topic: 'switchboard/server/channels/request', payload, qos: 1, messageId: 7, retain: false, dup: false });
      assert.ok(publish.length - 4 <= MAX_PACKET_BYTES && publish.length > 60 * 1024);
      await raw.send(publish);
      const puback = (await raw.next('puback')) as Packet & { messageId: number };
      assert.equal(puback.messageId, 7);
      assert.equal(await raw.closed(200), false, 'the full-size publish is accepted');
      await raw.send(Buffer.from([0x32, ...varint(MAX_PACKET_BYTES + 1)]));
      assert.equal(await raw.closed(3_000), true, 'a header announcing more than the limit closes the connection');
    });
  }

  it('a CONNECT just under the pre-CONNECT limit is accepted', async () => {
    const { agent, token } = await agentToken();
    const raw = await open('ws');
    // Padded with a will of its own: the CONNECT's remaining length is just under the limit.
    const withWill = (pad: number) =>
      mqttPacket.generate({
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'raw-padded',
        username: agent.id, password: Buffer.from(token),
        will: { topic: 'switchboard/w', payload: Buffer.alloc(pad, 0x61), qos: 0, retain: false },
      });
    const remainingOf = (packet: Buffer) => packet.length - 1 - varint(MAX_CONNECT_BYTES).length;
    const packet = withWill(MAX_CONNECT_BYTES - remainingOf(withWill(0)) - 16);
    const remaining = remainingOf(packet);
    assert.ok(remaining <= MAX_CONNECT_BYTES && remaining > MAX_CONNECT_BYTES - 64, `remaining length ${remaining}`);
    await raw.send(packet);
    const connack = (await raw.next('connack')) as Packet & { returnCode: number };
    assert.equal(connack.returnCode, 0);
  });

  it(`one customer token holds at most ${MAX_CONNECTIONS_PER_IDENTITY.customer} connections; the next is refused with "server unavailable" until one goes`, async () => {
    const chat = await startChat('many-tabs');
    const held: TestMqttClient[] = [];
    for (let i = 0; i < MAX_CONNECTIONS_PER_IDENTITY.customer; i++) held.push(await connect(chat.token));
    const refused = await connectMqtt(wsUrl, chat.token).then(
      (c) => (clients.push(c), undefined),
      (error: Error & { code?: number }) => error,
    );
    assert.ok(refused, 'the connection over the cap is refused');
    assert.equal(refused.code, 3, 'CONNACK 3, server unavailable (4 and 5 tell the widget its session is over)');
    // Taking over a connection's client id does not count as another one.
    const id = held[0]!.client.options.clientId!;
    await connect(chat.token, { clientId: id });
    await held[1]!.end();
    await sleep(100);
    assert.ok((await connect(chat.token)).client.connected, 'a place freed is taken again');
    // Another customer is not affected.
    assert.ok((await connect((await startChat('other')).token)).client.connected);
  });

  it(`an agent holds at most ${MAX_CONNECTIONS_PER_IDENTITY.agent} connections`, async () => {
    const { agent, token } = await agentToken();
    for (let i = 0; i < MAX_CONNECTIONS_PER_IDENTITY.agent; i++) await connect(token, { username: agent.id });
    await assert.rejects(connectMqtt(wsUrl, token, { username: agent.id }), (error: Error & { code?: number }) => error.code === 3);
  });

  it(`one connection holds at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions, in one SUBSCRIBE or many; an unsubscribe frees a place`, async () => {
    const chat = await startChat('subs');
    const c = await connect(chat.token);
    const filters = Array.from({ length: MAX_SUBSCRIPTIONS_PER_CONNECTION + 50 }, (_, i) => `${chat.sessionTopic}/x${i}/#`);
    // One SUBSCRIBE with them all: its filters are authorized concurrently.
    const raw = await open('ws');
    await raw.send(connectPacket(chat.token));
    assert.equal(((await raw.next('connack')) as Packet & { returnCode: number }).returnCode, 0);
    await raw.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 1 })) }));
    const granted = ((await raw.next('suback')) as Packet & { granted: number[] }).granted;
    assert.equal(granted.filter((g) => g !== 128).length, MAX_SUBSCRIPTIONS_PER_CONNECTION);
    assert.equal(granted.filter((g) => g === 128).length, 50);
    // One at a time on another connection; a filter held already is granted again.
    const answers = await c.subscribe(...filters.slice(0, MAX_SUBSCRIPTIONS_PER_CONNECTION + 1), filters[0]!);
    assert.equal(answers.filter((g) => g === 1).length, MAX_SUBSCRIPTIONS_PER_CONNECTION + 1);
    assert.equal(answers[MAX_SUBSCRIPTIONS_PER_CONNECTION], 128);
    assert.ok(c.client.connected, 'refused without closing the connection');
    await c.client.unsubscribeAsync(filters[3]!);
    assert.deepEqual(await c.subscribe(filters[MAX_SUBSCRIPTIONS_PER_CONNECTION]!), [1]);
  });

  /** Makes every database query wait `ms` first (a loaded server) until the returned function is called. */
  const slowDatabase = (ms: number) => {
    const db = server.ctx.db as unknown as { query: (...args: unknown[]) => Promise<unknown> };
    const own = Object.hasOwn(db, 'query');
    const query = db.query;
    db.query = async (...args: unknown[]) => (await sleep(ms), query.apply(db, args));
    return () => void (own ? (db.query = query) : delete (db as { query?: unknown }).query);
  };
  /** a TCP socket to the broker, connected */
  const tcpSocket = async () => {
    const socket = tcpConnect(Number(tcpPort), '127.0.0.1');
    socket.on('error', () => {});
    socket.on('data', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    return socket;
  };

  it('sockets closed while their CONNECT is being authenticated give their places back: the customer can connect again', async () => {
    const chat = await startChat('flappy');
    // The database is slow for a moment: each client gives up before its
    // CONNACK (mqtt.js' connect timeout, a network drop), a full cap's worth
    // of them. First they close (FIN), then they reset (RST: the connection
    // errors, and aedes closes it, before the token has been read).
    for (const how of ['close', 'reset'] as const) {
      const restore = slowDatabase(300);
      try {
        for (let i = 0; i < MAX_CONNECTIONS_PER_IDENTITY.customer; i++) {
          const socket = await tcpSocket();
          socket.write(connectPacket(chat.token, 'switchboard', { clientId: `flappy-${how}-${i}` }));
          await sleep(50);
          if (how === 'close') socket.destroy();
          else socket.resetAndDestroy();
        }
        await sleep(800);
      } finally {
        restore();
      }
      const result = await connectMqtt(wsUrl, chat.token).then(
        async (c) => (await c.end(), 'connected'),
        (error: Error & { code?: number }) => `refused with CONNACK ${error.code}`,
      );
      assert.equal(result, 'connected', `sockets that ${how === 'close' ? 'closed' : 'were reset'}: none is open, yet the customer is refused`);
      await sleep(100);
    }
  });

  it('what a TCP client sent before closing its side is read, though the broker was still authenticating its CONNECT', async () => {
    const chat = await startChat('tail');
    const listener = await connect(chat.token);
    assert.deepEqual(await listener.subscribe(`${chat.sessionTopic}/#`), [1]);
    const typing = `${chat.sessionTopic}/typing`;
    const restore = slowDatabase(200);
    let socket: Socket;
    let leaving: Socket;
    try {
      socket = await tcpSocket();
      socket.write(connectPacket(chat.token, 'switchboard', { clientId: 'tail-1' }));
      // Another one leaves with a DISCONNECT: its will must not be published.
      leaving = await tcpSocket();
      leaving.write(
        mqttPacket.generate({
          cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'tail-2', username: 'switchboard',
          password: Buffer.from(chat.token), will: { topic: typing, payload: Buffer.from(JSON.stringify({ typing: false })), qos: 0, retain: false },
        }),
      );
      await sleep(50);
      // MQTT lets a client send packets right after its CONNECT; then it closes its side (FIN), as a script does.
      socket.write(mqttPacket.generate({ cmd: 'publish', topic: typing, payload: Buffer.from(JSON.stringify({ typing: true })), qos: 0, retain: false, dup: false }));
      socket.end();
      leaving.end(mqttPacket.generate({ cmd: 'disconnect' }));
      await sleep(1_000);
    } finally {
      restore();
    }
    const heard = await listener.next(typing, () => true, 3_000).then(() => true, () => false);
    assert.equal(heard, true, 'the PUBLISH sent before the FIN was dropped with the socket');
    await sleep(200);
    assert.deepEqual(
      listener.received.filter((r) => r.topic === typing).map((r) => r.payload.typing),
      [true],
      'the DISCONNECT was read: no will',
    );
    // And the server closed its ends: nothing is left holding the connections.
    for (const s of [socket, leaving]) if (!s.closed) await new Promise((resolve) => s.once('close', resolve));
  });

  it("a customer's offline persistent session is forgotten once the session has expired; its client id is free again", async () => {
    const chat = await startChat('persistent');
    const clientId = `${chat.sessionId}-tab`;
    const first = await connect(chat.token, { clientId, clean: false });
    assert.deepEqual(await first.subscribe(`${chat.sessionTopic}/#`), [1]);
    await first.end();
    await sleep(100);
    const other = await startChat('other');
    // While the session is kept, the id is its own.
    await assert.rejects(connectMqtt(wsUrl, other.token, { clientId, clean: false }), (error: Error & { code?: number }) => error.code === 2);
    await server.realtime.broker.recheckConnections!();
    await assert.rejects(connectMqtt(wsUrl, other.token, { clientId, clean: false }), (error: Error & { code?: number }) => error.code === 2, 'still resumable: kept');
    await server.ctx.db.query("update customer_sessions set expires_at = now() - interval '1 second' where conversation_id = $1", [chat.sessionId]);
    await server.realtime.broker.recheckConnections!();
    // Taken by another customer, and nothing of the old session comes back with it.
    const raw = await open('ws');
    await raw.send(connectPacket(other.token, 'switchboard', { clientId, clean: false }));
    const connack = (await raw.next('connack')) as Packet & { returnCode: number; sessionPresent: boolean };
    assert.equal(connack.returnCode, 0);
    assert.equal(connack.sessionPresent, false, 'the old session was forgotten');
  });

  it(`one customer keeps at most ${MAX_PERSISTENT_SESSIONS_PER_IDENTITY.customer} persistent sessions, connected or not; resuming one, a clean connection and a wiped one's place still work`, async () => {
    const chat = await startChat('persisting');
    const id = (n: number | string) => `${chat.sessionId}-p${n}`;
    for (let i = 0; i < MAX_PERSISTENT_SESSIONS_PER_IDENTITY.customer; i++) {
      const tab = await connect(chat.token, { clientId: id(i), clean: false });
      assert.deepEqual(await tab.subscribe(`${chat.sessionTopic}/#`), [1]);
      await tab.end();
    }
    await sleep(100);
    await assert.rejects(connectMqtt(wsUrl, chat.token, { clientId: id('new'), clean: false }), (error: Error & { code?: number }) => error.code === 3, 'one more is "server unavailable"');
    // a kept one is resumed, whole
    const raw = await open('ws');
    await raw.send(connectPacket(chat.token, 'switchboard', { clientId: id(0), clean: false }));
    const connack = (await raw.next('connack')) as Packet & { returnCode: number; sessionPresent: boolean };
    assert.deepEqual([connack.returnCode, connack.sessionPresent], [0, true]);
    raw.end();
    await sleep(100);
    assert.ok((await connect(chat.token)).client.connected, 'a clean connection is not a kept session');
    // a clean CONNECT over a kept id wipes that session: its place is free
    await (await connect(chat.token, { clientId: id(1), clean: true })).end();
    await sleep(100);
    assert.ok((await connect(chat.token, { clientId: id('new'), clean: false })).client.connected);
    // another customer has places of their own
    const other = await startChat('other-persisting');
    assert.ok((await connect(other.token, { clientId: `${other.sessionId}-p0`, clean: false })).client.connected);
  });

  it("an agent's offline persistent session is kept while the login it was made with lives, and forgotten once it is logged out", async () => {
    const { agent, token } = await agentToken();
    const { token: otherToken } = await agentToken();
    const clientId = `${agent.id}-console-kept`;
    const first = await connect(token, { username: agent.id, clientId, clean: false });
    assert.deepEqual(await first.subscribe(`switchboard/agents/${agent.id}/events`), [1]);
    await first.end();
    await sleep(100);
    await server.realtime.broker.recheckConnections!();
    await assert.rejects(connectMqtt(wsUrl, otherToken, { clientId, clean: false }), (error: Error & { code?: number }) => error.code === 2, 'kept: the id is still the agent\'s');
    assert.equal((await http('POST', '/api/v1/auth/logout', undefined, token)).status, 204);
    await server.realtime.broker.recheckConnections!();
    const raw = await open('ws');
    await raw.send(connectPacket(otherToken, 'switchboard', { clientId, clean: false }));
    const connack = (await raw.next('connack')) as Packet & { returnCode: number; sessionPresent: boolean };
    assert.deepEqual([connack.returnCode, connack.sessionPresent], [0, false], 'forgotten: the id is free and nothing of the session is left');
  });

  it(`a customer's publishes awaiting their PUBREL are held without their bytes, at most ${MAX_INBOUND_QOS2_PER_CONNECTION} a connection; an absent supervisor's session queues none of them`, async () => {
    const broker = server.realtime.broker;
    // a supervisor's console, subscribed to everything, then gone (its session kept)
    const supervisor = await makeAgent(server.ctx, { role: 'supervisor' });
    const login = await http('POST', '/api/v1/auth/login', { email: supervisor.email, password: PASSWORD });
    const consoleId = `${supervisor.id}-console-all`;
    const watcher = await connect((login.body as { token: string }).token, { username: supervisor.id, clientId: consoleId, clean: false });
    assert.deepEqual(await watcher.subscribe('switchboard/#'), [1]);
    await watcher.end();

    const chat = await startChat('qos2-holder');
    const clientId = `${chat.sessionId}-qos2`;
    const raw = await open('ws');
    await raw.send(connectPacket(chat.token, 'switchboard', { clientId, clean: false }));
    await raw.next('connack');
    // 60 KB each (refused as a message, too long: consumed all the same), never released
    const big = JSON.stringify({ message: { content: 'x'.repeat(60_000) } });
    const ids = Array.from({ length: MAX_INBOUND_QOS2_PER_CONNECTION }, (_, i) => i + 1);
    for (const messageId of ids) {
      await raw.send(mqttPacket.generate({ cmd: 'publish', topic: `${chat.sessionTopic}/messages`, payload: big, qos: 2, messageId, retain: false, dup: false }));
    }
    const deadline = Date.now() + 5_000;
    while (raw.packets.filter((p) => p.cmd === 'pubrec').length < ids.length && Date.now() < deadline) await sleep(20);
    assert.equal(raw.packets.filter((p) => p.cmd === 'pubrec').length, ids.length, 'each is received');
    const { incoming } = await broker.held!(clientId, ids);
    assert.equal(incoming.length, ids.length, 'awaiting their PUBREL');
    assert.deepEqual([...new Set(incoming.map((p) => p.bytes))], [0], 'held without the bytes the customer sent');
    assert.deepEqual((await broker.held!(consoleId, [])).queued.filter((p) => p.topic === 'switchboard/server/consumed'), [], 'nothing consumed queued for the supervisor');

    // one more unreleased is one too many: the connection goes
    await raw.send(mqttPacket.generate({ cmd: 'publish', topic: `${chat.sessionTopic}/messages`, payload: big, qos: 2, messageId: ids.length + 1, retain: false, dup: false }));
    assert.equal(await raw.closed(3_000), true);
  });

  it('an absent persistent session gets the messages queued for it, never a typing signal or a stale waiting list', async () => {
    const { agent, token } = await agentToken();
    const chat = await startChat('away-tab');
    const clientId = `${chat.sessionId}-away`;
    const tab = await connect(chat.token, { clientId, clean: false });
    assert.deepEqual(await tab.subscribe(`${chat.sessionTopic}/#`), [1]);
    await tab.end();
    const watcher = await connect(token, { username: agent.id, clientId: `${agent.id}-console-away`, clean: false });
    assert.deepEqual(await watcher.subscribe('switchboard/events/queue'), [1]);
    await watcher.end();
    await sleep(100);
    // the agent types (QoS 1) and answers; a new customer waits, so the waiting list changes
    const console1 = await connect(token, { username: agent.id });
    await console1.publish(`${chat.sessionTopic}/typing`, { typing: true });
    assert.equal((await http('POST', `/api/v1/conversations/${chat.sessionId}/messages`, { text: 'still there?' }, token)).status, 201);
    await startChat('queued-1');
    await startChat('queued-2');
    await server.realtime.publisher.idle();
    const back = await connect(chat.token, { clientId, clean: false });
    await back.next(`${chat.sessionTopic}/messages`, (p) => p.message?.content === 'still there?');
    await sleep(300);
    assert.deepEqual(back.received.filter((r) => r.topic.endsWith('/typing')), [], 'no typing signal was kept');
    const watching = await connect(token, { username: agent.id, clientId: `${agent.id}-console-away`, clean: false });
    await sleep(300);
    assert.deepEqual(watching.received.filter((r) => r.topic === 'switchboard/events/queue'), [], 'no waiting list was kept');
    // live, both still come
    const liveTab = await connect(chat.token);
    assert.deepEqual(await liveTab.subscribe(`${chat.sessionTopic}/typing`), [1]);
    await console1.publish(`${chat.sessionTopic}/typing`, { typing: false });
    assert.equal((await liveTab.next(`${chat.sessionTopic}/typing`)).typing, false);
  });
});
