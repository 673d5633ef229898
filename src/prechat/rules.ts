// The pre-chat form's rules, as data and pure functions: what a form
// definition may say, and whether a customer's answer satisfies its field.
// The one copy of these rules: the server (POST /session, PUT
// /api/v1/prechat-form) and the widget (web/widget/src/prechat.tsx, which
// imports this file through Vite) judge with the same code, so an answer the
// widget lets through is one the server takes. No Node or DOM API: it must
// compile under both tsconfigs (NodeNext and the web's Bundler); its two
// imports are plain JavaScript that runs in both — the pattern engine and
// the email rule of every other entry point.
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { RE2JS, RE2JSSyntaxException } from 're2js';
import { isBlank } from '../http/blank.js';
import { LINE_BREAKING_CHARACTER } from '../http/one-line.js';

export const FIELD_TYPES = ['text', 'email', 'phone', 'number', 'select', 'checkbox'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface PrechatField {
  /** the answer's name: `name`, `email`, `phone`, `department` fill the conversation's own; any other goes to customer.fields */
  key: string;
  label: string;
  type: FieldType;
  required: boolean;
  /** text, email, phone: the most characters an answer may have (null: the type's own limit) */
  max_length: number | null;
  /** text: a regular expression in RE2 syntax the whole answer must match (see compilePattern) */
  pattern: string | null;
  /** select: the choices, in order; empty for the other types */
  options: string[];
}

/** Where something is wrong: `field` is a path (fields[2].key, or an answer's key) and the message says what is allowed. */
export interface Problem {
  field: string;
  message: string;
  /** which rule an answer broke, for a client that words it in the customer's language */
  rule?: AnswerRule;
}

/** The rule an answer broke; `limit`, `options`, `pattern` are what the message names. */
export type AnswerRule =
  | { kind: 'required' | 'ticked' | 'boolean' | 'number' | 'text' | 'one_line' | 'email' | 'phone' }
  | { kind: 'too_long'; limit: number }
  | { kind: 'choice'; options: string[] }
  | { kind: 'format'; pattern: string };

/**
 * Keys that fill the conversation's own columns rather than customer.fields,
 * and the type each must have. Without a prototype, so that a key like
 * `constructor` or `toString` (valid custom keys) is not found in it by
 * `in` or an index: look keys up with reservedType.
 */
export const RESERVED_KEYS: Readonly<Record<string, FieldType>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, FieldType>, { name: 'text', email: 'email', phone: 'phone', department: 'select' } as const),
);

/** The type a reserved key must have; undefined for a key that goes to customer.fields. */
export const reservedType = (key: string): FieldType | undefined => (Object.hasOwn(RESERVED_KEYS, key) ? RESERVED_KEYS[key] : undefined);

export const MAX_FIELDS = 30;
export const MAX_OPTIONS = 50;
export const MAX_PATTERN = 200;
/**
 * The most instructions a pattern may compile to. RE2 takes time linear in
 * the answer, but times the program's size: a count repeats its part
 * (`(?:a|aa){0,500}` is 2,502), and at 1,000 a 1,000-character answer
 * still takes up to a quarter of a second of the server's one thread.
 */
export const MAX_PATTERN_PROGRAM = 1000;
/**
 * The most instructions all of a form's patterns may compile to together:
 * one POST /session runs every answered field's pattern, and a form may have
 * MAX_FIELDS of them. Past about 500 instructions RE2's matcher slows
 * sharply (`(?i)[\p{L}\p{N}]*[\p{Lu}\p{Nd}][\p{L}\p{N}]{990}`, 995 of
 * them, took 100 ms on a 1,000-character answer; at 495, 57 ms at worst; at
 * 245, 2 ms), so at 1,000 in all the worst form costs about a tenth of a
 * second per chat opened, where 30 patterns of 995 cost 3 to 8 s.
 */
export const MAX_FORM_PROGRAM = 1000;
const KEY = /^[a-z][a-z0-9_]{0,39}$/;

