// Deleting the attachment_link_secret row revokes every signed link
// (docs/security.md): each process read the key once, at start, so one that
// was running went on accepting the old links for good, and one started
// after the deletion made a new key and refused the links of the others
// (found by review). Now every process reads the key again each
// LINK_SECRET_RECHECK_MS (refresh(), on a timer), and checks a failing link
// again against the key in the database. Two apps on one store stand for
// two processes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, it } from 'node:test';
import { LINK_SECRET_RECHECK_MS, openFileLinks } from '../../src/files/links.js';
import { startSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const HOUR_S = 3600;

describeEachStore('attachments: deleting the link secret revokes the links of every process', (store) => {
  const clock = fakeClock(T0);
  let a: TestApp;
  let b: TestApp;
  const late: TestApp[] = [];

  before(async () => {
    await store().reset();
    a = await testApp(store(), { now: clock.now });
    b = await testApp(store(), { now: clock.now });
  });
  after(async () => {
    for (const t of [a, b, ...late]) await t?.close();
  });
  beforeEach(async () => {
    await store().reset();
    clock.set(T0);
    // the reset emptied attachment_link_secret: both take the key made after it, as at a start
    await a.ctx.files!.links.refresh();
    await b.ctx.files!.links.refresh();
  });

  /** a file uploaded through app a */
  async function file(): Promise<string> {
    const agent = await a.user('agent', { status: 'online', capacity: 5 });
    const { conversation } = await startSession(a.ctx, { customer: { id: `link-${Math.random()}` } }, HOUR_S);
    const { body, headers } = multipartFile('file', 'photo.png', 'image/png', PNG);
    const res = await a.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token: agent.token, body, headers });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  }
  const link = (by: TestApp, id: string) => by.ctx.files!.links.sign(id, clock.now(), HOUR_S);
  const status = async (on: TestApp, url: string) => (await on.call('GET', url)).statusCode;
  const secrets = async () => (await store().db.query('select 1 from attachment_link_secret')).length;

  it('links from before the deletion are refused by both processes once each has read the key again; links signed after work on both', async () => {
    const id = await file();
    const before = [link(a, id), link(b, id)];
    for (const url of before) for (const on of [a, b]) assert.equal(await status(on, url), 200, 'one key for both');
    const served = await a.call('GET', before[0]!);
    assert.equal(served.headers['cache-control'], 'private, no-store', 'no cache keeps the file past a revocation');

    await store().db.query('delete from attachment_link_secret');
    // a valid link costs no read (a read would make the new key)
    assert.equal(await status(a, before[0]!), 200);
    assert.equal(await secrets(), 0, 'no database read per download');

    // the minute's read, on each
    await a.ctx.files!.links.refresh();
    await b.ctx.files!.links.refresh();
    assert.equal(await secrets(), 1, 'one new key, made by the first to read');
    for (const url of before) for (const on of [a, b]) assert.equal(await status(on, url), 403, 'revoked');

    const after = [link(a, id), link(b, id)];
    assert.notEqual(after[0], before[0]);
    for (const url of after) for (const on of [a, b]) assert.equal(await status(on, url), 200, 'the new key, on both');
  });

  it(`the key is read again every LINK_SECRET_RECHECK_MS (${LINK_SECRET_RECHECK_MS / 1000} s), with no download asking`, async () => {
    const links = await openFileLinks(store().db, undefined, 20);
    try {
      const id = randomUUID();
      const old = links.sign(id, clock.now(), HOUR_S);
      const parse = (url: string) => new URL(url, 'http://x').searchParams;
      const check = (url: string) => links.verify(id, Number(parse(url).get('expires')), parse(url).get('sig')!, clock.now());
      assert.equal(check(old), true);
      await store().db.query('delete from attachment_link_secret');
      const deadline = Date.now() + 5_000;
      while (check(old) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(check(old), false, 'the held key is the new one');
      assert.equal(await secrets(), 1);
    } finally {
      links.close();
    }
  });

  it('a process started after the deletion makes the new key: its links work at once on the older ones, which then refuse the old links', async () => {
    const id = await file();
    const old = link(a, id);
    assert.equal(await status(a, old), 200);
    assert.equal(await status(b, old), 200);

    await store().db.query('delete from attachment_link_secret');
    const c = await testApp(store(), { now: clock.now });
    late.push(c);
    assert.equal(await status(c, old), 403, 'the new process never had the old key');
    const fresh = link(c, id);
    // the link failing with the key they hold, a and b read it again
    assert.equal(await status(a, fresh), 200, 'a accepts the new process’s link');
    assert.equal(await status(b, fresh), 200, 'b accepts the new process’s link');
    assert.equal(await status(a, old), 403, 'having read the new key, a refuses the old link');
    assert.equal(await status(b, old), 403);
    assert.equal(await status(c, link(a, id)), 200, 'and signs with the new key');
  });
});
