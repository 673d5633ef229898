// RapidPro test kit: a ticketer made through the admin API, and mailroom's
// calls to it, sent as mailroom sends them (Authorization: Token, JSON body,
// GET with a body for room and room.close).
import type { LightMyRequestResponse } from 'fastify';
import { rapidproOutbound } from '../../src/channels/rapidpro/producer.js';
import type { OutboundWorker } from '../../src/events/outbound/worker.js';
import type { Queryable } from '../../src/store/db.js';
import type { TestApp } from './app.js';
import { startFakeMailroom, type FakeMailroom } from './fake-mailroom.js';
import { testWorker } from './webhook-receiver.js';

export interface TestTicketer {
  uuid: string;
  secret: string;
  base_url: string;
  /** the base URL's path, for inject */
  base: string;
}

export async function createTicketer(t: TestApp, adminToken: string, body: { name?: string; secret?: string } = {}): Promise<TestTicketer> {
  const res = await t.call('POST', '/api/v1/ticketers', { token: adminToken, body });
  if (res.statusCode !== 201) throw new Error(`creating a ticketer failed: ${res.statusCode} ${res.body}`);
  const ticketer = res.json() as { uuid: string; secret: string; base_url: string };
  return { ...ticketer, base: new URL(ticketer.base_url).pathname };
}

export type Mailroom = (
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  endpoint: string,
  body?: unknown,
  options?: { secret?: string | null; headers?: Record<string, string> },
) => Promise<LightMyRequestResponse>;

/** Calls `{base}/<endpoint>` as mailroom does; `secret: null` sends no Authorization. */
export function mailroomFor(t: TestApp, ticketer: TestTicketer): Mailroom {
  return (method, endpoint, body, options = {}) => {
    const secret = options.secret === undefined ? ticketer.secret : options.secret;
    return t.app.inject({
      method,
      url: `${ticketer.base}/${endpoint}`,
      headers: {
        ...(secret !== null ? { authorization: `Token ${secret}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        'user-agent': 'Go-http-client/1.1',
        ...options.headers,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
    });
  };
}

export interface ConnectedMailroom {
  ticketer: TestTicketer;
  /** mailroom's calls to the ticketer */
  call: Mailroom;
  /** the fake mailroom the callbacks go to */
  mailroom: FakeMailroom;
  /** the outbound worker with the RapidPro producer, driven by tick() */
  worker: OutboundWorker;
}

/**
 * A ticketer connected to a fake mailroom (PUT settings with its URL) that
 * has `tickets` open, and a worker sending the callbacks on their own retry
 * schedule without jitter. The caller stops the worker and closes the
 * mailroom. The app must allow private targets (the fake listens on 127.0.0.1).
 */
export async function connectMailroom(t: TestApp, adminToken: string, tickets: readonly string[]): Promise<ConnectedMailroom> {
  const ticketer = await createTicketer(t, adminToken);
  const call = mailroomFor(t, ticketer);
  const mailroom = await startFakeMailroom({ uuid: ticketer.uuid, secret: () => ticketer.secret });
  for (const ticket of tickets) mailroom.tickets.add(ticket);
  const connected = await call('PUT', 'settings', { webhook: { url: mailroom.url } });
  if (connected.statusCode !== 204) throw new Error(`connecting mailroom failed: ${connected.statusCode} ${connected.body}`);
  const worker = testWorker(t.ctx, { extra: rapidproOutbound({ random: () => 0.5 }) });
  return { ticketer, call, mailroom, worker };
}

/** What a refused request must leave as it was. */
export async function snapshot(db: Queryable): Promise<Record<string, unknown>> {
  const [counts] = await db.query(
    `select (select count(*)::int from conversations) as conversations,
            (select count(*)::int from messages) as messages,
            (select count(*)::int from events) as events,
            (select count(*)::int from rapidpro_tickets) as tickets,
            (select count(*)::int from outbound_requests) as outbound,
            (select json_agg(json_build_object('uuid', uuid, 'secret', secret, 'callback_url', callback_url, 'name', name) order by uuid)
               from rapidpro_ticketers) as ticketers,
            (select json_agg(json_build_object('id', id, 'state', state) order by id) from conversations) as states`,
  );
  return counts!;
}

/** The example bodies of the wire contract. */
export const CONTRACT = {
  room: {
    visitor: { token: '1234567', contactUUID: '5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f', name: 'Ryan Lewis', email: 'foo@bar.com', phone: '+12024561111' },
    ticketID: '59d74b86-3e2f-4a93-aece-b05d2fdcde0c',
  },
  message: {
    visitor: { token: '1234567' },
    text: "It's urgent",
    attachments: [
      { type: 'image/jpg', url: 'https://link.to/image.jpg' },
      { type: 'video/mp4', url: 'https://link.to/video.mp4' },
      { type: 'audio/ogg', url: 'https://link.to/audio.ogg' },
    ],
  },
  close: { visitor: { token: '1234567' } },
};