/** The longest answer each type takes; max_length may only lower it. name is 200, as the customer record's. */
const LIMIT: Readonly<Record<FieldType, number>> = { text: 1000, email: 254, phone: 32, number: 32, select: 100, checkbox: 5 };
export const limitOf = (field: Pick<PrechatField, 'key' | 'type' | 'max_length'>): number =>
  Math.min(field.max_length ?? Infinity, field.key === 'name' ? 200 : LIMIT[field.type]);

// The rule of `format: 'email'` (ajv-formats' full mode, as
// src/http/validation.ts adds it), which customer.email and every other
// address the API takes must pass: an answer becomes the conversation's
// customer.email, which a transcript is sent to, so a looser rule here let
// `ann@example.test,postmaster` or `"x"<y@z.co>` name other recipients.
// A RegExp in ajv-formats (test/unit/prechat-patterns-email.test.ts holds it to that).
const EMAIL = fullFormats.email as RegExp;
// Digits with the separators people type; an optional leading +; 5–20 digits.
const PHONE = /^\+?[0-9][0-9 ().-]*$/u;
const NUMBER = /^-?(\d+(\.\d+)?|\.\d+)$/u;

/**
 * The pattern as the validator runs it; throws an Error whose message (for
 * the admin, after the field's name) says why it cannot run. RE2 (re2js) rather than JavaScript's RegExp: a customer sends
 * the answer without logging in, and a backtracking engine takes exponential
 * time on ordinary-looking patterns (`([A-Za-z]+ ?)+` against 26 letters and
 * a `!` held the server for seconds); RE2 has no lookarounds or
 * backreferences, and matches in time linear in the answer. The bare pattern
 * is compiled and matched against the whole answer (testExact), never wrapped
 * in `^(?:…)$`: the wrapper let `A)|(.*`, no pattern on its own, through as
 * one that matches anything. RE2 is Unicode by default, as the `u` flag was:
 * `.` is one code point, `\p{L}` a letter, `\d` `\w` `\b` ASCII; `\s` is
 * rewritten to JavaScript's whitespace (jsWhitespace).
 */
export function compilePattern(pattern: string): RE2JS {
  const compiled = runnable(pattern);
  if (compiled instanceof Error) throw compiled;
  return compiled;
}

// Compiled once per pattern, not per answer: every POST /session to a form
// runs the same few patterns. Bounded, since stored forms change; the oldest
// entry goes first. Errors are kept too (patternProblem asks per request).
const MAX_CACHED = 100;
const cache = new Map<string, RE2JS | Error>();

function runnable(pattern: string): RE2JS | Error {
  let outcome = cache.get(pattern);
  if (outcome === undefined) {
    outcome = compileFresh(pattern);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(pattern, outcome);
  }
  return outcome;
}

function compileFresh(pattern: string): RE2JS | Error {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(jsWhitespace(pattern));
  } catch (error) {
    if (!(error instanceof RE2JSSyntaxException)) return error as Error;
    return new Error(`is not a valid regular expression in RE2 syntax (${error.getDescription()}: \`${error.getPattern() ?? pattern}\`); RE2 has no lookarounds or backreferences, so that an answer is matched in time linear in its length`);
  }
  if (compiled.programSize() > MAX_PATTERN_PROGRAM)
    return new Error(`is too complex: it compiles to ${compiled.programSize()} instructions, at most ${MAX_PATTERN_PROGRAM} (a count like {500} repeats its part that many times: use + or * and max_length instead)`);
  return compiled;
}

// JavaScript's \s (what patterns meant before they ran in RE2, whose \s is
// ASCII only): a name typed with a full-width space (U+3000, as a Japanese
// IME types it) or a no-break space must still match `\p{L}+(?:\s\p{L}+)*`.
const JS_SPACES = '\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}';

