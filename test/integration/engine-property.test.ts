// Property test of the allocation engine: random sequences of operations,
// applied straight to the engine functions (no HTTP) on a fake clock, with
// the policy's invariants checked after every step (the checks live in
// test/helpers/property-model.ts):
//  (1) load <= max(capacity, allowance after a capacity drop); no assignment
//      or transfer to an agent at or above capacity;
//  (2) a conversation is held by exactly one agent, loads match, nothing is
//      assigned twice;
//  (3) work-conserving: no queued conversation while an eligible agent has room;
//  (4) FIFO within priority for the agent that got the conversation;
//  (5) least load, then idle longest, then id, among the eligible agents;
//  (6) every change has its event, written by the same call;
//  (7) a conversation's stored requirement is its own merged with its department's.
// Each run also draws departments' skills and overflow settings (skills
// required, relaxation, overflow chains) and agents' skills; eligibility is
// judged at the call's time, and what became eligible by time alone since
// the last sweep is excused from (3) and (4) until the next sweep
// (docs/routing.md). Every run ends with a sweep.
// Failing calls must fail with the AppError the state before them predicts.
//
// Knobs: PROPERTY_RUNS (40), PROPERTY_SEED, PROPERTY_SECONDS (time box per
// store, shrinking included: 50), PROPERTY_STATS=1 (operation mix on exit).

import { it } from 'node:test';
import fc from 'fast-check';
import { createAgent, deleteAgent, heartbeat, updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import type { OfflinePolicy } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation, requeueConversation, transferConversation } from '../../src/conversations/lifecycle.js';
import { AppError } from '../../src/errors.js';
import { changeSettings } from '../../src/http/routes/settings.js';
import { changeDepartmentRouting, type OverflowRule } from '../../src/routing/department-settings.js';
import type { StoredEvent } from '../../src/events/outbox.js';
import type { AgentStatus } from '../../src/routing/presence.js';
import { sweep } from '../../src/routing/sweep.js';
import { fakeClock } from '../helpers/clock.js';
import { invariantViolations } from '../helpers/invariants.js';
import {
  Allowances,
  capacityOf,
  eventCountViolations,
  eventsSince,
  openConversations,
  replayViolations,
  snapshot,
  stateViolations,
  type ConvSnap,
  type DeptPolicy,
  type Policy,
  type Snapshot,
} from '../helpers/property-model.js';
import { describeEachStore, type TestStore } from '../helpers/stores.js';

const DEPARTMENTS = ['sales', 'support'] as const;
/** only an overflow target: agents may be in it, no conversation opens in it */
const OVERFLOW_ONLY = 'vip';
const SKILLS = ['es', 'billing'] as const;
type Skills = Record<string, number>;
type Department = (typeof DEPARTMENTS)[number] | null;

// Agents and conversations are named by index, resolved against the store
// when the step runs (agents in creation order, deleted ones included; open
// conversations in queue order), so every sequence is valid and shrinks well.
type Op =
  | { kind: 'addAgent'; capacity: number | null; departments: string[]; status: AgentStatus; skills: Skills }
  | { kind: 'skills'; agent: number; skills: Skills }
  | { kind: 'status'; agent: number; status: AgentStatus }
  | { kind: 'capacity'; agent: number; capacity: number | null }
  | { kind: 'departments'; agent: number; departments: string[] }
  | { kind: 'maxCustomers'; value: number }
  | { kind: 'deptRouting'; department: 'sales' | 'support'; routing: DeptPolicy }
  | { kind: 'open'; department: Department; priority: number; skills: Skills }
  | { kind: 'resolve'; conversation: number; abandon: boolean }
  | { kind: 'transferToAgent'; conversation: number; agent: number }
  | { kind: 'transferToDepartment'; conversation: number; department: Department }
  | { kind: 'requeue'; conversation: number }
  | { kind: 'heartbeat'; agent: number }
  | { kind: 'advance'; ms: number; heartbeats: boolean; silent: number | null; sweep: boolean }
  | { kind: 'delete'; agent: number };

