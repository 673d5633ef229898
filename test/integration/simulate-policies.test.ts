import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { runSimulationCommand, type CliIo } from '../../src/simulate/cli.js';
import type { ConversationRecord } from '../../src/simulate/mirror.js';
import type { RoutingPolicies } from '../../src/simulate/policy.js';
import { summarise, type Report } from '../../src/simulate/report.js';
import { runSimulation, type Behaviour, type SimulationConfig, type SimulationRun } from '../../src/simulate/run.js';
import type { AgentGroup } from '../../src/simulate/team.js';
import { exportTrace, formatTrace, parseTrace } from '../../src/simulate/trace.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore } from '../helpers/stores.js';

// Each routing policy in the simulator: a small run whose outcome shows the
// policy ran (who served what, when; offers, picks, sticky returns, SLA
// breaches), with the simulator's checks — capacity and "given once" against
// the store, order and work conservation as the policy defines eligibility —
// all clean. The simulator is PGlite-only by design; the export reads a
// store and runs on both.

const HANDLE_S = 300;

function config(options: {
  arrivals: number;
  perHour: number;
  departments?: { value: string; weight: number }[];
  groups: AgentGroup[];
  routing?: RoutingPolicies;
  behaviour?: Partial<Behaviour>;
  returningShare?: number;
  skills?: { skill: string; level: number; share: number }[];
  priorities?: { value: number; weight: number }[];
  seed?: number;
}): SimulationConfig {
  return {
    arrivals: {
      kind: 'poisson',
      perHour: options.perHour,
      count: options.arrivals,
      dayProfile: null,
      departments: options.departments ?? [],
      returningShare: options.returningShare ?? 0,
      skills: options.skills ?? [],
      priorities: options.priorities ?? [],
    },
    customers: { handle: { kind: 'exponential', meanS: HANDLE_S }, patienceMeanS: null, seed: options.seed ?? 3 },
    groups: options.groups,
    warmup: 0,
    target: { seconds: 20, share: 0.8 },
    sweepEveryS: 300,
    routing: options.routing ?? {},
    behaviour: { offerAcceptS: 5, offerDeclineShare: 0, offerMissShare: 0, pickDelayS: 5, ...options.behaviour },
  };
}

const group = (count: number, departments: string[], skills: Record<string, number> = {}): AgentGroup => ({ count, capacity: 1, departments, shift: null, skills });

function assertClean(run: SimulationRun): void {
  const c = run.checks;
  assert.deepEqual(
    { fifo: c.fifo_violations, work: c.work_conservation_violations, sweep: c.sweep_assignments, store: c.store_mismatches, sticky: c.sticky_violations ?? 0 },
    { fifo: 0, work: 0, sweep: 0, store: [], sticky: 0 },
    c.examples.join('\n'),
  );
}

const waitS = (r: ConversationRecord) => (r.assignedMs! - r.createdMs) / 1000;
const groupOf = (run: SimulationRun, agentId: string | null) => run.agents.find((a) => a.id === agentId)?.group;
const department = (report: Report, key: string) => report.breakdown.departments.find((d) => d.key === key)!;

// Sales is short-staffed, support has slack: the question of issue #20.
const SALES_SUPPORT = {
  arrivals: 150,
  perHour: 52,
  departments: [
    { value: 'sales', weight: 0.65 },
    { value: 'support', weight: 0.35 },
  ],
  groups: [group(2, ['sales']), group(3, ['support'])],
};

