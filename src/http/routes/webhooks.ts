import { Type } from '@sinclair/typebox';
import type { Config } from '../../config.js';
import { getDelivery, listDeliveries, ping, redeliver } from '../../events/webhooks/deliveries.js';
import { createEndpoint, deleteEndpoint, getEndpoint, listEndpoints, rotateSecret, toEndpoint, updateEndpoint } from '../../events/webhooks/endpoints.js';
import { requestExternalMessage } from '../../events/webhooks/external-message.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { errorResponses, IdParams, NoBody } from '../schemas.js';
import {
  Delivery,
  DeliveryParams,
  DeliveryQuery,
  ExternalMessageBody,
  ExternalMessageReply,
  NewWebhookBody,
  RotateSecretBody,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
  WebhookPatchBody,
} from '../webhook-schemas.js';

export function webhookRoutes(app: App, { ctx, config }: AppDeps): void {
  const admin = requireAgent(ctx, ['admin']);
  const tags = ['webhooks'];
  // The full Config (server) carries the SSRF switch; test apps built without it get the safe default.
  const policy = { allowPrivate: (config as Partial<Config>).allowPrivateWebhookTargets === true };

  app.post(
    '/api/v1/webhooks',
    {
      schema: { tags, summary: 'Add a webhook endpoint (admin); the secret is shown in this answer only', body: NewWebhookBody, response: { 201: WebhookEndpointWithSecret, ...errorResponses } },
      onRequest: admin,
    },
    async (request, reply) => {
      const { endpoint, secret } = await createEndpoint(ctx, request.body, request.actor.id, policy);
      return reply.status(201).send({ ...toEndpoint(endpoint), secret });
    },
  );

  app.get(
    '/api/v1/webhooks',
    { schema: { tags, summary: 'Webhook endpoints (admin), without their secrets', response: { 200: Type.Array(WebhookEndpoint), ...errorResponses } }, onRequest: admin },
    async () => (await listEndpoints(ctx.db)).map(toEndpoint),
  );

  app.get(
    '/api/v1/webhooks/:id',
    { schema: { tags, params: IdParams, response: { 200: WebhookEndpoint, ...errorResponses } }, onRequest: admin },
    async (request) => toEndpoint(await getEndpoint(ctx.db, request.params.id)),
  );

  app.patch(
    '/api/v1/webhooks/:id',
    { schema: { tags, summary: 'Change an endpoint; waiting deliveries follow a new URL', params: IdParams, body: WebhookPatchBody, response: { 200: WebhookEndpoint, ...errorResponses } }, onRequest: admin },
    async (request) => toEndpoint(await updateEndpoint(ctx, request.params.id, request.body, policy)),
  );

  app.delete(
    '/api/v1/webhooks/:id',
    { schema: { tags, summary: 'Delete an endpoint and its delivery log', params: IdParams, body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: admin },
    async (request, reply) => {
      await deleteEndpoint(ctx, request.params.id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/webhooks/:id/rotate-secret',
    {
      schema: {
        tags,
        summary: 'Replace the secret; the old one also signs webhook-signature during grace_seconds',
        params: IdParams,
        body: Type.Optional(RotateSecretBody),
        response: { 200: WebhookEndpointWithSecret, ...errorResponses },
      },
      onRequest: admin,
    },
    async (request) => {
      const { endpoint, secret } = await rotateSecret(ctx, request.params.id, request.body ?? {});
      return { ...toEndpoint(endpoint), secret };
    },
  );

  app.post(
    '/api/v1/webhooks/:id/ping',
    { schema: { tags, summary: 'Queue a ping delivery to the endpoint', params: IdParams, body: NoBody, response: { 202: Delivery, ...errorResponses } }, onRequest: admin },
    async (request, reply) => reply.status(202).send(await ping(ctx, request.params.id)),
  );

  app.get(
    '/api/v1/webhooks/:id/deliveries',
    {
      schema: { tags, summary: 'Deliveries to the endpoint, newest first, each with its attempts', params: IdParams, querystring: DeliveryQuery, response: { 200: Type.Array(Delivery), ...errorResponses } },
      onRequest: admin,
    },
    async (request) => listDeliveries(ctx.db, request.params.id, { before: request.query.before, limit: request.query.limit ?? 50, state: request.query.state }),
  );

  app.get(
    '/api/v1/deliveries/:id',
    { schema: { tags, params: DeliveryParams, response: { 200: Delivery, ...errorResponses } }, onRequest: admin },
    async (request) => getDelivery(ctx.db, request.params.id),
  );

  app.post(
    '/api/v1/deliveries/:id/redeliver',
    { schema: { tags, summary: 'Send a delivery again: same body and webhook-id, a new delivery', params: DeliveryParams, body: NoBody, response: { 202: Delivery, ...errorResponses } }, onRequest: admin },
    async (request, reply) => reply.status(202).send(await redeliver(ctx, request.params.id)),
  );

  app.post(
    '/api/v1/conversations/:id/external-messages',
    {
      schema: {
        tags,
        summary: "Ask integrations to send a message to the customer (Gitple's send_external_message)",
        params: IdParams,
        body: ExternalMessageBody,
        response: { 202: ExternalMessageReply, ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request, reply) => reply.status(202).send(await requestExternalMessage(ctx, request.params.id, request.body.text, request.actor)),
  );
}
