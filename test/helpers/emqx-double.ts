import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { createServer, type Server } from 'node:net';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { httpJson } from './http.js';

// A stand-in for EMQX set up as docs/deployment.md says, for what concerns
// Switchboard: every CONNECT calls POST /mqtt/auth with the authenticator's
// body template, every subscribe and publish calls POST /mqtt/acl with the
// authorizer's template (the `sb_token` client attribute the authenticator
// gave), no authorization cache, and — as EMQX 5.8 does — the client is
// disconnected at the authenticator's `expire_at`. A denied publish
// disconnects (EMQX's `deny_action = disconnect`; the template's `ignore`
// drops it silently, which a test cannot observe as well).

export interface EmqxDouble {
  /** plain MQTT */
  url: string;
  /** MQTT over WebSocket, as browsers reach EMQX's listener */
  wsUrl: string;
  /** every call made to Switchboard, in order */
  calls: { path: string; body: Record<string, unknown>; result: string }[];
  close(): Promise<void>;
}

/** `switchboard`: its base URL, or a function giving it (when the double must start before the server) */
export async function emqxDouble(switchboard: string | (() => string)): Promise<EmqxDouble> {
  const aedes = await Aedes.createBroker();
  const attrs = new WeakMap<Client, { username: string; sbToken: string }>();
  const timers = new Set<NodeJS.Timeout>();
  const calls: EmqxDouble['calls'] = [];

  const call = async (path: string, body: Record<string, unknown>) => {
    const answer = await httpJson(typeof switchboard === 'string' ? switchboard : switchboard(), 'POST', path, body);
    calls.push({ path, body, result: answer.body?.result });
    return answer.body as { result: string; client_attrs?: { sb_token: string }; expire_at?: number };
  };

  aedes.authenticate = (client, username, password, done) => {
    call('/mqtt/auth', { username: username ?? '', password: password?.toString('utf8') ?? '', clientid: client.id }).then(
      (answer) => {
        if (answer.result !== 'allow') {
          const error = new Error('not authorized') as AuthenticateError;
          error.returnCode = 5;
          return done(error, false);
        }
        attrs.set(client, { username: username ?? '', sbToken: answer.client_attrs?.sb_token ?? '' });
        if (answer.expire_at !== undefined) {
          const timer = setTimeout(() => (timers.delete(timer), client.close()), Math.max(0, answer.expire_at * 1000 - Date.now()));
          timers.add(timer);
        }
        done(null, true);
      },
      (error: Error) => done(Object.assign(error, { returnCode: 3 }) as AuthenticateError, false),
    );
  };

  const acl = async (client: Client, action: 'subscribe' | 'publish', topic: string) => {
    const known = attrs.get(client);
    const answer = await call('/mqtt/acl', { username: known?.username ?? '', clientid: client.id, token: known?.sbToken ?? '', topic, action });
    return answer.result === 'allow';
  };

  aedes.authorizeSubscribe = (client, subscription, done) => {
    acl(client, 'subscribe', subscription.topic).then(
      (allowed) => done(null, allowed ? subscription : null),
      () => done(null, null),
    );
  };

  aedes.authorizePublish = (client, packet, done) => {
    if (!client) return done(null);
    acl(client, 'publish', packet.topic).then(
      (allowed) => done(allowed ? null : new Error(`not allowed to publish on ${packet.topic}`)),
      (error: Error) => done(error),
    );
  };

  const server: Server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const ws = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/mqtt' });
  ws.on('connection', (socket) => aedes.handle(createWebSocketStream(socket)));
  await new Promise<void>((resolve) => ws.once('listening', () => resolve()));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${(ws.address() as { port: number }).port}/mqtt`,
    calls,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      // The broker first: it closes its clients, and the servers then have no connection left to wait for.
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => ws.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