/**
 * The pattern with \s and \S meaning JavaScript's whitespace. Walks it as
 * RE2 reads it: an escape is two characters (so `\\s` stays a backslash and
 * an s), `\Q…\E` is literal, and inside `[…]` (where `]` first is literal,
 * and `[:alpha:]` a class name) \s becomes the spaces themselves. \S inside
 * a class has no such expansion, so it is refused.
 */
export function jsWhitespace(pattern: string): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\' && pattern.startsWith('\\Q', i)) {
      const end = pattern.indexOf('\\E', i + 2);
      const stop = end === -1 ? pattern.length : end + 2;
      out += pattern.slice(i, stop);
      i = stop;
    } else if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      out += next === 's' ? `[${JS_SPACES}]` : next === 'S' ? `[^${JS_SPACES}]` : c + next;
      i += 2;
    } else if (c === '[') {
      const end = classEnd(pattern, i);
      out += classWithSpaces(pattern.slice(i, end));
      i = end;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

const POSIX_CLASS = /^\[:\^?[a-z]+:\]/;

/** Where the class opening at `start` ends (past its `]`; the pattern's end when unclosed, which RE2 then refuses). */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === '^') i += 1;
  if (pattern[i] === ']') i += 1;
  while (i < pattern.length && pattern[i] !== ']') {
    if (pattern[i] === '\\') i += 2;
    else i += POSIX_CLASS.exec(pattern.slice(i))?.[0].length ?? 1;
  }
  return Math.min(i + 1, pattern.length);
}

function classWithSpaces(cls: string): string {
  let out = '';
  for (let i = 0; i < cls.length; i += 1) {
    if (cls[i] !== '\\') {
      out += cls[i];
      continue;
    }
    const next = cls[i + 1] ?? '';
    if (next === 'S')
      throw new Error(`uses \\S inside a character class (${cls}), which RE2 cannot run with JavaScript's meaning of \\S (any character but a Unicode space): write it outside the class, as (?:\\S|…)`);
    out += next === 's' ? JS_SPACES : `\\${next}`;
    i += 1;
    // A dash after a class escape is literal (`[\w\s-.]`); after the spaces' last item it would make a range.
    if (next === 's' && cls[i + 1] === '-') {
      out += '\\-';
      i += 1;
    }
  }
  return out;
}

/** Why a pattern cannot run (compilePattern's message), or null when it can. */
export function patternProblem(pattern: string): string | null {
  const compiled = runnable(pattern);
  return compiled instanceof Error ? compiled.message : null;
}

