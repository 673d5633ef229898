// Shared tools of the api-*.test.ts suites: one app per describe block on a
// fake clock, fast users, the error-envelope assertion, a "nothing changed"
// check and the four kinds of bad token.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { updateAgent } from '../../src/agents/agents.js';
import { SYSTEM, type AgentRow, type Role } from '../../src/agents/model.js';
import { hashPassword } from '../../src/agents/passwords.js';
import { issueToken } from '../../src/agents/tokens.js';
import { withEvents } from '../../src/events/outbox.js';
import type { AgentStatus } from '../../src/routing/presence.js';
import { testApp, type TestApp } from './app.js';
import { fakeClock } from './clock.js';
import { PASSWORD } from './fixtures.js';
import type { TestStore } from './stores.js';

export const TTL_SECONDS = 600;
/** A valid uuid that names nothing. */
export const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
export const MALFORMED_ID = 'not-a-uuid';

export type Method = InjectOptions['method'];
export interface RouteCall {
  method: Method;
  url: string;
  body?: unknown;
}

export interface UserOptions {
  status?: AgentStatus;
  capacity?: number | null;
  departments?: string[];
  name?: string;
}
export interface User {
  agent: AgentRow;
  token: string;
}

export interface Snapshot {
  counts: Record<string, number>;
  fingerprints: Record<string, string>;
}

let hashed: Promise<string> | undefined;
let counter = 0;

/**
 * Everything an api suite needs. `user` writes the agent directly (one
 * cached scrypt hash instead of two per user: the login route has its own
 * tests) but sets the status through the engine, as the fixtures do, and
 * issues a real token.
 */
