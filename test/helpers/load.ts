// A mixed, reproducible load of the core API from many parallel clients, and
// the checks a test runs from the database afterwards. Shared by the
// concurrency, crash, outage and shutdown suites: each points it at real
// server processes (test/helpers/process-server.ts) and says what else it
// tolerates (a process killed mid-request, a database that is down).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../../src/store/db.js';
import { invariantViolations, overCapacity } from './invariants.js';
import type { ServerProcess } from './process-server.js';

export const ADMIN_EMAIL = 'admin@concurrency.test';
export const ADMIN_PASSWORD = 'concurrency-admin-pw';
const AGENT_PASSWORD = 'agent-password-1';
const CLIENTS = 32;
const AGENTS = 20;
const MAX_CAPACITY = 5;
const DEPARTMENTS = ['sales', 'support'] as const;
/** The operation sequence's seed; CONCURRENCY_SEED=<n> repeats a run's sequence. */
export const SEED = Number(process.env.CONCURRENCY_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Start-up is tsx plus, for PGlite, initdb in WASM (several CPU seconds): generous for a busy CI box. */
export const STARTUP_TIMEOUT_MS = 180_000;

/** Server settings shared by both stores: no keep-alive expiry and no sweep during the run. */
export const SERVER_ENV = {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  LOG_LEVEL: 'info',
  MAX_CUSTOMERS: '2',
  SWEEP_INTERVAL: '60000',
  ATTENDANT_KEEP_ALIVE_TIME: '600000',
  AGENT_OFFLINE_GRACE: '600000',
};

// ---- small utilities ---------------------------------------------------------

/** mulberry32: the sequence of operations is reproducible from the seed (the interleaving is not). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Reply {
  status: number;
  body: any;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.timeoutMs !== undefined ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  return { status: res.status, body };
}

// ---- the load ------------------------------------------------------------------

export interface AgentHandle {
  id: string;
  token: string;
  /** the capacity this run last set; only ever raised, one change at a time per agent */
  capacity: number;
  /** capacities asked for without a definite answer (the change may or may not have committed) */
  maybeCapacities: number[];
  capacityBusy: boolean;
  departments: string[];
}

interface Known {
  state: string;
  agent: string | null;
}

/** One answered request, for tests that look at what happened when. */
export interface Answered {
  op: string;
  server: string;
  /** Date.now() when sent and answered */
  sentAt: number;
  answeredAt: number;
  /** the HTTP status, or null when no answer came (network error) */
  status: number | null;
  code?: string;
}

export interface LoadReport {
  /** responses outside what the operation allows (5xx always counts), and network errors */
  unexpected: string[];
  /**
   * per operation: requests whose effect is unknown — no answer (the process
   * died), or a tolerated 5xx (the connection to the database broke, maybe
   * after COMMIT). Such a create or message may be in the database or not.
   */
  inconclusive: Map<string, number>;
  /** every request, in the order answered */
  timeline: Answered[];
  /** per operation: status (and 409 code) → count */
  tally: Map<string, Map<string, number>>;
  /** per server base URL: requests sent */
  perServer: Map<string, number>;
  /** ids of the conversations the clients saw created (201) */
  created: Set<string>;
  /** ids the clients saw resolved (200 from /resolve) */
  resolved: Set<string>;
  /** ids of the messages the clients saw stored (201) */
  messages: Set<number>;
  agents: AgentHandle[];
  /** event ids in the order the poller read them */
  polled: number[];
  pollerProblems: string[];
  /** snapshots of the database taken during the load (PostgreSQL only) */
  monitorSamples: number;
  monitorProblems: string[];
  peakQueue: number;
  setupMs: number;
  elapsedMs: number;
  /** Date.now() when the poller stopped */
  endedAt: number;
  /** per operation: total milliseconds spent waiting for responses */
  latency: Map<string, number>;
}

