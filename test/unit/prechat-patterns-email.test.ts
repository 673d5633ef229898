// The pre-chat rules (src/prechat/rules.ts) that a review found wrong: a
// field's pattern ran in JavaScript's backtracking engine against an
// anonymous customer's answer (exponential time), was only compiled wrapped
// in ^(?:…)$ (so an unbalanced one matched anything), an email answer passed
// a looser rule than `format: 'email'` (two recipients for a transcript),
// and the reserved keys were looked up on Object.prototype.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { checkAnswer, checkDefinition, type PrechatField } from '../../src/prechat/rules.js';

const field = (over: Partial<PrechatField> & Pick<PrechatField, 'type'>): PrechatField => ({
  key: 'f',
  label: 'F',
  required: false,
  max_length: null,
  pattern: null,
  options: [],
  ...over,
});

describe('pre-chat patterns', () => {
  it('answers a crafted answer to an ordinary-looking pattern at once (RE2: time linear in the answer)', () => {
    const name = field({ type: 'text', pattern: '([A-Za-z]+ ?)+' });
    // a backtracking engine took 6.6 s for this, doubling with each letter
    let started = performance.now();
    assert.match((checkAnswer(name, `${'a'.repeat(26)}!`) as { error: string }).error, /expected format/);
    assert.ok(performance.now() - started < 500, `took ${Math.round(performance.now() - started)} ms`);
    started = performance.now();
    assert.match((checkAnswer(name, `${'a'.repeat(999)}!`) as { error: string }).error, /expected format/);
    assert.ok(performance.now() - started < 500, `a 1,000-character answer took ${Math.round(performance.now() - started)} ms`);
    assert.deepEqual(checkAnswer(name, 'Ada Lovelace'), { value: 'Ada Lovelace' });
  });

  it('refuses, naming fields[i].pattern, a pattern RE2 cannot run: backreferences, lookarounds, and what does not compile on its own', () => {
    for (const pattern of ['(a)\\1', '(?=.*\\d)[A-Z0-9]+', '(?<!x)y', 'ORD-[0-9]{4})|(.*', 'ORD-[0-9', '(']) {
      const problem = checkDefinition([field({ type: 'text', pattern: 'x' }), field({ key: 'g', type: 'text', pattern })]);
      assert.equal(problem?.field, 'fields[1].pattern', pattern);
      assert.match(problem!.message, /not a valid regular expression in RE2 syntax .*no lookarounds or backreferences.*linear/, pattern);
    }
  });

  it('refuses a pattern whose counts make it too large to match quickly', () => {
    const problem = checkDefinition([field({ type: 'text', pattern: '(?:a|aa|aaa|aaaa){0,1000}b' })]);
    assert.equal(problem?.field, 'fields[0].pattern');
    assert.match(problem!.message, /too complex: it compiles to \d+ instructions, at most 1000/);
    assert.equal(checkDefinition([field({ type: 'text', pattern: '[A-Z]{2}-\\d{4,8}' })]), null);
  });

  it('keeps matching the whole answer, by Unicode code points, as the `u` flag did', () => {
    const cases: [string, string, boolean][] = [
      ['a|ab', 'ab', true],
      ['a|b', 'ab', false],
      ['ORD-[0-9]{4}', 'xORD-1234', false],
      ['ORD-[0-9]{4}', 'ORD-12345', false],
      ['.{3}', '😀😀😀', true],
      ['\\p{L}+(?: \\p{L}+)*', 'Zoë Ångström', true],
      ['\\p{Lu}\\p{Ll}+', 'Émile', true],
      ['\\d+', '٣', false],
      ['[a-z]+', 'ABC', false],
    ];
    for (const [pattern, answer, matches] of cases) {
      assert.equal(checkDefinition([field({ type: 'text', pattern })]), null, pattern);
      assert.equal('value' in checkAnswer(field({ type: 'text', pattern }), answer), matches, `/${pattern}/ on ${answer}`);
    }
  });

  it('takes an answer unchecked when the stored pattern (saved before) is one RE2 cannot run, rather than refusing every customer', () => {
    assert.deepEqual(checkAnswer(field({ type: 'text', pattern: '(?=.*\\d)[A-Z0-9]+' }), 'anything'), { value: 'anything' });
    // the field's other rules still hold
    assert.match((checkAnswer(field({ type: 'text', required: true, max_length: 3, pattern: '(a)\\1' }), 'abcd') as { error: string }).error, /at most 3/);
    assert.match((checkAnswer(field({ type: 'text', required: true, pattern: '(a)\\1' }), '') as { error: string }).error, /is required/);
  });
});

describe('pre-chat email answers', () => {
  const ajv = new Ajv.default();
  addFormats.default(ajv);
  const formatEmail = ajv.compile({ type: 'string', format: 'email' });
  const email = field({ type: 'email' });
  const taken = (text: string) => 'value' in checkAnswer(email, text);

  it('refuses an answer that names two recipients or a display name, as format: email does', () => {
    for (const text of ['ann@example.test,postmaster', '"1"<v@a.co>', 'Ann <ann@example.test>', 'ann@example.test; bob@example.test', 'ann@example.test bob@example.test']) {
      const verdict = checkAnswer(email, text);
      assert.deepEqual(verdict, { error: 'must be an email address, like name@example.com', rule: { kind: 'email' } }, text);
      assert.equal(formatEmail(text), false, text);
    }
  });

  it('takes exactly what format: email takes', () => {
    for (const text of ['ada@example.com', 'Ada.Lovelace+chat@Example.CO.uk', 'a@b', 'a@b.c', 'ada@example', 'ada@-example.com', 'a..b@example.com', 'zoë@example.com', 'ada@exämple.com', '@example.com']) {
      assert.equal(taken(text), formatEmail(text), text);
    }
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9.,;<>"@ +\-_é]{1,40}$/), (text) => {
        const trimmed = text.trim();
        return trimmed === '' || taken(trimmed) === formatEmail(trimmed);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('pre-chat reserved keys', () => {
  it('takes a custom field whose key is a name Object.prototype has (constructor)', () => {
    assert.equal(checkDefinition([field({ key: 'constructor', label: 'Builder', type: 'text' })]), null);
    assert.equal(checkDefinition([field({ key: 'constructor', label: 'Builder', type: 'number' })]), null);
    // the reserved keys still must have their own types
    assert.equal(checkDefinition([field({ key: 'email', type: 'text' })])?.field, 'fields[0].type');
  });
});