const department = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Department>(null) },
  { weight: 2, arbitrary: fc.constantFrom<Department>(...DEPARTMENTS) },
);
const departments = fc.oneof(
  { weight: 2, arbitrary: fc.constant(['sales', 'support']) },
  { weight: 2, arbitrary: fc.constantFrom(['sales'], ['support']) },
  { weight: 1, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: fc.constantFrom([OVERFLOW_ONLY], ['support', OVERFLOW_ONLY]) },
).map((list): string[] => [...list]);
/** an agent's skills: mostly some, at levels 1-3 */
const skillSet = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Skills>({}) },
  {
    weight: 4,
    arbitrary: fc
      .record({ es: fc.integer({ min: 0, max: 3 }), billing: fc.integer({ min: 0, max: 3 }) })
      .map((levels): Skills => Object.fromEntries(SKILLS.filter((s) => levels[s] > 0).map((s) => [s, levels[s]]))),
  },
);
/** a conversation's requirement: often none, else low levels most agents can meet, so the pick has a choice */
const requirement = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Skills>({}) },
  { weight: 2, arbitrary: fc.constantFrom<Skills>({ es: 1 }, { billing: 1 }, { es: 1, billing: 1 }, { es: 2 }) },
);
const capacity = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 3) },
);
const status = fc.oneof(
  { weight: 3, arbitrary: fc.constant<AgentStatus>('online') },
  { weight: 1, arbitrary: fc.constant<AgentStatus>('away') },
  { weight: 2, arbitrary: fc.constant<AgentStatus>('offline') },
);
const index = fc.nat(15);

const addAgent = fc.record({ kind: fc.constant('addAgent' as const), capacity, departments, status, skills: skillSet });

/**
 * The departments' skills and overflow settings of a run: mostly none, else
 * a requirement (relaxed after a while or never) and overflow to the other
 * department, sometimes a chain on to the overflow-only one.
 */
const deptPolicy = (self: string, other: string) =>
  fc.record({
    required_skills: fc.oneof({ weight: 2, arbitrary: fc.constant<Skills>({}) }, { weight: 1, arbitrary: fc.constantFrom<Skills>({ es: 1 }, { billing: 2 }) }),
    skills_relax_after_s: fc.constantFrom(null, 20, 60),
    overflow: fc.oneof(
      { weight: 2, arbitrary: fc.constant<OverflowRule[]>([]) },
      { weight: 1, arbitrary: fc.constantFrom(20, 45).map((after_s): OverflowRule[] => [{ after_s, to: other }]) },
      { weight: 1, arbitrary: fc.constant<OverflowRule[]>([{ after_s: 20, to: other }, { after_s: 45, to: OVERFLOW_ONLY }]) },
    ),
  }).map((p): [string, DeptPolicy] => [self, { ...p, overflow: p.overflow.map((r) => ({ ...r })) }]);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: addAgent },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('status' as const), agent: index, status }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('capacity' as const), agent: index, capacity }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('departments' as const), agent: index, departments }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('skills' as const), agent: index, skills: skillSet }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('maxCustomers' as const), value: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.oneof(deptPolicy('sales', 'support'), deptPolicy('support', 'sales')).map(
      ([department, routing]): Op => ({ kind: 'deptRouting', department: department as 'sales' | 'support', routing }),
    ),
  },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('open' as const), department, priority: fc.integer({ min: 0, max: 2 }), skills: requirement }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('resolve' as const), conversation: index, abandon: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('transferToAgent' as const), conversation: index, agent: index }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('transferToDepartment' as const), conversation: index, department }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('requeue' as const), conversation: index }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), agent: index }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // around the keep-alive time (30 s) and the offline grace (60 s)
      ms: fc.oneof(
        { weight: 1, arbitrary: fc.constantFrom(1_000, 10_000) },
        { weight: 3, arbitrary: fc.constantFrom(29_000, 31_000, 45_000, 61_000, 61_000) },
      ),
      // connected clients keep sending heartbeats while the time passes, except
      // a silent one; only agents not offline send them, so they are plain
      // last-seen updates (no events, no matching) and the step is still one
      // routing transaction, the sweep
      heartbeats: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      silent: fc.option(index, { nil: null }),
      // the real sweeper runs about once a second: sometimes other calls see the clock first
      sweep: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), agent: index }) },
);