export interface LoadOptions {
  /** base URLs; read at every request, so a test may replace the URL of a process it restarted */
  servers: string[];
  operations: number;
  seed: number;
  /** runs one consistent-snapshot check of the database; returns broken promises */
  monitor?: () => Promise<string[]>;
  /** answers every operation may also get (e.g. 503 SB_STORE_UNAVAILABLE during an outage); counted inconclusive when 5xx */
  alsoAllowed?: { status: number; codes?: string[] }[];
  /** a request that gets no answer (a process killed mid-request) is inconclusive, not unexpected */
  tolerateNetworkErrors?: boolean;
  /** every request must be answered within this, or it counts as unexpected (a hang) */
  requestTimeoutMs?: number;
  /** runs beside the load from its first operation; the clients keep going until it has finished too */
  during?: () => Promise<void>;
  /**
   * Clients that do nothing but post chat messages to open conversations,
   * flat out, beside the mixed clients and for as long as they run: messages
   * and routing hammering the store at once.
   */
  messageClients?: number;
}

export async function setUp(servers: string[]): Promise<{ adminToken: string; agents: AgentHandle[] }> {
  const login = await call(servers[0]!, 'POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
  assert.equal(login.status, 200, `admin login: ${JSON.stringify(login.body)}`);
  const adminToken = login.body.token as string;
  // A database seeded before the servers started (a test store) keeps its own
  // settings: make them SERVER_ENV's, or agents without a heartbeat for 30 s
  // go offline mid-run.
  const settings = await call(servers[0]!, 'PATCH', '/api/v1/settings', {
    token: adminToken,
    body: { attendant_keep_alive_ms: Number(SERVER_ENV.ATTENDANT_KEEP_ALIVE_TIME), agent_offline_grace_ms: Number(SERVER_ENV.AGENT_OFFLINE_GRACE) },
  });
  assert.equal(settings.status, 200, `settings: ${JSON.stringify(settings.body)}`);

  const departmentSets: string[][] = [[], ['sales'], ['support'], ['sales', 'support']];
  const agents = await Promise.all(
    Array.from({ length: AGENTS }, async (_, i) => {
      const server = servers[i % servers.length]!;
      const capacity = 1 + (i % 3);
      const departments = departmentSets[i % departmentSets.length]!;
      const email = `agent${i}@concurrency.test`;
      const created = await call(server, 'POST', '/api/v1/agents', {
        token: adminToken,
        body: { name: `Agent ${i}`, email, password: AGENT_PASSWORD, role: 'agent', capacity, departments },
      });
      assert.equal(created.status, 201, `create agent ${i}: ${JSON.stringify(created.body)}`);
      // Log in and go online on the other process.
      const other = servers[(i + 1) % servers.length]!;
      const session = await call(other, 'POST', '/api/v1/auth/login', { body: { email, password: AGENT_PASSWORD } });
      assert.equal(session.status, 200, `login agent ${i}: ${JSON.stringify(session.body)}`);
      const online = await call(other, 'PATCH', '/api/v1/agents/me', { token: session.body.token, body: { status: 'online' } });
      assert.equal(online.status, 200, `agent ${i} online: ${JSON.stringify(online.body)}`);
      return { id: created.body.id as string, token: session.body.token as string, capacity, maybeCapacities: [], capacityBusy: false, departments };
    }),
  );
  return { adminToken, agents };
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const { servers } = options;
  const rand = prng(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const setupStarted = Date.now();
  const { adminToken, agents } = await setUp(servers);
  const setupMs = Date.now() - setupStarted;

  const report: LoadReport = {
    unexpected: [],
    inconclusive: new Map(),
    timeline: [],
    tally: new Map(),
    perServer: new Map(),
    created: new Set(),
    resolved: new Set(),
    messages: new Set(),
    agents,
    polled: [],
    pollerProblems: [],
    monitorSamples: 0,
    monitorProblems: [],
    peakQueue: 0,
    setupMs,
    elapsedMs: 0,
    endedAt: 0,
    latency: new Map(),
  };
  const known = new Map<string, Known>();
  const open = new Set<string>();

  const learn = (conversation: { id: string; state: string; agent_id: string | null }) => {
    known.set(conversation.id, { state: conversation.state, agent: conversation.agent_id });
    if (conversation.state === 'queued' || conversation.state === 'assigned') open.add(conversation.id);
    else open.delete(conversation.id);
  };

  const matches = (allowed: { status: number; codes?: string[] }[], status: number, code: string | undefined) =>
    allowed.some((a) => a.status === status && (a.codes === undefined || (code !== undefined && a.codes.includes(code))));
  const tallied = (op: string, key: string) => {
    const perOp = report.tally.get(op) ?? new Map<string, number>();
    perOp.set(key, (perOp.get(key) ?? 0) + 1);
    report.tally.set(op, perOp);
  };
  const inconclusive = (op: string) => report.inconclusive.set(op, (report.inconclusive.get(op) ?? 0) + 1);

  /**
   * Sends one request to a random process and checks the status against what
   * the operation allows. Returns the reply only when it is one of those; an
   * answer allowed by `alsoAllowed`, or a tolerated network error, returns
   * undefined (and calls `onInconclusive` when the effect is unknown).
   */
  const send = async (
    op: string,
    method: string,
    path: string,
    opts: { token?: string; body?: unknown },
    allowed: { status: number; codes?: string[] }[],
    onInconclusive?: () => void,
  ): Promise<Reply | undefined> => {
    const server = pick(servers);
    report.perServer.set(server, (report.perServer.get(server) ?? 0) + 1);
    let reply: Reply;
    const sent = Date.now();
    try {
      reply = await call(server, method, path, { ...opts, ...(options.requestTimeoutMs !== undefined ? { timeoutMs: options.requestTimeoutMs } : {}) });
      report.latency.set(op, (report.latency.get(op) ?? 0) + Date.now() - sent);
    } catch (error) {
      report.timeline.push({ op, server, sentAt: sent, answeredAt: Date.now(), status: null });
      const hung = error instanceof Error && error.name === 'TimeoutError';
      if (options.tolerateNetworkErrors && !hung) {
        tallied(op, 'no answer');
        inconclusive(op);
        onInconclusive?.();
      } else {
        report.unexpected.push(`${op}: ${method} ${path} on ${server} ${hung ? `got no answer within ${options.requestTimeoutMs} ms` : `failed: ${String(error)}`}`);
      }
      return undefined;
    }
    const code = typeof reply.body === 'object' && reply.body?.error?.code ? String(reply.body.error.code) : undefined;
    report.timeline.push({ op, server, sentAt: sent, answeredAt: Date.now(), status: reply.status, ...(code ? { code } : {}) });
    tallied(op, code ? `${reply.status} ${code}` : String(reply.status));
    if (matches(allowed, reply.status, code)) return reply;
    if (matches(options.alsoAllowed ?? [], reply.status, code)) {
      if (reply.status >= 500) {
        inconclusive(op);
        onInconclusive?.();
      }
      return undefined;
    }
    report.unexpected.push(`${op}: ${method} ${path} on ${server} → ${reply.status} ${JSON.stringify(reply.body)}`);
    return undefined;
  };

  const CLOSED = 'SB_CONVERSATION_CLOSED';
  const someOpen = (): string | undefined => {
    if (open.size === 0) return undefined;
    const ids = [...open];
    // Mostly conversations last seen assigned: resolving those frees slots and drains the queue.
    const assigned = ids.filter((id) => known.get(id)?.state === 'assigned');
    return assigned.length > 0 && rand() < 0.8 ? pick(assigned) : pick(ids);
  };

  // Messages commit in their own (non-routing) transactions, interleaved with the routing ones.
  const postMessage = async () => {
    const id = someOpen();
    if (!id) return;
    const reply = await send('message', 'POST', `/api/v1/conversations/${id}/messages`, { token: adminToken, body: { sender: 'customer', text: 'hello' } }, [
      { status: 201 },
      { status: 409, codes: [CLOSED] },
    ]);
    if (reply?.status === 201) report.messages.add(Number(reply.body.id));
    else if (reply) open.delete(id);
  };

  const operations: [number, () => Promise<void>][] = [
    [
      40,
      async () => {
        const department = rand() < 0.4 ? null : pick(DEPARTMENTS);
        const body = { customer: { id: `cust-${Math.floor(rand() * 1e9)}`, name: 'Load' }, priority: Math.floor(rand() * 3), ...(rand() < 0.9 ? { department } : {}) };
        const reply = await send('create', 'POST', '/api/v1/conversations', { token: adminToken, body }, [{ status: 201 }]);
        if (reply) {
          report.created.add(reply.body.id);
          learn(reply.body);
        }
      },
    ],
    [
      22,
      async () => {
        const id = someOpen();
        if (!id) return;
        const reply = await send('resolve', 'POST', `/api/v1/conversations/${id}/resolve`, { token: adminToken, body: { note: 'load' } }, [
          { status: 200 },
          { status: 409, codes: [CLOSED] },
        ]);
        if (reply?.status === 200) report.resolved.add(id);
        if (reply?.status === 200) learn(reply.body);
        else if (reply) open.delete(id);
      },
    ],
    [
      6,
      async () => {
        // An agent resolves one of their own: the list may be stale by the time the resolve lands,
        // so "already closed" (409) and "no longer yours" (403, transferred or requeued away) are both fair.
        const agent = pick(agents);
        const list = await send('agent-list', 'GET', `/api/v1/conversations?state=assigned&agent=${agent.id}&limit=20`, { token: agent.token }, [{ status: 200 }]);
        if (!list || list.body.length === 0) return;
        const mine = pick(list.body as { id: string }[]);
        const reply = await send('agent-resolve', 'POST', `/api/v1/conversations/${mine.id}/resolve`, { token: agent.token, body: {} }, [
          { status: 200 },
          { status: 409, codes: [CLOSED] },
          { status: 403, codes: ['SB_FORBIDDEN'] },
        ]);
        if (reply?.status === 200) {
          report.resolved.add(mine.id);
          learn(reply.body);
        }
      },
    ],
    [
      5,
      async () => {
        const id = someOpen();
        if (!id) return;
        const target = pick(agents);
        const reply = await send('transfer-agent', 'POST', `/api/v1/conversations/${id}/transfer`, { token: adminToken, body: { agent_id: target.id } }, [
          { status: 200 },
          { status: 409, codes: [CLOSED, 'SB_AGENT_UNAVAILABLE', 'SB_AGENT_AT_CAPACITY', 'SB_ALREADY_ASSIGNED'] },
        ]);
        if (reply?.status === 200) learn(reply.body);
      },
    ],
    [
      4,
      async () => {
        const id = someOpen();
        if (!id) return;
        const department = rand() < 0.3 ? null : pick(DEPARTMENTS);
        const reply = await send('transfer-department', 'POST', `/api/v1/conversations/${id}/transfer`, { token: adminToken, body: { department } }, [
          { status: 200 },
          { status: 409, codes: [CLOSED] },
        ]);
        if (reply?.status === 200) learn(reply.body);
      },
    ],
    [
      3,
      async () => {
        const id = someOpen();
        if (!id) return;
        const reply = await send('requeue', 'POST', `/api/v1/conversations/${id}/requeue`, { token: adminToken }, [
          { status: 200 },
          { status: 409, codes: [CLOSED, 'SB_NOT_ASSIGNED'] },
        ]);
        if (reply?.status === 200) learn(reply.body);
      },
    ],
    [8, postMessage],
    [
      10,
      async () => {
        const agent = pick(agents);
        const status = rand() < 0.65 ? 'online' : 'away';
        await send('status', 'PATCH', '/api/v1/agents/me', { token: agent.token, body: { status } }, [{ status: 200 }]);
      },
    ],
    [
      4,
      async () => {
        // Capacity only goes up in this run (one change at a time per agent), so
        // "nobody over capacity" holds at every instant, not only at the end.
        const agent = pick(agents);
        if (agent.capacityBusy || agent.capacity >= MAX_CAPACITY) return;
        agent.capacityBusy = true;
        try {
          const capacity = agent.capacity + 1;
          const reply = await send('capacity', 'PATCH', `/api/v1/agents/${agent.id}`, { token: adminToken, body: { capacity } }, [{ status: 200 }], () =>
            agent.maybeCapacities.push(capacity),
          );
          if (reply) agent.capacity = capacity;
        } finally {
          agent.capacityBusy = false;
        }
      },
    ],
    [
      3,
      async () => {
        const agent = pick(agents);
        await send('heartbeat', 'POST', '/api/v1/agents/me/heartbeat', { token: agent.token }, [{ status: 200 }]);
      },
    ],
    [
      3,
      async () => {
        const reply = await send('list-queue', 'GET', '/api/v1/queue', { token: adminToken }, [{ status: 200 }]);
        if (reply) report.peakQueue = Math.max(report.peakQueue, reply.body.length);
        const assigned = await send('list-assigned', 'GET', '/api/v1/conversations?state=assigned&limit=100', { token: adminToken }, [{ status: 200 }]);
        for (const c of (assigned?.body ?? []) as { id: string; state: string; agent_id: string | null }[]) learn(c);
      },
    ],
  ];
  const totalWeight = operations.reduce((sum, [w]) => sum + w, 0);
  const nextOperation = () => {
    let r = rand() * totalWeight;
    for (const [w, op] of operations) {
      r -= w;
      if (r < 0) return op;
    }
    return operations[0]![1];
  };

  // The event poller reads the stream with after=<last id received> while the load runs.
  let loadDone = false;
  const poller = (async () => {
    let last = 0;
    const seen = new Set<number>();
    let emptyAfterDone = 0;
    let turn = 0;
    let doneAt: number | undefined;
    while (emptyAfterDone < 3) {
      if (loadDone) doneAt ??= Date.now();
      // Events show once every older transaction on the server has ended: on a shared
      // server, another suite's long transaction can hold the stream back a while.
      if (doneAt !== undefined && Date.now() - doneAt > 120_000) {
        report.pollerProblems.push(`the event stream did not go quiet within 120 s after the load (last id ${last})`);
        break;
      }
      const server = servers[turn++ % servers.length]!;
      let page: Reply;
      try {
        page = await call(server, 'GET', `/api/v1/events?after=${last}&limit=1000`, { token: adminToken });
      } catch (error) {
        if (!options.tolerateNetworkErrors) report.pollerProblems.push(`events after=${last} on ${server} failed: ${String(error)}`);
        await sleep(20);
        continue;
      }
      if (page.status !== 200) {
        const code = typeof page.body === 'object' ? page.body?.error?.code : undefined;
        if (!matches(options.alsoAllowed ?? [], page.status, code)) {
          report.pollerProblems.push(`events after=${last} on ${server} → ${page.status} ${JSON.stringify(page.body)}`);
        }
        await sleep(20);
        continue;
      }
      const events = page.body as { id: number }[];
      for (const e of events) {
        if (seen.has(e.id)) report.pollerProblems.push(`event ${e.id} came again after ${last}`);
        seen.add(e.id);
        report.polled.push(e.id);
        last = e.id;
      }
      if (events.length === 0 && loadDone) emptyAfterDone += 1;
      else if (events.length > 0) emptyAfterDone = 0;
      if (events.length < 1000) await sleep(loadDone ? 150 : 15);
    }
  })();

  const monitor = options.monitor
    ? (async () => {
        while (!loadDone) {
          try {
            const problems = await options.monitor!();
            report.monitorSamples += 1;
            for (const p of problems) report.monitorProblems.push(`snapshot ${report.monitorSamples}: ${p}`);
          } catch (error) {
            report.monitorProblems.push(`snapshot failed: ${String(error)}`);
          }
          await sleep(100);
        }
      })()
    : Promise.resolve();

  const started = Date.now();
  let remaining = options.operations;
  let duringDone = options.during === undefined;
  const during = (options.during?.() ?? Promise.resolve()).finally(() => {
    duringDone = true;
  });
  let mixedDone = false;
  const loop = async (operation: () => () => Promise<void>, more: () => boolean) => {
    while (more()) {
      const before = report.timeline.length;
      await operation()();
      // While requests fail (no answer, 503), the clients back off a little instead of spinning.
      if (report.timeline.slice(before).some((a) => a.status === null || a.status >= 500)) await sleep(50);
    }
  };
  const mixed = Promise.all(
    Array.from({ length: CLIENTS }, () =>
      loop(
        () => ((remaining -= 1), nextOperation()),
        () => remaining > 0 || !duringDone,
      ),
    ),
  ).finally(() => (mixedDone = true));
  const messengers = Array.from({ length: options.messageClients ?? 0 }, () =>
    loop(
      // with no conversation open yet there is nothing to post to: wait a little, never spin
      () => async () => (someOpen() === undefined ? sleep(10) : postMessage()),
      () => !mixedDone,
    ),
  );
  const clients = Promise.all([mixed, ...messengers]);
  try {
    await Promise.all([clients, during]);
  } finally {
    report.elapsedMs = Date.now() - started;
    loadDone = true;
    await Promise.allSettled([clients, during]);
    await Promise.all([poller, monitor]);
    report.endedAt = Date.now();
  }
  return report;
}

// ---- checks from the database ---------------------------------------------------

interface EventRow {
  id: number;
  type: string;
  conversation_id: string | null;
  agent_id: string | null;
  data: Record<string, unknown>;
}

/**
 * Replays the committed event log: every assignment must find the
 * conversation unassigned, every release must name its holder, and the
 * replayed holders and loads must be the database's.
 */
async function replayProblems(db: Db, finalCapacity: Map<string, number>): Promise<string[]> {
  const problems: string[] = [];
  const events = await db.query<EventRow>(
    `select id, type, conversation_id, agent_id, data from events where type like 'conversation.%' or type = 'message.created' order by id`,
  );
  const holder = new Map<string, string | null>();
  const closed = new Set<string>();
  const closedBy = new Map<string, string | null>();
  const load = new Map<string, number>();
  const add = (agent: string, delta: number, at: number) => {
    const n = (load.get(agent) ?? 0) + delta;
    load.set(agent, n);
    if (n < 0) problems.push(`event ${at}: agent ${agent} load went below zero`);
    const cap = finalCapacity.get(agent);
    if (cap !== undefined && n > cap) problems.push(`event ${at}: agent ${agent} holds ${n}, more than their highest capacity ${cap}`);
  };
  for (const e of events) {
    const c = e.conversation_id!;
    if (e.type === 'conversation.created') {
      if (holder.has(c) || closed.has(c)) problems.push(`event ${e.id}: conversation ${c} created twice`);
      holder.set(c, null);
      continue;
    }
    if (!holder.has(c)) {
      problems.push(`event ${e.id}: ${e.type} for conversation ${c} before it was created`);
      continue;
    }
    if (closed.has(c)) problems.push(`event ${e.id}: ${e.type} for conversation ${c} after it was closed`);
    if (e.type === 'message.created') continue;
    const current = holder.get(c)!;
    switch (e.type) {
      case 'conversation.assigned':
        if (current !== null) problems.push(`event ${e.id}: conversation ${c} assigned to ${e.agent_id} while still held by ${current}`);
        holder.set(c, e.agent_id);
        add(e.agent_id!, +1, e.id);
        break;
      case 'conversation.queued': {
        const reason = e.data.reason;
        if (reason === 'new') {
          if (current !== null) problems.push(`event ${e.id}: new conversation ${c} queued while held by ${current}`);
        } else {
          if (current === null || current !== e.data.previous_agent_id) {
            problems.push(`event ${e.id}: conversation ${c} requeued from ${String(e.data.previous_agent_id)} but held by ${current}`);
          }
          if (current !== null) add(current, -1, e.id);
          holder.set(c, null);
        }
        break;
      }
      case 'conversation.transferred': {
        const to = (e.data.to_agent_id as string | null | undefined) ?? null;
        if ((e.data.from_agent_id ?? null) !== current && to !== null) {
          problems.push(`event ${e.id}: conversation ${c} transferred from ${String(e.data.from_agent_id)} but held by ${current}`);
        }
        if (to !== null) {
          if (current !== null) add(current, -1, e.id);
          holder.set(c, to);
          add(to, +1, e.id);
        } else if (current !== null) {
          problems.push(`event ${e.id}: conversation ${c} moved to a department queue but still held by ${current}`);
        }
        break;
      }
      case 'conversation.resolved':
      case 'conversation.abandoned':
        if ((e.agent_id ?? null) !== current) problems.push(`event ${e.id}: conversation ${c} closed naming ${e.agent_id} but held by ${current}`);
        if (current !== null) add(current, -1, e.id);
        holder.set(c, null);
        closed.add(c);
        closedBy.set(c, current);
        break;
      default:
        break;
    }
  }
  const rows = await db.query<{ id: string; state: string; agent_id: string | null }>('select id, state, agent_id from conversations');
  for (const r of rows) {
    if (!holder.has(r.id)) {
      problems.push(`conversation ${r.id} has no conversation.created event`);
      continue;
    }
    // A closed conversation keeps the agent who last held it.
    const replayedState = closed.has(r.id) ? 'closed' : holder.get(r.id) === null ? 'queued' : 'assigned';
    const replayedAgent = closed.has(r.id) ? (closedBy.get(r.id) ?? null) : (holder.get(r.id) ?? null);
    const dbState = r.state === 'resolved' || r.state === 'abandoned' ? 'closed' : r.state;
    if (replayedState !== dbState || replayedAgent !== r.agent_id) {
      problems.push(`conversation ${r.id}: events say ${replayedState}/${replayedAgent}, database says ${r.state}/${r.agent_id}`);
    }
  }
  const agents = await db.query<{ id: string; load: number }>('select id, load from agents');
  for (const a of agents) {
    if ((load.get(a.id) ?? 0) !== a.load) problems.push(`agent ${a.id}: events add up to load ${load.get(a.id) ?? 0}, database says ${a.load}`);
  }
  return problems;
}

export interface CheckOptions {
  /** log records at error level that are expected (e.g. `store unavailable` during an outage) */
  expectedErrorLog?: (record: Record<string, unknown>) => boolean;
  /** the run must have created and resolved at least this many; default 100 and 50 */
  minCreated?: number;
  minResolved?: number;
}

export async function checkAfterLoad(t: TestContext, db: Db, report: LoadReport, servers: ServerProcess[], options: CheckOptions = {}): Promise<void> {
  const tally = Object.fromEntries([...report.tally].map(([op, m]) => [op, Object.fromEntries(m)]));
  t.diagnostic(`load: ${report.elapsedMs} ms, ${[...report.perServer.values()].reduce((a, b) => a + b, 0)} requests; per server ${JSON.stringify(Object.fromEntries(report.perServer))}`);
  t.diagnostic(`responses: ${JSON.stringify(tally)}`);
  const mean = Object.fromEntries(
    [...report.latency].map(([op, ms]) => [op, Math.round(ms / [...(report.tally.get(op)?.values() ?? [])].reduce((a, b) => a + b, 0))]),
  );
  t.diagnostic(`setup ${report.setupMs} ms; mean latency per operation (ms): ${JSON.stringify(mean)}`);
  t.diagnostic(`created ${report.created.size}, resolved ${report.resolved.size}, messages ${report.messages.size}, peak queue seen ${report.peakQueue}, events polled ${report.polled.length}, snapshots ${report.monitorSamples}`);

  // Every response was 2xx or an expected 4xx; no 5xx, no dropped connection.
  assert.deepEqual(report.unexpected, [], 'unexpected responses');
  const errorLogs = servers.flatMap((s) =>
    s
      .logs()
      .filter((r) => typeof r.level === 'number' && r.level >= 50 && !options.expectedErrorLog?.(r))
      .map((r) => `${s.pid}: ${JSON.stringify(r)}`),
  );
  assert.deepEqual(errorLogs, [], 'error-level log lines in the server processes');

  // The engine's promises, from the database after quiescence, and during the load.
  assert.deepEqual(await invariantViolations(db), [], 'invariants after the load');
  assert.deepEqual(await overCapacity(db), [], 'agents over capacity after the load');
  assert.deepEqual(report.monitorProblems.slice(0, 20), [], 'invariants in snapshots taken during the load');

  // Every acknowledged create is committed, and nothing else was created — but
  // for requests whose answer was lost, which may or may not have committed.
  const conversations = await db.query<{ id: string; state: string }>('select id, state from conversations');
  const inDb = new Map(conversations.map((c) => [c.id, c.state]));
  const missing = [...report.created].filter((id) => !inDb.has(id));
  assert.deepEqual(missing, [], 'conversations acknowledged with 201 but not in the database');
  const unknownCreates = report.inconclusive.get('create') ?? 0;
  assert.ok(
    inDb.size >= report.created.size && inDb.size <= report.created.size + unknownCreates,
    `conversations in the database that no client created: ${inDb.size} in the database, ${report.created.size} acknowledged, ${unknownCreates} without a definite answer`,
  );
  const notResolved = [...report.resolved].filter((id) => inDb.get(id) !== 'resolved');
  assert.deepEqual(notResolved, [], 'conversations acknowledged as resolved but not resolved in the database');
  const messageIds = new Set((await db.query<{ id: number }>('select id from messages')).map((r) => Number(r.id)));
  assert.deepEqual([...report.messages].filter((id) => !messageIds.has(id)), [], 'messages acknowledged with 201 but not in the database');
  const unknownMessages = report.inconclusive.get('message') ?? 0;
  assert.ok(
    messageIds.size <= report.messages.size + unknownMessages,
    `messages in the database that no client posted: ${messageIds.size} in the database, ${report.messages.size} acknowledged, ${unknownMessages} without a definite answer`,
  );

  // Capacities are what the clients last set (or one asked for without a definite answer),
  // and the event log replays to the database's state.
  const capacities = await db.query<{ id: string; capacity: number | null }>('select id, capacity from agents where role = $1', ['agent']);
  const finalCapacity = new Map(report.agents.map((a) => [a.id, Math.max(a.capacity, ...a.maybeCapacities)]));
  for (const row of capacities) {
    const agent = report.agents.find((a) => a.id === row.id);
    const possible = [agent?.capacity, ...(agent?.maybeCapacities ?? [])];
    assert.ok(possible.includes(row.capacity ?? undefined), `capacity of agent ${row.id}: ${row.capacity}, the clients set ${JSON.stringify(possible)}`);
  }
  assert.deepEqual((await replayProblems(db, finalCapacity)).slice(0, 20), [], 'event log replay');

  // The poller, paging with after=<id> during the load, saw every committed event exactly once, in
  // the log's order (commit order: an event whose transaction committed late comes after higher ids,
  // never before what the poller had already passed), and each conversation's events in id order.
  assert.deepEqual(report.pollerProblems.slice(0, 20), [], 'event poller');
  const log = await db.query<{ id: number; conversation_id: string | null }>('select id, conversation_id from events order by xid_bound, id');
  const ids = log.map((r) => Number(r.id));
  const lastOf = new Map<string, number>();
  const outOfOrder: string[] = [];
  for (const e of log) {
    if (e.conversation_id === null) continue;
    const before = lastOf.get(e.conversation_id) ?? 0;
    if (Number(e.id) < before) outOfOrder.push(`conversation ${e.conversation_id}: event ${e.id} after ${before}`);
    lastOf.set(e.conversation_id, Number(e.id));
  }
  assert.deepEqual(outOfOrder.slice(0, 20), [], 'the log keeps each conversation in id order');
  const late = ids.filter((id, i) => i > 0 && id < ids[i - 1]!).length;
  t.diagnostic(`events that committed after a higher id (late in id order, in their place in the log): ${late}`);
  const polled = report.polled.map(Number);
  assert.equal(new Set(polled).size, polled.length, 'the poller saw an event twice');
  const polledSet = new Set(polled);
  const unseen = ids.filter((id) => !polledSet.has(id));
  const unseenRows = unseen.length === 0 ? [] : await db.query<{ id: number; type: string; at: string }>(
    `select id, type, created_at::text as at from events where id = any($1::bigint[]) order by id limit 20`,
    [unseen],
  );
  assert.deepEqual(unseenRows.map((e) => `${e.id} ${e.type} at ${e.at}`), [], `committed events the poller never saw (passed over by a later one); the load ended at ${new Date(report.endedAt).toISOString()}`);
  assert.deepEqual(polled, ids, 'the poller saw exactly the committed events, in log order');

  // The run exercised what it is meant to: a queue formed, both kinds of outcome occurred.
  assert.ok(report.created.size > (options.minCreated ?? 100), `enough conversations were created (${report.created.size})`);
  assert.ok(report.resolved.size > (options.minResolved ?? 50), `enough conversations were resolved (${report.resolved.size})`);
}


// ---- webhooks and the outbox, for the suites that watch deliveries -----------------

/** Logs in as the load's admin; returns the token. */
export async function loginAdmin(base: string): Promise<string> {
  const login = await call(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
  assert.equal(login.status, 200, `admin login: ${JSON.stringify(login.body)}`);
  return login.body.token as string;
}

/** Registers a webhook endpoint through the API; returns its signing secret. */
export async function createWebhook(base: string, token: string, url: string, events: string[]): Promise<string> {
  const endpoint = await call(base, 'POST', '/api/v1/webhooks', { token, body: { url, events } });
  assert.equal(endpoint.status, 201, `webhook endpoint: ${JSON.stringify(endpoint.body)}`);
  return endpoint.body.secret as string;
}

/** Waits up to `boundMs` for the outbox to have no pending delivery; returns how many are still pending. */
export async function pendingAfter(db: Db, boundMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const pending = (await db.query<{ n: number }>(`select count(*)::int as n from outbound_requests where state = 'pending'`))[0]!.n;
    if (pending === 0 || Date.now() - started >= boundMs) return pending;
    await sleep(250);
  }
}
