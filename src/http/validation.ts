import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// Bodies are checked as sent: no type coercion (the string "5" is not the
// number 5) and no silent removal of unknown fields — a typo in a field name
// is an error the caller hears about. Query strings and path parameters are
// text by nature, so they are coerced to the declared types.
function makeAjv(options: Options) {
  const ajv = new Ajv.default({ allErrors: false, strict: false, useDefaults: true, ...options });
  addFormats.default(ajv);
  return ajv;
}

const bodyAjv = makeAjv({ coerceTypes: false, removeAdditional: false });
const textAjv = makeAjv({ coerceTypes: 'array', removeAdditional: false });

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv;
  return ajv.compile(schema) as ReturnType<FastifySchemaCompiler<object>>;
};