/** The first problem of a form definition, or null when it is usable. */
export function checkDefinition(fields: readonly PrechatField[]): Problem | null {
  if (fields.length > MAX_FIELDS) return { field: 'fields', message: `may have at most ${MAX_FIELDS} fields, got ${fields.length}` };
  const seen = new Set<string>();
  let program = 0; // instructions of the patterns so far (MAX_FORM_PROGRAM)
  for (const [i, f] of fields.entries()) {
    const at = (name: string) => `fields[${i}].${name}`;
    if (!KEY.test(f.key)) return { field: at('key'), message: `must be a lowercase letter then up to 39 lowercase letters, digits or _ (got ${JSON.stringify(f.key)})` };
    if (seen.has(f.key)) return { field: at('key'), message: `repeats the key ${JSON.stringify(f.key)}: each field needs its own` };
    seen.add(f.key);
    const reserved = reservedType(f.key);
    if (reserved && f.type !== reserved) return { field: at('type'), message: `must be ${reserved} for the key ${f.key} (it fills the conversation's ${f.key}), got ${f.type}` };
    if (!FIELD_TYPES.includes(f.type)) return { field: at('type'), message: `must be one of ${FIELD_TYPES.join(', ')}` };
    if (isBlank(f.label)) return { field: at('label'), message: 'must not be blank' };
    if (f.max_length !== null) {
      if (!['text', 'email', 'phone'].includes(f.type)) return { field: at('max_length'), message: `applies to text, email and phone fields only, not ${f.type}` };
      if (!Number.isInteger(f.max_length) || f.max_length < 1) return { field: at('max_length'), message: 'must be a positive integer' };
    }
    if (f.pattern !== null) {
      if (f.type !== 'text') return { field: at('pattern'), message: `applies to text fields only, not ${f.type}` };
      if (f.pattern.length > MAX_PATTERN) return { field: at('pattern'), message: `must be at most ${MAX_PATTERN} characters` };
      const compiled = runnable(f.pattern);
      if (compiled instanceof Error) return { field: at('pattern'), message: compiled.message };
      program += compiled.programSize();
      if (program > MAX_FORM_PROGRAM)
        return { field: at('pattern'), message: `takes the form's patterns to ${program} compiled instructions in all, over the form's total limit of ${MAX_FORM_PROGRAM} (every pattern runs on each chat opened): simplify this pattern or the ones before it` };
    }
    if (f.type === 'select') {
      if (f.options.length === 0) return { field: at('options'), message: 'must list at least one choice for a select field' };
      if (f.options.length > MAX_OPTIONS) return { field: at('options'), message: `may list at most ${MAX_OPTIONS} choices` };
      const choices = new Set<string>();
      for (const [j, option] of f.options.entries()) {
        if (isBlank(option) || option !== option.trim()) return { field: `${at('options')}[${j}]`, message: 'must not be blank or start or end with spaces' };
        // one line, as every answer typed is (a form saved earlier may hold one: it is still taken, exactly)
        if (LINE_BREAKING_CHARACTER.test(option)) return { field: `${at('options')}[${j}]`, message: 'must be one line of text, without control characters' };
        if (choices.has(option)) return { field: `${at('options')}[${j}]`, message: `repeats the choice ${JSON.stringify(option)}` };
        // a customer who chose it would be refused the chat (src/routing/channel-queues.ts; no imports here)
        if (f.key === 'department' && option.startsWith('@')) return { field: `${at('options')}[${j}]`, message: `must not be ${JSON.stringify(option)}: departments starting with @ are channels' own queues` };
        // a department name as the API takes one (DEPARTMENT_PATTERN in src/http/schemas.ts): the choice becomes the conversation's department
        if (f.key === 'department' && (/[\u0000-\u001f\u007f\u0085\u2028\u2029]/.test(option) || [...option].length > 100)) {
          return { field: `${at('options')}[${j}]`, message: 'must be a department name: one line of 1 to 100 characters without control characters' };
        }
        choices.add(option);
      }
    } else if (f.options.length > 0) {
      return { field: at('options'), message: `applies to select fields only, not ${f.type}` };
    }
  }
  return null;
}

/** Not answered: absent, null, blank, or an unticked box. */
function isEmpty(field: PrechatField, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  // isBlank: zero-width and other invisible characters alone are no answer either (docs/api.md, "Blank texts")
  if (typeof value === 'string') return isBlank(value);
  return field.type === 'checkbox' && value === false;
}

/**
 * One answer judged by its field: the text stored (null: not answered) or
 * what is wrong with it, in words a customer can act on.
 */
