// Every kind of attachment mailroom forwards with a contact's message, sent
// as mailroom sends it (services/tickets/rocketchat/service.go Forward:
// goflow's attachment.ToParts() → {"type": <content type>, "url": <rest>},
// `type` without omitempty), and what the agent then sees. Refusing one
// makes mailroom log and drop the whole message, text and all.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';
import { CONTRACT, createTicketer, mailroomFor, type Mailroom } from '../helpers/rapidpro.js';
import { describeEachStore } from '../helpers/stores.js';

const TOKEN = CONTRACT.room.visitor.token;
const NAIROBI = 'Location: -1.2921,36.8219 https://www.openstreetmap.org/?mlat=-1.2921&mlon=36.8219#map=16/-1.2921/36.8219';

describeEachStore('RapidPro visitor-message attachment kinds', (store) => {
  let t: TestApp;
  let admin: string;
  let mailroom: Mailroom;
  let roomId: string;

  beforeEach(async () => {
    await store().reset();
    t = await testApp(store());
    admin = (await t.user('admin')).token;
    mailroom = mailroomFor(t, await createTicketer(t, admin));
    const res = await mailroom('GET', 'room', CONTRACT.room);
    assert.equal(res.statusCode, 201, res.body);
    roomId = res.json().id;
  });
  afterEach(() => t.close());

  /** What an agent sees of the room's messages: text and attachments, oldest first. */
  const seen = async () => {
    const res = await t.call('GET', `/api/v1/conversations/${roomId}/messages`, { token: admin });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().map((m: { sender: string; text: string | null; attachments: unknown[] }) => [m.sender, m.text, m.attachments]);
  };
  const send = (body: Record<string, unknown>) => mailroom('POST', 'visitor-message', { visitor: { token: TOKEN }, ...body });

  it('shows a shared location ({"type":"geo","url":"lat,lng"}) as a line of text with a map link, alone or after the text', async () => {
    const alone = await send({ attachments: [{ type: 'geo', url: '-1.2921,36.8219' }] });
    assert.equal(alone.statusCode, 201, alone.body);
    const withText = await send({ text: 'I am here', attachments: [{ type: 'geo', url: '-1.2921,36.8219' }, { type: 'image/jpeg', url: 'https://link.to/gate.jpg' }] });
    assert.equal(withText.statusCode, 201, withText.body);
    assert.deepEqual(await seen(), [
      ['customer', NAIROBI, []],
      ['customer', `I am here\n${NAIROBI}`, [{ type: 'image/jpeg', url: 'https://link.to/gate.jpg' }]],
    ]);
  });

  it('takes a link goflow could not type ({"type":"","url":"https://…"}, or a bare URL) as a file typed by its extension, else application/octet-stream', async () => {
    const res = await send({
      text: 'see this',
      attachments: [{ type: '', url: 'https://link.to/file.bin' }, { type: '', url: 'https://link.to/Scan.PDF?sig=1' }, 'https://link.to/voice.ogg', { type: '', url: 'https://link.to/' }],
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(await seen(), [
      [
        'customer',
        'see this',
        [
          { type: 'application/octet-stream', url: 'https://link.to/file.bin' },
          { type: 'application/pdf', url: 'https://link.to/Scan.PDF?sig=1' },
          { type: 'audio/ogg', url: 'https://link.to/voice.ogg' },
          { type: 'application/octet-stream', url: 'https://link.to/' },
        ],
      ],
    ]);
  });

  it('takes media mailroom could not fetch ({"type":"unavailable"}) as a line saying so, keeping the rest of the message', async () => {
    const alone = await send({ attachments: [{ type: 'unavailable', url: 'https://media.provider/123' }] });
    assert.equal(alone.statusCode, 201, alone.body);
    const mixed = await send({ text: 'two photos', attachments: [{ type: 'image/png', url: 'https://link.to/a.png' }, { type: 'unavailable', url: 'https://media.provider/124' }] });
    assert.equal(mixed.statusCode, 201, mixed.body);
    assert.deepEqual(await seen(), [
      ['customer', '(an attachment could not be retrieved)', []],
      ['customer', 'two photos\n(an attachment could not be retrieved)', [{ type: 'image/png', url: 'https://link.to/a.png' }]],
    ]);
  });

  it('refuses a geo value that is not two coordinates in range with 400 naming attachments.N.url, storing nothing', async () => {
    for (const url of ['91,10', '10,181', '-1.29', 'abc,def', '1,2,3', '-1.2921;36.8219', '']) {
      const res = await send({ text: 'here', attachments: [{ type: 'image/png', url: 'https://link.to/a.png' }, { type: 'geo', url }] });
      assert.equal(res.statusCode, 400, `${JSON.stringify(url)}: ${res.body}`);
      assert.match(res.json().error, /^attachments\.1\.url /, url);
    }
    // an empty url fails the schema's minLength first; the rest name the geo form
    const res = await send({ attachments: [{ type: 'geo', url: '91,10' }] });
    assert.match(res.json().error, /^attachments\.0\.url must be "latitude,longitude" for a geo attachment/);
    assert.deepEqual(await seen(), []);
  });

  it('still refuses a typed link that is not a web URL', async () => {
    const res = await send({ attachments: [{ type: '', url: 'ftp://files.example/a.png' }] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error, /^attachments\.0\.url must be an http or https URL/);
    assert.deepEqual(await seen(), []);
  });
});