/**
 * The settings of a run: mostly the defaults (keep-alive 30 s, grace 60 s,
 * re-queue), sometimes no grace at all (an agent going offline loses their
 * conversations at once) or the `keep` policy.
 */
export interface RunSettings {
  agent_offline_grace_ms: number;
  offline_policy: OfflinePolicy;
}
const settings: fc.Arbitrary<RunSettings> = fc.record({
  agent_offline_grace_ms: fc.constantFrom(60_000, 0),
  offline_policy: fc.oneof({ weight: 4, arbitrary: fc.constant<OfflinePolicy>('requeue') }, { weight: 1, arbitrary: fc.constant<OfflinePolicy>('keep') }),
});

const policy: fc.Arbitrary<Policy> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: fc.tuple(deptPolicy('sales', 'support'), deptPolicy('support', 'sales')).map((entries): Policy => Object.fromEntries(entries)) },
);

/** The settings, the departments' routing, a few agents to start with, then the operations. */
const scenario = fc
  .tuple(settings, policy, fc.array(addAgent, { minLength: 1, maxLength: 3 }), fc.array(op, { minLength: 15, maxLength: 40, size: 'max' }))
  .map(([settings, policy, agents, ops]) => ({ settings, policy, ops: [...agents, ...ops] }));

/** The AppError code an operation must end with (null: it must succeed), from the state before it. */
function expectedError(o: Op, pre: Snapshot, convId: string | undefined, agentId: string | undefined): string | null {
  const agent = agentId ? pre.agents.get(agentId) : undefined;
  switch (o.kind) {
    case 'status':
    case 'capacity':
    case 'departments':
    case 'skills':
    case 'heartbeat':
    case 'delete':
      return agent!.deleted ? 'SB_NOT_FOUND' : null;
    case 'requeue':
      return pre.convs.get(convId!)!.state === 'queued' ? 'SB_NOT_ASSIGNED' : null;
    case 'transferToAgent': {
      const conv = pre.convs.get(convId!)!;
      if (agent!.deleted) return 'SB_NOT_FOUND';
      if (conv.agentId === agent!.id) return 'SB_ALREADY_ASSIGNED';
      if (agent!.status !== 'online') return 'SB_AGENT_UNAVAILABLE';
      if (agent!.load >= capacityOf(agent!, pre.maxCustomers)) return 'SB_AGENT_AT_CAPACITY';
      return null;
    }
    default:
      return null;
  }
}

/**
 * The open conversation an operation names, in queue order. A requeue mostly
 * picks an assigned one (a queued one only exercises the 409); every fourth
 * index picks from all open conversations.
 */
function pickConversation(o: Op & { conversation: number }, pre: Snapshot): ConvSnap | undefined {
  const open = openConversations(pre);
  const assigned = open.filter((c) => c.state === 'assigned');
  const from = o.kind === 'requeue' && o.conversation % 4 !== 3 && assigned.length > 0 ? assigned : open;
  return from[o.conversation % Math.max(from.length, 1)];
}

/**
 * The agent an operation names. A transfer mostly goes to someone who can take
 * it (most random targets would only exercise the 409s); every fourth index
 * picks from everyone, deleted agents included.
 */
function pickAgent(o: Op & { agent: number }, pre: Snapshot, agentIds: readonly string[], conv: ConvSnap | undefined): string | undefined {
  if (o.kind === 'transferToAgent' && o.agent % 4 !== 3) {
    const able = agentIds.filter((id) => {
      const a = pre.agents.get(id)!;
      return !a.deleted && a.status === 'online' && a.id !== conv?.agentId && a.load < capacityOf(a, pre.maxCustomers);
    });
    if (able.length > 0) return able[o.agent % able.length];
  }
  return agentIds[o.agent % Math.max(agentIds.length, 1)];
}

