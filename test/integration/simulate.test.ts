import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { recordRoom } from '../../src/channels/qiscus/rooms.js';
import type { Ctx } from '../../src/context.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { checkErlang } from '../../src/simulate/check.js';
import { runSimulationCommand, type CliIo } from '../../src/simulate/cli.js';
import { plan, type Plan } from '../../src/simulate/plan.js';
import { summarise } from '../../src/simulate/report.js';
import { runSimulation, type SimulationConfig } from '../../src/simulate/run.js';
import { formatPlan } from '../../src/simulate/table.js';
import { exportTrace, formatTrace, parseTrace } from '../../src/simulate/trace.js';
import { setConversationLabels } from '../../src/labels/conversation-labels.js';
import { createLabel } from '../../src/labels/labels.js';
import { fakeClock } from '../helpers/clock.js';
import { makeAgent } from '../helpers/fixtures.js';
import { describeEachStore } from '../helpers/stores.js';

function mmc(options: { agents: number; capacity: number; load: number; arrivals: number; seed: number; handleS?: number }): SimulationConfig {
  const handleS = options.handleS ?? 300;
  return {
    arrivals: { kind: 'poisson', perHour: (options.load * options.agents * options.capacity * 3600) / handleS, count: options.arrivals, dayProfile: null, departments: [] },
    customers: { handle: { kind: 'exponential', meanS: handleS }, patienceMeanS: null, seed: options.seed },
    groups: [{ count: options.agents, capacity: options.capacity, departments: [], shift: null }],
    warmup: 0.05,
    target: { seconds: 20, share: 0.8 },
    sweepEveryS: 600,
  };
}

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

const NO_STORE = { databaseUrl: undefined, dataDir: '/nonexistent/switchboard-data' };

describe('simulate: the engine as an M/M/c queue', () => {
  it('gives every customer exactly the wait of an ideal FIFO queue, and agrees with Erlang C within sampling error', async () => {
    // 2 agents × capacity 2 = 4 slots at occupancy 0.7, 1,000 arrivals. Over
    // 400 seeds of the ideal queue at this size, 95 % of runs have P(wait)
    // within 0.12 of Erlang C and the mean wait within 75 % of it: one
    // thousand customers is a few hours of one queue, and waits come in
    // bursts. The 50,000-arrival check is a documented command
    // (docs/simulation.md); here the exact comparison carries the weight.
    const check = await checkErlang(mmc({ agents: 2, capacity: 2, load: 0.7, arrivals: 1000, seed: 1 }));
    assert.equal(check.ideal_queue.differing, 0, `engine waits differ from the ideal FIFO queue: ${JSON.stringify(check.ideal_queue)}`);
    assert.deepEqual(check.checks, { fifo_violations: 0, work_conservation_violations: 0, sweep_assignments: 0, store_mismatches: [], examples: [] });
    assert.ok(Math.abs(check.agreement.p_wait_absolute_error) <= 0.12, `P(wait) ${check.simulation.p_wait} vs Erlang C ${check.erlang.p_wait}`);
    assert.ok(Math.abs(check.agreement.mean_wait_relative_error) <= 0.75, `mean wait ${check.simulation.mean_wait_s} vs Erlang C ${check.erlang.mean_wait_s}`);
    assert.equal(check.inputs.slots, 4);
    assert.ok(check.simulation.p_wait > 0.2, 'at occupancy 0.7 a good share of customers must wait');
  });
});

