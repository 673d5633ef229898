import { Type } from '@sinclair/typebox';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses } from '../http/schemas.js';
import { readForm, replaceForm, type FieldInput } from './form.js';
import { FIELD_TYPES, MAX_FIELDS, MAX_OPTIONS, MAX_PATTERN, MAX_PATTERN_PROGRAM } from './rules.js';

// The schemas keep the shapes (types, lengths); the rules that need the
// whole form (unique keys, options only for selects, a pattern that
// compiles) are src/prechat/rules.ts, so the widget shares them.

const FieldType = Type.Union(FIELD_TYPES.map((t) => Type.Literal(t)));

const FieldBody = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 40, description: 'lowercase letters, digits, _; name, email, phone and department fill the conversation\'s own; others go to customer.fields' }),
    label: Type.String({ minLength: 1, maxLength: 200 }),
    type: FieldType,
    required: Type.Optional(Type.Boolean({ default: false })),
    max_length: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1000 }), Type.Null()], { description: 'text, email, phone only' })),
    pattern: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: MAX_PATTERN }), Type.Null()], { description: `text only: a regular expression in RE2 syntax (no lookarounds or backreferences; at most ${MAX_PATTERN_PROGRAM} compiled instructions) the whole answer must match` })),
    options: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: MAX_OPTIONS, description: 'select only: the choices' })),
  },
  { additionalProperties: false },
);

const Field = Type.Object({
  key: Type.String(),
  label: Type.String(),
  type: FieldType,
  required: Type.Boolean(),
  max_length: Type.Union([Type.Integer(), Type.Null()]),
  pattern: Type.Union([Type.String(), Type.Null()]),
  options: Type.Array(Type.String()),
});

const FormBody = Type.Object({ fields: Type.Array(FieldBody, { maxItems: MAX_FIELDS }) }, { additionalProperties: false });
const Form = Type.Object({ fields: Type.Array(Field) });

export function prechatRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['prechat'];
  app.get(
    '/api/v1/prechat-form',
    { schema: { tags, summary: 'The pre-chat form the widget shows before a chat (public: the widget reads it before it has a session)', security: [], response: { 200: Form, ...errorResponses } } },
    async () => readForm(ctx.db),
  );
  app.put(
    '/api/v1/prechat-form',
    {
      schema: { tags, summary: 'Replace the pre-chat form (admin); an empty list removes it', body: FormBody, response: { 200: Form, ...errorResponses } },
      onRequest: requireAgent(ctx, ['admin']),
    },
    async (request) => replaceForm(ctx, request.body.fields as FieldInput[], request.actor.id),
  );
}
