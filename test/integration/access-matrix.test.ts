import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { updateAgent } from '../../src/agents/agents.js';
import { issueToken, revokeToken } from '../../src/agents/tokens.js';
import { SYSTEM, type AgentRow } from '../../src/agents/model.js';
import { loadConfig } from '../../src/config.js';
import { routesOf } from '../../src/http/app.js';
import type { Identity } from '../../src/realtime/identity.js';
import { startServer, type Running } from '../../src/server.js';
import { uploadAttachment } from '../../src/files/attachments.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { describeEachStore } from '../helpers/stores.js';

// Every route × every kind of caller, against the table below (from
// docs/api.md): a caller is "allowed" when the answer is neither 401 nor 403.
// Then the MQTT topic rules of docs/realtime.md for customer, agent and
// supervisor.

type Caller = 'none' | 'expired' | 'revoked' | 'customer' | 'agent_own' | 'agent_other' | 'supervisor' | 'admin';
const CALLERS: Caller[] = ['none', 'expired', 'revoked', 'customer', 'agent_own', 'agent_other', 'supervisor', 'admin'];

const PUBLIC: Caller[] = CALLERS;
const ANY_AGENT: Caller[] = ['agent_own', 'agent_other', 'supervisor', 'admin'];
const OWN: Caller[] = ['agent_own', 'supervisor', 'admin'];
const OVERSEER: Caller[] = ['supervisor', 'admin'];
const ADMIN: Caller[] = ['admin'];
/** routes that take another credential (a ticketer's or Qiscus' secret): no token admits anyone */
const SECRET_ONLY: Caller[] = [];

interface Fixture {
  /** the conversation of a fresh chat session, assigned to agent_own */
  conversation: string;
  /** that conversation's customer id */
  customer: string;
  customerToken: string;
  webhook: string;
  delivery: number;
  ticketer: string;
  /** a greeting, made fresh for the greetings' routes */
  greeting: string;
  throwaway: string;
  throwawayEmail: string;
  /** a note agent_own wrote on the conversation */
  note: number;
  label: string;
  /** a shared canned response */
  canned: string;
  /** a file uploaded to the conversation */
  attachment: string;
}

interface Case {
  allowed: Caller[];
  path(f: Fixture): string;
  body?: (f: Fixture) => unknown;
  /** for a body that is not JSON (an upload) */
  headers?: Record<string, string>;
}

const UPLOAD = multipartFile('file', 'photo.png', 'image/png', PNG);

const conv = (suffix: string) => (f: Fixture) => `/api/v1/conversations/${f.conversation}${suffix}`;

