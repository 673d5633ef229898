// Property test of the offer and manual-pick modes (issue #20 items 5 and 6):
// random sequences over three departments — `auto`, `offers` (offer mode)
// and `desk` (manual pick, in order or any) — applied to the engine
// functions on a fake clock, with the promises checked after every step as
// each mode defines them:
//  (1) capacity: no agent over capacity, an offered slot counted in load;
//  (2) once: load matches what agents hold (assigned + offered), nothing is
//      given twice (the event log), an offer only becomes an assignment by
//      its own agent's accept, a desk conversation only by a pick, an auto
//      one is never offered;
//  (3) work-conserving per policy: no conversation of an automatic
//      department waits while an agent eligible for it (not one who declined
//      it) has room (test/helpers/invariants.ts);
//  (4) offers: after a sweep, held only by online agents and none past its
//      time; nobody online with K expiries in a row;
//  (5) accept, decline and pick succeed or fail exactly as the state before
//      them predicts.
// Knobs: PROPERTY_RUNS (25), PROPERTY_SEED, PROPERTY_SECONDS (40 per store).
import { it } from 'node:test';
import fc from 'fast-check';
import { createAgent, heartbeat, updateAgent } from '../../src/agents/agents.js';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { changeDepartmentRouting } from '../../src/routing/department-settings.js';
import { AppError } from '../../src/errors.js';
import { answerOffer } from '../../src/routing/offers.js';
import { pickConversation } from '../../src/routing/pick.js';
import type { AgentStatus } from '../../src/routing/presence.js';
import { sweep } from '../../src/routing/sweep.js';
import type { Queryable } from '../../src/store/db.js';
import { fakeClock } from '../helpers/clock.js';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { describeEachStore, type TestStore } from '../helpers/stores.js';

const DEPARTMENTS = ['auto', 'offers', 'desk'] as const;
type Department = (typeof DEPARTMENTS)[number];
const TIMEOUT_S = 10;

type Op =
  | { kind: 'addAgent'; capacity: number | null; departments: Department[]; status: AgentStatus }
  | { kind: 'status'; agent: number; status: AgentStatus }
  | { kind: 'open'; department: Department; priority: number }
  | { kind: 'resolve'; conversation: number }
  | { kind: 'accept' | 'decline'; conversation: number; byHolder: boolean; agent: number }
  | { kind: 'pick'; conversation: number; agent: number }
  | { kind: 'advance'; ms: number; sweep: boolean };

const index = fc.nat(15);
const status = fc.oneof({ weight: 4, arbitrary: fc.constant<AgentStatus>('online') }, { weight: 1, arbitrary: fc.constantFrom<AgentStatus>('away', 'offline') });
const addAgent = fc.record({
  kind: fc.constant('addAgent' as const),
  capacity: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 2 }) }),
  departments: fc.subarray([...DEPARTMENTS], { minLength: 1 }),
  status,
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: addAgent },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('status' as const), agent: index, status }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('open' as const), department: fc.constantFrom(...DEPARTMENTS), priority: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('resolve' as const), conversation: index }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('accept' as const), conversation: index, byHolder: fc.boolean(), agent: index }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('decline' as const), conversation: index, byHolder: fc.boolean(), agent: index }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('pick' as const), conversation: index, agent: index }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(3_000, 6_000, 11_000), sweep: fc.boolean() }) },
);
const scenario = fc.record({
  manualOrder: fc.constantFrom('in_order', 'any'),
  k: fc.integer({ min: 1, max: 3 }),
  ops: fc.tuple(fc.array(addAgent, { minLength: 1, maxLength: 3 }), fc.array(op, { minLength: 15, maxLength: 35, size: 'max' })).map(([a, b]) => [...a, ...b]),
});

interface AgentSnap {
  id: string;
  status: string;
  load: number;
  capacity: number;
  departments: string[];
  offer_expiries: number;
}
interface ConvSnap {
  id: string;
  seq: number;
  state: string;
  agent_id: string | null;
  department: string;
  priority: number;
  declined_by: string[];
  offer_expires_at: Date | null;
}
interface Snap {
  agents: AgentSnap[];
  open: ConvSnap[];
  lastEvent: number;
}

