// A fake Qiscus Multichannel on 127.0.0.1 implementing the calls Switchboard
// makes, as ../shared/protocols/qiscus.md describes them: both auth modes,
// paginated available agents whose current_customer_count lags behind
// assignments, assign_agent with max_agent (400 "Cant join room, exceed max
// agents"), remove_agent taking an agent out of a room (so the room can take
// another under max_agent=1; 400 when they are not in it), resolved rooms
// refused, mark_as_resolved (400 "Room already resolved" for a room resolved
// before), the SDK server's get_rooms_info with each room's last comment id
// (authenticated with the app id and secret key), both error body shapes, and whatever
// failure a test injects (5xx, 429, a hang, a 401 that needs a fresh login).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface FakeAgent {
  id: number;
  name: string;
  email: string;
  is_available: boolean;
  force_offline: boolean;
  /** what available_agents reports; set by the test (it lags behind `rooms`) */
  reported: number;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  form: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  at: number;
}

/**
 * `{ until }`: the request is held open and answered as usual once `until` settles (a slow Qiscus, released by the
 * test); with a `status`, answered that way instead (a slow refusal).
 */
export type Injected = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang' | { until: Promise<unknown>; status?: number; body?: unknown };

export interface FakeQiscus {
  url: string;
  appId: string;
  secret: string;
  email: string;
  password: string;
  agents: Map<number, FakeAgent>;
  /** room id → agent ids in it (Qiscus' truth) */
  rooms: Map<string, number[]>;
  resolved: Set<string>;
  requests: FakeRequest[];
  /** assign_agent calls that Qiscus accepted, in order */
  assigned: { room_id: string; agent_id: number; at: number }[];
  /** remove_agent calls that took an agent out of a room, in order */
  removed: { room_id: string; agent_id: number; at: number }[];
  /** mark_as_resolved calls that resolved a room, in order, with what they carried */
  markedResolved: { room_id: string; notes: string | null; last_comment_id: string | null; at: number }[];
  /** room id → the id of its last comment, as get_rooms_info reports it (a room not here has none: 0) */
  lastComments: Map<string, string>;
  /**
   * Refuses chosen assignments (an agent who went offline, a room on a
   * channel the agent is not in): the answer for this room and agent, or
   * undefined to go on as usual.
   */
  refuse?: (roomId: string, agentId: number) => { status: number; body: unknown } | undefined;
  /** answers the next request to this path (or any path, '*') this way instead */
  inject(path: string, ...answers: Injected[]): void;
  /** makes every login token so far invalid: the next call with one gets 401 */
  expireTokens(): void;
  /** the login works but its tokens are refused (401), old and new: an account that is no admin */
  tokensRefused: boolean;
  /** the login gives the token it gave before, as Qiscus' admin login does (a new one only after expireTokens) */
  sameToken: boolean;
  addAgents(n: number, options?: Partial<FakeAgent>): FakeAgent[];
  /** brings reported counts up to the truth (Qiscus catching up) */
  syncCounts(): void;
  pageSize: number;
  /** the agents (ids) available_agents offers for a room; a room not here is offered every agent */
  offeredFor: Map<string, number[]>;
  webhook: Record<string, unknown>;
  close(): Promise<void>;
}

