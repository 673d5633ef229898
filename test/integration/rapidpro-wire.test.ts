// The contract's mailroom requests replayed byte for byte over a raw TCP
// socket to a listening server: GET with a body and Content-Length, Go's
// header casing and order, Accept-Encoding: gzip, one keep-alive connection
// as Go's client reuses it. Only the path prefix differs from what mailroom
// sent to Rocket.Chat (/api/apps/public/<uuid>/ → /api/v1/ticketers/<uuid>/).
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { describeEachStore } from '../helpers/stores.js';

const UUID = '684202ed-1461-4983-9ea7-fde74b15026c';
const SECRET = 'PMgASmAH4ktSXG97';
const ROOM_BODY =
  '{"visitor":{"token":"1234567","contactUUID":"5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f","name":"Ryan Lewis","email":"foo@bar.com","phone":"+12024561111"},"ticketID":"59d74b86-3e2f-4a93-aece-b05d2fdcde0c"}';
const MESSAGE_BODY =
  '{"visitor":{"token":"10000"},"text":"It\'s urgent","attachments":[{"type":"image/jpg","url":"https://link.to/image.jpg"},{"type":"video/mp4","url":"https://link.to/video.mp4"},{"type":"audio/ogg","url":"https://link.to/audio.ogg"}]}';
const CLOSE_BODY = '{"visitor":{"token":"10000"}}';

