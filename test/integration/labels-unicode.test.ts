// Label names beyond ASCII: names are compared the way the catalogue's unique
// index compares them (PostgreSQL's lower(), never JavaScript's toLowerCase(),
// which parts from it on the Greek final sigma and the Turkish dotted I),
// after Unicode NFC normalization, and invisible format characters are kept
// out of new names so no two labels look alike, but for the joiners of emoji,
// the tags of subdivision flags and the non-joiner of Persian and Indic
// spelling, which names need; characters drawn as blank (Hangul fillers, the
// Braille blank, line separators) are refused and other spaces folded to one
// U+0020, names stored before still found as spelled. Lookups go through
// the index of the compared form (labels_name_nfc). Also: GET
// /api/v1/stats/labels counts offered conversations as open, as its schema
// says.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { expectError, expectInvalid, kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';
import { LABELS_NAMED_SQL } from '../../src/labels/labels.js';
import { LabelCount } from '../../src/labels/schemas.js';

const NFC = 'Caf\u00e9';
const NFD = 'Cafe\u0301';

describeEachStore('labels: Unicode names', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const create = (token: string, name: string) => k.call('POST', '/api/v1/labels', { token, body: { name, color: '#112233' } });
  const put = (token: string, id: string, labels: string[]) => k.call('PUT', `/api/v1/conversations/${id}/labels`, { token, body: { labels } });
  const listed = async (token: string, label: string) => {
    const res = await k.call('GET', `/api/v1/conversations?label=${encodeURIComponent(label)}`, { token });
    assert.equal(res.statusCode, 200, `GET ?label=${label}: ${res.body}`);
    return (res.json() as { id: string }[]).map((c) => c.id);
  };
  const found = async (token: string, label: string) => {
    const res = await k.call('GET', `/api/v1/search?q=Zed&label=${encodeURIComponent(label)}`, { token });
    assert.equal(res.statusCode, 200, `search label=${label}: ${res.body}`);
    return (res.json() as { results: { conversation: { id: string } }[] }).results.map((r) => r.conversation.id);
  };
  /** A label row as an older version could store it: no normalization, no checks. */
  const legacy = (name: string) =>
    store().db.query<{ id: string }>(`insert into labels (name, color, created_at, updated_at) values ($1, '#445566', now(), now()) returning id`, [name]);

  // JavaScript lower-cases ΟΔΟΣ to οδος (final sigma), PostgreSQL to οδοσ; İstanbul to i̇stanbul (i + U+0307), PostgreSQL to istanbul
  for (const [name, otherCase] of [['ΟΔΟΣ', 'οδοσ'], ['İstanbul', 'ISTANBUL'], ['Équipe', 'équipe']] as const) {
    it(`a label named ${name} is put on a conversation, listed by and searched by, spelled as the catalogue spells it or in another case (${otherCase})`, async () => {
      const { admin } = await k.cast({ agentCapacity: 2 });
      assert.equal((await create(admin.token, name)).statusCode, 201);
      const c = await k.open(admin.token, { customer: { id: 'cust-label', name: 'Zed' } });
      for (const spelling of [name, otherCase]) {
        const res = await put(admin.token, c.id, [spelling]);
        assert.equal(res.statusCode, 200, `PUT labels [${spelling}]: ${res.body}`);
        assert.deepEqual(res.json().labels, [name], 'the catalogue spelling is stored');
        assert.deepEqual(await listed(admin.token, spelling), [c.id]);
        assert.deepEqual(await found(admin.token, spelling), [c.id]);
      }
      // one label named twice, in two cases: the second is refused, as ["VIP", "vip"] is
      expectInvalid(await put(admin.token, c.id, [name, otherCase]), 'labels[1]');
    });
  }

  it('a name is stored in NFC: the same word typed decomposed is the same label (409 on create, found by PUT, filter and search, refused as a duplicate)', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    const made = await create(admin.token, NFD);
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().name, NFC);
    expectError(await create(admin.token, NFC), 409, 'SB_LABEL_EXISTS');
    expectError(await create(admin.token, 'CAF\u00c9'), 409, 'SB_LABEL_EXISTS');
    const other = (await create(admin.token, 'Other')).json();
    expectError(await k.call('PATCH', `/api/v1/labels/${other.id}`, { token: admin.token, body: { name: NFD } }), 409, 'SB_LABEL_EXISTS');
    const c = await k.open(admin.token, { customer: { id: 'cust-cafe', name: 'Zed' } });
    const res = await put(admin.token, c.id, [NFD]);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().labels, [NFC]);
    assert.deepEqual(await found(admin.token, NFD), [c.id]);
    assert.deepEqual(await listed(admin.token, NFC), [c.id]);
    assert.deepEqual(await listed(admin.token, NFD), [c.id], "the list filter finds it typed decomposed too");
    // uniqueItems sees two strings; they name one label
    expectInvalid(await put(admin.token, c.id, [NFC, NFD]), 'labels[1]');
    const renamed = await k.call('PATCH', `/api/v1/labels/${other.id}`, { token: admin.token, body: { name: 'Ma\u0303e' } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().name, 'M\u00e3e');
  });

  it('a long name typed with decomposed accents counts its characters in NFC: 60 as sent, 45 stored, taken by create, PUT, filter and search; over 50 in NFC is refused', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    const nfc = 'Khách hàng ưu tiên được hỗ trợ riêng tuần này';
    const nfd = nfc.normalize('NFD');
    assert.deepEqual([[...nfc].length, [...nfd].length], [45, 60]);
    const made = await create(admin.token, nfd);
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().name, nfc);
    const c = await k.open(admin.token, { customer: { id: 'cust-vi', name: 'Zed' } });
    const res = await put(admin.token, c.id, [nfd]);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().labels, [nfc]);
    assert.deepEqual(await listed(admin.token, nfd), [c.id]);
    assert.deepEqual(await found(admin.token, nfd), [c.id]);
    const tooLong = `${nfc}ááááaa`.normalize('NFD');
    const refused = await create(admin.token, tooLong);
    expectInvalid(refused, 'name');
    assert.match(refused.body, /at most 50 characters once in Unicode NFC/);
  });

  it('a name holding an invisible format character (zero-width space, word joiner, bidi control, soft hyphen, a joiner, non-joiner or tag out of place) is a 400 naming `name`', async () => {
    const { admin } = await k.cast();
    assert.equal((await create(admin.token, 'VIP')).statusCode, 201);
    const gold = (await create(admin.token, 'Gold')).json();
    const refused = [
      ...['VIP\u200b', 'V\u200dIP', 'V\u200cIP', '\u2060VIP', '\u202eVIP', 'VIP\u2066x\u2069', 'V\u00adIP', 'VIP\u0085x'],
      ...['\ufeffVIP', 'V\u200eIP', 'V\u061cIP', 'V\u180eIP', 'V\u2062IP'],
      // a joiner not between two emoji, a non-joiner beside a Latin letter or not between letters
      ...['👩\u200d Devs', 'V\u200d💻', '👩\u200d\u200d💻', 'V\u200cی', 'ی\u200cV', 'ی\u200c\u200cی', 'ی\u200c 1'],
      // tags outside a flag's tag sequence, or one left open
      ...['VIP\u{e0067}\u{e007f}', '🏴\u{e0067}\u{e0062} VIP', '🏴\u{e007f} VIP', 'V\u{e0020}IP'],
      // a tag sequence no flag has (drawn as a plain 🏴), a joiner after a selector on a letter, a
      // non-joiner between Cyrillic letters, selectors and the grapheme joiner where they select nothing
      ...['🏴\u{e0041}\u{e007f} Team', 'V\ufe0f\u200d💻', 'Про\u200cдажи', 'V\ufe0fIP', 'V\u034fIP', 'V\u{e0100}IP'],
    ];
    await k.unchanged(async () => {
      for (const name of refused) {
        expectInvalid(await create(admin.token, name), 'name', JSON.stringify(name));
        expectInvalid(await k.call('PATCH', `/api/v1/labels/${gold.id}`, { token: admin.token, body: { name } }), 'name', JSON.stringify(name));
      }
    });
    // naming a label with one is naming no label
    const c = await k.open(admin.token);
    expectError(await put(admin.token, c.id, ['VIP\u200b']), 400, 'SB_UNKNOWN_LABEL', 'labels');
    expectError(await k.call('GET', `/api/v1/conversations?label=${encodeURIComponent('VIP\u200b')}`, { token: admin.token }), 400, 'SB_UNKNOWN_LABEL', 'label');
  });

  it('a name drawn as blank, or holding a character drawn as nothing or a line or paragraph separator, is a 400 naming `name`, the character spelled out', async () => {
    const { admin } = await k.cast();
    assert.equal((await create(admin.token, 'VIP')).statusCode, 201);
    assert.equal((await create(admin.token, 'VIP Gold')).statusCode, 201);
    const gold = (await create(admin.token, 'Gold')).json();
    const refused = [
      // Hangul fillers and the Braille blank, alone: a label nobody sees
      ...['\u3164', '\u115f', '\u1160', '\uffa0', '\u2800'],
      // the same, or Khmer's invisible vowels and Mongolian's selectors, beside a name: a lookalike of VIP
      ...['VIP\u3164', '\u3164 VIP', 'V\u2800IP', 'V\u17b4IP', 'V\u17b5IP', 'V\u180bIP', 'V\u180dIP', 'V\u180fIP', 'V\u2065IP'],
      ...['VIP\u2028Gold', 'VIP\u2029Gold'],
    ];
    await k.unchanged(async () => {
      for (const name of refused) {
        const res = await create(admin.token, name);
        expectInvalid(res, 'name', JSON.stringify(name));
        const code = name.replace(/[VIPGold ]/g, '').codePointAt(0)!.toString(16).padStart(4, '0');
        assert.ok((res.json().error.message as string).includes(`\\u${code}`), `${JSON.stringify(name)}: ${res.body}`);
        expectInvalid(await k.call('PATCH', `/api/v1/labels/${gold.id}`, { token: admin.token, body: { name } }), 'name', JSON.stringify(name));
      }
    });
  });

  it('spaces inside a name are one U+0020 each: a no-break, thin, ideographic space or a run of spaces is folded to one, so "VIP\\u00a0Gold" is "VIP Gold"', async () => {
    const { admin } = await k.cast();
    const made = await create(admin.token, 'VIP\u00a0Gold');
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().name, 'VIP Gold');
    for (const name of ['VIP Gold', 'VIP  Gold', 'VIP\u2009Gold', 'VIP\u3000Gold', 'VIP \u202f Gold', 'vip\u2007gold', 'VIP\u1680Gold']) {
      expectError(await create(admin.token, name), 409, 'SB_LABEL_EXISTS', undefined, JSON.stringify(name));
    }
    const other = (await create(admin.token, 'Team')).json();
    const renamed = await k.call('PATCH', `/api/v1/labels/${other.id}`, { token: admin.token, body: { name: 'Team\u2003\u2003A' } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().name, 'Team A');
  });

  it('a label stored before blanks were refused and spaces folded is found by its spelling, recoloured, and renamed', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    const [nbsp] = await legacy('VIP\u00a0Gold');
    const [filler] = await legacy('Ops\u3164');
    const c = await k.open(admin.token, { customer: { id: 'cust-legacy', name: 'Zed' } });
    const res = await put(admin.token, c.id, ['ops\u3164', 'vip\u00a0gold']);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().labels, ['Ops\u3164', 'VIP\u00a0Gold']);
    assert.deepEqual(await listed(admin.token, 'VIP\u00a0Gold'), [c.id]);
    assert.deepEqual(await found(admin.token, 'Ops\u3164'), [c.id]);
    const recoloured = await k.call('PATCH', `/api/v1/labels/${filler!.id}`, { token: admin.token, body: { color: '#000000' } });
    assert.equal(recoloured.statusCode, 200, recoloured.body);
    assert.equal(recoloured.json().name, 'Ops\u3164');
    // renamed to itself, a stored name is mended where it can be (its spaces), refused where it cannot (the filler)
    expectInvalid(await k.call('PATCH', `/api/v1/labels/${filler!.id}`, { token: admin.token, body: { name: 'Ops\u3164' } }), 'name');
    const mended = await k.call('PATCH', `/api/v1/labels/${nbsp!.id}`, { token: admin.token, body: { name: 'VIP\u00a0Gold' } });
    assert.equal(mended.statusCode, 200, mended.body);
    assert.equal(mended.json().name, 'VIP Gold');
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token })).json().labels, ['Ops\u3164', 'VIP Gold'], 'the rename follows');
  });

  // ZWJ between emoji (one after U+FE0F), a flag's tags and cancel tag, ZWNJ between Persian letters,
  // a Mongolian variation selector choosing its letter's shape and the narrow no-break space joining a suffix
  for (const name of ['👩\u200d💻 Devs', '🏳\ufe0f\u200d🌈 Pride', '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f} Scotland', 'می\u200cخواهم', '#\ufe0f\u20e3 Tickets', '👋🏽 Hello', 'ᠭ\u180bᠠ', 'ᠮᠣᠩᠭᠣᠯ\u202fᠤᠨ']) {
    it(`a label named ${JSON.stringify(name)} is created as typed, renamed to itself, put on a conversation, listed by and searched by`, async () => {
      const { admin } = await k.cast({ agentCapacity: 2 });
      const made = await create(admin.token, name);
      assert.equal(made.statusCode, 201, made.body);
      assert.equal(made.json().name, name);
      const same = await k.call('PATCH', `/api/v1/labels/${made.json().id}`, { token: admin.token, body: { name } });
      assert.equal(same.statusCode, 200, same.body);
      assert.equal(same.json().name, name);
      // compared with its joiners and tags, as stored
      expectError(await create(admin.token, name), 409, 'SB_LABEL_EXISTS');
      const c = await k.open(admin.token, { customer: { id: 'cust-joiner', name: 'Zed' } });
      const res = await put(admin.token, c.id, [name]);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json().labels, [name]);
      assert.deepEqual(await listed(admin.token, name), [c.id]);
      assert.deepEqual(await found(admin.token, name), [c.id]);
    });
  }

  it('a lookup by name reads the catalogue through labels_name_nfc, for one name or fifty, and finds them', async () => {
    const { admin } = await k.cast();
    await store().db.query(
      `insert into labels (name, color, created_at, updated_at) select 'Label ' || g, '#112233', now(), now() from generate_series(1, 10000) g`,
    );
    await store().db.query('analyze labels');
    for (const names of [['label 42'], Array.from({ length: 50 }, (_, i) => `LABEL ${i * 197 + 1}`)]) {
      for (const lock of ['', ' for share']) {
        const rows = await store().db.query<Record<string, string>>(`explain ${LABELS_NAMED_SQL}${lock}`, [names]);
        const plan = rows.map((r) => Object.values(r)[0]).join('\n');
        assert.match(plan, /Index Scan using labels_name_nfc on labels/, plan);
        assert.doesNotMatch(plan, /Seq Scan on labels/, plan);
      }
    }
    const c = await k.open(admin.token);
    const res = await put(admin.token, c.id, ['label 9999', 'LABEL 42']);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().labels, ['Label 42', 'Label 9999']);
  });

  it('a name stored before normalization stays usable however it is typed, blocks its lookalike, and is fixed by a rename', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    const [old] = await legacy(NFD);
    const c = await k.open(admin.token, { customer: { id: 'cust-old', name: 'Zed' } });
    for (const spelling of [NFD, NFC, 'caf\u00e9']) {
      const res = await put(admin.token, c.id, [spelling]);
      assert.equal(res.statusCode, 200, `PUT [${JSON.stringify(spelling)}]: ${res.body}`);
      assert.deepEqual(res.json().labels, [NFD], 'the catalogue spelling');
      assert.deepEqual(await found(admin.token, spelling), [c.id]);
    }
    expectError(await create(admin.token, NFC), 409, 'SB_LABEL_EXISTS');
    const renamed = await k.call('PATCH', `/api/v1/labels/${old!.id}`, { token: admin.token, body: { name: NFD } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().name, NFC);
    assert.deepEqual((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token })).json().labels, [NFC], 'the rename follows');
  });

  it('of two stored labels differing only in normalization, a name picks the one spelled exactly so; otherwise it is a 400 asking for one', async () => {
    const { admin } = await k.cast({ agentCapacity: 2 });
    assert.equal((await create(admin.token, NFC)).statusCode, 201);
    await legacy(NFD);
    const c = await k.open(admin.token, { customer: { id: 'cust-two', name: 'Zed' } });
    for (const spelling of [NFC, NFD]) {
      const res = await put(admin.token, c.id, [spelling]);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json().labels, [spelling]);
      assert.deepEqual(await found(admin.token, spelling), [c.id]);
    }
    expectInvalid(await put(admin.token, c.id, ['caf\u00e9']), 'labels[0]');
    expectInvalid(await k.call('GET', `/api/v1/search?q=Zed&label=CAF%C3%89`, { token: admin.token }), 'label');
  });

  it('GET /api/v1/stats/labels counts an offered conversation as open, as its schema says', async () => {
    const admin = await k.user('admin');
    await k.user('agent', { status: 'online', capacity: 3, departments: ['sales'] });
    assert.equal((await k.call('PUT', '/api/v1/departments/sales/routing', { token: admin.token, body: { mode: 'offer' } })).statusCode, 200);
    assert.equal((await create(admin.token, 'VIP')).statusCode, 201);
    const c = await k.open(admin.token, { department: 'sales' });
    assert.equal(c.state, 'offered');
    assert.equal((await put(admin.token, c.id, ['VIP'])).statusCode, 200);
    const stats = (await k.call('GET', '/api/v1/stats/labels', { token: admin.token })).json() as { name: string; open: number; total: number }[];
    assert.deepEqual(stats.map((s) => [s.name, s.open, s.total]), [['VIP', 1, 1]]);
    assert.match(LabelCount.properties.open.description ?? '', /queued, offered or assigned/);
  });
});