export async function startFakeQiscus(options: { pageSize?: number } = {}): Promise<FakeQiscus> {
  const tokens = new Set<string>();
  const injected = new Map<string, Injected[]>();
  const hanging = new Set<http.ServerResponse>();
  let tokenCount = 0;
  let nextAgent = 1;
  const fake: FakeQiscus = {
    url: '',
    appId: 'fake-app',
    secret: 'fake-secret',
    email: 'admin@fake.test',
    password: 'fake-password',
    agents: new Map(),
    rooms: new Map(),
    resolved: new Set(),
    requests: [],
    assigned: [],
    removed: [],
    markedResolved: [],
    lastComments: new Map(),
    tokensRefused: false,
    sameToken: false,
    pageSize: options.pageSize ?? 3,
    offeredFor: new Map(),
    webhook: {
      mark_as_resolved_webhook_url: null,
      is_mark_as_resolved_webhook_enabled: false,
      allocate_agent_webhook_url: 'https://allocator.example/api/v1/webhook/agent_allocation',
      is_allocate_agent_webhook_enabled: true,
    },
    inject(path, ...answers) {
      if (answers.length === 0) throw new Error('inject needs at least one answer');
      injected.set(path, [...(injected.get(path) ?? []), ...answers]);
    },
    expireTokens() {
      tokens.clear();
    },
    addAgents(n, o = {}) {
      const out: FakeAgent[] = [];
      for (let i = 0; i < n; i += 1) {
        const id = nextAgent++;
        const agent: FakeAgent = { id, name: `Agent ${id}`, email: `a${id}@fake.test`, is_available: true, force_offline: false, reported: 0, ...o };
        fake.agents.set(id, agent);
        out.push(agent);
      }
      return out;
    },
    syncCounts() {
      for (const agent of fake.agents.values()) agent.reported = countOf(agent.id);
    },
    close: async () => {},
  };
  const countOf = (agentId: number) => [...fake.rooms.entries()].filter(([room, ids]) => !fake.resolved.has(room) && ids.includes(agentId)).length;

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  /** The agent an assign or remove names, if they exist and the room is not resolved; otherwise Qiscus's error, sent. */
  const agentForRoom = (res: http.ServerResponse, roomId: string, agentId: number): FakeAgent | undefined => {
    const agent = fake.agents.get(agentId);
    if (!agent) send(res, 404, { status: 404, errors: { message: 'Agent not found' } });
    else if (fake.resolved.has(roomId)) send(res, 400, { status: 400, errors: { message: 'Room is already resolved' } });
    else return agent;
    return undefined;
  };

  /** the SDK server's own headers: the app id and its secret key (a login's answer carries the key) */
  const sdkAuthorized = (req: FakeRequest): boolean => req.headers['qiscus-sdk-app-id'] === fake.appId && req.headers['qiscus-sdk-secret'] === fake.secret;

  const authorized = (req: FakeRequest): boolean => {
    if (req.headers['qiscus-app-id'] !== fake.appId) return false;
    if (req.headers['qiscus-secret-key'] === fake.secret) return true;
    const token = req.headers.authorization;
    return typeof token === 'string' && tokens.has(token) && !fake.tokensRefused;
  };

  const server = http.createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const url = new URL(raw.url ?? '/', 'http://fake');
      const text = Buffer.concat(chunks).toString('utf8');
      const form = raw.headers['content-type']?.includes('json') ? new URLSearchParams(Object.entries(JSON.parse(text || '{}') as Record<string, string>)) : new URLSearchParams(text);
      const req: FakeRequest = { method: raw.method ?? 'GET', path: url.pathname, query: url.searchParams, form, headers: raw.headers, at: performance.now() };
      fake.requests.push(req);
      const queue = injected.get(req.path) ?? injected.get('*');
      const answer = queue?.shift();
      if (answer === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (answer && 'until' in answer) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        void answer.until.finally(() => {
          hanging.delete(res);
          if (res.destroyed) return;
          if (answer.status === undefined) route(req, res);
          else send(res, answer.status, answer.body ?? { status: answer.status, errors: `injected ${answer.status}` });
        });
        return;
      }
      if (answer) {
        send(res, answer.status, answer.body ?? { status: answer.status, errors: `injected ${answer.status}` }, answer.headers);
        return;
      }
      route(req, res);
    });
  });

  function route(req: FakeRequest, res: http.ServerResponse): void {
    if (req.method === 'POST' && req.path === '/api/v1/auth') {
      if (req.form.get('email') !== fake.email || req.form.get('password') !== fake.password) {
        send(res, 401, { status: 401, errors: { message: 'Invalid email or password' } });
        return;
      }
      const token = fake.sameToken && tokens.size > 0 ? [...tokens].at(-1)! : `tok-${++tokenCount}`;
      tokens.add(token);
      send(res, 200, { data: { user: { authentication_token: token, app: { app_code: fake.appId, secret_key: fake.secret } } } });
      return;
    }
    if (req.method === 'GET' && req.path === '/api/v2.1/rest/get_rooms_info') {
      if (!sdkAuthorized(req)) {
        send(res, 401, { status: 401, error: { message: 'Unauthorized' } });
        return;
      }
      const ids = req.query.getAll('room_ids[]');
      // every room a webhook named exists in Qiscus: the fake answers for any id
      const rooms = ids.map((id) => {
          const last = fake.lastComments.get(id) ?? '0';
        return { room_id: /^\d+$/.test(id) ? Number(id) : id, room_id_str: id, room_type: 'group', last_comment_id: Number(last), last_comment_id_str: last, last_comment_message: 'hello', participants: [] };
      });
      send(res, 200, { results: { rooms }, status: 200 });
      return;
    }
    if (!authorized(req)) {
      send(res, 401, { status: 401, errors: 'Unauthorized' });
      return;
    }
    if (req.method === 'GET' && req.path === '/api/v2/admin/service/available_agents') {
      const roomId = req.query.get('room_id');
      if (!roomId) {
        send(res, 400, { status: 400, errors: { message: 'room_id is required' } });
        return;
      }
      if (fake.resolved.has(roomId)) {
        send(res, 400, { status: 400, errors: { message: 'Room already resolved' } });
        return;
      }
      const limit = Math.min(Number(req.query.get('limit') ?? fake.pageSize), fake.pageSize);
      const start = Number(req.query.get('cursor_after') ?? 0);
      const only = fake.offeredFor.get(roomId);
      const all = [...fake.agents.values()].filter((a) => !only || only.includes(a.id)).sort((a, b) => a.id - b.id);
      const page = all.slice(start, start + limit);
      const after = start + limit < all.length ? String(start + limit) : null;
      send(res, 200, {
        data: {
          agents: page.map((a) => ({
            id: a.id, name: a.name, email: a.email, current_customer_count: a.reported, force_offline: a.force_offline,
            is_available: a.is_available, type: 2, type_as_string: 'agent', user_channels: [{ id: 1, name: 'WA' }], user_roles: [],
          })),
        },
        meta: { after, before: null, per_page: limit, total_count: null },
        status: 200,
      });
      return;
    }
    if (req.method === 'POST' && req.path === '/api/v1/admin/service/assign_agent') {
      const roomId = req.form.get('room_id') ?? '';
      const agentId = Number(req.form.get('agent_id'));
      const agent = agentForRoom(res, roomId, agentId);
      if (!agent) return;
      const refusal = fake.refuse?.(roomId, agentId);
      if (refusal) {
        send(res, refusal.status, refusal.body);
        return;
      }
      const inRoom = fake.rooms.get(roomId) ?? [];
      if (req.form.get('max_agent') === '1' && inRoom.length >= 1) {
        send(res, 400, { status: 400, errors: 'Cant join room, exceed max agents' });
        return;
      }
      fake.rooms.set(roomId, [...inRoom, agentId]);
      fake.assigned.push({ room_id: roomId, agent_id: agentId, at: req.at });
      send(res, 200, { data: { added_agent: { id: agent.id, name: agent.name, email: agent.email }, service: { room_id: roomId, is_resolved: false } } });
      return;
    }
    if (req.method === 'POST' && req.path === '/api/v1/admin/service/remove_agent') {
      const roomId = req.form.get('room_id') ?? '';
      const agentId = Number(req.form.get('agent_id'));
      if (roomId === '' || !Number.isInteger(agentId)) {
        send(res, 400, { status: 400, errors: { message: 'room_id and agent_id are required' } });
        return;
      }
      const agent = agentForRoom(res, roomId, agentId);
      if (!agent) return;
      const inRoom = fake.rooms.get(roomId) ?? [];
      if (!inRoom.includes(agentId)) {
        send(res, 400, { status: 400, errors: 'Agent is not in this room' });
        return;
      }
      fake.rooms.set(roomId, inRoom.filter((id) => id !== agentId));
      fake.removed.push({ room_id: roomId, agent_id: agentId, at: req.at });
      send(res, 200, { data: { removed_agent: { id: agent.id, name: agent.name, email: agent.email }, service: { room_id: roomId, is_resolved: false } } });
      return;
    }
    if (req.method === 'POST' && req.path === '/api/v1/admin/service/mark_as_resolved') {
      const roomId = req.form.get('room_id') ?? '';
      if (roomId === '') {
        send(res, 400, { status: 400, errors: { message: 'room_id is required' } });
        return;
      }
      if (fake.resolved.has(roomId)) {
        send(res, 400, { status: 400, errors: 'Room already resolved' });
        return;
      }
      fake.resolved.add(roomId);
      const entry = { room_id: roomId, notes: req.form.get('notes'), last_comment_id: req.form.get('last_comment_id'), at: req.at };
      fake.markedResolved.push(entry);
      send(res, 200, { data: { service: { room_id: roomId, notes: entry.notes, is_resolved: true, last_comment_id: entry.last_comment_id }, room_info: { room: { room_id: roomId } } } });
      return;
    }
    if (req.method === 'POST' && req.path === '/api/v1/app/webhook/mark_as_resolved') {
      fake.webhook = { ...fake.webhook, mark_as_resolved_webhook_url: req.form.get('webhook_url'), is_mark_as_resolved_webhook_enabled: req.form.get('is_webhook_enabled') === 'true' };
      send(res, 200, { data: { app_code: fake.appId, ...fake.webhook } });
      return;
    }
    send(res, 404, { status: 404, errors: `no route ${req.method} ${req.path}` });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.keepAliveTimeout = 60_000;
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}

/** The environment that points Switchboard at the fake (secret mode unless `login`). */
export function qiscusEnv(fake: FakeQiscus, options: { login?: boolean; extra?: Record<string, string> } = {}): Record<string, string> {
  return {
    QISCUS_BASE_URL: fake.url,
    // the fake serves the SDK server's get_rooms_info too
    QISCUS_SDK_BASE_URL: fake.url,
    QISCUS_APP_ID: fake.appId,
    ...(options.login ? { QISCUS_EMAIL: fake.email, QISCUS_PASSWORD: fake.password } : { QISCUS_SECRET: fake.secret }),
    // PGlite shares the event loop with the fake: a tight deadline would fire on a busy machine
    QISCUS_TIMEOUT: '2000',
    ...options.extra,
  };
}