describe('simulate: determinism', () => {
  // departments, priorities of a day profile, shifts and abandonment: every
  // tie the engine breaks must break the same way twice
  const config: SimulationConfig = {
    arrivals: {
      kind: 'poisson',
      perHour: 40,
      count: 250,
      dayProfile: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1.5, 2, 2, 2, 1.5, 1.5, 2, 2, 1.5, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
      departments: [
        { value: 'sales', weight: 2 },
        { value: 'support', weight: 1 },
      ],
    },
    customers: { handle: { kind: 'lognormal', meanS: 240, cv: 0.8 }, patienceMeanS: 300, seed: 42 },
    groups: [
      { count: 2, capacity: 2, departments: ['sales', 'support'], shift: null },
      { count: 2, capacity: 1, departments: ['sales'], shift: { startMin: 8 * 60, endMin: 18 * 60 } },
    ],
    warmup: 0,
    target: { seconds: 30, share: 0.8 },
    sweepEveryS: 900,
  };

  it('gives the same result for the same seed, and a different one for another seed', async () => {
    const strip = (r: ReturnType<typeof summarise>) => ({ ...r, performance: null });
    const first = await runSimulation(config);
    const second = await runSimulation(config);
    assert.deepEqual(
      second.records.map((r) => [r.index, r.createdMs, r.assignedMs, r.closedMs, r.agentId, r.outcome]),
      first.records.map((r) => [r.index, r.createdMs, r.assignedMs, r.closedMs, r.agentId, r.outcome]),
    );
    assert.deepEqual(strip(summarise(second)), strip(summarise(first)));
    const report = summarise(first);
    assert.ok(report.results.abandoned > 0 && report.results.answered > 0, 'the scenario exercises both outcomes');
    assert.deepEqual(report.checks.store_mismatches, []);
    assert.equal(report.checks.fifo_violations, 0);
    assert.equal(report.checks.work_conservation_violations, 0);

    const other = await runSimulation({ ...config, customers: { ...config.customers, seed: 43 } });
    assert.notDeepEqual(
      other.records.map((r) => r.createdMs),
      first.records.map((r) => r.createdMs),
    );
  });
});

describe('simulate: the periodic sweep under the default policy', () => {
  it('is called only at ticks when something is queued, and finds nothing then', async () => {
    const ticks = (r: { endMs: number }) => Math.floor(r.endMs / 600_000);
    // 40 slots for about two conversations at a time: nothing ever queues,
    // so no tick of a run of some four hours has anything to sweep
    const idle = await runSimulation(mmc({ agents: 4, capacity: 10, load: 0.05, arrivals: 100, seed: 3 }));
    assert.ok(idle.records.every((r) => !r.waited), 'nobody waits');
    assert.ok(ticks(idle) >= 10, `the run spans many sweep ticks (${ticks(idle)})`);
    assert.equal(idle.engine.calls.sweep, 0);
    // one slot at occupancy 0.9: most ticks find someone queued and sweep
    const busy = await runSimulation(mmc({ agents: 1, capacity: 1, load: 0.9, arrivals: 200, seed: 3 }));
    assert.ok(busy.engine.calls.sweep > 0, 'ticks with something queued sweep');
    assert.ok(busy.engine.calls.sweep < ticks(busy), `ticks with nothing queued do not (${busy.engine.calls.sweep} of ${ticks(busy)})`);
    assert.equal(busy.checks.sweep_assignments, 0);
  });
});

describe('simulate: trace round trip from its own store', () => {
  it('replays an exported run with the same arrivals, handle times and waits', async () => {
    const config = mmc({ agents: 2, capacity: 1, load: 0.75, arrivals: 200, seed: 5 });
    let rows: Awaited<ReturnType<typeof exportTrace>> = [];
    const original = await runSimulation(config, { inspect: async (db) => void (rows = await exportTrace(db)) });
    assert.equal(rows.length, 200);
    const trace = parseTrace(formatTrace(rows, 'csv'), 'csv');
    const replay = await runSimulation({ ...config, arrivals: { kind: 'trace', trace, count: null } });
    const view = (rs: typeof original.records) => rs.map((r) => [r.createdMs, r.handleMs, r.assignedMs === null ? null : r.assignedMs - r.createdMs]);
    assert.equal(replay.originMs, original.originMs, 'the replay starts its clock where the run did');
    assert.deepEqual(view(replay.records), view(original.records));
  });
});