describe('simulate with routing policies', () => {
  it('overflow: sales conversations that waited 60 s are served by support agents too, and sales waits less', async () => {
    const base = await runSimulation(config(SALES_SUPPORT));
    const run = await runSimulation(config({ ...SALES_SUPPORT, routing: { sales: { overflow: [{ after_s: 60, to: 'support' }] } } }));
    assertClean(base);
    assertClean(run);
    const overflowed = run.records.filter((r) => r.department === 'sales' && groupOf(run, r.agentId) === 1);
    assert.ok(overflowed.length > 5, `some sales conversations went to support agents (${overflowed.length})`);
    for (const r of overflowed) assert.ok(waitS(r) >= 60, `#${r.index} overflowed after ${waitS(r)} s, before 60 s`);
    assert.equal(run.policy.overflowed, overflowed.length);
    assert.equal(base.records.filter((r) => r.department === 'sales' && groupOf(base, r.agentId) === 1).length, 0, 'without overflow nobody crosses');
    assert.ok(department(summarise(run), 'sales').wait_s.p90 < department(summarise(base), 'sales').wait_s.p90, 'overflow lowers sales’ p90 wait');
    assert.deepEqual(summarise(run).policy.routing, ['sales: {"overflow":[{"after_s":60,"to":"support"}]}']);
  });

  it('skills: a conversation needing Spanish goes to a Spanish speaker until the requirement is relaxed', async () => {
    const base = {
      arrivals: 150,
      perHour: 40,
      groups: [group(2, [], { spanish: 3 }), group(3, [])],
      skills: [{ skill: 'spanish', level: 2, share: 0.4 }],
    };
    const strict = await runSimulation(config(base));
    const relaxed = await runSimulation(config({ ...base, departments: [{ value: 'help', weight: 1 }], groups: [group(2, ['help'], { spanish: 3 }), group(3, ['help'])], routing: { help: { skills_relax_after_s: 90 } } }));
    assertClean(strict);
    assertClean(relaxed);
    const spanish = (run: SimulationRun) => run.records.filter((r) => r.requiredSkills?.spanish === 2 && r.outcome === 'answered');
    assert.ok(spanish(strict).length > 30);
    for (const r of spanish(strict)) assert.equal(groupOf(strict, r.agentId), 0, `#${r.index} needs Spanish, went to group ${groupOf(strict, r.agentId)}`);
    const crossed = spanish(relaxed).filter((r) => groupOf(relaxed, r.agentId) === 1);
    assert.ok(crossed.length > 0, 'after 90 s an agent without Spanish may take it');
    for (const r of crossed) assert.ok(waitS(r) >= 90, `#${r.index} went to an agent without Spanish after ${waitS(r)} s`);
  });

  it('aging: a low priority conversation waits less at worst behind a stream of high priority ones', async () => {
    const base = { arrivals: 150, perHour: 55, groups: [group(5, [])], priorities: [{ value: 0, weight: 0.6 }, { value: 3, weight: 0.4 }], seed: 4 };
    const plain = await runSimulation(config(base));
    const aging = await runSimulation(config({ ...base, departments: [{ value: 'help', weight: 1 }], groups: [group(5, ['help'])], routing: { help: { aging_per_min: 1 } } }));
    assertClean(aging);
    const low = (run: SimulationRun) => summarise(run).breakdown.priorities.find((p) => p.key === 0)!.wait_s.max;
    assert.ok(low(aging) < low(plain), `low priority max wait ${low(aging)} s with aging, ${low(plain)} s without`);
  });

  it('SLA: a breach is raised for exactly the conversations not answered within the target', async () => {
    const run = await runSimulation(config({ ...SALES_SUPPORT, routing: { sales: { sla_first_response_s: 30 } } }));
    assertClean(run);
    const late = run.records.filter((r) => r.department === 'sales' && (r.assignedMs === null || waitS(r) > 30)).length;
    assert.ok(late > 5);
    assert.equal(run.policy.sla_breaches, late);
  });

  it('offer and accept: offers are accepted after the agent’s delay, declined ones go to the next agent, unanswered ones run out', async () => {
    const run = await runSimulation(
      config({
        ...SALES_SUPPORT,
        routing: { sales: { mode: 'offer', offer_timeout_s: 20, offer_expiries_before_away: 100 } },
        behaviour: { offerAcceptS: 8, offerDeclineShare: 0.2, offerMissShare: 0.1 },
      }),
    );
    assertClean(run);
    const p = run.policy;
    assert.ok(p.offered > 90 && p.offers_declined > 5 && p.offers_expired > 2, JSON.stringify(p));
    assert.equal(p.offers_accepted, run.records.filter((r) => r.department === 'sales' && r.outcome !== 'open').length);
    for (const r of run.records.filter((r) => r.department === 'sales' && r.outcome === 'answered')) assert.ok(waitS(r) >= 8, `#${r.index} assigned after ${waitS(r)} s, before the accept`);
    const refused = run.records.filter((r) => (r.offersRefused ?? 0) >= 1);
    assert.ok(refused.some((r) => r.outcome === 'answered'), 'a refused offer goes on to be answered by another agent');
  });

  it('manual pick: agents pick every conversation of the department, none is assigned by the engine', async () => {
    const run = await runSimulation(config({ ...SALES_SUPPORT, routing: { sales: { mode: 'manual' } }, behaviour: { pickDelayS: 10 } }));
    assertClean(run);
    const sales = run.records.filter((r) => r.department === 'sales' && r.outcome === 'answered');
    assert.ok(sales.length > 60);
    assert.equal(run.policy.picks, sales.length);
    for (const r of sales) assert.ok(waitS(r) >= 10, `#${r.index} picked after ${waitS(r)} s`);
  });

  it('sticky agent: returning customers within the window go back to their last agent', async () => {
    const base = { arrivals: 150, perHour: 40, departments: [{ value: 'help', weight: 1 }], groups: [group(5, ['help'])], returningShare: 0.5 };
    const run = await runSimulation(config({ ...base, routing: { help: { sticky_window_s: 7200, sticky_wait_s: 120 } } }));
    assertClean(run);
    assert.ok(run.policy.sticky_returns > 5, `sticky returns: ${run.policy.sticky_returns}`);
    assert.equal(run.checks.sticky_violations, 0);
    const waitedForTheirAgent = run.records.filter((r) => r.stickyAgentId !== undefined && r.stickyAgentId !== null && r.waited);
    assert.ok(waitedForTheirAgent.length > 0, 'some returning customers waited for their busy agent');
  });
});

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}
const NO_STORE = { databaseUrl: undefined, dataDir: '/nonexistent/switchboard-data' };

