// The pre-chat rules (src/prechat/rules.ts), which the server and the widget
// both run: each field type's answers, taken and refused, and the checks on a
// form definition.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkAnswer, checkAnswers, checkDefinition, type PrechatField } from '../../src/prechat/rules.js';

const field = (over: Partial<PrechatField> & Pick<PrechatField, 'type'>): PrechatField => ({
  key: 'f',
  label: 'F',
  required: false,
  max_length: null,
  pattern: null,
  options: [],
  ...over,
});

/** field, answer → the stored text, or a regular expression the refusal must match */
const CASES: [PrechatField, unknown, string | null | RegExp][] = [
  [field({ type: 'text' }), '  hello ', 'hello'],
  [field({ type: 'text' }), '', null],
  [field({ type: 'text', required: true }), '', /is required/],
  [field({ type: 'text', required: true }), undefined, /is required/],
  [field({ type: 'text' }), 42, /must be text/],
  [field({ type: 'text', max_length: 3 }), 'abcd', /at most 3 characters/],
  [field({ type: 'text', max_length: 3 }), '😀😀😀', '😀😀😀'],
  [field({ key: 'name', type: 'text' }), 'x'.repeat(201), /at most 200/],
  [field({ type: 'text', pattern: '[A-Z]{2}-\\d+' }), 'AB-12', 'AB-12'],
  [field({ type: 'text', pattern: '[A-Z]{2}-\\d+' }), 'xAB-12', /expected format/],
  [field({ type: 'text', pattern: 'a|b' }), 'ab', /expected format/],
  // one line: the name answer becomes customer.name, which the API keeps to one line
  [field({ key: 'name', type: 'text' }), 'Ada\nLovelace', /must be one line of text, without control characters/],
  [field({ type: 'text' }), 'tab\there', /one line of text/],
  [field({ type: 'text' }), 'nul\u0000', /one line of text/],
  [field({ type: 'text' }), 'line\u2028sep', /one line of text/],
  [field({ type: 'text', pattern: '[\\s\\S]+' }), 'a\rb', /one line of text/],
  [field({ type: 'text' }), 'café 東京 😀', 'café 東京 😀'],
  // a choice a form saved earlier holds is taken exactly, whatever is in it
  [field({ type: 'select', options: ['Billing\tEU', 'Sales'] }), 'Billing\tEU', 'Billing\tEU'],
  [field({ type: 'email' }), 'ada@example.com', 'ada@example.com'],
  [field({ type: 'email' }), 'ada@example', /email address/],
  [field({ type: 'email' }), 'ada example@x.com', /email address/],
  [field({ type: 'email' }), '@example.com', /email address/],
  [field({ type: 'phone' }), '+1 (555) 010-9999', '+1 (555) 010-9999'],
  [field({ type: 'phone' }), '1234', /phone number/],
  [field({ type: 'phone' }), '555-CALL-NOW', /phone number/],
  [field({ type: 'number' }), 12, '12'],
  [field({ type: 'number' }), '-3.5', '-3.5'],
  [field({ type: 'number' }), '1e3', /must be a number/],
  [field({ type: 'number' }), Number.NaN, /must be a number/],
  [field({ type: 'number' }), true, /must be a number/],
  // a JSON number is held to the rule of its text: no exponent, no lost digits
  [field({ type: 'number' }), -3.5, '-3.5'],
  [field({ type: 'number' }), Number.MAX_SAFE_INTEGER, '9007199254740991'],
  [field({ type: 'number' }), -Number.MAX_SAFE_INTEGER, '-9007199254740991'],
  [field({ type: 'number' }), 1e-7, /^must be a number, like 42 or 3\.5$/],
  [field({ type: 'number' }), Number.POSITIVE_INFINITY, /must be a number/],
  [field({ type: 'number' }), 1e21, /must be sent as text, like "12345678901234567890"/],
  [field({ type: 'number' }), JSON.parse('12345678901234567890'), /must be sent as text.*beyond ±9007199254740991/],
  [field({ type: 'number' }), -(Number.MAX_SAFE_INTEGER + 1), /must be sent as text/],
  [field({ type: 'number' }), '12345678901234567890', '12345678901234567890'],
  [field({ type: 'select', options: ['a', 'b'] }), 'b', 'b'],
  [field({ type: 'select', options: ['a', 'b'] }), 'c', /must be one of: a, b/],
  [field({ type: 'checkbox' }), true, 'true'],
  [field({ type: 'checkbox' }), false, null],
  [field({ type: 'checkbox', required: true }), false, /must be ticked/],
  [field({ type: 'checkbox' }), 'true', /ticked or not/],
];

