import { Ajv, type Options, type SchemaValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { invalid } from '../errors.js';
import { isBlank } from './blank.js';
import { UUID } from '../uuid.js';

export { isBlank } from './blank.js';

// Bodies are checked as sent: no type coercion (the string "5" is not the
// number 5) and no silent removal of unknown fields — a typo in a field name
// is an error the caller hears about. Query strings and path parameters are
// text by nature, so they are coerced to the declared types.
function makeAjv(options: Options) {
  const ajv = new Ajv({ allErrors: false, strict: false, useDefaults: true, ...options });
  addFormats.default(ajv);
  // ajv-formats' uuid also takes the `urn:uuid:` form, which PostgreSQL's
  // uuid type refuses: the request would fail in the database without
  // naming its field. Ids here are the plain hyphenated form.
  ajv.addFormat('uuid', UUID);
  ajv.addKeyword({ keyword: 'notBlank', type: 'string', schemaType: 'boolean', errors: true, validate: notBlank });
  return ajv;
}

/**
 * Keyword `notBlank: true` on a string schema: refused when isBlank, as
 * "<field> must not be blank" (400 SB_VALIDATION naming the field).
 */
const notBlank: SchemaValidateFunction = (wanted: boolean, data: string) => {
  if (!wanted || !isBlank(data)) return true;
  // no instancePath: ajv sets the field's
  notBlank.errors = [{ keyword: 'notBlank', message: 'must not be blank', params: {} }];
  return false;
};

const bodyAjv = makeAjv({ coerceTypes: false, removeAdditional: false });
const textAjv = makeAjv({ coerceTypes: 'array', removeAdditional: false });

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv;
  return ajv.compile(schema) as ReturnType<FastifySchemaCompiler<object>>;
};

/**
 * PostgreSQL text cannot hold NUL characters, and a lone UTF-16 surrogate has
 * no UTF-8 form: refuse both up front, naming the field, instead of letting
 * the database fail on them. Keys are checked as well as values.
 */
export function assertStorableText(value: unknown, path: string, depth = 0): void {
  if (depth > 32) throw invalid(path, 'is nested too deeply');
  if (typeof value === 'string') {
    if (!isStorable(value)) throw invalid(path, 'contains a NUL character or invalid Unicode');
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    // Fields are named as the caller wrote them: `customer.name`, `department`.
    const childPath = depth === 0 ? key : `${path}.${key}`;
    if (!isStorable(key)) throw invalid(childPath, 'has a name with a NUL character or invalid Unicode');
    assertStorableText(child, childPath, depth + 1);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE = new RegExp(`\\u0000|${LONE_SURROGATE.source}`, 'g');

function isStorable(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/**
 * The route option (`config: { [MENDS_TEXT]: true }`) by which a route takes
 * its body's unstorable text on itself: the app does not refuse it
 * (assertStorableText); the route checks what must be exact and mends the
 * rest (mendStorableText) before it is validated.
 */
export const MENDS_TEXT = 'mendsText';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** see MENDS_TEXT */
    mendsText?: boolean;
  }
}

/**
 * A copy of `value` with every NUL and lone surrogate, in texts and keys,
 * replaced by U+FFFD: for what a platform sends that it cannot be asked to
 * send again (a Qiscus webhook refused is refused at every message), where
 * assertStorableText, which the app runs over every other body, would
 * refuse the whole request for one character.
 */
export function mendStorableText(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\uFFFD');
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) return value.map((item) => mendStorableText(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key.replace(UNSTORABLE, '\uFFFD'), mendStorableText(child, depth + 1)]));
}
