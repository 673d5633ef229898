// Mailroom sends `room` as a GET with a JSON body, read by get-body.ts. A body
// that is not UTF-8 is refused there as the app's JSON parser refuses it on
// POST, instead of being opened with U+FFFD in place of the bytes mailroom sent.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { CONTRACT, createTicketer, mailroomFor, snapshot, type Mailroom } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('RapidPro GET bodies that are not UTF-8', (store) => {
  let t: TestApp;
  let mailroom: Mailroom;
  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    mailroom = mailroomFor(t, await createTicketer(t, (await t.user('admin')).token));
  });
  afterEach(() => t.close());

  /** the contract's room with two bytes of the visitor's name that are no UTF-8 */
  const notUtf8 = () => {
    const body = Buffer.from(JSON.stringify({ ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, name: 'Ryan XX' } }), 'utf8');
    const at = body.indexOf('XX');
    body[at] = 0xff;
    body[at + 1] = 0xfe;
    return body;
  };

  for (const endpoint of ['room', 'room.close']) {
    it(`GET ${endpoint} answers the same 400 as POST ${endpoint} and changes nothing`, async () => {
      const body = endpoint === 'room' ? notUtf8() : Buffer.from('{"visitor":{"token":"12\xff34567"}}', 'latin1');
      const before = await snapshot(store().db);
      const posted = await mailroom('POST', endpoint, body);
      const got = await mailroom('GET', endpoint, body);
      assert.equal(posted.statusCode, 400, posted.body);
      assert.deepEqual([got.statusCode, got.json()], [400, { error: 'the body is not valid UTF-8' }]);
      assert.deepEqual(got.json(), posted.json());
      assert.deepEqual(await snapshot(store().db), before);
    });
  }
});
