import websocket from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { tokenDigest } from '../agents/tokens.js';
import { forbidden } from '../errors.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses } from '../http/schemas.js';
import { brokerUsername, clientIdBelongsTo, identifyByDigest, identifyUntil } from './identity.js';
import type { Realtime } from './index.js';
import { mqttWebSocketStream } from './websocket-stream.js';

const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });

// EMQX's HTTP authenticator and authorizer send what their request template
// says; Switchboard documents the template (docs/deployment.md) and reads it.
const MqttAuthBody = Type.Object({ username: Type.Optional(Type.String({ maxLength: 200 })), password: Type.Optional(Type.String({ maxLength: 500 })), clientid: Type.Optional(Type.String({ maxLength: 200 })) });
const MqttAclBody = Type.Object({
  username: Type.Optional(Type.String({ maxLength: 200 })),
  clientid: Type.Optional(Type.String({ maxLength: 200 })),
  token: Type.Optional(Type.String({ maxLength: 200, description: 'the client attribute sb_token that POST /mqtt/auth gave the connection' })),
  topic: Str(1000),
  action: Type.Union([Type.Literal('publish'), Type.Literal('subscribe'), Type.Literal('all')]),
  // EMQX 5.1.1+ renders ${retain} as "true" or "false"
  retain: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')], { description: "the template's ${retain}: whether the publish asks to be retained (refused)" })),
});
const EmqxResult = Type.Object({
  result: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('ignore')]),
  is_superuser: Type.Optional(Type.Boolean()),
  client_attrs: Type.Optional(Type.Object({ sb_token: Type.String() })),
  expire_at: Type.Optional(Type.Integer({ description: 'Unix seconds: when the token expires; EMQX 5.8+ disconnects the client then' })),
});

/**
 * A WebSocket error the client caused — a frame over maxPayload (before
 * CONNECT, the first thing anyone can send), a broken frame, a connection cut
 * mid-frame — is the client's affair: logged at debug without a stack, so
 * anyone on the internet cannot fill the error log. Anything else stays an
 * error.
 */
function socketError(this: unknown, error: Error & { code?: string }, socket: WebSocket, request: FastifyRequest): void {
  const code = error.code ?? '';
  if (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE') {
    request.log.debug({ code, reason: error.message }, 'websocket closed: the client broke the protocol or went away');
  } else {
    request.log.error({ err: error }, 'websocket error');
  }
  socket.terminate();
}

/** The MQTT endpoint of the embedded broker, and the auth hooks of external ones. */
export async function brokerRoutes(app: App, { ctx }: AppDeps, realtime: Realtime): Promise<void> {
  const tags = ['realtime'];

  app.post(
    '/mqtt/auth',
    { schema: { tags, summary: "EMQX HTTP authenticator: password = a Switchboard token, username = the agent's or session's id, clientid = that id or starting with it and '-'", security: [], body: MqttAuthBody, response: { 200: EmqxResult, ...errorResponses } } },
    async (request) => {
      const { username, password, clientid } = request.body;
      const found = password ? await identifyUntil(ctx.db, password, ctx.now()) : undefined;
      const owner = found ? brokerUsername(found.identity) : undefined;
      if (!found || !owner || owner !== username?.toLowerCase()) return { result: 'deny' as const };
      // Switchboard cannot see which client ids an external broker holds: the
      // id carries its owner's name instead, so nobody resumes another's session.
      if (!clientIdBelongsTo(clientid, owner)) return { result: 'deny' as const };
      // The token's digest rides along with the connection, so the authorizer
      // can tell a connection whose token was since revoked or expired; and
      // EMQX 5.8+ closes the connection itself when the token expires.
      return {
        result: 'allow' as const,
        is_superuser: false,
        client_attrs: { sb_token: tokenDigest(password!) },
        expire_at: Math.floor(found.expiresAt.getTime() / 1000),
      };
    },
  );

  app.post(
    '/mqtt/acl',
    { schema: { tags, summary: 'EMQX HTTP authorizer: may this user publish or subscribe to this topic?', security: [], body: MqttAclBody, response: { 200: EmqxResult, ...errorResponses } } },
    async (request) => {
      const { token, username, clientid } = request.body;
      const identity = token ? await identifyByDigest(ctx.db, token, ctx.now()) : undefined;
      if (!identity || brokerUsername(identity) !== username?.toLowerCase()) return { result: 'deny' as const };
      if (!clientIdBelongsTo(clientid, brokerUsername(identity))) return { result: 'deny' as const };
      const { topic, action, retain } = request.body;
      // No client's publish is retained, as on the embedded broker, which
      // clears the flag: EMQX kept a customer's retained "message" on their
      // conversation's topic and handed it to every later subscriber (the
      // next agent, a supervisor, a reloaded console) even after the chat
      // was erased (found by review).
      if (action !== 'subscribe' && (retain === true || retain === 'true')) return { result: 'deny' as const };
      const allowed =
        action === 'subscribe'
          ? await realtime.rules.canSubscribe(identity, topic)
          : action === 'publish'
            ? await realtime.rules.canPublish(identity, topic)
            : (await realtime.rules.canSubscribe(identity, topic)) && (await realtime.rules.canPublish(identity, topic));
      return { result: allowed ? ('allow' as const) : ('deny' as const) };
    },
  );

  const broker = realtime.broker;
  if (broker.handle) {
    await app.register(websocket, { options: { maxPayload: 256 * 1024 }, errorHandler: socketError });
    app.get('/mqtt', { websocket: true, schema: { hide: true } }, (socket, request) => {
      // A packet over the size limits closes the connection: the client's
      // doing, so at debug like an oversized frame (socketError).
      broker.handle!(mqttWebSocketStream(socket), request.raw, (reason) => request.log.debug({ reason }, 'mqtt connection closed: packet over the size limit'));
    });
  } else {
    app.get('/mqtt', { schema: { hide: true } }, async () => {
      throw forbidden(`this server uses the external broker ${realtime.config.mqttUrl}; connect there`);
    });
  }
}
