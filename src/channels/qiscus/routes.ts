import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { App, AppDeps } from '../../http/deps.js';
import { bearerToken, requireAgent } from '../../http/auth.js';
import { sameSecret } from '../../http/secrets.js';
import { changeSettings } from '../../http/routes/settings.js';
import { AppError, unauthorized } from '../../errors.js';
import { readSettings } from '../../settings/settings.js';
import { anyOfBranchIssue } from '../../http/anyof-issue.js';
import { assertStorableText, MENDS_TEXT, mendStorableText } from '../../http/validation.js';
import { qiscusChannel, type QiscusChannel } from './channel.js';
import { QiscusError } from './client.js';
import { FROM_QISCUS } from './constants.js';
import { listRooms, type RoomStatus } from './list-rooms.js';
import { closeRoom, openRoomToResolve, recordRoom, serviceIdOf, type AllocationRequest } from './rooms.js';
import { AllocationBody, MaxCustomersBody, ResolveBody, RoomsQuery, SetMarkAsResolvedBody } from './schemas.js';
import { cutText, QISCUS_TEXT_LIMITS } from './text-limits.js';
import { formFields } from './form-body.js';

// The endpoints Qiscus (and the seeds' admins) call, at the seeds' paths,
// answering in the seeds' envelope {status, message, data} — errors too.

const envelope = (reply: FastifyReply, status: number, message: string, data: unknown = null) => reply.status(status).send({ status, message, data });