const describeOp = (o: Op, agentId?: string, convSeq?: number) =>
  JSON.stringify({ ...o, ...(agentId ? { agentId } : {}), ...(convSeq !== undefined ? { convSeq } : {}) });

/**
 * Runs the operations one by one against a freshly reset store and checks
 * every invariant after each. Throws with the step log on the first failure.
 */
export async function runScenario(store: TestStore, scenarioOps: readonly Op[], settings: Partial<RunSettings> = {}, initialPolicy: Policy = {}): Promise<void> {
  await store.reset(settings);
  const clock = fakeClock();
  const ctx: Ctx = { db: store.db, now: clock.now };
  for (const [department, routing] of Object.entries(initialPolicy)) await changeDepartmentRouting(ctx, department, routing, null);
  // a deptRouting step changes it: the model judges every later step by the settings in force
  let policy: Policy = initialPolicy;
  // the last step is a sweep: after it nothing is excused for having become eligible by time
  const ops: Op[] = [...scenarioOps, { kind: 'advance', ms: 0, heartbeats: false, silent: null, sweep: true }];
  let lastSweep = clock.now().getTime();
  const allowances = new Allowances();
  const agentIds: string[] = [];
  const log: string[] = [`departments' routing: ${JSON.stringify(policy)}`];
  let names = 0;
  let pre = await snapshot(store.db);

  for (const [step, o] of ops.entries()) {
    clock.advance(100); // every call happens at its own instant, so "idle longest" has something to compare
    const conv = 'conversation' in o ? pickConversation(o, pre) : undefined;
    const agentId = 'agent' in o ? pickAgent(o, pre, agentIds, conv) : undefined;
    if (('agent' in o && agentId === undefined) || ('conversation' in o && conv === undefined)) {
      log.push(`${step}: skip ${o.kind}`);
      continue;
    }
    const expected = expectedError(o, pre, conv?.id, agentId);
    log.push(`${step}: ${describeOp(o, agentId, conv?.seq)}`);
    let outcome: string | null = null;
    try {
      switch (o.kind) {
        case 'addAgent': {
          names += 1;
          const row = await createAgent(ctx, {
            name: `p${names}`,
            email: `p${names}@example.test`,
            password: 'correct horse',
            role: 'agent',
            capacity: o.capacity,
            departments: o.departments,
            skills: o.skills,
          });
          agentIds.push(row.id);
          if (o.status !== 'offline') await updateAgent(ctx, row.id, { status: o.status }, SYSTEM);
          break;
        }
        case 'status':
          await updateAgent(ctx, agentId!, { status: o.status }, SYSTEM);
          break;
        case 'capacity':
          await updateAgent(ctx, agentId!, { capacity: o.capacity }, SYSTEM);
          break;
        case 'departments':
          await updateAgent(ctx, agentId!, { departments: o.departments }, SYSTEM);
          break;
        case 'skills':
          await updateAgent(ctx, agentId!, { skills: o.skills }, SYSTEM);
          break;
        case 'maxCustomers':
          await changeSettings(ctx, { max_customers: o.value }, null);
          break;
        case 'deptRouting':
          await changeDepartmentRouting(ctx, o.department, o.routing, null);
          // the open conversations take the new terms and a full match follows, as a sweep's
          policy = { ...policy, [o.department]: o.routing };
          lastSweep = clock.now().getTime();
          break;
        case 'open':
          await openConversation(ctx, { customer: { id: `c${step}` }, department: o.department, priority: o.priority, required_skills: o.skills });
          break;
        case 'resolve':
          await closeConversation(ctx, conv!.id, { state: o.abandon ? 'abandoned' : 'resolved', reason: 'agent' }, SYSTEM);
          break;
        case 'transferToAgent':
          await transferConversation(ctx, conv!.id, { agent_id: agentId! }, SYSTEM);
          break;
        case 'transferToDepartment':
          await transferConversation(ctx, conv!.id, { department: o.department }, SYSTEM);
          break;
        case 'requeue':
          await requeueConversation(ctx, conv!.id, SYSTEM);
          break;
        case 'heartbeat':
          await heartbeat(ctx, agentId!);
          break;
        case 'advance': {
          clock.advance(o.ms);
          if (o.heartbeats) {
            const silent = o.silent === null ? undefined : agentIds[o.silent % agentIds.length];
            for (const a of pre.agents.values()) {
              if (!a.deleted && a.status !== 'offline' && a.id !== silent) await heartbeat(ctx, a.id);
            }
          }
          if (o.sweep) {
            await sweep(ctx);
            lastSweep = clock.now().getTime();
          }
          break;
        }
        case 'delete':
          await deleteAgent(ctx, agentId!, SYSTEM);
          break;
      }
    } catch (error) {
      if (!(error instanceof AppError)) throw new Error(`step ${step} threw\n${log.join('\n')}`, { cause: error });
      outcome = error.code;
    }

    const post = await snapshot(store.db);
    const events = await eventsSince(store.db, pre.lastEventId);
    const problems: string[] = [];
    if (outcome !== expected) problems.push(`outcome ${outcome ?? 'ok'}, expected ${expected ?? 'ok'}`);
    if (outcome !== null && events.length > 0) problems.push(`(6) a failed call wrote ${events.length} events`);
    const now = clock.now().getTime();
    problems.push(...replayViolations(pre, post, events, now, policy, lastSweep), ...allowances.update(pre, post), ...stateViolations(post, now, policy, lastSweep));
    if (problems.length > 0) throw new Error(report(`step ${step} broke the policy:`, problems, log, post, events));
    if (STATS) {
      const queued = [...pre.convs.values()].some((c) => c.state === 'queued') ? 'q' : '-';
      const online = [...pre.agents.values()].some((a) => a.status === 'online' && !a.deleted) ? 'o' : '-';
      const key = `${o.kind} ${outcome ?? 'ok'} ${queued}${online}`;
      STATS.set(key, (STATS.get(key) ?? 0) + 1);
      // assignments made while something else waited: where queue order and the choice of agent matter
      const contested = events.filter((e) => e.type === 'conversation.assigned').length > 0 && post.convs.size > 0 && [...post.convs.values()].some((c) => c.state === 'queued');
      if (contested) STATS.set('* contested steps', (STATS.get('* contested steps') ?? 0) + 1);
      for (const e of events) {
        const k = `* event ${e.type} ${String((e.data as { reason?: unknown }).reason ?? '')}`;
        STATS.set(k, (STATS.get(k) ?? 0) + 1);
      }
    }
    pre = post;
  }
  // The SQL form of the same promises (test/helpers/invariants.ts, which also
  // looks for a double assignment over the whole event log) and the event counts.
  const final = [...(await invariantViolations(store.db, { now: clock.now() })), ...(await eventCountViolations(store.db))];
  if (final.length > 0) throw new Error(report('the final state broke the policy:', final, log, pre, []));
}