describe('pre-chat answers', () => {
  for (const [f, answer, expected] of CASES) {
    it(`${f.type}${f.required ? ' (required)' : ''}${f.pattern ? ` /${f.pattern}/` : ''}: ${JSON.stringify(answer) ?? 'nothing'}`, () => {
      const verdict = checkAnswer(f, answer);
      if (expected instanceof RegExp) {
        assert.ok('error' in verdict, `expected a refusal, got ${JSON.stringify(verdict)}`);
        assert.match(verdict.error, expected);
      } else {
        assert.deepEqual(verdict, { value: expected });
      }
    });
  }

  it('judges every field of a form, and refuses answers to keys it does not have', () => {
    const fields = [field({ key: 'a', type: 'text', required: true }), field({ key: 'b', type: 'email' }), field({ key: 'c', type: 'number' })];
    assert.deepEqual(checkAnswers(fields, { b: 'x', c: 3, z: 1 }), {
      values: { c: '3' },
      problems: [
        { field: 'a', message: 'is required', rule: { kind: 'required' } },
        { field: 'b', message: 'must be an email address, like name@example.com', rule: { kind: 'email' } },
        { field: 'z', message: 'is not a field of the pre-chat form' },
      ],
    });
  });

  it('never stores an answer longer than its limit, nor one a select does not offer (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom<PrechatField['type']>('text', 'email', 'phone', 'number', 'select'), fc.option(fc.integer({ min: 1, max: 50 }), { nil: null }), fc.string({ maxLength: 80 }), (type, max, text) => {
        const f = field({ type, max_length: type === 'number' || type === 'select' ? null : max, options: type === 'select' ? ['x', 'y'] : [] });
        const verdict = checkAnswer(f, text);
        if (!('value' in verdict) || verdict.value === null) return;
        if (max !== null && f.max_length !== null) assert.ok([...verdict.value].length <= max);
        if (type === 'select') assert.ok(['x', 'y'].includes(verdict.value));
      }),
    );
  });

  it('stores a JSON-number answer only as text the same field takes unchanged, digits intact (property)', () => {
    const f = field({ type: 'number' });
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.constantFrom(1e21, 1e-7, 2 ** 53, -(2 ** 53), 0.1 + 0.2)), (n) => {
        const verdict = checkAnswer(f, n);
        if (!('value' in verdict) || verdict.value === null) return;
        assert.deepEqual(checkAnswer(f, verdict.value), { value: verdict.value }, `${n} stored as ${verdict.value}`);
        assert.ok(Number(verdict.value) === n, `${n} stored as ${verdict.value}: the number itself`);
        assert.ok(Number.isSafeInteger(n) || !Number.isInteger(n), `${n}: an integer beyond ±2^53-1 loses digits`);
      }),
    );
  });
});

describe('pre-chat form definitions', () => {
  it('accepts a form of every type', () => {
    assert.equal(
      checkDefinition([
        field({ key: 'name', type: 'text', required: true }),
        field({ key: 'email', type: 'email' }),
        field({ key: 'phone', type: 'phone' }),
        field({ key: 'department', type: 'select', options: ['sales'] }),
        field({ key: 'order', type: 'text', pattern: 'ORD-\\d{4}', max_length: 8 }),
        field({ key: 'seats', type: 'number' }),
        field({ key: 'consent', type: 'checkbox', required: true }),
      ]),
      null,
    );
  });

  const BAD: [PrechatField[], string, RegExp][] = [
    [[field({ key: 'a', type: 'text' }), field({ key: 'a', type: 'email' })], 'fields[1].key', /repeats the key/],
    [[field({ key: '1a', type: 'text' })], 'fields[0].key', /lowercase letter/],
    [[field({ key: 'department', type: 'text' })], 'fields[0].type', /must be select/],
    [[field({ type: 'text', label: ' ' })], 'fields[0].label', /blank/],
    // a label or choice of characters that show as nothing is as blank as spaces
    [[field({ type: 'text', label: '\u200b\u2060' })], 'fields[0].label', /blank/],
    [[field({ type: 'select', options: ['a', '\u3164'] })], 'fields[0].options[1]', /blank/],
    [[field({ type: 'select' })], 'fields[0].options', /at least one choice/],
    [[field({ type: 'select', options: ['a', ' b'] })], 'fields[0].options[1]', /spaces/],
    [[field({ type: 'select', options: ['a', 'Billing\tEU'] })], 'fields[0].options[1]', /must be one line of text, without control characters/],
    [[field({ type: 'text', options: ['a'] })], 'fields[0].options', /select fields only/],
    [[field({ key: 'department', type: 'select', options: ['sales', '@qiscus'] })], 'fields[0].options[1]', /"@qiscus": departments starting with @ are channels' own queues/],
    [[field({ type: 'text', pattern: '(' })], 'fields[0].pattern', /not a valid regular expression/],
    [[field({ type: 'email', pattern: '.*' })], 'fields[0].pattern', /text fields only/],
    [[field({ type: 'text', max_length: 0 })], 'fields[0].max_length', /positive integer/],
    [[field({ type: 'select', options: ['a'], max_length: 5 })], 'fields[0].max_length', /text, email and phone/],
  ];
  for (const [fields, at, message] of BAD) {
    it(`refuses ${at}: ${message.source}`, () => {
      const problem = checkDefinition(fields);
      assert.equal(problem?.field, at);
      assert.match(problem!.message, message);
    });
  }
});