describeEachStore('export-trace from Switchboard history', (store) => {
  let ctx: Ctx;
  let clock: ReturnType<typeof fakeClock>;
  const created: { at: number; department: string | null; priority: number; handleMs: number | null }[] = [];

  before(async () => {
    await store().reset();
    clock = fakeClock(Date.parse('2026-03-02T08:00:00Z'));
    ctx = { db: store().db, now: clock.now };
    await makeAgent(ctx, { status: 'online', capacity: 2, departments: ['sales', 'support'] });
    // a small morning: customers arrive, the oldest open one is closed after each new one, the last stay open
    const open: { id: string; at: number; assigned: boolean }[] = [];
    for (let i = 0; i < 8; i++) {
      clock.advance(37_250 + i * 1_000);
      const department = i % 3 === 0 ? null : i % 3 === 1 ? 'sales' : 'support';
      const { conversation } = await openConversation(ctx, { customer: { id: `c${i}` }, department, priority: i === 5 ? 1 : 0 });
      created.push({ at: clock.now().getTime(), department, priority: i === 5 ? 1 : 0, handleMs: null });
      open.push({ id: conversation.id, at: clock.now().getTime(), assigned: conversation.state === 'assigned' });
      if (open.length >= 2 && i < 7) {
        clock.advance(5_500);
        const done = open.shift()!;
        await closeConversation(ctx, done.id, {}, SYSTEM);
      }
    }
  });

  it('writes every conversation in arrival order with handle times and patience, and replays to the same arrivals', async () => {
    const rows = await exportTrace(store().db);
    assert.equal(rows.length, created.length);
    assert.deepEqual(
      rows.map((r) => [r.at, r.department, r.priority]),
      created.map((c) => [new Date(c.at).toISOString(), c.department, c.priority]),
    );
    assert.ok(rows.some((r) => r.handle_s !== null && r.handle_s > 0), 'resolved conversations carry their handle time');

    const trace = parseTrace(formatTrace(rows, 'json'), 'json');
    const replay = await runSimulation({
      arrivals: { kind: 'trace', trace, count: null },
      customers: { handle: { kind: 'exponential', meanS: 60 }, patienceMeanS: null, seed: 1 },
      groups: [{ count: 1, capacity: 2, departments: ['sales', 'support'], shift: null }],
      warmup: 0,
      target: { seconds: 20, share: 0.8 },
      sweepEveryS: 0,
    });
    assert.deepEqual(
      replay.records.map((r) => [new Date(replay.originMs + r.createdMs).toISOString(), r.department, r.priority]),
      rows.map((r) => [r.at, r.department, r.priority]),
    );
    rows.forEach((row, i) => {
      if (row.handle_s !== null) assert.equal(replay.records[i]!.handleMs, Math.round(row.handle_s * 1000));
    });
  });

  it("writes each conversation's labels as a ;-joined column that a replay reads and ignores", async () => {
    const [first, second] = await store().db.query<{ id: string }>('select id from conversations order by seq limit 2');
    await createLabel(ctx, { name: 'VIP', color: '#ffaa00' });
    await createLabel(ctx, { name: 'refund', color: '#3366cc' });
    await setConversationLabels(ctx, first!.id, ['VIP', 'refund'], SYSTEM);
    await setConversationLabels(ctx, second!.id, ['VIP'], SYSTEM);
    try {
      const rows = await exportTrace(store().db);
      assert.deepEqual(rows.map((r) => r.labels), ['refund;VIP', 'VIP', ...rows.slice(2).map(() => null)]);
      const csv = formatTrace(rows, 'csv');
      assert.match(csv.split('\n')[0]!, /,labels$/);
      assert.match(csv.split('\n')[1]!, /,refund;VIP$/);
      assert.equal(parseTrace(csv, 'csv').arrivals.length, rows.length);
      assert.equal(parseTrace(formatTrace(rows, 'json'), 'json').arrivals.length, rows.length);
    } finally {
      await setConversationLabels(ctx, first!.id, [], SYSTEM);
      await setConversationLabels(ctx, second!.id, [], SYSTEM);
    }
  });

  it("leaves out the rooms of a channel's own queue, which the Qiscus allocator assigns, not the engine", async () => {
    const room = await recordRoom(ctx, { room_id: 'r1', name: 'Qiscus customer', email: 'q@example.test' });
    try {
      const rows = await exportTrace(store().db);
      assert.equal(rows.length, created.length);
      assert.ok(!rows.some((r) => r.department === '@qiscus'));
    } finally {
      await store().db.query('delete from events where conversation_id = $1', [room.conversation.id]);
      await store().db.query('delete from qiscus_rooms where conversation_id = $1', [room.conversation.id]);
      await store().db.query('delete from conversations where id = $1', [room.conversation.id]);
    }
  });

  it('limits the export to a time window', async () => {
    const from = new Date(created[2]!.at);
    const to = new Date(created[5]!.at);
    const rows = await exportTrace(store().db, { from, to });
    assert.deepEqual(
      rows.map((r) => r.at),
      created.slice(2, 5).map((c) => new Date(c.at).toISOString()),
    );
  });

  it('is reachable as `switchboard export-trace` on this store', async (t) => {
    if (store().kind !== 'postgres') return t.skip('an in-memory PGlite store has no address the command could open');
    const io = capture();
    const code = await runSimulationCommand('export-trace', ['--format', 'csv'], { databaseUrl: store().url, dataDir: 'unused' }, io);
    assert.equal(code, 0, io.stderr);
    assert.equal(io.stdout.trim().split('\n').length, created.length + 1);
  });
});