interface AjvIssue {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function describeIssue(issue: AjvIssue): string {
  const path = issue.instancePath.split('/').filter(Boolean);
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty));
  if (issue.keyword === 'additionalProperties') path.push(String(issue.params.additionalProperty));
  const field = path.length > 0 ? path.join('.') : 'body';
  switch (issue.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not a known field`;
    case 'type':
      return `${field} must be of type ${String(issue.params.type)}`;
    case 'minLength':
      return issue.params.limit === 1 ? `${field} must not be empty` : `${field} must be at least ${String(issue.params.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(issue.params.limit)} characters`;
    case 'enum':
      return `${field} must be one of ${(issue.params.allowedValues as unknown[]).join(', ')}`;
    case 'pattern':
      // the only pattern on these bodies is room_id's "\S"
      return `${field} must not be blank`;
    case 'anyOf':
      return `${field} has the wrong type`;
    default:
      return `${field} ${issue.message ?? 'is invalid'}`;
  }
}

/** The issue that says best what is wrong: see anyof-issue.ts; an anyOf of types alone names the field plainly. */
const mainIssue = (issues: readonly AjvIssue[]): AjvIssue => anyOfBranchIssue(issues) ?? issues.find((i) => i.keyword === 'anyOf') ?? issues[0]!;

/** A flag as JSON (true) or as a form or Qiscus itself sends it ("true"); undefined when it is neither. */
function flag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  return undefined;
}

function envelopeErrors(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AppError) {
    void envelope(reply, error.status, error.message);
    return;
  }
  const validation = (error as FastifyError).validation as AjvIssue[] | undefined;
  if (validation && validation.length > 0) {
    void envelope(reply, 400, describeIssue(mainIssue(validation)));
    return;
  }
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    void envelope(reply, status, error.message);
    return;
  }
  request.log.error({ err: error }, 'unhandled error in a Qiscus endpoint');
  void envelope(reply, 500, 'Internal error; the server log has the details.');
}

/** Whether a presented secret (from the query or a header: anything) is the configured one. */
function givenSecretIs(given: unknown, secret: string): boolean {
  return typeof given === 'string' && sameSecret(given, secret);
}

// Qiscus puts the secret where the admin wrote it in the webhook URL (?secret=);
// other callers may send a header (../shared/protocols/qiscus.md).
const webhookSecretGiven = (request: FastifyRequest): unknown =>
  (request.headers['x-webhook-secret'] as string | undefined) ?? (request.query as { secret?: unknown } | undefined)?.secret;

const roomIdOf = (value: string | number) => String(value).trim();

type Fields = Record<string, unknown> | undefined;

/**
 * A webhook's body made storable before it is validated (MENDS_TEXT: the
 * app does not refuse it for a NUL or a lone surrogate). The fields a
 * webhook cannot be acted on without (`exact`: the room's id, a resolve's
 * session id) are refused naming them, as the app would; everything else —
 * a customer's name, the notes, extras, fields nobody reads — has them
 * replaced by U+FFFD: a refused allocation webhook is refused again at
 * every message of its room, which is then never allocated.
 */
const mendWebhook =
  (exact: (body: Fields) => [unknown, string][]) =>
  (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    try {
      for (const [value, field] of exact(request.body as Fields)) assertStorableText(value, field);
    } catch (error) {
      done(error as Error);
      return;
    }
    request.body = mendStorableText(request.body);
    done();
  };
const mendAllocation = mendWebhook((body) => [[body?.room_id, 'room_id']]);
const mendResolve = mendWebhook((body) => {
  const service = body?.service as Fields;
  return [
    [service?.room_id, 'service.room_id'],
    [service?.id, 'service.id'],
  ];
});

export function qiscusRoutes(app: App, deps: AppDeps): void {
  const { ctx } = deps;
  const config = deps.config.qiscus;
  const channel: QiscusChannel | null = qiscusChannel(ctx, config, app.log);
  const tags = ['qiscus'];
  const admin = requireAgent(ctx, ['admin']);
  if (config.webhookSecret === undefined && config.allowUnsignedWebhooks) {
    app.log.warn('QISCUS_ALLOW_UNSIGNED_WEBHOOKS=true and no QISCUS_WEBHOOK_SECRET: anyone who can reach this server can open and resolve Qiscus rooms');
  }

  app.get(
    '/api/v1/qiscus/rooms',
    { schema: { tags, summary: 'Qiscus rooms waiting, being assigned, assigned, failed, and closed but refused by Qiscus (unsynced), with reasons (admin)', querystring: RoomsQuery }, onRequest: admin },
    async (request) => {
      const query = request.query as { status?: RoomStatus; limit?: number };
      return { rooms: await listRooms(ctx.db, { status: query.status, limit: query.limit ?? 100 }) };
    },
  );

  void app.register(async (scope) => {
    scope.setErrorHandler(envelopeErrors);
    // Laravel-style clients post forms; Qiscus itself posts JSON.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, formFields(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });

    const webhookSecret = async (request: FastifyRequest) => {
      if (config.webhookSecret === undefined) {
        // Closed by default: without a secret anyone could open and resolve rooms.
        if (config.allowUnsignedWebhooks) return;
        throw new AppError(
          'SB_UNAUTHORIZED',
          'Qiscus webhooks are refused: QISCUS_WEBHOOK_SECRET is not set on this server (QISCUS_ALLOW_UNSIGNED_WEBHOOKS=true accepts them unsigned).',
          401,
        );
      }
      if (!givenSecretIs(webhookSecretGiven(request), config.webhookSecret)) {
        throw new AppError('SB_UNAUTHORIZED', 'Invalid webhook secret: send it as ?secret= or in the X-Webhook-Secret header.', 401);
      }
    };
    const configured = (): QiscusChannel => {
      if (!channel) throw new AppError('SB_QISCUS_NOT_CONFIGURED', 'The Qiscus channel is not configured: set QISCUS_BASE_URL, QISCUS_APP_ID and QISCUS_SECRET.', 503);
      return channel;
    };

    const allocation = async (request: FastifyRequest, reply: FastifyReply) => {
      const live = configured();
      const body = request.body as AllocationRequest & { room_id: string | number };
      const api = live.client.api;
      if (body.app_id !== undefined && body.app_id !== null && body.app_id !== api.appId) {
        return envelope(reply, 400, `app_id ${JSON.stringify(body.app_id)} is not this allocator's app (QISCUS_APP_ID)`);
      }
      const roomId = roomIdOf(body.room_id);
      const { conversation, created, closedPrevious } = await recordRoom(ctx, { ...body, room_id: roomId });
      if (closedPrevious) {
        // its resolve is late or lost: deduped to that conversation, the new session would have none once it came (recordRoom)
        request.log.info({ roomId, previousServiceId: (body.latest_service as { id?: unknown }).id, conversationId: closedPrevious }, 'Qiscus resolved the session before this one; its conversation, still open, is closed');
      }
      // Committed before the answer; allocation goes on after it.
      if (created) live.allocator.kick('new', conversation.id);
      return envelope(reply, 200, 'Successfully received.');
    };
    const resolved = async (request: FastifyRequest, reply: FastifyReply) => {
      const live = configured();
      const { service } = request.body as { service: { room_id: string | number; id?: string | number | null; notes?: unknown } };
      const roomId = roomIdOf(service.room_id);
      // service.id names the session resolved. Qiscus delivers a resolve more
      // than once and late: one for a session already over (the customer wrote
      // again, the room's next conversation is open) must not close the next
      // one, which nobody would tell Qiscus of (openRoomToResolve).
      const serviceId = serviceIdOf(service.id);
      const room = await openRoomToResolve(ctx, roomId, serviceId);
      if (room?.stale) {
        request.log.info({ roomId, serviceId, conversationId: room.id }, 'Qiscus resolved a session of this room already over; its open conversation stays');
      }
      // Its own reason: Qiscus resolved the room, so the resolve is not sent back to it (removals.ts).
      // The close's commit wakes the allocator (channel.ts, onCommitted), as any close of a room does.
      const closed = room && !room.stale ? await closeRoom(ctx, room.id, { state: 'resolved', reason: FROM_QISCUS, note: cutText(service.notes, QISCUS_TEXT_LIMITS.notes) ?? null }) : false;
      // Closing nothing here, the resolve still freed a slot in Qiscus' count (a room an admin gave by hand,
      // one Qiscus allocated itself, a stale session), which Switchboard's loads never held: a pass from the
      // head reads the fresh lists. Kicked after the close's commit, it would ask for a second.
      if (!closed) live.allocator.kick('freed');
      return envelope(reply, 200, 'Room marked as resolved.');
    };

    for (const path of ['/api/v1/webhook/agent_allocation', '/api/v1/new_request']) {
      scope.post(
        path,
        { schema: { tags, summary: 'Qiscus custom agent allocation webhook', body: AllocationBody }, config: { [MENDS_TEXT]: true }, onRequest: webhookSecret, preValidation: mendAllocation },
        allocation,
      );
    }
    for (const path of ['/api/v1/webhook/mark_as_resolved', '/api/v1/close_request']) {
      scope.post(
        path,
        { schema: { tags, summary: 'Qiscus mark-as-resolved webhook', body: ResolveBody }, config: { [MENDS_TEXT]: true }, onRequest: webhookSecret, preValidation: mendResolve },
        resolved,
      );
    }

    // The settings endpoints take an admin token only, never the webhook
    // secret: that sits in the webhook URLs registered in Qiscus, which every
    // Qiscus dashboard admin and every proxy log in between sees, and these
    // change the platform-wide max_customers and where Qiscus sends resolves.
    // A script that still sends the secret is told so, not just "no token".
    const settingsAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
      if (bearerToken(request) === undefined && webhookSecretGiven(request) !== undefined) {
        throw unauthorized('the webhook secret does not open the settings endpoints: send an admin token as Authorization: Bearer <token>');
      }
      await admin.call(scope, request, reply);
    };
    scope.get('/api/v1/settings/max_customers', { schema: { tags, summary: 'Rooms per agent at once (admin)' }, onRequest: settingsAdmin }, async (_request, reply) =>
      envelope(reply, 200, 'Success', { max_customers: (await readSettings(ctx.db)).max_customers }),
    );
    scope.post(
      '/api/v1/settings/max_customers',
      { schema: { tags, summary: 'Change rooms per agent; persisted (admin)', body: MaxCustomersBody }, onRequest: settingsAdmin },
      async (request, reply) => {
        const raw = (request.body as { max_customers: unknown }).max_customers;
        const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000) {
          return envelope(reply, 400, `max_customers must be a positive integer (1 to 10000), got ${JSON.stringify(raw) ?? 'nothing'}`);
        }
        // its settings.changed event kicks the allocator (channel.ts)
        const settings = await changeSettings(ctx, { max_customers: value }, request.actor.id);
        return envelope(reply, 200, 'Successfully updated', { max_customers: settings.max_customers });
      },
    );
    scope.post(
      '/api/v1/settings/set_mark_as_resolved',
      { schema: { tags, summary: "Set Qiscus' mark-as-resolved webhook (admin)", body: SetMarkAsResolvedBody }, onRequest: settingsAdmin },
      async (request, reply) => {
        const live = configured();
        const { endpoint, enable: raw } = request.body as { endpoint: string; enable: unknown };
        const enable = flag(raw);
        if (enable === undefined) return envelope(reply, 400, `enable must be true or false, got ${JSON.stringify(raw)}`);
        try {
          const data = await live.client.setWebhook('mark_as_resolved', endpoint, enable);
          return envelope(reply, 200, 'Successfully updated', data);
        } catch (error) {
          if (!(error instanceof QiscusError)) throw error;
          return envelope(reply, 502, `Qiscus did not accept the change: ${error.message}`);
        }
      },
    );
  });
}
