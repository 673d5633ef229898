import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteHandlerMethod } from 'fastify';
import type { Config } from '../../config.js';
import type { AppError } from '../../errors.js';
import { invalid } from '../../errors.js';
import { resolvedProblem, urlProblem } from '../../events/outbound/ssrf.js';
import type { AppDeps } from '../../http/deps.js';
import { errorHandler, type ErrorBody } from '../../http/errors.js';
import { badToken, unknownTicketer } from './errors.js';
import { getBodyParser } from './get-body.js';
import { parseClose, parseMessage, parseRoom, parseSettings } from './inbound.js';
import { sameSecret } from '../../http/secrets.js';
import { tokenFrom } from './secret.js';
import { closeRoom, openRoom, visitorMessage } from './tickets.js';
import { findTicketer, setCallbackUrl, type TicketerRow } from './ticketers.js';

// The endpoints mailroom calls under a ticketer's base URL, exactly as the
// original Rocket.Chat app answered them: `{"error":"…"}` on every failure
// (mailroom shows that message in RapidPro's HTTP log), a JSON body on every
// 201 (mailroom parses it), 204 with nothing where the app gave nothing.

declare module 'fastify' {
  interface FastifyRequest {
    ticketer: TicketerRow;
  }
}

const BASE = '/api/v1/ticketers/:uuid';

/**
 * The core handler decides status, logging and message for every error, so
 * the rules live in one place; only the envelope differs here.
 */
function mailroomErrorHandler(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply): void {
  let status = 500;
  let body: ErrorBody | undefined;
  const capture = {
    status(code: number) {
      status = code;
      return capture;
    },
    header(name: string, value: string) {
      void reply.header(name, value);
      return capture;
    },
    send(payload: ErrorBody) {
      body = payload;
      return capture;
    },
  };
  errorHandler(error, request, capture as unknown as FastifyReply);
  void reply.status(status).send({ error: body?.error.message ?? 'internal error; the server log has the details' });
}

export function mailroomRoutes({ ctx, config }: AppDeps) {
  const allowPrivate = (config as Partial<Config>).allowPrivateWebhookTargets === true;

  return async function mailroom(scope: FastifyInstance): Promise<void> {
    scope.setErrorHandler(mailroomErrorHandler);

    // Runs before the body is read: a caller without the secret learns nothing else.
    scope.addHook('onRequest', async (request) => {
      const uuid = (request.params as { uuid: string }).uuid;
      const ticketer = await findTicketer(ctx.db, uuid);
      if (!ticketer) throw unknownTicketer(uuid);
      const sent = tokenFrom(request.headers.authorization);
      if (sent === undefined || !sameSecret(sent, ticketer.secret)) throw badToken(uuid, request.headers.authorization !== undefined);
      request.ticketer = ticketer;
    });
    scope.addHook('preParsing', getBodyParser(scope));

    const schema = (summary: string) => ({ tags: ['rapidpro mailroom'], summary, params: Type.Object({ uuid: Type.String() }) });
    /** The methods each endpoint answers, for the 405 of any other. */
    const allowed = new Map<string, HTTPMethods[]>();
    const endpoint = (methods: HTTPMethods[], name: string, summary: string, handler: RouteHandlerMethod) => {
      allowed.set(name, [...(allowed.get(name) ?? []), ...methods]);
      scope.route({ method: methods, url: `${BASE}/${name}`, schema: schema(summary), handler });
    };

    // 200 with a body: older RapidPro versions take nothing else as success here.
    endpoint(['GET'], 'secret.check', 'RapidPro checks its secret', async (_request, reply) => reply.status(200).send({}));

    endpoint(['GET'], 'settings', 'The callback URL RapidPro set', async (request) => ({ webhook: { url: request.ticketer.callback_url } }));

    endpoint(['PUT'], 'settings', 'RapidPro sets its callback URL', async (request, reply) => {
      const { url } = parseSettings(request.body);
      const problem = urlProblem(url, allowPrivate) ?? (await resolvedProblem(url, allowPrivate));
      if (problem) throw invalid('webhook.url', problem);
      await setCallbackUrl(ctx, request.ticketer.uuid, url);
      return reply.status(204).send();
    });

    endpoint(['GET', 'POST'], 'room', 'Open a ticket (mailroom sends a GET with a JSON body)', async (request, reply) => {
      const { conversationId } = await openRoom(ctx, request.ticketer.uuid, parseRoom(request.body));
      return reply.status(201).send({ id: conversationId });
    });

    endpoint(['GET', 'POST'], 'room.close', 'Close a ticket (mailroom sends a GET with a JSON body)', async (request, reply) => {
      await closeRoom(ctx, request.ticketer.uuid, parseClose(request.body).token);
      return reply.status(204).send();
    });

    endpoint(['POST'], 'visitor-message', "Forward a contact's message", async (request, reply) => {
      const message = await visitorMessage(ctx, request.ticketer.uuid, parseMessage(request.body));
      return reply.status(201).send({ id: String(message.id) });
    });

    // Anything else under the base URL is still mailroom's (a newer version, a typo in a fork):
    // it gets a message mailroom can show, after the same token check, not the core's 404 envelope.
    scope.all(`${BASE}/*`, { schema: { hide: true } }, async (request, reply) => {
      const name = (request.params as { '*': string })['*'];
      const methods = allowed.get(name);
      if (!methods) {
        return reply.status(404).send({ error: `no endpoint ${JSON.stringify(name)} under this ticketer; mailroom calls ${[...allowed.keys()].join(', ')}` });
      }
      const list = methods.includes('GET') ? [...new Set([...methods, 'HEAD'])] : methods;
      return reply
        .status(405)
        .header('allow', list.join(', '))
        .send({ error: `${name} does not take ${request.method}: use ${methods.join(' or ')}` });
    });
  };
}