describe('simulate and plan: policy flags', () => {
  for (const [flags, message] of [
    [['--routing', 'sales:mode=fast'], /--routing sales: mode: /],
    [['--routing', 'sales:overflow=sales@60'], /--routing sales: overflow\[0\]\.to must name another department/],
    [['--routing', 'sales:offer_timeout_s=2'], /--routing sales: offer_timeout_s: .*5/],
    [['--routing', 'sales:colour=red'], /--routing sales: unknown field colour/],
    [['--group', 'count=2,skills=spanish:11'], /--group skills: spanish: .*10/],
    [['--offer-decline-share', '0.7', '--offer-miss-share', '0.5'], /must not exceed 1/],
  ] as const) {
    it(`refuses ${flags.join(' ')} naming the flag and field`, async () => {
      const io = capture();
      const status = await runSimulationCommand('simulate', ['--arrivals', '10', '--load', '0.5', ...flags], NO_STORE, io);
      assert.equal(status, 2);
      assert.match(io.stderr, message);
    });
  }

  it('plan answers the issue’s question: sales overflowing to support after 60 s, 80 % in 20 s, and says which policy it assumed', async () => {
    const io = capture();
    const status = await runSimulationCommand(
      'plan',
      [
        '--arrivals', '80', '--arrivals-per-hour', '52', '--departments', 'sales=0.65,support=0.35',
        '--group', 'count=3,departments=sales', '--group', 'count=3,departments=support', '--size-group', '2',
        '--routing', 'sales:overflow=support@60', '--target-s', '20', '--target-share', '0.6', '--json',
      ],
      NO_STORE,
      io,
    );
    assert.equal(status, 0, io.stderr);
    const plan = JSON.parse(io.stdout) as { policy: string[]; simulation: { agents: number | null }; tried: { agents: number; meets_target: boolean }[] };
    assert.deepEqual(plan.policy, ['sales: {"overflow":[{"to":"support","after_s":60}]}']);
    assert.ok(plan.simulation.agents !== null);
    const best = plan.tried.find((t) => t.agents === plan.simulation.agents)!;
    assert.ok(best.meets_target);
    const fewer = plan.tried.find((t) => t.agents === plan.simulation.agents! - 1);
    if (plan.simulation.agents! > 1) assert.equal(fewer?.meets_target, false, 'one agent fewer misses the target');
  });
});

describeEachStore('export-trace: required skills and verified customers', (store) => {
  let ctx: Ctx;
  before(async () => {
    await store().reset();
    const clock = fakeClock(Date.parse('2026-03-02T08:00:00Z'));
    ctx = { db: store().db, now: clock.now };
    await openConversation(ctx, { customer: { id: 'kim' }, customer_verified: true, department: 'sales', required_skills: { spanish: 2, billing: 1 } });
    clock.advance(10_000);
    await openConversation(ctx, { customer: { id: 'claimed' }, department: 'sales' });
  });

  it('writes the skills asked and the verified customer id, and a replay reads them back', async () => {
    const rows = await exportTrace(store().db);
    assert.deepEqual(
      rows.map((r) => [r.skills, r.customer_id]),
      [
        ['billing:1;spanish:2', 'kim'],
        [null, null],
      ],
    );
    const csv = formatTrace(rows, 'csv');
    assert.equal(csv.split('\n')[0], 'at,department,priority,handle_s,patience_s,skills,customer_id,labels');
    const trace = parseTrace(csv, 'csv');
    assert.deepEqual(
      trace.arrivals.map((a) => [a.skills, a.customerId]),
      [
        [{ billing: 1, spanish: 2 }, 'kim'],
        [null, null],
      ],
    );
  });
});

