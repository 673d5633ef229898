// The names devices really give the files they upload, under the default
// attachments_allowed_types: a HEIC photo typed image/heif (Android, the
// file-type package), an animated PNG typed image/apng, a name with a dot but
// no extension ("Scan 2024.01.15", "Dr. Smith referral"), and names spelled
// with the joiners and tags their script or emoji need (می‌خواهم, 👩‍💻,
// क्‍ष, 🏴󠁧󠁢󠁳󠁣󠁴󠁿) are stored and served as sent. Only an extension some
// type is known by, or one that runs or renders (.exe, .html, .js, …), is
// judged against the claimed type; the bidi overrides and other invisible
// characters still leave names.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { isAllowed } from '../../src/files/limits.js';
import { expectError, kitFor } from '../helpers/api-kit.js';
import { customerUploads, PDF, PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const SCOTLAND = '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}';

describeEachStore('attachments: the names devices give', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  const chat = () => customerUploads(k);

  it('a HEIC or HEIF photo under either type, an animated PNG, and names with a dot but no extension are stored and served under their names', async () => {
    const { upload, served } = await chat();
    const results: string[] = [];
    for (const [name, type] of [
      ['IMG_0001.HEIC', 'image/heif'],
      ['IMG_0002.heif', 'image/heic'],
      ['burst.heics', 'image/heic-sequence'],
      ['burst.HEIFS', 'image/heif-sequence'],
      ['anim.apng', 'image/apng'],
      ['anim.png', 'image/apng'],
      ['Scan 2024.01.15', 'application/pdf'],
      ['Dr. Smith referral', 'application/pdf'],
      ['photo.jpg_large', 'image/jpeg'],
    ] as const) {
      const res = await upload(name, type, type.startsWith('image/') ? PNG : PDF);
      const stored = res.statusCode === 201 ? `${JSON.stringify(res.json().name)} served ${JSON.stringify(await served(res.json().id))}` : res.json().error.code;
      results.push(`${name} (${type}): ${res.statusCode} ${stored}`);
    }
    assert.deepEqual(
      results,
      [
        'IMG_0001.HEIC (image/heif): 201 "IMG_0001.HEIC" served "IMG_0001.HEIC"',
        'IMG_0002.heif (image/heic): 201 "IMG_0002.heif" served "IMG_0002.heif"',
        'burst.heics (image/heic-sequence): 201 "burst.heics" served "burst.heics"',
        'burst.HEIFS (image/heif-sequence): 201 "burst.HEIFS" served "burst.HEIFS"',
        'anim.apng (image/apng): 201 "anim.apng" served "anim.apng"',
        'anim.png (image/apng): 201 "anim.png" served "anim.png"',
        'Scan 2024.01.15 (application/pdf): 201 "Scan 2024.01.15" served "Scan 2024.01.15"',
        'Dr. Smith referral (application/pdf): 201 "Dr. Smith referral" served "Dr. Smith referral"',
        'photo.jpg_large (image/jpeg): 201 "photo.jpg_large" served "photo.jpg_large"',
      ],
    );
    assert.equal(await k.count('attachments'), results.length);
  });

  it('an extension that runs or renders, or one of another known type, is still refused whatever type is claimed; nothing is stored', async () => {
    const { upload } = await chat();
    await k.unchanged(async () => {
      for (const [name, type, ext] of [
        ['invoice.exe', 'text/plain', '.exe'],
        ['invoice.html', 'text/plain', '.html'],
        ['Scan 2024.01.15.exe', 'application/pdf', '.exe'],
        ['Dr. Smith referral.html', 'application/pdf', '.html'],
        ['IMG_0001.HEIC.js', 'image/heif', '.js'],
        ['run.ps1', 'image/png', '.ps1'],
        ['setup.msi', 'image/heic', '.msi'],
        ['notes.md', 'text/plain', '.md'],
        ['photo.jpg', 'image/png', '.jpg'],
        // a type the table does not know: only an unknown, harmless suffix or a listed extension passes
        ['anim.exe', 'image/apng', '.exe'],
        ['photo.png', 'image/x-made-up', '.png'],
        ['page.svg', 'image/x-made-up', '.svg'],
        ['tool.jar', 'image/x-made-up', '.jar'],
      ] as const) {
        const res = await upload(name, type, PNG);
        expectError(res, 422, 'SB_ATTACHMENT_TYPE', 'file', `${name} (${type})`);
        assert.ok(res.json().error.message.includes(`its extension ${ext} `), `${name}: ${res.json().error.message}`);
      }
    });
    // a listed extension passes whatever the type; a harmless unknown suffix passes on an allowed type
    for (const [name, type] of [
      ['report.pdf', 'image/x-made-up'],
      ['photo.png', 'image/png'],
      ['drawing.psd', 'image/vnd.adobe.photoshop'],
    ] as const) {
      const res = await upload(name, type, PNG);
      assert.equal(res.statusCode, 201, `${name} (${type}): ${res.body}`);
    }
  });

  it('names keep the joiners, non-joiners and flag tags their spelling needs, and are served intact; bidi controls and other invisible characters still leave them', async () => {
    const { upload, served } = await chat();
    for (const [name, type, bytes] of [
      ['می\u200cخواهم.pdf', 'application/pdf', PDF],
      ['👩\u200d💻 notes.txt', 'text/plain', Buffer.from('hello')],
      ['क्\u200dष.pdf', 'application/pdf', PDF],
      ['🏳\ufe0f\u200d🌈 parade.png', 'image/png', PNG],
      [`${SCOTLAND} trip.png`, 'image/png', PNG],
    ] as const) {
      const res = await upload(name, type, bytes);
      assert.equal(res.statusCode, 201, `${JSON.stringify(name)}: ${res.body}`);
      assert.equal(res.json().name, name);
      assert.equal(await served(res.json().id), name);
      const [row] = await store().db.query<{ name: string }>('select name from attachments where id = $1', [res.json().id]);
      assert.equal(row!.name, name);
    }
    for (const [sent, kept] of [
      ['re\u200Bport\u2066\u202Dv2\u2069\uFEFF\u00AD\u2060\u200E\u200F\u061C.txt', 'reportv2.txt'],
      // a joiner or non-joiner where it changes nothing drawn, a tag outside a flag
      ['V\u200dIP.txt', 'VIP.txt'],
      ['Про\u200cдажи.txt', 'Продажи.txt'],
      ['👩\u200d notes.txt', '👩 notes.txt'],
      ['notes\u{e0067}\u{e007f}.txt', 'notes.txt'],
    ] as const) {
      const res = await upload(sent, 'text/plain', Buffer.from('hello'));
      assert.equal(res.statusCode, 201, `${JSON.stringify(sent)}: ${res.body}`);
      assert.equal(res.json().name, kept, JSON.stringify(sent));
    }
    const spoof = await upload('invoice\u202Efdp.exe', 'application/pdf', PDF);
    expectError(spoof, 422, 'SB_ATTACHMENT_TYPE', 'file');
    assert.ok(spoof.json().error.message.includes('"invoicefdp.exe"'), spoof.json().error.message);
  });
});