async function snap(db: Queryable): Promise<Snap> {
  const agents = await db.query<AgentSnap>(
    `select a.id, a.status, a.load, sb_capacity(a) as capacity, a.departments, a.offer_expiries from agents a where a.deleted_at is null order by a.created_at, a.id`,
  );
  const open = await db.query<ConvSnap>(
    `select id, seq::int as seq, state, agent_id, department, priority, declined_by, offer_expires_at from conversations
      where state in ('queued', 'offered', 'assigned') order by priority desc, seq`,
  );
  const [e] = await db.query<{ id: number | null }>('select max(id)::int as id from events');
  return { agents, open, lastEvent: e!.id ?? 0 };
}

/** The code the call must fail with (null: it succeeds), from the state before it. */
function expected(o: Op, pre: Snap, conv: ConvSnap, agent: AgentSnap, manualOrder: string): string | null {
  if (o.kind === 'accept' || o.kind === 'decline') {
    if (conv.state === 'offered' && conv.agent_id === agent.id) return null;
    if (conv.agent_id !== agent.id && conv.state !== 'queued') return 'SB_FORBIDDEN';
    return 'SB_NOT_OFFERED';
  }
  if (conv.state !== 'queued') return 'SB_ALREADY_TAKEN';
  if (conv.department !== 'desk') return 'SB_NOT_MANUAL';
  if (agent.status !== 'online') return 'SB_AGENT_UNAVAILABLE';
  const serves = (c: ConvSnap) => agent.departments.includes(c.department) && !c.declined_by.includes(agent.id);
  if (!serves(conv)) return 'SB_NOT_ELIGIBLE';
  if (agent.load >= agent.capacity) return 'SB_NO_ROOM';
  if (manualOrder === 'in_order') {
    const head = pre.open.find((c) => c.state === 'queued' && c.department === conv.department && serves(c));
    if (head?.id !== conv.id) return 'SB_NOT_NEXT';
  }
  return null;
}

async function modeViolations(db: Queryable, pre: Snap, post: Snap, now: Date, swept: boolean, k: number): Promise<string[]> {
  const problems: string[] = [...(await invariantViolations(db))];
  for (const a of await overCapacity(db)) problems.push(`(1) agent ${a.id} holds ${a.load} of ${a.capacity}`);
  const agents = new Map(post.agents.map((a) => [a.id, a]));
  for (const c of post.open) {
    if (c.state === 'offered') {
      if (c.department !== 'offers') problems.push(`(2) conversation #${c.seq} of ${c.department} is offered`);
      if (swept && agents.get(c.agent_id!)?.status !== 'online') problems.push(`(4) conversation #${c.seq} is offered, after a sweep, to an agent who is not online`);
      if (swept && c.offer_expires_at! <= now) problems.push(`(4) conversation #${c.seq}'s offer outlived the sweep`);
    }
  }
  for (const a of post.agents) if (a.status === 'online' && a.offer_expiries >= k) problems.push(`(4) agent ${a.id} is online with ${a.offer_expiries} expiries in a row`);
  // every give of this step, against the conversation's give before it
  const gives = await db.query<{ id: number; type: string; conversation_id: string; agent_id: string; department: string; picked: boolean; previous: string | null; previous_agent: string | null }>(
    `select e.id, e.type, e.conversation_id, e.agent_id, c.department, coalesce((e.data ->> 'picked')::boolean, false) as picked,
            (select p.type from events p where p.conversation_id = e.conversation_id and p.id < e.id order by p.id desc limit 1) as previous,
            (select p.agent_id from events p where p.conversation_id = e.conversation_id and p.id < e.id order by p.id desc limit 1) as previous_agent
       from events e join conversations c on c.id = e.conversation_id
      where e.id > $1 and e.type in ('conversation.assigned', 'conversation.offered')`,
    [pre.lastEvent],
  );
  for (const g of gives) {
    if (g.type === 'conversation.offered' && g.department !== 'offers') problems.push(`(2) event ${g.id}: a ${g.department} conversation was offered`);
    if (g.type === 'conversation.assigned' && g.department === 'desk' && !g.picked) problems.push(`(2) event ${g.id}: a desk conversation was assigned without a pick`);
    if (g.type === 'conversation.assigned' && g.department === 'offers' && !(g.previous === 'conversation.offered' && g.previous_agent === g.agent_id)) {
      problems.push(`(2) event ${g.id}: an offers conversation was assigned without its agent accepting the offer (before: ${g.previous})`);
    }
  }
  return problems;
}