function report(title: string, problems: readonly string[], log: readonly string[], s: Snapshot, events: readonly StoredEvent[]): string {
  const seq = (id: string | null) => (id ? (s.convs.get(id)?.seq ?? id) : '-');
  return [
    title,
    ...problems.map((p) => `  ${p}`),
    'steps:',
    ...log.map((l) => `  ${l}`),
    'agents after:',
    ...[...s.agents.values()].map(
      (a) =>
        `  ${a.id} ${a.status}${a.deleted ? ' (deleted)' : ''} capacity ${a.capacity ?? `null=${s.maxCustomers}`} load ${a.load} [${a.departments}] skills ${JSON.stringify(a.skills)}`,
    ),
    'conversations after:',
    ...[...s.convs.values()].map(
      (c) =>
        `  #${c.seq} ${c.state} ${c.agentId ?? ''} priority ${c.priority} department ${c.department} requires ${JSON.stringify(c.requiredSkills)} queued_at ${c.queuedAt}`,
    ),
    'events of the step:',
    ...events.map((e) => `  ${e.id} ${e.type} conversation #${seq(e.conversation_id)} agent ${e.agent_id ?? '-'}`),
  ].join('\n');
}

/** PROPERTY_STATS=1 prints how often each operation ran, its outcome, and whether anything waited (q) with someone online (o). */
const STATS = process.env.PROPERTY_STATS ? new Map<string, number>() : undefined;
if (STATS) process.on('exit', () => console.error([...STATS].sort().map(([k, v]) => `${k}: ${v}`).join('\n')));

