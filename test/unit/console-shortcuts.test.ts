// Which key presses the console takes as its Alt shortcuts
// (web/console/src/shortcuts.tsx). In a text field, ⌥ Option on a Mac types
// characters (⌥E an accent to come, ⌥C ç), which must reach the field; on
// Windows and Linux Alt types nothing, and the letter it reports is the
// layout's own, which may be no a–z letter at all: those are shortcuts.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { shortcutOf } from '../../web/console/src/shortcut-keys.js';

const alt = (code: string, key: string) => ({ altKey: true, ctrlKey: false, metaKey: false, shiftKey: false, code, key });

it('on Windows and Linux, Alt with any layout letter is the shortcut, in a text field too (Turkish F, BÉPO, Cyrillic)', () => {
  for (const [code, key, action] of [
    ['KeyE', 'e', 'resolve'],
    ['KeyE', 'ğ', 'resolve'], // Turkish F
    ['KeyR', 'ı', 'reply'], // Turkish F
    ['KeyT', 'è', 'transfer'], // BÉPO
    ['KeyE', 'у', 'resolve'], // Russian
  ] as const) {
    assert.equal(shortcutOf(alt(code, key), true, false), action, `${code} reporting ${key}`);
    assert.equal(shortcutOf(alt(code, key), false, false), action);
  }
});

it('on a Mac, ⌥ that types a character in a text field is typing; outside one, and with a plain letter, it is the shortcut', () => {
  for (const [code, key] of [['KeyE', 'Dead'], ['KeyE', 'é'], ['KeyC', 'ç'], ['KeyR', '®'], ['KeyT', '†'], ['KeyS', 'ß']] as const) {
    assert.equal(shortcutOf(alt(code, key), true, true), null, `⌥${code} typing ${key}`);
    assert.notEqual(shortcutOf(alt(code, key), false, true), null, `⌥${code} outside a field`);
  }
  assert.equal(shortcutOf(alt('KeyE', 'e'), true, true), 'resolve');
});