async function runScenario(store: TestStore, ops: readonly Op[], manualOrder: string, k: number): Promise<void> {
  // no keep-alive timeouts during a run: presence is the status op's business here
  await store.reset({ attendant_keep_alive_ms: 3_600_000 });
  const clock = fakeClock();
  const ctx: Ctx = { db: store.db, now: clock.now };
  await changeDepartmentRouting(ctx, 'offers', { mode: 'offer', offer_timeout_s: TIMEOUT_S, offer_expiries_before_away: k }, null);
  await changeDepartmentRouting(ctx, 'desk', { mode: 'manual', manual_order: manualOrder as 'in_order' | 'any' }, null);
  const log: string[] = [`manual_order ${manualOrder}, K ${k}`];
  let pre = await snap(store.db);
  let names = 0;
  for (const [step, o] of ops.entries()) {
    clock.advance(100);
    const conv = 'conversation' in o ? pre.open[o.conversation % Math.max(pre.open.length, 1)] : undefined;
    let agent = 'agent' in o ? pre.agents[o.agent % Math.max(pre.agents.length, 1)] : undefined;
    if ((o.kind === 'accept' || o.kind === 'decline') && o.byHolder && conv?.agent_id) agent = pre.agents.find((a) => a.id === conv.agent_id);
    if (('conversation' in o && !conv) || ('agent' in o && !agent)) continue;
    const want = o.kind === 'accept' || o.kind === 'decline' || o.kind === 'pick' ? expected(o, pre, conv!, agent!, manualOrder) : null;
    log.push(`${step}: ${JSON.stringify(o)} conv #${conv?.seq ?? '-'} (${conv?.state ?? ''} ${conv?.department ?? ''}) agent ${agent?.id ?? '-'}`);
    let outcome: string | null = null;
    try {
      switch (o.kind) {
        case 'addAgent': {
          names += 1;
          const row = await createAgent(ctx, { name: `m${names}`, email: `m${names}@example.test`, password: 'correct horse', role: 'agent', capacity: o.capacity, departments: o.departments });
          if (o.status !== 'offline') await updateAgent(ctx, row.id, { status: o.status }, SYSTEM);
          break;
        }
        case 'status':
          await updateAgent(ctx, agent!.id, { status: o.status }, SYSTEM);
          break;
        case 'open':
          await openConversation(ctx, { customer: { id: `c${step}` }, department: o.department, priority: o.priority });
          break;
        case 'resolve':
          await closeConversation(ctx, conv!.id, {}, SYSTEM);
          break;
        case 'accept':
        case 'decline':
          await answerOffer(ctx, conv!.id, o.kind === 'accept', { id: agent!.id, role: 'agent' });
          break;
        case 'pick':
          await pickConversation(ctx, conv!.id, { id: agent!.id, role: 'agent' });
          break;
        case 'advance':
          clock.advance(o.ms);
          for (const a of pre.agents) if (a.status !== 'offline') await heartbeat(ctx, a.id);
          if (o.sweep) await sweep(ctx);
          break;
      }
    } catch (error) {
      if (!(error instanceof AppError)) throw new Error(`step ${step} threw\n${log.join('\n')}`, { cause: error });
      outcome = error.code;
    }
    const post = await snap(store.db);
    const problems = await modeViolations(store.db, pre, post, clock.now(), o.kind === 'advance' && o.sweep, k);
    if (outcome !== want) problems.unshift(`(5) outcome ${outcome ?? 'ok'}, expected ${want ?? 'ok'}`);
    if (outcome !== null && post.lastEvent !== pre.lastEvent) problems.push('(5) a refused call wrote events');
    if (problems.length > 0) {
      const state = post.open.map((c) => `  #${c.seq} ${c.department} ${c.state} ${c.agent_id ?? ''} p${c.priority} declined [${c.declined_by}]`);
      const people = post.agents.map((a) => `  ${a.id} ${a.status} ${a.load}/${a.capacity} [${a.departments}] expiries ${a.offer_expiries}`);
      throw new Error([`step ${step} broke a promise:`, ...problems, 'steps:', ...log, 'agents:', ...people, 'open:', ...state].join('\n'));
    }
    pre = post;
  }
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 25);
const SECONDS = Number(process.env.PROPERTY_SECONDS ?? 40);

describeEachStore('allocation engine properties: offer and manual-pick modes', (store) => {
  it('keeps every promise of each mode after every step of random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, ({ manualOrder, k, ops }) => runScenario(store(), ops, manualOrder, k)),
      {
        numRuns: RUNS,
        ...(process.env.PROPERTY_SEED ? { seed: Number(process.env.PROPERTY_SEED) } : {}),
        interruptAfterTimeLimit: SECONDS * 1000,
        markInterruptAsFailure: false,
      },
    );
  });
});