/** A request as Go's net/http writes it: this header order and casing, CRLF line ends. */
function goRequest(method: string, endpoint: string, body: string | null, secret = SECRET): string {
  const lines = [
    `${method} /api/v1/ticketers/${UUID}/${endpoint} HTTP/1.1`,
    'Host: my.rocket.chat',
    'User-Agent: Go-http-client/1.1',
    ...(body === null ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]),
    `Authorization: Token ${secret}`,
    'Content-Type: application/json',
    'Accept-Encoding: gzip',
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

interface RawResponse {
  statusLine: string;
  headers: Record<string, string>;
  body: string;
}

/** One connection; `exchange` writes raw bytes and reads exactly one response off the socket. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    waiting?.();
  });
  socket.on('close', () => {
    closed = true;
    waiting?.();
  });
  const more = () => new Promise<void>((resolve) => (waiting = resolve));

  async function exchange(raw: string): Promise<RawResponse> {
    socket.write(raw);
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...headerLines] = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const length = Number(headers['content-length'] ?? 0);
        if (buffered.length >= end + 4 + length) {
          const body = buffered.subarray(end + 4, end + 4 + length).toString('utf8');
          buffered = buffered.subarray(end + 4 + length);
          return { statusLine: statusLine!, headers, body };
        }
      }
      if (closed) throw new Error(`connection closed before a full response; got ${JSON.stringify(buffered.toString())}`);
      await more();
    }
  }
  return { exchange, close: () => socket.destroy(), isClosed: () => closed };
}

describeEachStore('RapidPro wire replay over TCP', (store) => {
  let t: TestApp;
  let port: number;

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    // The contract's own ticketer UUID, so the request line is mailroom's but for the prefix.
    await store().db.query(
      `insert into rapidpro_ticketers (uuid, name, secret, created_at, updated_at) values ($1, 'contract', $2, now(), now())`,
      [UUID, SECRET],
    );
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterEach(() => t.close());

  it('answers the recorded mailroom requests on one keep-alive connection', async () => {
    const conn = await connect(port);
    try {
      // any 2xx passes the contract; older RapidPro versions want exactly 200
      const check = await conn.exchange(goRequest('GET', 'secret.check', null));
      assert.equal(check.statusLine, 'HTTP/1.1 200 OK');
      assert.match(check.headers['content-type']!, /^application\/json/);
      assert.equal(check.body, '{}');

      const callbackUrl = `https://rapidpro.example.com/mr/tickets/types/rocketchat/event_callback/${UUID}`;
      const settings = await conn.exchange(goRequest('PUT', 'settings', `{"webhook":{"url":"${callbackUrl}"}}`));
      assert.equal(settings.statusLine, 'HTTP/1.1 204 No Content');
      assert.equal(settings.body, '');
      assert.equal(settings.headers['content-length'] ?? '0', '0');

      const read = await conn.exchange(goRequest('GET', 'settings', null));
      assert.equal(read.statusLine, 'HTTP/1.1 200 OK');
      assert.match(read.headers['content-type']!, /^application\/json/);
      assert.deepEqual(JSON.parse(read.body), { webhook: { url: callbackUrl } });

      assert.equal(Buffer.byteLength(ROOM_BODY), 199, 'the contract says Content-Length: 199');
      const room = await conn.exchange(goRequest('GET', 'room', ROOM_BODY));
      assert.equal(room.statusLine, 'HTTP/1.1 201 Created');
      assert.match(room.headers['content-type']!, /^application\/json/);
      const roomId = (JSON.parse(room.body) as { id: string }).id;
      assert.deepEqual(JSON.parse(room.body), { id: roomId });

      // mailroom retries a GET that timed out: the same room comes back
      const retried = await conn.exchange(goRequest('GET', 'room', ROOM_BODY));
      assert.equal(retried.statusLine, 'HTTP/1.1 201 Created');
      assert.equal(retried.body, room.body);

      // the contract's message is for token 10000, which has no room yet
      const orphan = await conn.exchange(goRequest('POST', 'visitor-message', MESSAGE_BODY));
      assert.equal(orphan.statusLine, 'HTTP/1.1 404 Not Found');
      assert.equal(orphan.body, '{"error":"Could not find a room for visitor token: 10000"}');

      const second = await conn.exchange(goRequest('GET', 'room', ROOM_BODY.replace('"1234567"', '"10000"').replace('59d74b86', '69d74b86')));
      assert.equal(second.statusLine, 'HTTP/1.1 201 Created');
      const message = await conn.exchange(goRequest('POST', 'visitor-message', MESSAGE_BODY));
      assert.equal(message.statusLine, 'HTTP/1.1 201 Created');
      assert.match(message.body, /^\{"id":"\d+"\}$/);

      assert.equal(Buffer.byteLength(CLOSE_BODY), 29, 'the contract says Content-Length: 29');
      const closed = await conn.exchange(goRequest('GET', 'room.close', CLOSE_BODY));
      assert.equal(closed.statusLine, 'HTTP/1.1 204 No Content');
      assert.equal(closed.body, '');
      assert.equal(conn.isClosed(), false, 'the connection stays usable after GETs with bodies');
    } finally {
      conn.close();
    }

    const [ticket] = await store().db.query<{ state: string; resolve_reason: string; text: string }>(
      `select c.state, c.resolve_reason, m.text from conversations c join messages m on m.conversation_id = c.id where c.external_ref = '69d74b86-3e2f-4a93-aece-b05d2fdcde0c'`,
    );
    assert.deepEqual(ticket, { state: 'resolved', resolve_reason: 'rapidpro', text: "It's urgent" });
  });

  it('refuses a wrong token and a truncated body over the wire with {"error":"…"} and opens nothing', async () => {
    const conn = await connect(port);
    try {
      const wrong = await conn.exchange(goRequest('GET', 'room', ROOM_BODY, 'XXXXXXXXXXXXXXXX'));
      assert.equal(wrong.statusLine, 'HTTP/1.1 401 Unauthorized');
      assert.match((JSON.parse(wrong.body) as { error: string }).error, /token does not match ticketer 684202ed/);
    } finally {
      conn.close();
    }
    // Content-Length promises more than arrives: the server must not act on half a body
    const short = await connect(port);
    try {
      const raw = goRequest('GET', 'room', ROOM_BODY).replace('Content-Length: 199', 'Content-Length: 250');
      const pending = short.exchange(raw);
      setTimeout(() => short.close(), 300);
      await assert.rejects(pending, /connection closed/);
    } finally {
      short.close();
    }
    const [count] = await store().db.query<{ n: number }>('select count(*)::int as n from conversations');
    assert.equal(count?.n, 0);
  });
});