export interface Kit {
  t: TestApp;
  clock: ReturnType<typeof fakeClock>;
  store: () => TestStore;
  call(method: Method, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  user(role: Role, options?: UserOptions): Promise<User>;
  /** admin, supervisor and two online agents */
  cast(options?: { agentCapacity?: number | null }): Promise<{ admin: User; supervisor: User; agent: User; other: User }>;
  snapshot(): Promise<Snapshot>;
  /** Runs `work` and asserts that no table changed meanwhile. */
  unchanged(work: () => Promise<void>, label?: string): Promise<void>;
  /** no token, a garbage token, a revoked one (after logout) and an expired one (the clock moves past its life). */
  badTokens(): Promise<{ label: string; token: string | undefined }[]>;
  /** POST /api/v1/conversations, asserted 201 (or 200 when `expect` says so). */
  open(token: string, body?: Record<string, unknown>, expect?: number): Promise<ConversationView>;
  conversation(id: string): Promise<{ state: string; agent_id: string | null; department: string | null; note: string | null }>;
  agentRow(id: string): Promise<AgentRow>;
  count(table: string, where?: string): Promise<number>;
}

export interface ConversationView {
  id: string;
  state: string;
  agent_id: string | null;
  department: string | null;
  queue_position: number | null;
  [key: string]: unknown;
}

/** Opens one app (on a fake clock, tokens living TTL_SECONDS) for the whole describe block; `env`, read when it opens, configures it. */
export function kitFor(
  store: () => TestStore,
  hooks: { before: (fn: () => Promise<void>) => void; after: (fn: () => Promise<void>) => void; env?: () => Record<string, string> },
): Kit {
  const clock = fakeClock();
  let app: TestApp | undefined;
  hooks.before(async () => {
    app = await testApp(store(), { now: clock.now, tokenTtlSeconds: TTL_SECONDS, ...(hooks.env ? { env: hooks.env() } : {}) });
  });
  hooks.after(async () => {
    await app?.close();
  });
  const db = () => store().db;

  const kit: Kit = {
    get t() {
      return app!;
    },
    clock,
    store,
    call: (method, url, options) => app!.call(method, url, options),
    async user(role, options = {}) {
      hashed ??= hashPassword(PASSWORD);
      const hash = await hashed;
      counter += 1;
      const name = options.name ?? `${role}${counter}`;
      const ctx = app!.ctx;
      let agent = await withEvents(ctx, async (tx, emit) => {
        const now = ctx.now();
        const [row] = await tx.query<AgentRow>(
          `insert into agents (name, email, password_hash, role, capacity, departments, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $7) returning *`,
          [name, `${name}.${counter}@example.test`, hash, role, options.capacity ?? null, options.departments ?? [], now],
        );
        emit({ type: 'agent.created', agentId: row!.id, data: { agent_id: row!.id, name: row!.name, role: row!.role } });
        return row!;
      });
      if (options.status && options.status !== 'offline') agent = await updateAgent(ctx, agent.id, { status: options.status }, SYSTEM);
      const { token } = await issueToken(db(), agent.id, ctx.now(), TTL_SECONDS);
      return { agent, token };
    },
    async cast(options = {}) {
      const capacity = options.agentCapacity === undefined ? {} : { capacity: options.agentCapacity };
      return {
        admin: await kit.user('admin'),
        supervisor: await kit.user('supervisor'),
        agent: await kit.user('agent', { status: 'online', ...capacity }),
        other: await kit.user('agent', { status: 'online', ...capacity }),
      };
    },
    async snapshot() {
      const tables = ['conversations', 'agents', 'messages', 'events', 'auth_tokens', 'settings', 'labels', 'canned_responses'];
      const counts: Record<string, number> = {};
      const fingerprints: Record<string, string> = {};
      for (const table of tables) {
        const [row] = await db().query<{ n: number; f: string }>(
          `select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as f from ${table} x`,
        );
        counts[table] = row!.n;
        fingerprints[table] = row!.f;
      }
      return { counts, fingerprints };
    },
    async unchanged(work, label = 'rejected requests') {
      const before = await kit.snapshot();
      await work();
      const after = await kit.snapshot();
      assert.deepEqual(after.counts, before.counts, `${label} changed row counts`);
      assert.deepEqual(after.fingerprints, before.fingerprints, `${label} changed rows`);
    },
    async badTokens() {
      const revoked = await kit.user('agent', { status: 'online' });
      const out = await kit.call('POST', '/api/v1/auth/logout', { token: revoked.token });
      assert.equal(out.statusCode, 204);
      const expiring = await kit.user('admin');
      assert.equal((await kit.call('GET', '/api/v1/agents/me', { token: expiring.token })).statusCode, 200, 'the token works before it expires');
      clock.advance(TTL_SECONDS * 1000 + 1000);
      return [
        { label: 'no token', token: undefined },
        { label: 'a garbage token', token: `sbt_${randomUUID()}` },
        { label: 'a revoked token', token: revoked.token },
        { label: 'an expired token', token: expiring.token },
      ];
    },
    async open(token, body = {}, expect = 201) {
      const res = await kit.call('POST', '/api/v1/conversations', { token, body: { customer: { id: `cust-${++counter}` }, ...body } });
      assert.equal(res.statusCode, expect, res.body);
      return res.json() as ConversationView;
    },
    async conversation(id) {
      const [row] = await db().query<{ state: string; agent_id: string | null; department: string | null; note: string | null }>(
        'select state, agent_id, department, note from conversations where id = $1',
        [id],
      );
      assert.ok(row, `conversation ${id} exists`);
      return row;
    },
    async agentRow(id) {
      const [row] = await db().query<AgentRow>('select * from agents where id = $1', [id]);
      assert.ok(row, `agent ${id} exists`);
      return row;
    },
    async count(table, where = 'true') {
      const [row] = await db().query<{ n: number }>(`select count(*)::int as n from ${table} where ${where}`);
      return row!.n;
    },
  };
  return kit;
}

/** The error envelope `{"error":{"code","message","field?"}}` with that status, code and (when given) field. */
export function expectError(res: LightMyRequestResponse, status: number, code: string, field?: string, label = ''): void {
  const where = `${label ? `${label}: ` : ''}${res.statusCode} ${res.body}`;
  assert.equal(res.statusCode, status, where);
  const body = res.json() as { error?: { code?: unknown; message?: unknown; field?: unknown } };
  assert.ok(body.error, `error envelope expected: ${where}`);
  assert.equal(body.error.code, code, where);
  assert.equal(typeof body.error.message, 'string', where);
  assert.ok((body.error.message as string).length > 0, where);
  if (field !== undefined) assert.equal(body.error.field, field, where);
}

/** Asserts a 400 SB_VALIDATION naming `field`. */
export const expectInvalid = (res: LightMyRequestResponse, field: string, label = '') => expectError(res, 400, 'SB_VALIDATION', field, label);

/** Sends a raw (non-JSON-encoded) body with content-type application/json. */
export const rawJson = (text: string) => ({ body: text, headers: { 'content-type': 'application/json' } });

/** Every route answers 401 (SB_UNAUTHORIZED) to each bad token, and nothing changes. */
export async function assertAllUnauthorized(kit: Kit, routes: readonly RouteCall[]): Promise<void> {
  const bad = await kit.badTokens();
  await kit.unchanged(async () => {
    for (const route of routes) {
      for (const { label, token } of bad) {
        const res = await kit.call(route.method, route.url, { ...(token ? { token } : {}), ...(route.body !== undefined ? { body: route.body } : {}) });
        expectError(res, 401, 'SB_UNAUTHORIZED', undefined, `${route.method} ${route.url} with ${label}`);
      }
    }
  }, 'unauthorized requests');
}
