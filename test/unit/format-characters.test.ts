// The invisible format characters a name may keep (src/http/format-characters.ts),
// one definition for label names and uploaded files' names: the joiner of an
// emoji sequence, a subdivision flag's tags, the non-joiner between letters
// of a joining or Indic script; file names also the joiner after an Indic
// virama (a half form: क्‍ष). Everything else of Unicode Cf (bidi overrides
// and isolates, LRM/RLM/ALM, zero-width space, word joiner, BOM, soft
// hyphen) a label name refuses and a file name loses.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { cleanName } from '../../src/files/limits.js';
import { labelName } from '../../src/labels/labels.js';

const SCOTLAND = '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}';
const SHARED = ['می\u200cخواهم', '👩\u200d💻 notes', '🏳\ufe0f\u200d🌈', `${SCOTLAND} trip`, '👋🏽\u200d💻', 'क्\u200cष'];
const KEPT = [...SHARED, 'क्\u200dष', 'र्\u200dय', 'ന്\u200d', 'ක්\u200dෂ'];

it('a file name keeps the format characters its spelling needs', () => {
  for (const name of KEPT) {
    assert.equal(cleanName(`${name}.pdf`), `${name}.pdf`, JSON.stringify(name));
  }
});

it('a label name allows the same ones (but the joiner after a virama)', () => {
  for (const name of SHARED) assert.equal(labelName(name), name, JSON.stringify(name));
});

it('a file name loses every other format character, and a joiner, non-joiner or tag out of place', () => {
  for (const [sent, kept] of [
    ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['a\u200B\u200C\u200D\u200E\u200F\u061C\u2060\u2066\u2067\u2068\u2069\u202A\u202B\u202C\u202D\uFEFF\u00ADb.txt', 'ab.txt'],
    ['V\u200dIP.txt', 'VIP.txt'],
    ['Про\u200cдажи.txt', 'Продажи.txt'],
    ['क\u200dष.pdf', 'कष.pdf'],
    ['👩\u200d\u200d💻.txt', '👩💻.txt'],
    ['👩\u200d\u202e💻.txt', '👩💻.txt'],
    ['notes\u{e0067}\u{e007f}.txt', 'notes.txt'],
    ['🏴\u{e0041}\u{e007f}.txt', '🏴.txt'],
  ] as const) {
    assert.equal(cleanName(sent), kept, JSON.stringify(sent));
  }
});

it('a name cut to its last 200 characters through a sequence loses the joiner or tags left out of place at its start', () => {
  const joiner = cleanName(`👩\u200d💻${'b'.repeat(194)}.txt`);
  assert.equal(joiner, `💻${'b'.repeat(194)}.txt`);
  const flag = cleanName(`${SCOTLAND}${'b'.repeat(192)}.txt`);
  assert.equal(flag, `${'b'.repeat(192)}.txt`);
});
