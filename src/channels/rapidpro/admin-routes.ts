import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { App, AppDeps } from '../../http/deps.js';
import { requireAgent } from '../../http/auth.js';
import { errorResponses, NoBody } from '../../http/schemas.js';
import { listCallbacks } from './callback-log.js';
import { Callback, CallbackQuery, NewTicketerBody, Ticketer, TicketerParams, TicketerPatchBody } from './schemas.js';
import { createTicketer, deleteTicketer, getTicketer, listTicketers, toTicketer, updateTicketer } from './ticketers.js';

// The admin API for ticketers, in the core conventions (Bearer token, the
// {"error":{code,message}} envelope).

export function ticketerRoutes(app: App, { ctx, config }: AppDeps): void {
  const admin = requireAgent(ctx, ['admin']);
  const tags = ['rapidpro'];
  // PUBLIC_URL when set; else the address the admin reached us at, which is the one RapidPro should use too.
  const origin = (request: FastifyRequest) => config.rapidpro.publicUrl ?? `${request.protocol}://${request.host}`;

  app.post(
    '/api/v1/ticketers',
    {
      schema: { tags, summary: 'Add a RapidPro ticketer (admin); a secret is generated unless given', body: NewTicketerBody, response: { 201: Ticketer, ...errorResponses } },
      onRequest: admin,
    },
    async (request, reply) => reply.status(201).send(toTicketer(await createTicketer(ctx, request.body, request.actor.id), origin(request))),
  );

  app.get(
    '/api/v1/ticketers',
    { schema: { tags, summary: 'RapidPro ticketers (admin)', response: { 200: Type.Array(Ticketer), ...errorResponses } }, onRequest: admin },
    async (request) => (await listTicketers(ctx.db)).map((row) => toTicketer(row, origin(request))),
  );

  app.get(
    '/api/v1/ticketers/:uuid',
    { schema: { tags, params: TicketerParams, response: { 200: Ticketer, ...errorResponses } }, onRequest: admin },
    async (request) => toTicketer(await getTicketer(ctx.db, request.params.uuid), origin(request)),
  );

  app.patch(
    '/api/v1/ticketers/:uuid',
    { schema: { tags, summary: 'Rename, or set the secret RapidPro shows', params: TicketerParams, body: TicketerPatchBody, response: { 200: Ticketer, ...errorResponses } }, onRequest: admin },
    async (request) => toTicketer(await updateTicketer(ctx, request.params.uuid, request.body), origin(request)),
  );

  app.delete(
    '/api/v1/ticketers/:uuid',
    {
      schema: { tags, summary: 'Delete; its open conversations are abandoned, its waiting callbacks cancelled', params: TicketerParams, body: NoBody, response: { 204: {}, ...errorResponses } },
      onRequest: admin,
    },
    async (request, reply) => {
      await deleteTicketer(ctx, request.params.uuid);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/ticketers/:uuid/callbacks',
    {
      schema: {
        tags,
        summary: 'Callbacks to RapidPro, newest first, each with its attempts',
        params: TicketerParams,
        querystring: CallbackQuery,
        response: { 200: Type.Array(Callback), ...errorResponses },
      },
      onRequest: admin,
    },
    async (request) => listCallbacks(ctx.db, request.params.uuid, { ...request.query, limit: request.query.limit ?? 50 }),
  );
}