const RUNS = Number(process.env.PROPERTY_RUNS ?? 40);
const SECONDS = Number(process.env.PROPERTY_SECONDS ?? 50);

describeEachStore('allocation engine properties', (store) => {
  it('keeps every invariant after every step of random operation sequences', async () => {
    // The time box stops waiting for a run but does not stop it: the next
    // test must not reset the store under it.
    let inFlight: Promise<unknown> = Promise.resolve();
    await fc.assert(
      fc.asyncProperty(scenario, ({ settings, policy, ops }) => {
        const run = runScenario(store(), ops, settings, policy);
        inFlight = run.catch(() => undefined);
        return run;
      }),
      {
        numRuns: RUNS,
        ...(process.env.PROPERTY_SEED ? { seed: Number(process.env.PROPERTY_SEED) } : {}),
        // runs and shrinking both stop at the time box: on a slow machine fewer runs, and a failure is still reported
        interruptAfterTimeLimit: SECONDS * 1000,
        markInterruptAsFailure: false,
      },
    );
    await inFlight;
  });

  // Smallest counterexamples the property found, kept as plain tests.
  const online = (capacity: number | null, departments: string[] = [], skills: Skills = {}): Op => ({ kind: 'addAgent', capacity, departments, status: 'online', skills });

  it('requeue: the freed slot goes to the head of the queue, not back to the re-queued conversation', async () => {
    // A holds #1 (priority 0); #2 (priority 2) waits. Requeuing #1 frees A's slot:
    // #2 is first in the queue and must get it; #1 waits in its place.
    await runScenario(store(), [online(1), { kind: 'open', department: null, priority: 0, skills: {} }, { kind: 'open', department: null, priority: 2, skills: {} }, { kind: 'requeue', conversation: 1 }]);
  });

  it('transfer to a department: the freed slot goes to the head of the queue', async () => {
    // Same with a transfer of #1 to a department A also serves.
    await runScenario(store(), [
      online(1, ['sales']),
      { kind: 'open', department: 'sales', priority: 0, skills: {} },
      { kind: 'open', department: 'sales', priority: 2, skills: {} },
      { kind: 'transferToDepartment', conversation: 1, department: 'sales' },
    ]);
  });
  it('skills: the best match wins over a lower load', async () => {
    // A (es 1) and B (es 3) both serve {es: 1}; B gets both conversations.
    const open = (skills: Skills): Op => ({ kind: 'open', department: null, priority: 0, skills });
    await runScenario(store(), [online(2, [], { es: 1 }), online(2, [], { es: 3 }), open({ es: 1 }), open({ es: 1 }), open({ es: 1 })]);
  });

  it('overflow and relaxation: what time makes eligible is matched by the sweep, and by an agent gaining room before it', async () => {
    const policy: Policy = {
      sales: { required_skills: { es: 2 }, skills_relax_after_s: 60, overflow: [{ after_s: 20, to: 'support' }, { after_s: 45, to: 'vip' }] },
    };
    const sales = (skills: Skills = {}): Op => ({ kind: 'open', department: 'sales', priority: 0, skills });
    const advance = (ms: number, sweep: boolean): Op => ({ kind: 'advance', ms, heartbeats: true, silent: null, sweep });
    await runScenario(
      store(),
      [
        online(1, ['support'], { es: 1 }),
        online(1, ['vip'], { es: 2 }),
        online(1, ['support'], { es: 2 }),
        sales(),
        sales({ billing: 1 }),
        advance(21_000, true), // support's es 2 agent takes the first; nobody has billing
        advance(25_000, false), // vip's agent is eligible for nothing: no billing
        advance(15_000, true), // relaxed after 60 s: support's es 1 agent takes it
        { kind: 'open', department: 'support', priority: 0, skills: {} },
      ],
      {},
      policy,
    );
  });
});