/**
 * What `plan` promises, read off its own table: the answer meets the target,
 * one agent fewer was tried on the same customers and missed it, the search
 * started at Erlang C's answer, and "meets target" is the service level
 * against the target share.
 */
function assertSmallestTeam(p: Plan): number {
  const n = p.simulation.agents;
  assert.ok(n !== null, `no team met the target: ${JSON.stringify(p.tried)}`);
  const tried = new Map(p.tried.map((c) => [c.agents, c]));
  assert.equal(tried.get(n)?.meets_target, true, `${n} agents must meet the target`);
  if (n > 1) assert.equal(tried.get(n - 1)?.meets_target, false, `${n - 1} agents must have been tried and missed the target`);
  assert.ok(tried.has(p.erlang.agents), `the search starts at Erlang C's ${p.erlang.agents} agents`);
  for (const c of p.tried) assert.equal(c.meets_target, c.service_level >= p.target.share, `${c.agents} agents: ${c.service_level}`);
  assert.deepEqual(
    p.tried.map((c) => c.agents),
    [...tried.keys()].sort((a, b) => a - b),
  );
  return n;
}

describe('plan: the smallest team that meets the target', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'sb-plan-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('steps down from Erlang C when it staffs for a peak, and its figures are what simulating each size gives', async () => {
    // 60 chats/h at the peak, a quarter of that the rest of the day: Erlang C
    // sizes for the peak rate, the day as a whole needs fewer agents.
    const dayProfile = [...Array<number>(8).fill(0.25), ...Array<number>(4).fill(1), ...Array<number>(12).fill(0.25)];
    const template: SimulationConfig = {
      arrivals: { kind: 'poisson', perHour: 60, count: 1200, dayProfile, departments: [] },
      customers: { handle: { kind: 'exponential', meanS: 300 }, patienceMeanS: null, seed: 1 },
      groups: [{ count: 1, capacity: 1, departments: [], shift: null }],
      warmup: 0.05,
      target: { seconds: 20, share: 0.8 },
      sweepEveryS: 600,
    };
    const result = await plan(template, { maxAgents: 50 });
    const n = assertSmallestTeam(result);
    assert.ok(n < result.erlang.agents, `peak-rate Erlang C (${result.erlang.agents}) over-staffs the day; plan chose ${n}`);
    assert.match(result.erlang.note ?? '', /peak/);

    const alone = summarise(await runSimulation({ ...template, groups: [{ ...template.groups[0]!, count: n }] })).results;
    const row = result.tried.find((c) => c.agents === n)!;
    assert.equal(row.service_level, alone.service_level, `${n} agents: plan's figure is a simulation of that team on the same customers`);
    assert.equal(row.mean_wait_s, alone.wait_s.mean);
  });

  it('steps up from Erlang C for bursty traffic (`switchboard plan --trace --json`), and its table says so', async () => {
    // 60 chats/h on average, but a dozen at once every 12 minutes: Poisson
    // arrivals at that rate would need fewer agents than these bursts.
    const trace = join(dir, 'bursts.csv');
    const rows = Array.from({ length: 50 }, (_, burst) => Array.from({ length: 12 }, (_, k) => `${burst * 720 + k},,0,,`)).flat();
    await writeFile(trace, ['at,department,priority,handle_s,patience_s', ...rows].join('\n'));
    const io = capture();
    const flags = ['--trace', trace, '--handle-time-s', '300', '--capacity', '1', '--seed', '1', '--json'];
    assert.equal(await runSimulationCommand('plan', flags, NO_STORE, io), 0, io.stderr);
    const result = JSON.parse(io.stdout) as Plan;
    // 599 gaps between the first and the last arrival, 35,291 s apart
    assert.ok(Math.abs(result.arrivals_per_hour - (599 / 35_291) * 3600) < 1e-9, `the trace's average rate, got ${result.arrivals_per_hour}`);
    const n = assertSmallestTeam(result);
    assert.ok(n > result.erlang.agents, `bursts need more than Poisson arrivals' ${result.erlang.agents} agents; plan chose ${n}`);

    const table = formatPlan(result);
    assert.match(table, new RegExp(`simulation: ${n} agents \\(600 arrivals per run, seed 1\\)`));
    assert.match(table, new RegExp(`Erlang C: +${result.erlang.agents} agents`));
  });
});

