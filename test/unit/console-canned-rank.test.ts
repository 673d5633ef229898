// The order of the console's "/" list (web/console/src/canned-rank.ts):
// Enter inserts the first, so the response whose shortcut was typed must
// lead, ahead of every response whose text only mentions the word.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { rankCanned } from '../../web/console/src/canned-rank.js';

const canned = (shortcut: string, text: string) => ({ shortcut, text });
const shortcuts = (items: readonly { shortcut: string }[]) => items.map((c) => c.shortcut);

/** as the API gives them: by shortcut */
const EIGHT_MENTIONS = ['apology', 'billing', 'cancel', 'delay', 'exchange', 'faq', 'goodwill', 'hours'].map((s) => canned(s, `About ${s}: see our refund policy.`));

it('puts the exact shortcut first, however many texts mentioning it sort before it (and keeps it within the 8 shown)', () => {
  const items = [...EIGHT_MENTIONS, canned('refund', 'Your refund is on its way.')];
  const shown = rankCanned(items, 'refund');
  assert.equal(shown.length, 8);
  assert.equal(shown[0]!.shortcut, 'refund');
  assert.deepEqual(shortcuts(shown.slice(1)), ['apology', 'billing', 'cancel', 'delay', 'exchange', 'faq', 'goodwill']);
});

it('ranks exact shortcut, then shortcut prefix, then shortcut containing, then text; stable within a rank; any case', () => {
  const items = [
    canned('a-refund-note', 'x'),
    canned('apology', 'We are sorry; a REFUND follows.'),
    canned('partial-refund', 'y'),
    canned('refund', 'z'),
    canned('refund-late', 'w'),
    canned('Refunds', 'v'),
    canned('thanks', 'Thank you!'),
  ];
  assert.deepEqual(shortcuts(rankCanned(items, 'Refund')), ['refund', 'refund-late', 'Refunds', 'a-refund-note', 'partial-refund', 'apology']);
});

it('an empty query lists all in the given order, cut to the limit; no match is an empty list', () => {
  const items = [...EIGHT_MENTIONS, canned('refund', 'r')];
  assert.deepEqual(shortcuts(rankCanned(items, '')), shortcuts(EIGHT_MENTIONS));
  assert.deepEqual(shortcuts(rankCanned(items, '', 3)), ['apology', 'billing', 'cancel']);
  assert.deepEqual(rankCanned(items, 'zebra'), []);
});