export function checkAnswer(field: PrechatField, value: unknown): { value: string | null } | { error: string; rule: AnswerRule } {
  const broke = (rule: AnswerRule, error: string) => ({ error, rule });
  if (isEmpty(field, value)) {
    if (!field.required) return { value: null };
    return field.type === 'checkbox' ? broke({ kind: 'ticked' }, 'must be ticked') : broke({ kind: 'required' }, 'is required');
  }
  if (field.type === 'checkbox') return value === true ? { value: 'true' } : broke({ kind: 'boolean' }, 'must be ticked or not (true or false)');
  const tooLong = (limit: number) => broke({ kind: 'too_long', limit }, `must be at most ${limit} characters`);
  if (field.type === 'number') {
    // A JSON number is held to the rule of its text: String(1e21) is "1e+21",
    // which the field refuses typed, and past ±(2^53 − 1) a JSON number has
    // already lost digits (12345678901234567890 arrives as …7000) before it
    // is seen, so such a number is asked for as text, which keeps them.
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
      return broke({ kind: 'number' }, `must be sent as text, like "12345678901234567890", when it is beyond ±${Number.MAX_SAFE_INTEGER}: a JSON number that large loses digits`);
    }
    const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
    if (!NUMBER.test(text)) return broke({ kind: 'number' }, 'must be a number, like 42 or 3.5');
    if (text.length > limitOf(field)) return tooLong(limitOf(field));
    return { value: text };
  }
  if (typeof value !== 'string') return broke({ kind: 'text' }, 'must be text');
  const text = value.trim();
  const limit = limitOf(field);
  if ([...text].length > limit) return tooLong(limit);
  // Every pre-chat answer is typed into a one-line input, and the name one
  // becomes customer.name, which the API keeps to one line (a transcript
  // writes it at the head of each of the customer's lines); a line break or
  // control character can only be sent around the widget, or pasted.
  // (A select's answer is one of its choices, exactly: judged below.)
  if (field.type !== 'select' && LINE_BREAKING_CHARACTER.test(text)) return broke({ kind: 'one_line' }, 'must be one line of text, without control characters');
  switch (field.type) {
    case 'email':
      return EMAIL.test(text) ? { value: text } : broke({ kind: 'email' }, 'must be an email address, like name@example.com');
    case 'phone': {
      const digits = text.replace(/\D/g, '').length;
      return PHONE.test(text) && digits >= 5 && digits <= 20
        ? { value: text }
        : broke({ kind: 'phone' }, 'must be a phone number: 5 to 20 digits, with an optional leading + and spaces, dots, dashes or brackets');
    }
    case 'select':
      return field.options.includes(text) ? { value: text } : broke({ kind: 'choice', options: field.options }, `must be one of: ${field.options.join(', ')}`);
    default: {
      if (field.pattern === null) return { value: text };
      const pattern = runnable(field.pattern);
      if (pattern instanceof Error) {
        // A form saved before patterns were RE2 (or were measured) may hold
        // one that cannot run now: a lookahead, a backreference. Refusing
        // every answer would close the chat to every customer until an admin
        // edits the form, and running it as a JavaScript RegExp is the hang
        // RE2 replaced; so the answer is taken as plain text (its length
        // still checked), and the server warns (src/prechat/answers.ts).
        return { value: text };
      }
      return pattern.testExact(text) ? { value: text } : broke({ kind: 'format', pattern: field.pattern }, `is not in the expected format (${field.pattern})`);
    }
  }
}

/**
 * Every answer judged against the form: the values to store (by key; the
 * unanswered optional ones left out) and every problem, field by field in
 * the form's order. An answer to a key the form does not have is a problem
 * too: it would otherwise be stored unseen. With `all: false`, stops at the
 * first problem: the server reports only that one, and need not run the
 * remaining fields' patterns for an anonymous caller; the widget shows all.
 */
export function checkAnswers(
  fields: readonly PrechatField[],
  answers: Readonly<Record<string, unknown>>,
  { all = true }: { all?: boolean } = {},
): { values: Record<string, string>; problems: Problem[] } {
  const values: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const field of fields) {
    const verdict = checkAnswer(field, Object.hasOwn(answers, field.key) ? answers[field.key] : undefined);
    if ('error' in verdict) problems.push({ field: field.key, message: verdict.error, rule: verdict.rule });
    else if (verdict.value !== null) values[field.key] = verdict.value;
    if (!all && problems.length > 0) return { values, problems };
  }
  const known = new Set(fields.map((f) => f.key));
  for (const key of Object.keys(answers)) {
    if (!known.has(key)) problems.push({ field: key, message: 'is not a field of the pre-chat form' });
  }
  return { values, problems };
}