describe('traces with skills and returning customers', () => {
  it('reads old traces without the new columns, and routes a trace’s skills and customers', async () => {
    const old = parseTrace('at,department,priority,handle_s,patience_s\n0,,0,60,\n', 'csv');
    assert.deepEqual([old.arrivals[0]!.skills, old.arrivals[0]!.customerId, old.arrivals[0]!.labels], [null, null, []]);
    const csv = ['at,department,priority,handle_s,patience_s,skills,customer_id,labels', '0,help,0,60,,,ann,', '100,help,0,60,,,ann,VIP', '110,help,0,60,,spanish:2,bo,'].join('\n');
    const run = await runSimulation({
      ...config({ arrivals: 3, perHour: 1, groups: [group(1, ['help']), group(1, ['help'], { spanish: 2 })], routing: { help: { sticky_window_s: 600 } } }),
      arrivals: { kind: 'trace', trace: parseTrace(csv, 'csv'), count: null },
    });
    assertClean(run);
    const [first, second, third] = run.records;
    assert.equal(second!.agentId, first!.agentId, 'ann came back to her agent');
    assert.equal(run.policy.sticky_returns, 1);
    assert.equal(groupOf(run, third!.agentId), 1, 'the Spanish conversation went to the Spanish speaker');
  });
});


describe('labels that require skills (--label-skills)', () => {
  // Two VIP conversations and one plain one, 10 minutes each, on two agents
  // without Spanish and one with: a VIP label that requires Spanish makes the
  // second VIP wait for the Spanish speaker while the others sit idle.
  const trace = ['at,department,priority,handle_s,patience_s,skills,customer_id,labels', '0,help,0,600,,,,vip', '1,help,0,600,,,,', '2,help,0,600,,,,vip'].join('\n');
  const team = ['--group', 'count=2,departments=help', '--group', 'count=1,departments=help,skills=spanish:3', '--json'];
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-label-skills-'));
    await writeFile(join(dir, 'trace.csv'), trace);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const simulate = async (flags: string[]) => {
    const io = capture();
    const status = await runSimulationCommand('simulate', ['--trace', join(dir, 'trace.csv'), ...flags, ...team], NO_STORE, io);
    assert.equal(status, 0, io.stderr);
    return JSON.parse(io.stdout) as { results: { wait_s: { max: number } }; checks: { work_conservation_violations: number; fifo_violations: number } };
  };

  it('routes a trace’s labelled conversations to agents with the label’s skills, and only them', async () => {
    const plain = await simulate([]);
    assert.equal(plain.results.wait_s.max, 0, 'without label skills three agents take three conversations at once');
    const vip = await simulate(['--label-skills', 'vip=spanish:2']);
    assert.ok(vip.results.wait_s.max >= 590, `the second VIP waits for the only Spanish speaker (${vip.results.wait_s.max} s)`);
    assert.deepEqual([vip.checks.work_conservation_violations, vip.checks.fifo_violations], [0, 0]);
  });

  for (const [flags, message] of [
    [['--label-skills', 'vip'], /--label-skills is label=skill:level/],
    [['--label-skills', 'vip=spanish:0'], /--label-skills vip: /],
    [['--label-skills', 'vip=spanish:2,vip=billing:1'], /names label "vip" twice/],
  ] as const) {
    it(`refuses ${flags.join(' ')}`, async () => {
      const io = capture();
      assert.equal(await runSimulationCommand('simulate', ['--trace', join(dir, 'trace.csv'), ...flags, ...team], NO_STORE, io), 2);
      assert.match(io.stderr, message);
    });
  }

  it('refuses --label-skills without a trace: generated arrivals carry no labels', async () => {
    const io = capture();
    assert.equal(await runSimulationCommand('simulate', ['--arrivals', '10', '--load', '0.5', '--label-skills', 'vip=spanish:2'], NO_STORE, io), 2);
    assert.match(io.stderr, /--label-skills needs --trace/);
  });
});