/** method + route → who may call it (docs/api.md), and how to call it. */
const MATRIX: Record<string, Case> = {
  'POST /api/v1/auth/login': { allowed: PUBLIC, path: () => '/api/v1/auth/login', body: (f) => ({ email: f.throwawayEmail, password: PASSWORD }) },
  'POST /api/v1/auth/logout': { allowed: ANY_AGENT, path: () => '/api/v1/auth/logout' },
  'POST /api/v1/agents': { allowed: ADMIN, path: () => '/api/v1/agents', body: () => ({ name: 'N', email: `${randomUUID()}@example.test`, password: 'a long password', role: 'agent' }) },
  'GET /api/v1/agents': { allowed: OVERSEER, path: () => '/api/v1/agents' },
  // the slim directory agents pick a colleague from for a transfer
  'GET /api/v1/agents/directory': { allowed: ANY_AGENT, path: () => '/api/v1/agents/directory' },
  'GET /api/v1/agents/me': { allowed: ANY_AGENT, path: () => '/api/v1/agents/me' },
  'PATCH /api/v1/agents/me': { allowed: ANY_AGENT, path: () => '/api/v1/agents/me', body: () => ({ status: 'online' }) },
  'POST /api/v1/agents/me/heartbeat': { allowed: ANY_AGENT, path: () => '/api/v1/agents/me/heartbeat' },
  // each agent's own, whatever their role
  'GET /api/v1/agents/me/notification-preferences': { allowed: ANY_AGENT, path: () => '/api/v1/agents/me/notification-preferences' },
  'PUT /api/v1/agents/me/notification-preferences': {
    allowed: ANY_AGENT,
    path: () => '/api/v1/agents/me/notification-preferences',
    body: () => ({ assignment: { sound: true, desktop: false }, customer_message: { sound: false, desktop: true } }),
  },
  // :id is agent_own's id: an agent may read only their own record
  'GET /api/v1/agents/:id': { allowed: OWN, path: () => `/api/v1/agents/${ids.own}` },
  'PATCH /api/v1/agents/:id': { allowed: ADMIN, path: () => `/api/v1/agents/${ids.own}`, body: () => ({ name: 'Own agent' }) },
  'DELETE /api/v1/agents/:id': { allowed: ADMIN, path: (f) => `/api/v1/agents/${f.throwaway}` },
  'POST /api/v1/conversations': { allowed: ANY_AGENT, path: () => '/api/v1/conversations', body: () => ({ customer: { id: randomUUID() } }) },
  'GET /api/v1/conversations': { allowed: ANY_AGENT, path: () => '/api/v1/conversations' },
  'GET /api/v1/conversations/:id': { allowed: OWN, path: conv('') },
  // erasure: admins only (the fixture's chat is open, so an admin gets 409, admitted)
  'DELETE /api/v1/conversations/:id': { allowed: ADMIN, path: conv('') },
  'POST /api/v1/conversations/:id/resolve': { allowed: OWN, path: conv('/resolve') },
  'POST /api/v1/conversations/:id/transfer': { allowed: OWN, path: conv('/transfer'), body: () => ({ department: null }) },
  'POST /api/v1/conversations/:id/requeue': { allowed: OWN, path: conv('/requeue') },
  // offers are answered by the agent they are offered to (the fixture's chat is assigned to agent_own: 409, admitted), no one else
  'POST /api/v1/conversations/:id/accept': { allowed: ['agent_own'], path: conv('/accept'), body: () => ({}) },
  'POST /api/v1/conversations/:id/decline': { allowed: ['agent_own'], path: conv('/decline'), body: () => ({}) },
  // any agent may try to pick (the fixture's chat is taken: 409, admitted)
  'POST /api/v1/conversations/:id/pick': { allowed: ANY_AGENT, path: conv('/pick'), body: () => ({}) },
  // the caller's own read marker, on a conversation they may read
  'POST /api/v1/conversations/:id/read': { allowed: OWN, path: conv('/read'), body: () => ({}) },
  'POST /api/v1/conversations/:id/messages': { allowed: OWN, path: conv('/messages'), body: () => ({ text: 'hello' }) },
  // the customer reads their own chat's history with the session token
  'GET /api/v1/conversations/:id/messages': { allowed: [...OWN, 'customer'], path: conv('/messages') },
  // only the chat's own customer rates it, with the session token; agents' tokens are refused (403)
  'POST /api/v1/conversations/:id/rating': { allowed: ['customer'], path: conv('/rating'), body: () => ({ score: 5 }) },
  'GET /api/v1/conversations/:id/rating': { allowed: [...OWN, 'customer'], path: conv('/rating') },
  // files: sent by whoever may write in the chat, fetched by its customer and the agents who hold or held it
  'POST /api/v1/conversations/:id/attachments': { allowed: [...OWN, 'customer'], path: conv('/attachments'), body: () => UPLOAD.body, headers: UPLOAD.headers },
  'GET /api/v1/attachments/:id': { allowed: [...OWN, 'customer'], path: (f) => `/api/v1/attachments/${f.attachment}` },
  // the customer asks for their own chat's transcript with the session token (here email is off: 409, but admitted)
  'POST /api/v1/conversations/:id/transcript': { allowed: [...OWN, 'customer'], path: conv('/transcript'), body: () => ({}) },
  // anonymous, rate-limited per address and per email
  'POST /api/v1/offline-messages': { allowed: PUBLIC, path: () => '/api/v1/offline-messages', body: () => ({ name: 'N', email: `${randomUUID()}@example.test`, message: 'hello' }) },
  'GET /api/v1/email': { allowed: ADMIN, path: () => '/api/v1/email' },
  'GET /api/v1/email/deliveries': { allowed: ADMIN, path: () => '/api/v1/email/deliveries' },
  'POST /api/v1/conversations/:id/notes': { allowed: OWN, path: conv('/notes'), body: () => ({ text: 'a note' }) },
  // only the note's author, not even a supervisor or an admin
  'PATCH /api/v1/conversations/:id/notes/:noteId': { allowed: ['agent_own'], path: (f) => `/api/v1/conversations/${f.conversation}/notes/${f.note}`, body: () => ({ text: 'edited' }) },
  'DELETE /api/v1/conversations/:id/notes/:noteId': { allowed: ['agent_own'], path: (f) => `/api/v1/conversations/${f.conversation}/notes/${f.note}` },
  'PUT /api/v1/conversations/:id/labels': { allowed: OWN, path: conv('/labels'), body: () => ({ labels: [] }) },
  'GET /api/v1/labels': { allowed: ANY_AGENT, path: () => '/api/v1/labels' },
  'POST /api/v1/labels': { allowed: ADMIN, path: () => '/api/v1/labels', body: () => ({ name: `l-${randomUUID()}`.slice(0, 40), color: '#123456' }) },
  'PATCH /api/v1/labels/:id': { allowed: ADMIN, path: (f) => `/api/v1/labels/${f.label}`, body: () => ({ color: '#654321' }) },
  'DELETE /api/v1/labels/:id': { allowed: ADMIN, path: (f) => `/api/v1/labels/${f.label}` },
  'GET /api/v1/stats/labels': { allowed: OVERSEER, path: () => '/api/v1/stats/labels' },
  'GET /api/v1/canned-responses': { allowed: ANY_AGENT, path: () => '/api/v1/canned-responses' },
  // personal ones: anyone, for themselves (shared ones: supervisors and admins, in api-canned.test.ts)
  'POST /api/v1/canned-responses': { allowed: ANY_AGENT, path: () => '/api/v1/canned-responses', body: () => ({ shortcut: `c${randomUUID().slice(0, 8)}`, text: 'Hello', scope: 'personal' }) },
  // :id is a shared one
  'PATCH /api/v1/canned-responses/:id': { allowed: OVERSEER, path: (f) => `/api/v1/canned-responses/${f.canned}`, body: () => ({ text: 'changed' }) },
  'DELETE /api/v1/canned-responses/:id': { allowed: OVERSEER, path: (f) => `/api/v1/canned-responses/${f.canned}` },
  'POST /api/v1/conversations/:id/external-messages': { allowed: OWN, path: conv('/external-messages'), body: () => ({ text: 'hello' }) },
  // everyone sees the customers list, an agent only their own conversations' customers
  'GET /api/v1/customers': { allowed: ANY_AGENT, path: () => '/api/v1/customers' },
  // (the fixture's chat is signed by the host site: statistics and history follow a verified customer)
  'GET /api/v1/customers/:customerId/statistics': { allowed: OWN, path: (f) => `/api/v1/customers/${f.customer}/statistics` },
  'GET /api/v1/conversations/:id/customer-history': { allowed: OWN, path: conv('/customer-history') },
  // every agent searches, an agent only in the conversations they hold or held
  'GET /api/v1/search': { allowed: ANY_AGENT, path: () => '/api/v1/search?q=hello' },
  'GET /api/v1/queue': { allowed: ANY_AGENT, path: () => '/api/v1/queue' },
  'GET /api/v1/settings': { allowed: OVERSEER, path: () => '/api/v1/settings' },
  'GET /api/v1/stats': { allowed: OVERSEER, path: () => '/api/v1/stats' },
  // agents see no report, not even their own row (docs/api.md)
  'GET /api/v1/reports': { allowed: OVERSEER, path: () => '/api/v1/reports?group=agent&from=2026-01-01&to=2026-02-01' },
  'GET /api/v1/reports/satisfaction': { allowed: OVERSEER, path: () => '/api/v1/reports/satisfaction?group=agent&from=2026-01-01&to=2026-02-01' },
  'PATCH /api/v1/settings': { allowed: ADMIN, path: () => '/api/v1/settings', body: () => ({ max_customers: 2 }) },
  // the widget reads the pre-chat form before it has a session; an empty form keeps the fixture's POST /session valid
  'GET /api/v1/prechat-form': { allowed: PUBLIC, path: () => '/api/v1/prechat-form' },
  'PUT /api/v1/prechat-form': { allowed: ADMIN, path: () => '/api/v1/prechat-form', body: () => ({ fields: [] }) },
  // the loader reads the widget's look and greetings from any site, before anything else
  'GET /api/v1/widget-settings': { allowed: PUBLIC, path: () => '/api/v1/widget-settings' },
  'PUT /api/v1/widget-settings': { allowed: ADMIN, path: () => '/api/v1/widget-settings', body: () => ({ color: '#2457c5', position: 'bottom-right', launcher_text: 'Chat', title: 'Chat', show_agent_avatars: true }) },
  'GET /api/v1/greetings': { allowed: ADMIN, path: () => '/api/v1/greetings' },
  'POST /api/v1/greetings': { allowed: ADMIN, path: () => '/api/v1/greetings', body: () => ({ name: 'g', message: 'Hi', trigger: {} }) },
  'GET /api/v1/greetings/:id': { allowed: ADMIN, path: (f) => `/api/v1/greetings/${f.greeting}` },
  'PUT /api/v1/greetings/:id': { allowed: ADMIN, path: (f) => `/api/v1/greetings/${f.greeting}`, body: () => ({ name: 'g', message: 'Hello', trigger: {} }) },
  'DELETE /api/v1/greetings/:id': { allowed: ADMIN, path: (f) => `/api/v1/greetings/${f.greeting}` },
  // the widget reports a greeting shown with no credential at all: the database counts a visitor once
  'POST /api/v1/greetings/:id/events': { allowed: PUBLIC, path: (f) => `/api/v1/greetings/${f.greeting}/events`, body: () => ({ kind: 'shown', visitor_id: `v-${randomUUID()}` }) },
  'GET /api/v1/reports/greetings': { allowed: OVERSEER, path: () => '/api/v1/reports/greetings?from=2026-01-01&to=2026-02-01' },
  'GET /api/v1/business-hours': { allowed: OVERSEER, path: () => '/api/v1/business-hours' },
  'PUT /api/v1/business-hours': { allowed: ADMIN, path: () => '/api/v1/business-hours', body: () => ({ default: null }) },
  'GET /api/v1/departments/:name/routing': { allowed: ANY_AGENT, path: () => '/api/v1/departments/sales/routing' },
  'PUT /api/v1/departments/:name/routing': { allowed: ADMIN, path: () => '/api/v1/departments/sales/routing', body: () => ({ aging_per_min: 1 }) },
  'GET /api/v1/channels/:channel/routing': { allowed: ANY_AGENT, path: () => '/api/v1/channels/widget/routing' },
  'PUT /api/v1/channels/:channel/routing': { allowed: ADMIN, path: () => '/api/v1/channels/widget/routing', body: () => ({ required_skills: {} }) }, // a requirement would hold later fixtures' chats in the queue
  // the widget asks before a chat; it says nothing an attempt to chat would not
  'GET /api/v1/availability': { allowed: PUBLIC, path: () => '/api/v1/availability?department=sales' },
  'GET /api/v1/events': { allowed: ADMIN, path: () => '/api/v1/events' },
  'POST /api/v1/webhooks': { allowed: ADMIN, path: () => '/api/v1/webhooks', body: () => ({ url: 'https://93.184.215.14/hook', events: ['message.created'], enabled: false }) },
  'GET /api/v1/webhooks': { allowed: ADMIN, path: () => '/api/v1/webhooks' },
  'GET /api/v1/webhooks/:id': { allowed: ADMIN, path: (f) => `/api/v1/webhooks/${f.webhook}` },
  'PATCH /api/v1/webhooks/:id': { allowed: ADMIN, path: (f) => `/api/v1/webhooks/${f.webhook}`, body: () => ({ app_code: 'x' }) },
  'DELETE /api/v1/webhooks/:id': { allowed: ADMIN, path: (f) => `/api/v1/webhooks/${f.webhook}` },
  'POST /api/v1/webhooks/:id/rotate-secret': { allowed: ADMIN, path: (f) => `/api/v1/webhooks/${f.webhook}/rotate-secret` },
  'POST /api/v1/webhooks/:id/ping': { allowed: ADMIN, path: (f) => `/api/v1/webhooks/${f.webhook}/ping` },
  'GET /api/v1/webhooks/:id/deliveries': { allowed: ADMIN, path: (f) => `/api/v1/webhooks/${f.webhook}/deliveries` },
  'GET /api/v1/deliveries/:id': { allowed: ADMIN, path: (f) => `/api/v1/deliveries/${f.delivery}` },
  'POST /api/v1/deliveries/:id/redeliver': { allowed: ADMIN, path: (f) => `/api/v1/deliveries/${f.delivery}/redeliver` },
  'GET /api/v1/qiscus/rooms': { allowed: ADMIN, path: () => '/api/v1/qiscus/rooms' },
  'POST /api/v1/webhook/agent_allocation': { allowed: SECRET_ONLY, path: () => '/api/v1/webhook/agent_allocation', body: () => ({ room_id: 'r-1' }) },
  'POST /api/v1/new_request': { allowed: SECRET_ONLY, path: () => '/api/v1/new_request', body: () => ({ room_id: 'r-1' }) },
  'POST /api/v1/webhook/mark_as_resolved': { allowed: SECRET_ONLY, path: () => '/api/v1/webhook/mark_as_resolved', body: () => ({ service: { room_id: 'r-1' } }) },
  'POST /api/v1/close_request': { allowed: SECRET_ONLY, path: () => '/api/v1/close_request', body: () => ({ service: { room_id: 'r-1' } }) },
  // admin token or the Qiscus webhook secret
  'GET /api/v1/settings/max_customers': { allowed: ADMIN, path: () => '/api/v1/settings/max_customers' },
  'POST /api/v1/settings/max_customers': { allowed: ADMIN, path: () => '/api/v1/settings/max_customers', body: () => ({ max_customers: 2 }) },
  'POST /api/v1/settings/set_mark_as_resolved': { allowed: ADMIN, path: () => '/api/v1/settings/set_mark_as_resolved', body: () => ({ endpoint: 'https://93.184.215.14/x', enable: true }) },
  'POST /api/v1/ticketers': { allowed: ADMIN, path: () => '/api/v1/ticketers', body: () => ({ name: 'x' }) },
  'GET /api/v1/ticketers': { allowed: ADMIN, path: () => '/api/v1/ticketers' },
  'GET /api/v1/ticketers/:uuid': { allowed: ADMIN, path: (f) => `/api/v1/ticketers/${f.ticketer}` },
  'PATCH /api/v1/ticketers/:uuid': { allowed: ADMIN, path: (f) => `/api/v1/ticketers/${f.ticketer}`, body: () => ({ name: 'y' }) },
  'DELETE /api/v1/ticketers/:uuid': { allowed: ADMIN, path: (f) => `/api/v1/ticketers/${f.ticketer}` },
  'GET /api/v1/ticketers/:uuid/callbacks': { allowed: ADMIN, path: (f) => `/api/v1/ticketers/${f.ticketer}/callbacks` },
  // mailroom's routes take the ticketer's secret (Authorization: Token …), never a Bearer token
  'GET /api/v1/ticketers/:uuid/secret.check': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/secret.check` },
  'GET /api/v1/ticketers/:uuid/settings': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/settings` },
  'PUT /api/v1/ticketers/:uuid/settings': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/settings`, body: () => ({ webhook: { url: 'https://93.184.215.14/cb' } }) },
  'GET /api/v1/ticketers/:uuid/room': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/room` },
  'POST /api/v1/ticketers/:uuid/room': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/room`, body: () => ({ ticketID: 't', visitor: { token: 'v' } }) },
  'GET /api/v1/ticketers/:uuid/room.close': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/room.close` },
  'POST /api/v1/ticketers/:uuid/room.close': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/room.close`, body: () => ({ visitor: { token: 'v' } }) },
  'POST /api/v1/ticketers/:uuid/visitor-message': { allowed: SECRET_ONLY, path: (f) => `/api/v1/ticketers/${f.ticketer}/visitor-message`, body: () => ({ visitor: { token: 'v' }, text: 'x' }) },
  'POST /session': { allowed: PUBLIC, path: () => '/session', body: () => ({ customer: { id: randomUUID() } }) },
  // only the customer's own session token ends the chat
  'DELETE /session': { allowed: ['customer'], path: () => '/session' },
  'POST /mqtt/auth': { allowed: PUBLIC, path: () => '/mqtt/auth', body: () => ({ username: 'x', password: 'y' }) },
  'POST /mqtt/acl': { allowed: PUBLIC, path: () => '/mqtt/acl', body: () => ({ username: 'x', topic: 'switchboard/events/queue', action: 'subscribe' }) },
  'GET /healthz': { allowed: PUBLIC, path: () => '/healthz' },
  'GET /metrics': { allowed: PUBLIC, path: () => '/metrics' },
  'OPTIONS /session': { allowed: PUBLIC, path: () => '/session' },
  'OPTIONS /api/v1/conversations/:id/messages': { allowed: PUBLIC, path: conv('/messages') },
};

/** Not in the table: the API documentation and the web apps' pages (public) and the WebSocket (covered by the MQTT part). */
const OUTSIDE = (method: string, url: string) => method === 'HEAD' || url.startsWith('/docs') || url === '/mqtt' || url.startsWith('/widget') || url.startsWith('/assets') || url.includes('*') || url === '/';

const ids = { own: '', other: '' };
const IDENTITY_SECRET = 'matrix-identity-secret';

describeEachStore('access-control matrix', (store) => {
  let server: Running;
  let own: AgentRow;
  let other: AgentRow;
  let supervisor: AgentRow;
  let admin: AgentRow;
  let adminToken: string;

  before(async () => {
    server = await startServer(
      loadConfig({
        PORT: '0',
        LOG_LEVEL: 'silent',
        ADMIN_EMAIL: 'admin@example.test',
        ADMIN_PASSWORD: 'admin password',
        SWEEP_INTERVAL: '60000',
        WEBHOOK_POLL_INTERVAL: '60000',
        QISCUS_BASE_URL: 'http://127.0.0.1:9',
        QISCUS_APP_ID: 'matrix-app',
        QISCUS_SECRET: 'matrix-qiscus-secret',
        QISCUS_WEBHOOK_SECRET: 'matrix-webhook-secret',
        QISCUS_POLL_INTERVAL: '3600000',
        WIDGET_IDENTITY_SECRET: IDENTITY_SECRET,
        // a fresh chat session for every call, all from one address: the per-address limits are session-limits.test.ts' subject
        SESSION_RATE_LIMIT: '0',
        SESSION_MAX_OPEN_PER_ADDRESS: '0',
      }),
      { db: store().db, keepDb: true },
    );
    own = await makeAgent(server.ctx, { status: 'online', capacity: 10_000, name: 'own' });
    other = await makeAgent(server.ctx, { status: 'online', capacity: 0, name: 'other' });
    supervisor = await makeAgent(server.ctx, { role: 'supervisor', capacity: 0 });
    admin = (await server.db.query<AgentRow>("select * from agents where email = 'admin@example.test'"))[0]!;
    ids.own = own.id;
    ids.other = other.id;
    adminToken = await tokenOf(admin);
    // The walk takes over a minute on a busy machine, and agent_own sends no heartbeats: a sweep
    // must not time them out between a fixture's check of their status and its chat.
    const keepAlive = await admin_('PATCH', '/api/v1/settings', { attendant_keep_alive_ms: 3_600_000 });
    assert.equal(keepAlive.statusCode, 200, keepAlive.body);
  });
  after(async () => {
    await server.close();
  });

  const tokenOf = async (agent: AgentRow) => (await issueToken(server.db, agent.id, new Date(), 3600)).token;
  const admin_ = (method: InjectOptions['method'], url: string, body?: unknown) =>
    server.app.inject({ method, url, headers: { authorization: `Bearer ${adminToken}` }, ...(body !== undefined ? { payload: body as object } : {}) });

  /** What a call needs, made fresh for it: a chat session always (the customer's token), the rest only when the route uses it. */
  async function fixture(key = ''): Promise<Fixture> {
    // logging out as agent_own set them offline: back online, so the new chat is theirs
    const [{ status } = { status: '' }] = await server.db.query<{ status: string }>('select status from agents where id = $1', [own.id]);
    if (status !== 'online') await updateAgent(server.ctx, own.id, { status: 'online' }, SYSTEM);
    // agent_own sends no heartbeats: one here, or on a busy machine the matrix outlasts the first
    // sweep (60 s), which takes them offline while the chat below waits for the routing lock
    await server.db.query('update agents set last_seen_at = $2 where id = $1', [own.id, new Date()]);
    const customer = randomUUID();
    const hash = createHmac('sha256', IDENTITY_SECRET).update(customer).digest('hex');
    const session = await server.app.inject({ method: 'POST', url: '/session', payload: { customer: { id: customer, hash } } });
    const { sessionId, token, state } = session.json();
    assert.equal(state, 'assigned', `the chat of ${key || 'a topic test'} was not assigned to agent_own`);
    let webhook = '';
    let delivery = 0;
    if (/webhooks\/:id|deliveries/.test(key)) {
      webhook = (await admin_('POST', '/api/v1/webhooks', { url: 'https://93.184.215.14/hook', events: ['message.created'] })).json().id;
      delivery = (await admin_('POST', `/api/v1/webhooks/${webhook}/ping`)).json().id;
    }
    const ticketer = key.includes('ticketers/:uuid') ? (await admin_('POST', '/api/v1/ticketers', { name: 't' })).json().uuid : '';
    const greeting = key.includes('greetings/:id') ? (await admin_('POST', '/api/v1/greetings', { name: 'g', message: 'Hi', trigger: {} })).json().id : '';
    const throwaway = key === 'DELETE /api/v1/agents/:id' || key.includes('login') ? await makeAgent(server.ctx, { capacity: 0 }) : undefined;
    const attachment = key.includes('attachments/:id')
      ? (await uploadAttachment(server.ctx, sessionId, { kind: 'customer', conversationId: sessionId }, { name: 'photo.png', contentType: 'image/png', bytes: PNG })).id
      : '';
    let note = 0;
    if (key.includes('notes/:noteId')) {
      const written = await server.app.inject({ method: 'POST', url: `/api/v1/conversations/${sessionId}/notes`, headers: { authorization: `Bearer ${await tokenOf(own)}` }, payload: { text: 'a note' } });
      note = written.json().id;
    }
    const label = key.includes('labels/:id') ? (await admin_('POST', '/api/v1/labels', { name: `l-${randomUUID()}`.slice(0, 40), color: '#123456' })).json().id : '';
    const canned = key.includes('canned-responses/:id')
      ? (await admin_('POST', '/api/v1/canned-responses', { shortcut: `s${randomUUID().slice(0, 8)}`, text: 'Shared', scope: 'shared' })).json().id
      : '';
    return { conversation: sessionId, customer, customerToken: token, webhook, delivery, ticketer, greeting, throwaway: throwaway?.id ?? '', throwawayEmail: throwaway?.email ?? '', note, label, canned, attachment };
  }

  async function credential(caller: Caller, f: Fixture): Promise<string | undefined> {
    switch (caller) {
      case 'none':
        return undefined;
      case 'expired':
        return (await issueToken(server.db, admin.id, new Date(Date.now() - 7_200_000), 60)).token;
      case 'revoked': {
        const token = await tokenOf(admin);
        await revokeToken(server.db, token, new Date());
        return token;
      }
      case 'customer':
        return f.customerToken;
      case 'agent_own':
        return tokenOf(own);
      case 'agent_other':
        return tokenOf(other);
      case 'supervisor':
        return tokenOf(supervisor);
      case 'admin':
        return tokenOf(admin);
    }
  }

  // nine callers on each of a hundred-odd routes, each with a fresh chat: on a loaded machine this
  // walk outlasts the runner's default of five minutes, which is meant for one behaviour, not a hundred
  it('admits exactly the callers docs/api.md names, on every route', { timeout: 900_000 }, async () => {
    const routes = routesOf(server.app).filter((r) => !OUTSIDE(r.method, r.url));
    const keys = [...new Set(routes.map((r) => `${r.method} ${r.url}`))];
    const missing = keys.filter((k) => !(k in MATRIX));
    assert.deepEqual(missing, [], 'routes without a row in the matrix');
    const failures: string[] = [];
    for (const key of keys) {
      const row = MATRIX[key]!;
      const method = key.split(' ')[0] as InjectOptions['method'];
      const admitted: Caller[] = [];
      // A refused call (401/403) is turned away before it changes anything, so
      // the next caller may use the same fixture; an admitted one may have
      // used it up (resolved the chat, deleted the label…): the next gets a
      // fresh one. About half the calls are refused: half the chats to start.
      let fresh: Fixture | undefined;
      for (const caller of CALLERS) {
        const f = (fresh ??= await fixture(key));
        const token = await credential(caller, f);
        const body = row.body?.(f);
        const res = await server.app.inject({
          method,
          url: row.path(f),
          headers: { ...row.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
          ...(body !== undefined ? { payload: body as object } : {}),
        });
        // (set_mark_as_resolved calls Qiscus, which is not there: 502 is its honest answer)
        if (res.statusCode >= 500 && !(res.statusCode === 502 && key.endsWith('set_mark_as_resolved'))) failures.push(`${key} as ${caller}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        if (res.statusCode !== 401 && res.statusCode !== 403) {
          admitted.push(caller);
          fresh = undefined;
        }
      }
      if (JSON.stringify(admitted.sort()) !== JSON.stringify([...row.allowed].sort())) failures.push(`${key}: admitted ${admitted.join(',') || 'nobody'}; expected ${row.allowed.join(',') || 'nobody'}`);
    }
    assert.deepEqual(failures, []);
  });

  it('applies the topic rules of docs/realtime.md to customers, agents and supervisors', async () => {
    const f = await fixture();
    const mine = f.conversation;
    const foreign = (await fixture()).conversation;
    const b = 'switchboard';
    const identities: Record<'customer' | 'agent' | 'supervisor', Identity> = {
      customer: { kind: 'customer', session: { conversation_id: mine, customer_id: 'c', last_seen_at: new Date(), expires_at: new Date(Date.now() + 3_600_000) } },
      agent: { kind: 'agent', agent: own },
      supervisor: { kind: 'agent', agent: supervisor },
    };
    // the agent holds `mine` and `foreign`; agent_other holds nothing: rules for an agent are checked with `other` on `foreign`
    const otherAgent: Identity = { kind: 'agent', agent: other };
    const subscribe: [string, ('customer' | 'agent' | 'supervisor' | 'other')[]][] = [
      [`${b}/conversations/${mine}/#`, ['customer', 'agent', 'supervisor']],
      [`${b}/conversations/${mine}/messages`, ['customer', 'agent', 'supervisor']],
      [`${b}/conversations/${mine}/client/control`, ['customer', 'agent', 'supervisor']],
      [`${b}/conversations/${mine}/typing`, ['customer', 'agent', 'supervisor']],
      [`${b}/conversations/${foreign}/#`, ['agent', 'supervisor']],
      [`${b}/conversations/${foreign}/typing`, ['agent', 'supervisor']],
      [`${b}/conversations/+/messages`, ['supervisor']],
      [`${b}/client/attendants/assign/${own.id}`, ['agent', 'supervisor']],
      [`${b}/client/attendants/assign/${other.id}`, ['supervisor', 'other']],
      [`${b}/agents/${own.id}/events`, ['agent', 'supervisor']],
      [`${b}/agents/${own.id}/#`, ['agent', 'supervisor']],
      [`${b}/agents/#`, ['supervisor']],
      [`${b}/events/queue`, ['agent', 'supervisor', 'other']],
      [`${b}/events/#`, ['supervisor']],
      [`${b}/events/conversations`, ['supervisor']],
      [`${b}/events/agents`, ['supervisor']],
      [`${b}/server/sessions/request`, ['supervisor']],
      // supervisors: anything under the base, nothing outside it (a $share of Switchboard's own group, $SYS)
      ['#', []],
      ['other/base/#', []],
      ['$SYS/#', []],
      [`$share/switchboard/${b}/conversations/+/messages`, []],
    ];
    const publish: [string, ('customer' | 'agent' | 'supervisor' | 'other')[]][] = [
      [`${b}/server/sessions/request`, ['customer']],
      [`${b}/server/sessions/online`, ['customer']],
      [`${b}/server/channels/request`, ['customer']],
      [`${b}/server/attendants/online`, ['agent', 'supervisor', 'other']],
      [`${b}/conversations/${mine}/messages`, ['customer', 'agent', 'supervisor']],
      [`${b}/conversations/${mine}/messages/viewed`, ['customer', 'agent', 'supervisor']],
      [`${b}/conversations/${mine}/client/control`, []],
      // typing is the two sides of the chat only: a supervisor watches but does not type
      [`${b}/conversations/${mine}/typing`, ['customer', 'agent']],
      [`${b}/conversations/${foreign}/typing`, ['agent']],
      [`${b}/conversations/${foreign}/messages`, ['agent', 'supervisor']],
      [`${b}/conversations/+/messages`, []],
      [`${b}/client/attendants/assign/${own.id}`, []],
      [`${b}/agents/${own.id}/events`, []],
      [`${b}/events/queue`, []],
      [`${b}/server/consumed`, []],
    ];
    const who = { ...identities, other: otherAgent };
    const failures: string[] = [];
    for (const [topic, allowed] of subscribe) {
      for (const [name, identity] of Object.entries(who)) {
        const ok = await server.realtime.rules.canSubscribe(identity, topic);
        if (ok !== allowed.includes(name as never)) failures.push(`subscribe ${topic} as ${name}: ${ok}`);
      }
    }
    for (const [topic, allowed] of publish) {
      for (const [name, identity] of Object.entries(who)) {
        const ok = await server.realtime.rules.canPublish(identity, topic);
        if (ok !== allowed.includes(name as never)) failures.push(`publish ${topic} as ${name}: ${ok}`);
      }
    }
    assert.deepEqual(failures, []);

    // the same, end to end through the embedded broker: SUBACK failure for refused filters, and tokens checked at connect
    const wsUrl = `${server.url.replace('http', 'ws')}/mqtt`;
    const customer = await connectMqtt(wsUrl, f.customerToken);
    try {
      assert.deepEqual(await customer.subscribe(`${b}/conversations/${mine}/#`, `${b}/conversations/${foreign}/#`, `${b}/events/queue`), [1, 128, 128]);
    } finally {
      await customer.end();
    }
    const revoked = await tokenOf(own);
    await revokeToken(server.db, revoked, new Date());
    for (const bad of [revoked, (await issueToken(server.db, own.id, new Date(Date.now() - 7_200_000), 60)).token, 'sbt_unknown', 'sbc_unknown', '']) {
      await assert.rejects(connectMqtt(wsUrl, bad), `connected with ${bad.slice(0, 8)}`);
    }
  });
});
