// "One line of text" is one definition (src/http/one-line.ts) read three
// ways: the API's schema pattern refuses a name, a channel's name is mended
// to one line, a pre-chat answer is refused. A name one of them lets through
// and another refuses would forge a transcript line or strand a customer.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { oneLineName } from '../../src/customers/name.js';
import { ONE_LINE_PATTERN } from '../../src/http/one-line.js';
import { checkAnswer, type PrechatField } from '../../src/prechat/rules.js';

const schemaTakes = (text: string) => new RegExp(ONE_LINE_PATTERN, 'u').test(text);
// Mostly the characters at the class's edges, where two copies drift apart.
const character = fc.oneof(
  fc.constantFrom('\u0000', '\t', '\n', '\r', '\u001f', ' ', '~', '\u007f', '\u0080', '\u0084', '\u0085', '\u0086', '\u00a0', '\u2027', '\u2028', '\u2029', '\u202a', 'é', '名'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const text = fc.array(character, { minLength: 1, maxLength: 12 }).map((cs) => cs.join(''));

it('a mended channel name is always one the API takes (or nothing)', () => {
  fc.assert(fc.property(text, (sent) => {
    const name = oneLineName(sent);
    assert.ok(name === '' || schemaTakes(name), JSON.stringify(name));
  }), { numRuns: 2000 });
});

it('the name is mended only where the API would refuse it', () => {
  fc.assert(fc.property(text, (sent) => {
    if (schemaTakes(sent)) assert.equal(oneLineName(sent), sent.trim());
  }), { numRuns: 2000 });
});

it("a pre-chat text answer is refused exactly when the API's pattern refuses it (blanks at its ends aside)", () => {
  const field: PrechatField = { key: 'topic', label: 'Topic', type: 'text', required: true, max_length: null, pattern: null, options: [] };
  fc.assert(fc.property(text.filter((t) => t.trim() !== ''), (answer) => {
    const verdict = checkAnswer(field, answer);
    assert.equal('rule' in verdict && verdict.rule.kind === 'one_line', !schemaTakes(answer.trim()), JSON.stringify(answer));
  }), { numRuns: 2000 });
});