it('isAllowed with the defaults, directly: HEIC/HEIF grouped, unknown suffixes are no extension, dangerous ones always judged', () => {
  const defaults = ['image/*', 'application/pdf', 'text/plain', 'text/csv', '.pdf', '.txt', '.csv', '.docx', '.xlsx', '.pptx', '.odt', '.ods', '.zip'];
  const allowed = (type: string, name: string) => isAllowed(defaults, type, name);
  for (const [type, name] of [
    ['image/heif', 'IMG_0001.HEIC'],
    ['image/heic', 'a.heif'],
    ['image/heic-sequence', 'a.heics'],
    ['image/heif-sequence', 'a.heifs'],
    ['image/apng', 'anim.apng'],
    ['application/pdf', 'Scan 2024.01.15'],
    ['application/pdf', 'Dr. Smith referral'],
    ['application/pdf', 'v1.0'],
    ['text/plain', 'notes.averyveryverylongsuffix'],
    ['image/png', 'a.png'],
    ['text/plain', 'README'],
  ] as const) {
    assert.equal(allowed(type, name), true, `${type} ${name}`);
  }
  for (const [type, name] of [
    ['text/plain', 'invoice.exe'],
    ['text/plain', 'invoice.html'],
    ['text/plain', 'a.EXE'],
    ['text/plain', 'a.mjs'],
    ['text/plain', 'a.lnk'],
    ['application/pdf', 'a.dll'],
    ['application/pdf', 'a.dmg'],
    ['application/pdf', 'a.php'],
    ['application/pdf', 'a.py'],
    ['image/png', 'a.svgz'],
    ['image/png', 'a.xhtml'],
    ['image/apng', 'anim.exe'],
    ['image/x-made-up', 'a.png'],
    ['application/octet-stream', 'a'],
    ['application/x-msdownload', 'setup'],
  ] as const) {
    assert.equal(allowed(type, name), false, `${type} ${name}`);
  }
});
