// Property test of the routing policies of issue #20 items 1 and 3 (sticky
// agent, aging, first-response SLA): random department settings and random
// operation sequences on a fake clock, the promises checked after every
// step with queries written from the policy's statement, not from the SQL
// that implements it:
//  (1) capacity: load <= capacity, loads match, nothing assigned twice;
//  (2) work-conserving under the policy: no queued conversation while an
//      agent eligible for it has room — during a sticky wait only the
//      sticky agent is eligible;
//  (3) order: an agent who got a conversation in a step got one that ranks
//      first, by effective priority (priority + aging × minutes queued)
//      then arrival, among those queued before the step it could serve;
//  (4) sticky: a returning customer's conversation goes to their last agent
//      (within the window) when that agent is online with room, and waits
//      for them when the department waits and the agent is online or away;
//  (5) SLA: after a sweep no open conversation is unanswered past its due
//      time without a breach; a breach is raised once, and only for a
//      conversation unanswered at its due time.
// Knobs: PROPERTY_RUNS (20), PROPERTY_SEED, PROPERTY_SECONDS (time box per store: 40).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { heartbeat, updateAgent } from '../../src/agents/agents.js';
import { SYSTEM, type AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { addMessage } from '../../src/conversations/messages.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { changeDepartmentRouting, type DepartmentRoutingChange } from '../../src/routing/department-settings.js';
import type { AgentStatus } from '../../src/routing/presence.js';
import { sweep } from '../../src/routing/sweep.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore, type TestStore } from '../helpers/stores.js';

const DEPARTMENTS = ['sales', 'support'] as const;
type Department = (typeof DEPARTMENTS)[number];

type Op =
  | { kind: 'addAgent'; capacity: number; departments: string[]; status: AgentStatus }
  | { kind: 'status'; agent: number; status: AgentStatus }
  | { kind: 'open'; customer: number; department: Department; priority: number }
  | { kind: 'resolve'; conversation: number; abandon: boolean }
  | { kind: 'reply'; conversation: number }
  | { kind: 'advance'; ms: number };

const status = fc.constantFrom<AgentStatus>('online', 'online', 'online', 'away', 'offline');
const index = fc.nat(9);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('addAgent' as const),
      capacity: fc.integer({ min: 1, max: 2 }),
      departments: fc.constantFrom(['sales'], ['support'], ['sales', 'support']).map((d) => [...d]),
      status,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('status' as const), agent: index, status }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      // few customers, so they come back
      customer: fc.nat(2),
      department: fc.constantFrom<Department>(...DEPARTMENTS),
      priority: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('resolve' as const), conversation: fc.nat(3), abandon: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('reply' as const), conversation: index }) },
  // around the sticky waits (30, 90 s), the SLA targets (30, 60 s) and the sticky windows (120 s)
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(5_000, 20_000, 40_000, 70_000) }) },
);

const departmentSettings: fc.Arbitrary<DepartmentRoutingChange> = fc.record({
  sticky_window_s: fc.constantFrom(0, 120, 3600, 3600),
  sticky_wait_s: fc.constantFrom(0, 30, 90, 90),
  aging_per_min: fc.constantFrom(0, 0.5, 2),
  sla_first_response_s: fc.constantFrom(null, 30, 60),
});
// Every run starts with two agents online, so conversations get agents and
// customers come back to someone.
const PRELUDE: Op[] = [
  { kind: 'addAgent', capacity: 1, departments: ['sales', 'support'], status: 'online' },
  { kind: 'addAgent', capacity: 2, departments: ['sales'], status: 'online' },
];
const scenario = fc.record({
  settings: fc.record({ sales: departmentSettings, support: departmentSettings }),
  ops: fc.array(op, { minLength: 15, maxLength: 40 }).map((ops) => [...PRELUDE, ...ops]),
});

type Settings = Record<Department, DepartmentRoutingChange>;

