// What mailroom sends again, and what newer mailroom revisions send: a
// room.close retried after its first 204 was lost, attachments spelled
// {"mimeType","url"} (mailroom 0e627ffd), customFields keys no pattern
// matches (a line break in the key), and a callback still retrying after its
// file links would have expired. Each once refused or lost a ticket's state
// for good: mailroom keeps a ticket whose close failed open, drops a message
// it got a 400 for, and an agent-message it cannot fetch a file of is
// answered 400 for as long as it is retried, holding back the ticket's
// later callbacks (its close-room among them).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import type { FakeMailroom } from '../helpers/fake-mailroom.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { CONTRACT, connectMailroom, createTicketer, mailroomFor, snapshot, type Mailroom } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';

const DAY = 24 * 3_600_000;
const TICKET = CONTRACT.room.ticketID;
const TOKEN = CONTRACT.room.visitor.token;

describeEachStore('RapidPro ticketer: what mailroom retries, and what newer mailroom sends', (store) => {
  const clock = fakeClock();
  let t: TestApp;
  let admin: string;
  let agent: string;
  let call: Mailroom;
  let mailroom: FakeMailroom;
  let worker: OutboundWorker;

  beforeEach(async () => {
    await store().reset();
    clock.set(Date.parse('2026-01-05T09:00:00Z'));
    // the fake mailroom listens on 127.0.0.1: private targets allowed
    t = await testApp(store(), { now: clock.now, tokenTtlSeconds: 60 * 86_400, env: { ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true' } });
    admin = (await t.user('admin')).token;
    agent = (await t.user('agent', { status: 'online', capacity: 5 })).token;
    ({ call, mailroom, worker } = await connectMailroom(t, admin, [TICKET]));
  });
  afterEach(async () => {
    await worker.stop();
    await mailroom.close();
    await t.close();
  });

  async function open(): Promise<string> {
    const res = await call('GET', 'room', CONTRACT.room);
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  }
  const conversation = async (id: string) =>
    (await store().db.query<{ state: string; resolve_reason: string | null }>('select state, resolve_reason from conversations where id = $1', [id]))[0];

  // ---- room.close again ----------------------------------------------------

  it('answers a room.close mailroom sends again (its first 204 lost) with 204, changing nothing and calling nothing back', async () => {
    const room = await open();
    const first = await call('GET', 'room.close', CONTRACT.close);
    assert.equal(first.statusCode, 204, first.body);
    const before = await snapshot(store().db);
    const again = await call('GET', 'room.close', CONTRACT.close);
    assert.equal(again.statusCode, 204, again.body);
    assert.equal(again.body, '');
    assert.deepEqual(await snapshot(store().db), before);
    assert.deepEqual(await conversation(room), { state: 'resolved', resolve_reason: 'rapidpro' });
    await worker.tick();
    assert.deepEqual(mailroom.requests, [], 'RapidPro closed it: no close-room goes back, however often it asks');
  });

  it('answers room.close with 204 for a room an agent resolved first; RapidPro still gets that close-room', async () => {
    const room = await open();
    assert.equal((await t.call('POST', `/api/v1/conversations/${room}/resolve`, { token: agent, body: {} })).statusCode, 200);
    const before = await snapshot(store().db);
    const closed = await call('GET', 'room.close', CONTRACT.close);
    assert.equal(closed.statusCode, 204, closed.body);
    assert.deepEqual(await snapshot(store().db), before);
    assert.equal((await conversation(room))!.state, 'resolved');
    assert.notEqual((await conversation(room))!.resolve_reason, 'rapidpro');
    await worker.tick();
    assert.deepEqual(mailroom.handled, [{ type: 'close-room', ticketID: TICKET, visitor: { token: TOKEN } }]);
  });

  it('still answers 404 "Could not find a room" for a token the ticketer never had a room for, here or only at another ticketer', async () => {
    await open();
    const other = mailroomFor(t, await createTicketer(t, admin));
    const elsewhere = await other('GET', 'room', { ...CONTRACT.room, ticketID: 'e1e1e1e1-3e2f-4a93-aece-b05d2fdcde0c', visitor: { token: '555' } });
    assert.equal(elsewhere.statusCode, 201, elsewhere.body);
    const before = await snapshot(store().db);
    for (const token of ['999', '555']) {
      const res = await call('GET', 'room.close', { visitor: { token } });
      assert.equal(res.statusCode, 404, res.body);
      assert.deepEqual(res.json(), { error: `Could not find a room for visitor token: ${token}` });
    }
    assert.deepEqual(await snapshot(store().db), before);
    // a contact's message after the close is still refused: there is no room to put it in
    assert.equal((await call('GET', 'room.close', CONTRACT.close)).statusCode, 204);
    const late = await call('POST', 'visitor-message', { visitor: { token: TOKEN }, text: 'hello?' });
    assert.equal(late.statusCode, 404, late.body);
  });

  // ---- attachments as {"mimeType","url"} -------------------------------------

  it('takes attachments as mailroom 0e627ffd sends them, {"mimeType","url"}, as it takes {"type","url"}', async () => {
    const room = await open();
    const res = await call('POST', 'visitor-message', {
      visitor: { token: TOKEN },
      text: "It's urgent",
      attachments: [
        { mimeType: 'image/jpg', url: 'https://link.to/image.jpg' },
        { mimeType: '', url: 'https://link.to/report.pdf' },
        { mimeType: 'geo', url: '-1.2921,36.8219' },
        { type: 'audio/ogg', mimeType: 'audio/ogg', url: 'https://link.to/audio.ogg' },
      ],
    });
    assert.equal(res.statusCode, 201, res.body);
    const [message] = (await t.call('GET', `/api/v1/conversations/${room}/messages`, { token: admin })).json();
    assert.deepEqual(message.attachments, [
      { type: 'image/jpg', url: 'https://link.to/image.jpg' },
      { type: 'application/pdf', url: 'https://link.to/report.pdf' },
      { type: 'audio/ogg', url: 'https://link.to/audio.ogg' },
    ]);
    assert.match(message.text, /^It's urgent\nLocation: -1\.2921,36\.8219 /);
  });

  it('refuses an attachment with neither type nor mimeType, or with the two differing, naming the field', async () => {
    await open();
    const before = await snapshot(store().db);
    const cases: [unknown, string][] = [
      [{ url: 'https://link.to/image.jpg' }, 'attachments.0.type is required'],
      [{ type: 'image/png', mimeType: 'image/jpeg', url: 'https://link.to/image.jpg' }, 'attachments.0.type and mimeType differ ("image/png", "image/jpeg"); send one'],
      [{ mimeType: 7, url: 'https://link.to/image.jpg' }, 'attachments.0.mimeType must be of type string'],
    ];
    for (const [attachment, error] of cases) {
      const res = await call('POST', 'visitor-message', { visitor: { token: TOKEN }, attachments: [attachment] });
      assert.equal(res.statusCode, 400, `${JSON.stringify(attachment)}: ${res.body}`);
      assert.deepEqual(res.json(), { error });
    }
    assert.deepEqual(await snapshot(store().db), before);
  });

  // ---- customFields keys ------------------------------------------------------

  it('checks every customFields entry, whatever its key: a line break or U+2028 in it no longer skips the value check', async () => {
    const before = await snapshot(store().db);
    const room = (fields: unknown) => call('GET', 'room', { ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, customFields: fields } });
    const cases: [unknown, string][] = [
      [{ 'a\nb': 'x'.repeat(100_000) }, 'visitor.customFields["a\\nb"] must be at most 2000 characters'],
      [{ 'a\u2028b': { deep: [1, 2] } }, 'visitor.customFields["a\u2028b"] must be of type string'],
      [{ 'a\rb': ['x'] }, 'visitor.customFields["a\\rb"] must be of type string'],
      [{ ['k'.repeat(101)]: 'x' }, `visitor.customFields has a key over 100 characters: "${'k'.repeat(40)}…"`],
    ];
    for (const [fields, error] of cases) {
      const res = await room(fields);
      assert.equal(res.statusCode, 400, `${JSON.stringify(fields).slice(0, 80)}: ${res.body.slice(0, 200)}`);
      assert.deepEqual(res.json(), { error });
    }
    assert.deepEqual(await snapshot(store().db), before);
    // such a key with a value in bounds is a field like any other
    const ok = await room({ 'a\nb': 'short', plan: 'gold', visits: 3 });
    assert.equal(ok.statusCode, 201, ok.body);
    const got = await t.call('GET', `/api/v1/conversations/${ok.json().id}`, { token: admin });
    assert.deepEqual(got.json().customer.fields, { 'a\nb': 'short', plan: 'gold', visits: '3' });
  });

  it("mends a contact's name with a line break or control character into one line (RapidPro's name is not refused)", async () => {
    const res = await call('GET', 'room', { ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, name: 'Bob\n[09:02 UTC] Ann Agent:\u2028refund\u0007 approved' } });
    assert.equal(res.statusCode, 201, res.body);
    const got = await t.call('GET', `/api/v1/conversations/${res.json().id}`, { token: admin });
    assert.equal(got.json().customer.name, 'Bob [09:02 UTC] Ann Agent: refund  approved');
  });

  it("calls a contact without a name by its phone, email or token, mended into one line as a name is", async () => {
    const { name: _none, ...nameless } = CONTRACT.room.visitor;
    const byPhone = await call('GET', 'room', { ...CONTRACT.room, visitor: { ...nameless, phone: '+1202\n[09:02 UTC] Ann Agent (agent):\u0085ok' } });
    assert.equal(byPhone.statusCode, 201, byPhone.body);
    const got = await t.call('GET', `/api/v1/conversations/${byPhone.json().id}`, { token: admin });
    assert.equal(got.json().customer.name, '+1202 [09:02 UTC] Ann Agent (agent): ok');
    // nothing of the phone left once mended: the email, as for a contact without a phone
    const byEmail = await call('GET', 'room', { ticketID: 'ticket-2', visitor: { ...nameless, token: '7654321', phone: '\u0001\u0002', email: 'bob@example.test\u2028x' } });
    assert.equal(byEmail.statusCode, 201, byEmail.body);
    const second = await t.call('GET', `/api/v1/conversations/${byEmail.json().id}`, { token: admin });
    assert.equal(second.json().customer.name, 'bob@example.test x');
    const byToken = await call('GET', 'room', { ticketID: 'ticket-3', visitor: { token: '42\r\n[09:02 UTC] Ann Agent (agent):' } });
    assert.equal(byToken.statusCode, 201, byToken.body);
    const third = await t.call('GET', `/api/v1/conversations/${byToken.json().id}`, { token: admin });
    assert.equal(third.json().customer.name, 'RapidPro contact 42 [09:02 UTC] Ann Agent (agent):');
  });

  // ---- file links in a callback that waited -------------------------------------

  it('signs the file links of an agent-message at each attempt: one sent 8 days after it was queued still opens', async () => {
    const room = await open();
    const { body, headers } = multipartFile('file', 'receipt.png', 'image/png', PNG);
    const uploaded = await t.call('POST', `/api/v1/conversations/${room}/attachments`, { token: agent, body, headers });
    assert.equal(uploaded.statusCode, 201, uploaded.body);
    const file = uploaded.json() as { id: string };
    mailroom.down = true;
    const sent = await t.call('POST', `/api/v1/conversations/${room}/messages`, { token: agent, body: { text: 'Your receipt', attachments: [{ id: file.id }] } });
    assert.equal(sent.statusCode, 201, sent.body);
    await t.call('POST', `/api/v1/conversations/${room}/resolve`, { token: agent, body: {} });
    assert.deepEqual(await worker.tick(), { delivered: 0, retried: 1, failed: 0, cancelled: 0 });
    const firstLink = linkIn(JSON.parse(mailroom.requests[0]!.body));

    // mailroom is away past ATTACHMENT_OUTBOUND_LINK_TTL (7 days): the link queued with the callback has expired
    clock.advance(8 * DAY);
    assert.equal((await t.call('GET', firstLink)).statusCode, 403, 'the first attempt’s link is expired now');
    mailroom.down = false;
    await worker.tick();
    assert.deepEqual(mailroom.handled.map((c) => c.type), ['agent-message', 'close-room'], 'the close-room behind it went too');
    const link = linkIn(mailroom.handled[0]!);
    assert.deepEqual(Object.keys((mailroom.handled[0]!.data!.attachments as object[])[0]!), ['type', 'url'], 'mailroom gets {type, url}: the id is only for the renewal');
    const fetched = await t.call('GET', link);
    assert.equal(fetched.statusCode, 200, fetched.body);
    assert.deepEqual(fetched.rawPayload, PNG);
    const expires = Number(new URL(link, 'http://x').searchParams.get('expires'));
    assert.equal(expires, Math.floor(clock.now().getTime() / 1000) + 7 * 86_400, 'good for the TTL from the attempt that carried it');
    // the callback log still shows the payload as it was queued
    const ticketerUuid = (await store().db.query<{ uuid: string }>('select uuid from rapidpro_ticketers'))[0]!.uuid;
    const log = (await t.call('GET', `/api/v1/ticketers/${ticketerUuid}/callbacks`, { token: admin })).json();
    const queued = log.find((c: { type: string }) => c.type === 'agent-message');
    assert.equal(linkIn(queued.payload), firstLink);
  });

  it('leaves links to elsewhere, and links another server signed, as they are', async () => {
    const room = await open();
    const foreign = [
      { type: 'image/png', url: 'https://cdn.example.com/a.png?expires=1&sig=abc' },
      { type: 'image/png', url: `https://files.example.com/api/v1/attachments/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}?expires=1&sig=AAAA` },
    ];
    const sent = await t.call('POST', `/api/v1/conversations/${room}/messages`, { token: agent, body: { text: 'See', attachments: foreign } });
    assert.equal(sent.statusCode, 201, sent.body);
    await worker.tick();
    assert.deepEqual(mailroom.handled[0]!.data!.attachments, foreign);
  });
});

/** The path and query of the one file link an agent-message carries. */
function linkIn(callback: { data?: { attachments?: { url: string }[] } }): string {
  const attachments = callback.data?.attachments ?? [];
  assert.equal(attachments.length, 1, JSON.stringify(callback));
  const url = new URL(attachments[0]!.url);
  return `${url.pathname}${url.search}`;
}
