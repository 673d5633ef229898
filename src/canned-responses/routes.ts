import { Type } from '@sinclair/typebox';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses, IdParams, NoBody } from '../http/schemas.js';
import { createCanned, deleteCanned, listCanned, toCanned, updateCanned } from './canned.js';

const Scope = Type.Union([Type.Literal('shared'), Type.Literal('personal')]);
const Shortcut = Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'what follows "/" in the composer: letters, digits, _ . - (unique per scope and owner, whatever its case)' });
const Text = Type.String({ minLength: 1, maxLength: 10_000, description: 'may hold {{customer.name}}, {{customer.email}}, {{agent.name}}, filled in by the console before sending' });

const CannedResponse = Type.Object({
  id: Type.String({ format: 'uuid' }),
  scope: Scope,
  owner_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], { description: 'the agent a personal one belongs to; null when shared' }),
  shortcut: Type.String(),
  text: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const NewCannedBody = Type.Object({ shortcut: Shortcut, text: Text, scope: Scope }, { additionalProperties: false });
const CannedPatchBody = Type.Object({ shortcut: Type.Optional(Shortcut), text: Type.Optional(Text) }, { additionalProperties: false, minProperties: 1 });
const CannedQuery = Type.Object(
  { scope: Type.Optional(Scope), q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'part of the shortcut or the text, whatever its case' })) },
  { additionalProperties: false },
);

export function cannedRoutes(app: App, { ctx }: AppDeps): void {
  const anyone = requireAgent(ctx);
  const tags = ['canned responses'];

  app.get(
    '/api/v1/canned-responses',
    { schema: { tags, summary: 'Shared canned responses and your own personal ones, by shortcut', querystring: CannedQuery, response: { 200: Type.Array(CannedResponse), ...errorResponses } }, onRequest: anyone },
    async (request) => (await listCanned(ctx.db, { ...request.actor, id: request.agent.id }, request.query)).map(toCanned),
  );

  app.post(
    '/api/v1/canned-responses',
    {
      schema: { tags, summary: 'Add a canned response: shared (admins, supervisors) or personal (your own)', body: NewCannedBody, response: { 201: CannedResponse, ...errorResponses } },
      onRequest: anyone,
    },
    async (request, reply) => reply.status(201).send(toCanned(await createCanned(ctx, request.body, { ...request.actor, id: request.agent.id }))),
  );

  app.patch(
    '/api/v1/canned-responses/:id',
    { schema: { tags, summary: 'Change a canned response you may manage', params: IdParams, body: CannedPatchBody, response: { 200: CannedResponse, ...errorResponses } }, onRequest: anyone },
    async (request) => toCanned(await updateCanned(ctx, request.params.id, request.body, { ...request.actor, id: request.agent.id })),
  );

  app.delete(
    '/api/v1/canned-responses/:id',
    { schema: { tags, summary: 'Delete a canned response you may manage', params: IdParams, body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: anyone },
    async (request, reply) => {
      await deleteCanned(ctx, request.params.id, { ...request.actor, id: request.agent.id });
      return reply.status(204).send();
    },
  );
}