describe('switchboard simulate / plan / export-trace: flags', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-sim-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const expectError = async (command: 'simulate' | 'plan' | 'export-trace', argv: string[], message: RegExp) => {
    const io = capture();
    const code = await runSimulationCommand(command, argv, NO_STORE, io);
    assert.equal(code, 2, `${command} ${argv.join(' ')} should be refused`);
    assert.match(io.stderr, message);
    assert.match(io.stderr, new RegExp(`switchboard ${command} --help`));
    assert.equal(io.stdout, '');
  };

  it('names the flag and what it accepts', async () => {
    await expectError('simulate', ['--agnets', '3'], /Unknown option '--agnets'/);
    await expectError('simulate', ['--arrivals-per-hour', 'many'], /--arrivals-per-hour must be a number > 0, got "many"/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--agents', '2.5'], /--agents must be a whole number ≥ 1/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--capacity', '0'], /--capacity must be a whole number ≥ 1/);
    await expectError('simulate', ['--agents', '3'], /--arrivals-per-hour \(or --load/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--load', '0.5'], /not both/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--handle-dist', 'gamma'], /exponential, lognormal or fixed/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--shift', '9-17'], /HH:MM-HH:MM/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--target-share', '80'], /--target-share must be a number > 0 and ≤ 1/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--group', 'count=2,seats=3'], /unknown key\(s\) seats/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--group', 'count=2', '--agents', '3'], /--agents cannot be combined with --group/);
    await expectError('simulate', ['--arrivals', '10'], /--arrivals-per-hour/);
    // a channel's own queue is its channel's to route, not the simulated engine's
    await expectError('simulate', ['--arrivals-per-hour', '10', '--departments', 'sales=1,@qiscus=1'], /--departments: "@qiscus" is a channel's own queue/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--agent-departments', '@qiscus'], /--agent-departments: "@qiscus" is a channel's own queue/);
    await expectError('simulate', ['--arrivals-per-hour', '10', '--group', 'count=2,departments=sales|@qiscus'], /--group departments: "@qiscus" is a channel's own queue/);
    await expectError('plan', ['--arrivals-per-hour', '10', '--agents', '3'], /leave out --agents/);
    await expectError('export-trace', ['--from', 'yesterday'], /--from must be an ISO 8601 time/);
    await expectError('export-trace', [], /no embedded store/);
  });

  it('refuses --check-erlang for systems Erlang C does not describe', async () => {
    await expectError('simulate', ['--check-erlang', '--load', '0.8', '--patience-s', '60'], /needs an M\/M\/c system, but customers abandon/);
    await expectError('simulate', ['--check-erlang', '--load', '0.8', '--handle-dist', 'lognormal'], /handle times are not exponential/);
    await expectError('simulate', ['--check-erlang', '--load', '0.8', '--departments', 'sales=1'], /arrivals have departments/);
    await expectError('simulate', ['--check-erlang', '--load', '0.8', '--svg', 'x.svg'], /--svg cannot be combined/);
  });

  it('reports bad trace files with the line at fault', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'at,department,priority,handle_s,patience_s\n10,sales,0,60,\n20,sales,high,60,\n');
    await expectError('simulate', ['--trace', bad], /bad\.csv line 3: priority must be a whole number/);
    const qiscus = join(dir, 'qiscus.csv');
    await writeFile(qiscus, 'at,department,priority,handle_s,patience_s\n10,sales,0,60,\n20,@qiscus,0,60,\n');
    await expectError('simulate', ['--trace', qiscus], /qiscus\.csv line 3: "@qiscus" is a channel's own queue/);
    await expectError('simulate', ['--trace', join(dir, 'missing.csv')], /cannot read trace/);
    await expectError('simulate', ['--trace', bad, '--arrivals-per-hour', '5'], /cannot be combined with --trace/);
    const mixed = join(dir, 'mixed.json');
    await writeFile(mixed, JSON.stringify([{ at: 5 }, { at: '2026-01-05T00:00:00Z' }]));
    await expectError('simulate', ['--trace', mixed], /all timestamps or all seconds/);
  });

  it('prints help', async () => {
    for (const command of ['simulate', 'plan', 'export-trace'] as const) {
      const io = capture();
      assert.equal(await runSimulationCommand(command, ['--help'], NO_STORE, io), 0);
      assert.match(io.stdout, new RegExp(`usage: switchboard ${command}`));
    }
  });

  it('runs a trace end to end: table, JSON, SVG and the saved trace', async () => {
    const trace = join(dir, 'in.csv');
    await writeFile(trace, ['at,department,priority,handle_s,patience_s', '0,,0,120,', '30,,0,200,', '45,,0,,10', '60,,1,90,', '61,,0,30,'].join('\n'));
    const svg = join(dir, 'run.svg');
    const saved = join(dir, 'saved.json');
    const io = capture();
    const code = await runSimulationCommand('simulate', ['--trace', trace, '--agents', '1', '--json', '--svg', svg, '--save-trace', saved, '--handle-time-s', '50'], NO_STORE, io);
    assert.equal(code, 0, io.stderr);
    const report = JSON.parse(io.stdout);
    assert.equal(report.results.arrivals, 5);
    assert.equal(report.results.abandoned, 1, 'the customer with 10 s of patience behind a 120 s conversation leaves');
    assert.match(await readFile(svg, 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const savedRows = JSON.parse(await readFile(saved, 'utf8'));
    assert.equal(savedRows.length, 5);
    assert.deepEqual(
      savedRows.map((r: { at: string }) => (Date.parse(r.at) - Date.parse('2026-01-05T00:00:00Z')) / 1000),
      [0, 30, 45, 60, 61],
    );
    assert.equal(savedRows[2].patience_s, 10);

    const table = capture();
    assert.equal(await runSimulationCommand('simulate', ['--trace', trace, '--agents', '2'], NO_STORE, table), 0);
    assert.match(table.stdout, /mean wait/);
    assert.match(table.stdout, /engine checks: FIFO, work-conserving/);
  });
});
