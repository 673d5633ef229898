import { Type } from '@sinclair/typebox';
import { LIMITS } from './greetings.js';
import { MAX_AFTER_SECONDS, MAX_PATTERN } from './trigger.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const TriggerSchema = Type.Object({
  after_seconds: Nullable(Type.Integer({ description: 'time on the page, in seconds, before the greeting opens; null: at once' })),
  url_pattern: Nullable(Type.String({ description: 'a glob the page’s path and query must match (`*` = anything), like /pricing* or *checkout*; null: any page' })),
  first_visit: Type.Boolean({ description: 'only during the visitor’s first visit (their first browsing session on the site)' }),
});

export const TriggerBody = Type.Object(
  {
    after_seconds: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: MAX_AFTER_SECONDS }))),
    url_pattern: Type.Optional(Nullable(Type.String({ maxLength: MAX_PATTERN + 100 }))),
    first_visit: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, description: 'every condition given must hold; none: the greeting opens at once on any page' },
);

export const GreetingBody = Type.Object(
  {
    name: Type.String({ maxLength: 400, description: `for admins, at most ${LIMITS.name} characters once trimmed` }),
    message: Type.String({ maxLength: 2000, description: `what the widget opens with, at most ${LIMITS.message} characters once trimmed` }),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    trigger: TriggerBody,
  },
  { additionalProperties: false },
);

export const Greeting = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  message: Type.String(),
  enabled: Type.Boolean(),
  trigger: TriggerSchema,
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const PublicGreeting = Type.Object({ id: Type.String({ format: 'uuid' }), message: Type.String(), trigger: TriggerSchema });
