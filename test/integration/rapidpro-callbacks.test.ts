// Callbacks to mailroom: agents' replies and resolves reach a fake mailroom
// that applies mailroom's checks, through the durable outbox — in order per
// ticket, across a period where mailroom answers 500, never dropped, and
// readable by an admin. The worker is driven with tick() on a fake clock.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, it } from 'node:test';
import { rapidproOutbound } from '../../src/channels/rapidpro/producer.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { startFakeMailroom, type FakeMailroom } from '../helpers/fake-mailroom.js';
import { CONTRACT, connectMailroom, createTicketer, mailroomFor, type Mailroom, type TestTicketer } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';
import { testWorker } from '../helpers/webhook-receiver.js';

const HOUR = 3_600_000;
const TICKET_A = CONTRACT.room.ticketID;
const TICKET_B = 'b0b0b0b0-3e2f-4a93-aece-b05d2fdcde0c';

describeEachStore('RapidPro callbacks', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let admin: string;
  let agent: string;
  let ticketer: TestTicketer;
  let call: Mailroom;
  let mailroom: FakeMailroom;
  let worker: OutboundWorker;

  beforeEach(async () => {
    await store().reset();
    // the fake mailroom listens on 127.0.0.1: private targets allowed, as in the webhook tests
    t = await testApp(store(), { now: clock.now, tokenTtlSeconds: 60 * 86_400, env: { ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true' } });
    admin = (await t.user('admin')).token;
    agent = (await t.user('agent', { status: 'online', capacity: 5 })).token;
    ({ ticketer, call, mailroom, worker } = await connectMailroom(t, admin, [TICKET_A, TICKET_B]));
  });
  afterEach(async () => {
    await worker.stop();
    await mailroom.close();
    await t.close();
  });

  async function open(ticketID: string, token: string): Promise<string> {
    const res = await call('GET', 'room', { ...CONTRACT.room, ticketID, visitor: { ...CONTRACT.room.visitor, token } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  }
  async function reply(room: string, body: { text?: string; attachments?: { type: string; url: string }[] }) {
    const res = await t.call('POST', `/api/v1/conversations/${room}/messages`, { token: agent, body });
    assert.equal(res.statusCode, 201, res.body);
  }
  async function resolve(room: string) {
    assert.equal((await t.call('POST', `/api/v1/conversations/${room}/resolve`, { token: agent, body: {} })).statusCode, 200);
  }
  const callbacks = async (query = '') => (await t.call('GET', `/api/v1/ticketers/${ticketer.uuid}/callbacks${query}`, { token: admin })).json();

  it("sends an agent's reply as agent-message and their resolve as close-room, exactly as mailroom expects", async () => {
    const room = await open(TICKET_A, '10000');
    await call('POST', 'visitor-message', { visitor: { token: '10000' }, text: 'hello?' });
    await reply(room, { text: 'We can help', attachments: [{ type: 'image/jpg', url: 'https://files.example.com/a.jpg' }] });
    await reply(room, { text: 'Anything else?' });
    await resolve(room);
    const result = await worker.tick();
    assert.equal(result.delivered, 3);
    assert.deepEqual(mailroom.handled, [
      { type: 'agent-message', ticketID: TICKET_A, visitor: { token: '10000' }, data: { text: 'We can help', attachments: [{ type: 'image/jpg', url: 'https://files.example.com/a.jpg' }] } },
      { type: 'agent-message', ticketID: TICKET_A, visitor: { token: '10000' }, data: { text: 'Anything else?' } },
      { type: 'close-room', ticketID: TICKET_A, visitor: { token: '10000' } },
    ]);
    for (const request of mailroom.requests) {
      assert.equal(request.headers.authorization, `Token ${ticketer.secret}`);
      assert.equal(request.headers['content-type'], 'application/json');
    }
    const log = await callbacks();
    assert.deepEqual(log.map((c: { type: string; state: string }) => [c.type, c.state]), [
      ['close-room', 'delivered'],
      ['agent-message', 'delivered'],
      ['agent-message', 'delivered'],
    ]);
    assert.equal(log[0].attempt_log[0].status, 200);
    assert.equal(log[0].attempt_log[0].response_excerpt, '{"status":"handled"}');
    assert.deepEqual(log[0].payload, mailroom.handled[2]);
    // the ticketer's secret went over the wire but is nowhere in the stored attempt log
    const stored = await t.ctx.db.query<{ request_headers: Record<string, string> }>('select request_headers from outbound_attempts');
    assert.equal(stored.length, 3);
    for (const { request_headers: headers } of stored) {
      assert.equal(headers.authorization, '[redacted]');
      assert.ok(!JSON.stringify(headers).includes(ticketer.secret));
    }
  });

  it('does not echo close-room when RapidPro closed the room, but sends it for a stale room a new ticket replaced', async () => {
    const first = await open(TICKET_A, '10000');
    await reply(first, { text: 'one' });
    assert.equal((await call('GET', 'room.close', { visitor: { token: '10000' } })).statusCode, 204);
    const second = await open(TICKET_B, '20000');
    await reply(second, { text: 'two' });
    // the same contact opens another ticket while TICKET_B is open: that room is closed and RapidPro told
    mailroom.tickets.add('c0c0c0c0-3e2f-4a93-aece-b05d2fdcde0c');
    await open('c0c0c0c0-3e2f-4a93-aece-b05d2fdcde0c', '20000');
    await worker.tick();
    assert.deepEqual(
      mailroom.handled.map((c) => [c.type, c.ticketID]),
      [
        ['agent-message', TICKET_A],
        ['agent-message', TICKET_B],
        ['close-room', TICKET_B],
      ],
    );
  });

  it('keeps retrying through a period of 500s and delivers everything in order per ticket once mailroom recovers', async () => {
    const a = await open(TICKET_A, '10000');
    const b = await open(TICKET_B, '20000');
    mailroom.down = true;
    await reply(a, { text: 'a1' });
    await reply(b, { text: 'b1' });
    await reply(a, { text: 'a2' });
    await reply(b, { text: 'b2' });
    await reply(a, { text: 'a3' });
    await resolve(a);
    let result = await worker.tick();
    // only the head of each ticket's line is tried: nothing overtakes a waiting callback
    assert.deepEqual(result, { delivered: 0, retried: 2, failed: 0, cancelled: 0 });
    // A day of outage and more: far past the retry schedule, nothing is given up
    for (let i = 0; i < 12; i += 1) {
      clock.advance(25 * HOUR);
      result = await worker.tick();
      assert.deepEqual(result, { delivered: 0, retried: 2, failed: 0, cancelled: 0 });
    }
    const waiting = await callbacks('?state=pending');
    assert.equal(waiting.length, 6);
    const head = waiting.find((c: { payload: { data?: { text: string } } }) => c.payload.data?.text === 'a1');
    assert.equal(head.attempts, 13);
    assert.equal(head.last_status, 500);
    assert.equal(head.attempt_log.length, 13);
    assert.equal(head.attempt_log[12].response_excerpt, '{"error":"mailroom is restarting"}');
    assert.equal(mailroom.handled.length, 0);

    mailroom.down = false;
    clock.advance(25 * HOUR);
    result = await worker.tick();
    assert.equal(result.delivered, 6);
    const of = (ticket: string) => mailroom.handled.filter((c) => c.ticketID === ticket).map((c) => c.data?.text ?? c.type);
    assert.deepEqual(of(TICKET_A), ['a1', 'a2', 'a3', 'close-room']);
    assert.deepEqual(of(TICKET_B), ['b1', 'b2']);
    assert.equal((await callbacks('?state=pending')).length, 0);
  });

  it('retries a callback answered 410 Gone (or any other non-2xx) instead of dropping it, and delivers it once mailroom takes it', async () => {
    const room = await open(TICKET_A, '10000');
    mailroom.next.push({ status: 410, body: { error: 'gone' } }, { status: 404, body: { error: `no such ticket ${TICKET_A}` } });
    await reply(room, { text: 'still there?' });
    let result = await worker.tick();
    assert.deepEqual(result, { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    let [callback] = await callbacks();
    assert.deepEqual([callback.state, callback.last_status, callback.attempts], ['pending', 410, 1]);
    clock.advance(10_000);
    result = await worker.tick();
    assert.deepEqual(result, { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    clock.advance(HOUR);
    result = await worker.tick();
    assert.equal(result.delivered, 1);
    [callback] = await callbacks();
    assert.deepEqual([callback.state, callback.attempts], ['delivered', 3]);
    assert.deepEqual(callback.attempt_log.map((a: { status: number }) => a.status), [410, 404, 200]);
    assert.deepEqual(mailroom.handled.map((c) => c.data?.text), ['still there?']);
  });

  it('sends a reply again without the attachments mailroom cannot fetch, their links in the text, so the ticket\'s later callbacks go', async () => {
    const room = await open(TICKET_A, '10000');
    const missing = 'https://gone.example.com/missing.jpg';
    mailroom.missingFiles.add(missing);
    await reply(room, { text: 'see this', attachments: [{ type: 'image/jpeg', url: missing }] });
    await reply(room, { text: 'second reply' });
    await resolve(room);
    let result = await worker.tick();
    assert.deepEqual(result, { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    clock.advance(10_000);
    result = await worker.tick();
    assert.deepEqual(result, { delivered: 3, retried: 0, failed: 0, cancelled: 0 });
    assert.deepEqual(mailroom.handled, [
      { type: 'agent-message', ticketID: TICKET_A, visitor: { token: '10000' }, data: { text: `see this\n${missing}` } },
      { type: 'agent-message', ticketID: TICKET_A, visitor: { token: '10000' }, data: { text: 'second reply' } },
      { type: 'close-room', ticketID: TICKET_A, visitor: { token: '10000' } },
    ]);
    const first = (await callbacks()).find((c: { payload: { data?: { text: string } } }) => c.payload.data?.text.startsWith('see this'));
    assert.deepEqual([first.state, first.attempts], ['delivered', 2]);
    assert.deepEqual(first.payload.data, { text: `see this\n${missing}` }, 'the log shows what went');
    assert.deepEqual(first.attempt_log.map((a: { status: number }) => a.status), [400, 200]);
    assert.match(first.attempt_log[0].error, /^HTTP 400: mailroom refused the message with its attachments .* without them/);
    assert.match(first.attempt_log[0].response_excerpt, /error fetching ticket file/);
  });

  it('sends a reply mailroom refused for a passing failure of its own once more with its attachments, and without them only at the second refusal', async () => {
    const room = await open(TICKET_A, '10000');
    const file = { type: 'image/png', url: 'https://files.example.com/receipt.png' };
    // mailroom's database hiccups once: the reply goes again whole
    mailroom.next.push({ status: 400, body: { error: 'error sending message from ticket: connection refused' } });
    await reply(room, { text: 'your receipt', attachments: [file] });
    assert.deepEqual(await worker.tick(), { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    clock.advance(10_000);
    assert.deepEqual(await worker.tick(), { delivered: 1, retried: 0, failed: 0, cancelled: 0 });
    assert.deepEqual(mailroom.handled.map((c) => c.data), [{ text: 'your receipt', attachments: [file] }]);

    // refused twice without naming a file: the third attempt goes without the attachment, its link in the text
    mailroom.next.push({ status: 400, body: { error: 'unable to send reply' } }, { status: 400, body: { error: 'unable to send reply' } });
    await reply(room, { text: 'and the invoice', attachments: [{ type: 'application/pdf', url: 'https://files.example.com/invoice.pdf' }] });
    assert.deepEqual(await worker.tick(), { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    clock.advance(10_000);
    assert.deepEqual(await worker.tick(), { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    clock.advance(HOUR);
    assert.deepEqual(await worker.tick(), { delivered: 1, retried: 0, failed: 0, cancelled: 0 });
    assert.deepEqual(mailroom.handled.map((c) => c.data)[1], { text: 'and the invoice\nhttps://files.example.com/invoice.pdf' });
    const invoice = (await callbacks()).find((c: { payload: { data?: { text: string } } }) => c.payload.data?.text.startsWith('and the invoice'));
    assert.deepEqual(
      invoice.attempt_log.map((a: { status: number; error: string }) => [a.status, /without them/.test(a.error ?? '')]),
      [
        [400, false],
        [400, true],
        [200, false],
      ],
    );
  });

  it('sends an attachment-only reply mailroom refuses as its links alone', async () => {
    const room = await open(TICKET_A, '10000');
    mailroom.next.push({ status: 400, body: { error: "error fetching ticket file 'https://files.example.com/a.pdf'" } });
    await reply(room, { attachments: [{ type: 'application/pdf', url: 'https://files.example.com/a.pdf' }, { type: 'image/png', url: 'https://files.example.com/b.png' }] });
    await worker.tick();
    clock.advance(10_000);
    await worker.tick();
    assert.deepEqual(mailroom.handled.map((c) => c.data), [{ text: 'https://files.example.com/a.pdf\nhttps://files.example.com/b.png' }]);
  });

  it('gives up a callback mailroom keeps refusing after the webhook schedule of refusals (an outage before does not count), and sends the next', async () => {
    const room = await open(TICKET_A, '10000');
    await reply(room, { text: 'one' });
    await reply(room, { text: 'two' });
    mailroom.down = true;
    await worker.tick();
    for (let i = 0; i < 11; i += 1) {
      clock.advance(25 * HOUR);
      await worker.tick();
    }
    mailroom.down = false;
    // refusals 1 to 9: retried, and 'two' waits behind
    for (let i = 0; i < 9; i += 1) {
      mailroom.next.push({ status: 400, body: { error: 'unable to send reply' } });
      clock.advance(25 * HOUR);
      assert.deepEqual(await worker.tick(), { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    }
    mailroom.next.push({ status: 400, body: { error: 'unable to send reply' } });
    clock.advance(25 * HOUR);
    assert.deepEqual(await worker.tick(), { delivered: 1, retried: 0, failed: 1, cancelled: 0 });
    assert.deepEqual(mailroom.handled.map((c) => c.data?.text), ['two']);
    const [given] = await callbacks('?state=failed');
    assert.deepEqual([given.payload.data.text, given.attempts, given.last_status], ['one', 22, 400]);
  });

  /**
   * A callback goes to mailroom's old address, which answers only when told,
   * so its first attempt is in flight when RapidPro sets the new URL; the
   * answer it then gets is `answer`. Returns that attempt's tick.
   */
  async function moveWhileInFlight(answer: number, run: (first: ReturnType<OutboundWorker['tick']>) => Promise<void>) {
    let release!: () => void;
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const slow = createServer((req, res) => {
      req.resume();
      arrived();
      release = () => res.writeHead(answer, { 'content-type': 'application/json' }).end(answer === 200 ? '{"status":"handled"}' : '{"error":"down"}');
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      assert.equal((await call('PUT', 'settings', { webhook: { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/mr` } })).statusCode, 204);
      const room = await open(TICKET_A, '10000');
      await reply(room, { text: 'on its way' });
      const first = worker.tick();
      await inFlight;
      assert.equal((await call('PUT', 'settings', { webhook: { url: mailroom.url } })).statusCode, 204);
      // another process's worker finds nothing due: the callback is still its first attempt's
      const other = testWorker(t.ctx, { extra: rapidproOutbound({ random: () => 0.5 }) });
      try {
        await other.tick();
      } finally {
        await other.stop();
      }
      assert.deepEqual(mailroom.requests, [], 'nothing went to the new URL beside the attempt in flight');
      release();
      await run(first);
    } finally {
      await new Promise((resolve) => slow.close(resolve));
    }
  }

  it('lets a callback in flight finish when RapidPro moves its URL: not sent again to the new one beside it', async () => {
    await moveWhileInFlight(200, async (first) => {
      assert.equal((await first).delivered, 1);
      const [callback] = await callbacks();
      assert.equal(callback.state, 'delivered');
      assert.equal(callback.attempts, 1);
      await worker.tick();
      assert.deepEqual(mailroom.requests, [], 'and nothing after it either');
    });
  });

  it('sends a callback whose attempt in flight failed at the old URL to the new one at once, not after its back-off', async () => {
    await moveWhileInFlight(503, async (first) => {
      // the same tick sends it again, now to the new URL (the clock has not moved: no back-off ran out)
      await first;
      assert.deepEqual(mailroom.handled.map((c) => c.data?.text), ['on its way']);
      const [callback] = await callbacks();
      assert.equal(callback.state, 'delivered');
      assert.equal(callback.attempts, 2);
    });
  });

  it('holds callbacks made before RapidPro set its URL, and sends them as soon as it does', async () => {
    const other = await createTicketer(t, admin);
    const otherCall = mailroomFor(t, other);
    const otherMailroom = await startFakeMailroom({ uuid: other.uuid, secret: () => other.secret });
    try {
      otherMailroom.tickets.add(TICKET_B);
      const res = await otherCall('GET', 'room', { ...CONTRACT.room, ticketID: TICKET_B });
      await reply(res.json().id, { text: 'early' });
      await worker.tick();
      const [held] = (await t.call('GET', `/api/v1/ticketers/${other.uuid}/callbacks`, { token: admin })).json();
      assert.equal(held.state, 'pending');
      assert.match(held.last_error, /no callback URL yet/);
      assert.equal((await otherCall('PUT', 'settings', { webhook: { url: otherMailroom.url } })).statusCode, 204);
      await worker.tick();
      assert.deepEqual(otherMailroom.handled.map((c) => c.data?.text), ['early']);
    } finally {
      await otherMailroom.close();
    }
  });
});