async function runScenario(store: TestStore, ops: readonly Op[], settings: Settings): Promise<void> {
  await store.reset();
  count('runs');
  const clock = fakeClock();
  const ctx: Ctx = { db: store.db, now: clock.now };
  for (const d of DEPARTMENTS) await changeDepartmentRouting(ctx, d, settings[d], null);
  const log: string[] = [`settings ${JSON.stringify(settings)}`];
  const agents = async () => ctx.db.query<AgentRow>('select * from agents order by created_at, id');
  const open = async () => ctx.db.query<ConversationRow>(`select * from conversations where state in ('queued', 'assigned') order by seq`);
  const conversations = async () => ctx.db.query<ConversationRow>('select * from conversations order by seq');
  const fail = (problem: string) => {
    throw new Error([problem, 'steps:', ...log.map((l) => `  ${l}`)].join('\n'));
  };

  for (const o of ops) {
    clock.advance(1_000);
    const now = clock.now();
    const before = await conversations();
    const lastEvent = Number((await ctx.db.query<{ id: string | null }>('select max(id) as id from events'))[0]!.id ?? 0);
    let expectSticky: { conversationCustomer: string; agent: AgentRow; wait: boolean } | null = null;
    let line = JSON.stringify(o);
    switch (o.kind) {
      case 'addAgent':
        await makeAgent(ctx, { capacity: o.capacity, departments: o.departments, status: o.status });
        break;
      case 'status': {
        const a = (await agents())[o.agent];
        if (!a) continue;
        await updateAgent(ctx, a.id, { status: o.status }, SYSTEM);
        break;
      }
      case 'open': {
        const customer = `customer${o.customer}`;
        const s = settings[o.department];
        // (4), from the statement: the agent of the customer's last closed conversation in the department, within the window
        if ((s.sticky_window_s ?? 0) > 0) {
          const [last] = await ctx.db.query<AgentRow>(
            `select a.* from conversations c join agents a on a.id = c.agent_id
              where c.customer_id = $1 and c.department = $2 and c.state in ('resolved', 'abandoned')
                and c.resolved_at >= $3::timestamptz - make_interval(secs => $4) and a.deleted_at is null
              order by c.resolved_at desc limit 1`,
            [customer, o.department, now, s.sticky_window_s],
          );
          if (last && last.departments.includes(o.department)) {
            const room = last.status === 'online' && last.load < last.capacity!;
            if (room) expectSticky = { conversationCustomer: customer, agent: last, wait: false };
            else if ((s.sticky_wait_s ?? 0) > 0 && last.status !== 'offline') expectSticky = { conversationCustomer: customer, agent: last, wait: true };
          }
        }
        const { conversation } = await openConversation(ctx, { customer: { id: customer }, department: o.department, priority: o.priority, customer_verified: true });
        count(expectSticky ? (expectSticky.wait ? 'open: sticky wait' : 'open: sticky agent with room') : 'open: plain');
        line += ` -> #${conversation.seq} ${conversation.state}`;
        if (expectSticky && !expectSticky.wait && conversation.agent_id !== expectSticky.agent.id) {
          fail(`(4) #${conversation.seq} went to ${conversation.agent_id}, not to the customer's last agent ${expectSticky.agent.id}, who had room`);
        }
        if (expectSticky?.wait && (conversation.state !== 'queued' || conversation.sticky_agent_id !== expectSticky.agent.id)) {
          fail(`(4) #${conversation.seq} (${conversation.state}) does not wait for the customer's last agent ${expectSticky.agent.id}`);
        }
        break;
      }
      case 'resolve': {
        const c = (await open())[o.conversation];
        if (!c) continue;
        await closeConversation(ctx, c.id, { state: o.abandon ? 'abandoned' : 'resolved', reason: 'agent' }, SYSTEM);
        line += ` #${c.seq}`;
        break;
      }
      case 'reply': {
        const c = (await open()).filter((x) => x.state === 'assigned')[o.conversation];
        if (!c) continue;
        await addMessage(ctx, c.id, { sender: 'agent', sender_id: c.agent_id, text: 'hello' }, { id: c.agent_id!, role: 'agent' });
        line += ` #${c.seq}`;
        break;
      }
      case 'advance': {
        clock.advance(o.ms);
        // connected agents keep sending heartbeats: the keep-alive is not what is tested here
        for (const a of await agents()) if (a.status !== 'offline') await heartbeat(ctx, a.id);
        await sweep(ctx);
        break;
      }
    }
    log.push(line);
    const at = clock.now();

    // (1)
    const broken = await invariantViolations(ctx.db, { workConserving: false });
    if (broken.length > 0) fail(`(1) ${broken.join('; ')}`);
    const over = await ctx.db.query<{ id: string }>('select id from agents where load > capacity');
    if (over.length > 0) fail(`(1) agents over capacity: ${over.map((a) => a.id).join(', ')}`);

    // (2) eligibility from the statement: the department, and a running sticky wait's agent only.
    // A wait ends by time alone, and the promise is that the sweep gives its
    // conversation away (docs/routing.md#sticky-agent): the sweep runs here
    // only on 'advance', so after any other step a wait that ended since the
    // last sweep (sticky_until still set) may still hold its conversation.
    const swept = o.kind === 'advance';
    const eligible = `c.department = any (a.departments)
      and (c.sticky_until is null or c.sticky_agent_id = a.id or ($2 and c.sticky_until <= $1))`;
    const waiting = await ctx.db.query<{ seq: string; agent: string }>(
      `select c.seq, a.id as agent from conversations c
         join agents a on a.status = 'online' and a.deleted_at is null and a.load < a.capacity and ${eligible}
        where c.state = 'queued' limit 3`,
      [at, swept],
    );
    if (waiting.length > 0) fail(`(2) ${waiting.map((w) => `#${w.seq} waits while ${w.agent} has room`).join('; ')}`);
    if (swept) {
      const unended = await ctx.db.query<{ seq: string }>(
        `select seq from conversations where state = 'queued' and sticky_until <= $1`,
        [at],
      );
      if (unended.length > 0) fail(`(2) the sweep left ended sticky waits unrecorded: ${unended.map((c) => `#${c.seq}`).join(', ')}`);
    }

    // (3)
    const queuedBefore = new Set(before.filter((c) => c.state === 'queued').map((c) => c.id));
    const rank = (c: ConversationRow) => c.priority + (c.aging_per_min * Math.max(0, at.getTime() - new Date(c.queued_at ?? c.created_at).getTime())) / 60_000;
    const assigned = await ctx.db.query<{ conversation_id: string; agent_id: string }>(
      `select conversation_id, agent_id from events where id > $1 and type = 'conversation.assigned' order by id`,
      [lastEvent],
    );
    const now1 = await conversations();
    const byId = new Map(now1.map((c) => [c.id, c]));
    const agentById = new Map((await agents()).map((a) => [a.id, a]));
    for (const e of assigned) {
      const got = byId.get(e.conversation_id)!;
      const agent = agentById.get(e.agent_id)!;
      for (const other of now1) {
        if (other.state !== 'queued' || !queuedBefore.has(other.id) || !agent.departments.includes(other.department!)) continue;
        const stickyElsewhere = other.sticky_until !== null && new Date(other.sticky_until).getTime() > at.getTime() && other.sticky_agent_id !== agent.id;
        if (stickyElsewhere) continue;
        const ahead = rank(other) > rank(got) + 1e-9 || (Math.abs(rank(other) - rank(got)) <= 1e-9 && Number(other.seq) < Number(got.seq));
        if (ahead) fail(`(3) ${agent.id} got #${got.seq} (rank ${rank(got)}) while #${other.seq} (rank ${rank(other)}) waited ahead of it`);
      }
    }

    // (5)
    if (o.kind === 'advance') {
      const late = now1.filter((c) => c.sla_due_at && new Date(c.sla_due_at) <= at && !c.first_response_at && !c.sla_breached_at && c.resolved_at === null);
      if (late.length > 0) fail(`(5) unanswered past due without a breach: ${late.map((c) => `#${c.seq}`).join(', ')}`);
    }
    const breaches = await ctx.db.query<{ conversation_id: string; n: number }>(
      `select conversation_id, count(*)::int as n from events where type = 'conversation.sla_breached' group by conversation_id`,
    );
    const breachCount = new Map(breaches.map((b) => [b.conversation_id, b.n]));
    for (const c of now1) {
      const n = breachCount.get(c.id) ?? 0;
      if (n !== (c.sla_breached_at ? 1 : 0)) fail(`(5) #${c.seq}: ${n} breach events, sla_breached_at ${String(c.sla_breached_at)}`);
      if (c.sla_breached_at && c.first_response_at && new Date(c.first_response_at) <= new Date(c.sla_due_at!)) fail(`(5) #${c.seq} answered in time yet breached`);
      if (c.sla_breached_at && new Date(c.sla_breached_at) < new Date(c.sla_due_at!)) fail(`(5) #${c.seq} breached before it was due`);
    }
  }
}

/** PROPERTY_STATS=1 prints how often the sticky cases came up, and how many runs ran. */
const STATS = process.env.PROPERTY_STATS ? new Map<string, number>() : undefined;
const count = (key: string) => STATS?.set(key, (STATS.get(key) ?? 0) + 1);
if (STATS) process.on('exit', () => console.error([...STATS].sort().map(([k, v]) => `${k}: ${v}`).join('\n')));

const RUNS = Number(process.env.PROPERTY_RUNS ?? 20);
const SECONDS = Number(process.env.PROPERTY_SECONDS ?? 40);

describeEachStore('sticky agent, aging and SLA properties', (store) => {
  it('keeps every promise after every step of random operation sequences under random department settings', async () => {
    // fast-check's time box returns without waiting for the run in flight: it
    // would go on writing to the store under the next test, so it is awaited
    let running: Promise<void> = Promise.resolve();
    try {
      await fc.assert(
        fc.asyncProperty(scenario, ({ settings, ops }) => (running = runScenario(store(), ops, settings))),
        {
          numRuns: RUNS,
          ...(process.env.PROPERTY_SEED ? { seed: Number(process.env.PROPERTY_SEED) } : {}),
          interruptAfterTimeLimit: SECONDS * 1000,
          markInterruptAsFailure: false,
        },
      );
    } finally {
      await running.catch(() => undefined);
    }
  });

  it('a sticky wait for an away agent holds the conversation from an agent with room, then ends, and it is served at its place', async () => {
    const wait: DepartmentRoutingChange = { sticky_window_s: 3600, sticky_wait_s: 30, aging_per_min: 0, sla_first_response_s: null };
    await runScenario(
      store(),
      [
        { kind: 'addAgent', capacity: 1, departments: ['sales'], status: 'online' },
        { kind: 'open', customer: 0, department: 'sales', priority: 0 },
        { kind: 'resolve', conversation: 0, abandon: false },
        { kind: 'status', agent: 0, status: 'away' },
        { kind: 'addAgent', capacity: 1, departments: ['sales'], status: 'online' },
        // waits for agent 0 although agent 1 has room
        { kind: 'open', customer: 0, department: 'sales', priority: 0 },
        // not held: agent 1 takes it
        { kind: 'open', customer: 1, department: 'sales', priority: 0 },
        { kind: 'open', customer: 2, department: 'sales', priority: 0 },
        { kind: 'advance', ms: 40_000 },
        // agent 1 frees up: customer 0, ahead of customer 2, is anyone's now
        { kind: 'resolve', conversation: 1, abandon: false },
      ],
      { sales: wait, support: wait },
    );
    const open = await store().db.query<{ customer_id: string; state: string }>(
      `select customer_id, state from conversations where state in ('queued', 'assigned') order by seq`,
    );
    assert.deepEqual(open, [
      { customer_id: 'customer0', state: 'assigned' },
      { customer_id: 'customer2', state: 'queued' },
    ]);
  });

  // Found by seed -1678697474 (issue #22): an open arriving when a sticky
  // wait has ended but before the sweep gave its conversation away took the
  // agent with room, overtaking the conversation whose turn had come.
  it('an open at the end of a sticky wait, before the sweep, does not overtake the conversation that waited', async () => {
    const wait: DepartmentRoutingChange = { sticky_window_s: 3600, sticky_wait_s: 30, aging_per_min: 0, sla_first_response_s: null };
    await runScenario(
      store(),
      [
        { kind: 'addAgent', capacity: 1, departments: ['sales'], status: 'online' },
        { kind: 'open', customer: 0, department: 'sales', priority: 0 },
        { kind: 'resolve', conversation: 0, abandon: false },
        { kind: 'open', customer: 1, department: 'sales', priority: 0 },
        // agent 0 is full: customer 0's conversation waits for them until now + 30 s
        { kind: 'open', customer: 0, department: 'sales', priority: 0 },
        // agent 1 has room, but the wait holds the conversation from them
        { kind: 'addAgent', capacity: 1, departments: ['sales'], status: 'online' },
        // 1 s before the wait ends: the sweep leaves it waiting
        { kind: 'advance', ms: 27_000 },
        // the wait ends as customer 2 writes: customer 0's turn came first
        { kind: 'open', customer: 2, department: 'sales', priority: 0 },
      ],
      { sales: wait, support: wait },
    );
    const open = await store().db.query<{ customer_id: string; state: string }>(
      `select customer_id, state from conversations where state in ('queued', 'assigned') order by seq`,
    );
    assert.deepEqual(open, [
      { customer_id: 'customer1', state: 'assigned' },
      { customer_id: 'customer0', state: 'assigned' },
      { customer_id: 'customer2', state: 'queued' },
    ]);
  });
  // Found by seed -1538142270: a step that is not a sweep, at the very second
  // a sticky wait ends, saw the waiting conversation next to an agent with
  // room. The promise is the sweep's (docs/routing.md#sticky-agent): the
  // check waits for it, and the sweep must then give the conversation away.
  it('a wait that ends between sweeps holds its conversation until the next sweep gives it to the agent with room', async () => {
    const wait: DepartmentRoutingChange = { sticky_window_s: 3600, sticky_wait_s: 30, aging_per_min: 0, sla_first_response_s: null };
    await runScenario(
      store(),
      [
        { kind: 'addAgent', capacity: 1, departments: ['support'], status: 'online' },
        { kind: 'open', customer: 0, department: 'support', priority: 0 },
        { kind: 'resolve', conversation: 0, abandon: false },
        { kind: 'open', customer: 1, department: 'support', priority: 0 },
        // agent 0 is full: customer 0's conversation waits for them for 30 s
        { kind: 'open', customer: 0, department: 'support', priority: 0 },
        { kind: 'addAgent', capacity: 1, departments: ['support'], status: 'online' },
        { kind: 'advance', ms: 27_000 },
        // the wait ends on this very second; agent 0, still full, says
        // they are online: no sweep yet, and no slot for them to fill
        { kind: 'status', agent: 0, status: 'online' },
        { kind: 'advance', ms: 5_000 },
      ],
      { sales: wait, support: wait },
    );
    const open = await store().db.query<{ customer_id: string; state: string; agent: number }>(
      `select c.customer_id, c.state, (select count(*)::int from agents b where b.created_at < a.created_at) as agent
         from conversations c join agents a on a.id = c.agent_id where c.state in ('queued', 'assigned') order by c.seq`,
    );
    assert.deepEqual(open, [
      { customer_id: 'customer1', state: 'assigned', agent: 0 },
      { customer_id: 'customer0', state: 'assigned', agent: 1 },
    ]);
  });
});
