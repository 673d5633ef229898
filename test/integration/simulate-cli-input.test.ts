import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { runSimulationCommand, type CliIo, type SimulationCommand } from '../../src/simulate/cli.js';
import { REPO_ROOT } from '../helpers/process-server.js';

// What `switchboard simulate | plan | export-trace` does with requests it
// cannot honour: status 2 and a message naming the flag (or the trace's line
// and column), never a stack trace, a hang or status 1, which means the
// engine broke a promise. Runs are kept to a few arrivals.

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

const NO_STORE = { databaseUrl: undefined, dataDir: '/nonexistent/switchboard-data' };

async function refused(command: SimulationCommand, argv: string[], message: RegExp): Promise<void> {
  const io = capture();
  const code = await runSimulationCommand(command, argv, NO_STORE, io);
  assert.equal(code, 2, `${command} ${argv.join(' ')} should be refused; stderr: ${io.stderr}`);
  assert.match(io.stderr, message);
  assert.equal(io.stdout, '', 'nothing ran');
}

// The requests that used to run for ever are run as a child process, so a
// hang is a failed test rather than a test file that never ends.
const HERE = fileURLToPath(import.meta.url);
const ENTRY = HERE.endsWith('.js')
  ? // compiled by scripts/test.mjs into a mirror of the checkout
    ['--enable-source-maps', resolve(dirname(HERE), '..', '..', 'src', 'main.js')]
  : ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts')];

function switchboard(args: string[], timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...ENTRY, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', fail);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, timedOut });
    });
  });
}

describe('switchboard simulate: requests it cannot honour', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'sb-sim-input-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('replays the first arrivals of a trace of 150,000 rows (finding the earliest by spreading them overflowed the stack)', async () => {
    const trace = join(dir, 'long.csv');
    await writeFile(trace, `at\n${Array.from({ length: 150_000 }, (_, i) => `${i}\n`).join('')}`);
    const io = capture();
    const code = await runSimulationCommand('simulate', ['--trace', trace, '--arrivals', '20', '--agents', '2', '--handle-time-s', '1', '--json'], NO_STORE, io);
    assert.equal(code, 0, io.stderr);
    assert.equal(JSON.parse(io.stdout).results.arrivals, 20);
  });

  it('refuses an --svg or --save-trace it could not write before running, naming the flag', async () => {
    const missing = join(dir, 'no-such-dir');
    await refused('simulate', ['--arrivals-per-hour', '10', '--arrivals', '5', '--svg', join(missing, 'run.svg')], /--svg: cannot write .*run\.svg: the directory .*no-such-dir does not exist/);
    await refused('simulate', ['--arrivals-per-hour', '10', '--arrivals', '5', '--save-trace', join(missing, 'x.csv')], /--save-trace: cannot write .*x\.csv: the directory .*no-such-dir does not exist/);
    await refused('simulate', ['--arrivals-per-hour', '10', '--arrivals', '5', '--svg', dir], /--svg: cannot write .*: it is a directory/);
    await refused('export-trace', ['--out', join(missing, 'trace.csv')], /--out: cannot write .*trace\.csv: the directory .*no-such-dir does not exist/);
  });

  it('prints the report before writing the files, so one that fails late loses only itself', async () => {
    const trace = join(dir, 'five.csv');
    await writeFile(trace, 'at,handle_s\n0,1\n10,1\n20,1\n30,1\n40,1\n');
    // A link to a directory that is not there: the check before the run sees
    // a new file in a directory that exists, the write after it finds none,
    // as when the disk fills up or the directory goes away during a run.
    const svg = join(dir, 'run.svg');
    await symlink(join(dir, 'gone', 'run.svg'), svg);
    const saved = join(dir, 'saved.csv');
    const io = capture();
    const code = await runSimulationCommand('simulate', ['--trace', trace, '--agents', '1', '--json', '--svg', svg, '--save-trace', saved], NO_STORE, io);
    assert.equal(code, 2, io.stderr);
    assert.equal(JSON.parse(io.stdout).results.arrivals, 5, 'the report is out');
    assert.match(io.stderr, /switchboard simulate: --svg: could not write .*run\.svg: ENOENT/);
    assert.equal((await readFile(saved, 'utf8')).trim().split('\n').length, 6, 'the other file is written');
  });

  it("refuses priorities outside the API's 0–10, in --priorities and in a trace's priority column", async () => {
    const base = ['--arrivals-per-hour', '10', '--arrivals', '5'];
    await refused('simulate', [...base, '--priorities', '0=1,11=1'], /--priorities is priority=weight,… with whole priorities from 0 to 10 .*got "11=1"/);
    await refused('simulate', [...base, '--priorities', '0=1,2147483648=1'], /--priorities .*from 0 to 10.*got "2147483648=1"/);
    await refused('plan', [...base, '--max-agents', '3', '--priorities=-1=1'], /--priorities .*from 0 to 10.*got "-1=1"/);
    const csv = join(dir, 'priorities.csv');
    await writeFile(csv, 'at,priority\n0,10\n5,2147483648\n');
    await refused('simulate', ['--trace', csv, '--agents', '1'], /priorities\.csv line 3: priority must be a whole number from 0 to 10 \(the API's range\), got "2147483648"/);
    const json = join(dir, 'priorities.json');
    await writeFile(json, JSON.stringify([{ at: 0, priority: 0 }, { at: 1, priority: -1 }]));
    await refused('simulate', ['--trace', json, '--agents', '1'], /priorities\.json item 1: priority must be a whole number from 0 to 10/);
  });

  it('refuses a patience too long for a run to reach its end (at most a year)', async () => {
    await refused('simulate', ['--arrivals-per-hour', '10', '--arrivals', '5', '--patience-s', '1e300'], /--patience-s must be a number > 0 and ≤ 31536000, got "1e300"/);
  });

  it('refuses rates, times and ticks that would take a run past what one run covers, at once rather than running for ever', async () => {
    const far = join(dir, 'far.csv');
    await writeFile(far, `at\n0\n1${'0'.repeat(300)}\n`);
    // one conversation handled for the whole of the horizon, starting a second in
    const long = join(dir, 'long-handle.csv');
    await writeFile(long, `at,handle_s\n1,${100 * 365.25 * 86_400}\n`);
    const cases: [string[], RegExp][] = [
      [['simulate', '--arrivals-per-hour', '1e-300'], /--arrivals-per-hour 1e-300 spreads 10000 arrivals over more than 270,000 years of virtual time, and one run covers at most 100 years/],
      [['simulate', '--load', '1e-7', '--arrivals', '100'], /--load 1e-7 spreads 100 arrivals over about 951 years of virtual time/],
      [['simulate', '--arrivals-per-hour', '10', '--handle-time-s', '1e300'], /--handle-time-s must be a number > 0 and ≤ 31536000, got "1e300"/],
      [['simulate', '--arrivals-per-hour', '10', '--handle-dist', 'lognormal', '--handle-cv', '1e300'], /--handle-cv must be a number > 0 and ≤ 10/],
      [['simulate', '--arrivals-per-hour', '10', '--sweep-s', '1e-300'], /--sweep-s must be 0 \(never\) or from 0\.05/],
      // about 95 years, inside the horizon, but a tick every 50 ms is 6e10 of them: hours of nothing
      [['simulate', '--arrivals-per-hour', '0.0012', '--arrivals', '1000', '--sweep-s', '0.05'], /--sweep-s 0\.05 ticks about 60,000,000,000 times over the about 95 years the arrivals span, and a run takes at most 100,000,000 ticks: raise --sweep-s, or give 0 for no sweep/],
      [['simulate', '--trace', far, '--agents', '1'], /far\.csv line 3: "at" is more than 100 years after the trace's start/],
      [['simulate', '--trace', long, '--agents', '1'], /a conversation's handle time \(about 100 years\) would keep it open past the 100 years of virtual time one run covers/],
    ];
    // two at a time: each is a process of its own, and the machine is shared
    const problems: string[] = [];
    for (let i = 0; i < cases.length; i += 2) {
      const results = await Promise.all(cases.slice(i, i + 2).map(([args]) => switchboard(args)));
      results.forEach((r, k) => {
        const [args, message] = cases[i + k]!;
        const what = `switchboard ${args.join(' ').replace(/0{300}/, '0…')}`;
        if (r.timedOut) problems.push(`${what}: still running after 90 s`);
        else if (r.code !== 2 || !message.test(r.stderr) || /\n\s+at /.test(r.stderr)) problems.push(`${what}: status ${r.code}, ${r.stderr.slice(0, 300)}`);
      });
    }
    assert.deepEqual(problems, [], 'each is refused with status 2 and its message, no stack trace');
  });

  it('refuses weights and day multipliers that are not finite, or whose sum is not', async () => {
    const base = ['--arrivals-per-hour', '10', '--arrivals', '5'];
    // accepted, Infinity sent every arrival to the last entry: pickWeighted's u = rng × Infinity never drops below 0
    await refused('simulate', [...base, '--departments', 'sales=1e999,support=1'], /--departments .*weights > 0 .*got "sales=1e999"/);
    await refused('simulate', [...base, '--departments', 'sales=1e308,support=1e308'], /--departments: the weights add up to more than a number holds/);
    await refused('simulate', [...base, '--priorities', '0=1,3=1e999'], /--priorities .*weights > 0 .*got "3=1e999"/);
    await refused('plan', [...base, '--max-agents', '3', '--priorities', '0=Infinity'], /--priorities .*got "0=Infinity"/);
  });

  it('refuses a day profile that would never let the clock move on, at once rather than running for ever', async () => {
    const base = ['simulate', '--arrivals', '5'];
    const cases: [string[], RegExp][] = [
      // Infinity passed `v >= 0`: no candidate arrival was ever accepted
      [[...base, '--arrivals-per-hour', '10', '--day-profile', '1e999'], /--day-profile is a comma-separated list of rate multipliers ≥ 0 .*got "1e999"/],
      [[...base, '--arrivals-per-hour', '10', '--day-profile', '1,Infinity'], /--day-profile .*got "1,Infinity"/],
      // finite, but the peak rate draws candidates too close together to cross the quiet hours
      [[...base, '--arrivals-per-hour', '10', '--day-profile', '0,1e300'], /--day-profile 0,1e300 with --arrivals-per-hour 10 draws candidate arrivals at .* an hour at its peak/],
      [[...base, '--arrivals-per-hour', '1e9', '--day-profile', '0,1'], /--day-profile 0,1 with --arrivals-per-hour 1e9 draws candidate arrivals/],
    ];
    const problems: string[] = [];
    for (let i = 0; i < cases.length; i += 2) {
      const results = await Promise.all(cases.slice(i, i + 2).map(([args]) => switchboard(args, 30_000)));
      results.forEach((r, k) => {
        const [args, message] = cases[i + k]!;
        if (r.timedOut) problems.push(`switchboard ${args.join(' ')}: still running after 30 s`);
        else if (r.code !== 2 || !message.test(r.stderr) || /\n\s+at /.test(r.stderr)) problems.push(`switchboard ${args.join(' ')}: status ${r.code}, ${r.stderr.slice(0, 300)}`);
      });
    }
    assert.deepEqual(problems, [], 'each is refused with status 2 and its message, no stack trace');
    // a real day's shape still runs
    const io = capture();
    const day = '0,0,0,0,0,0,0.5,1,2,2,2,1.5,1.5,2,2,1.5,1,0.5,0,0,0,0,0,0';
    const code = await runSimulationCommand('simulate', ['--arrivals-per-hour', '10', '--arrivals', '5', '--day-profile', day, '--json'], NO_STORE, io);
    assert.equal(code, 0, io.stderr);
  });

  it("refuses a trace time the store cannot hold (before 1970 or after 9999, UTC), naming the line, as the reports API does", async () => {
    const cases: [string, RegExp][] = [
      // the file named once: "years.csv years.csv line 3" before
      ['0000-06-01T00:00:00Z', /simulate: \S*years\.csv line 3: "at" must be a time from 1970 to 9999 \(UTC\), got "0000-06-01T00:00:00Z"/],
      ['+010000-01-01T00:00:00Z', /years\.csv line 3: "at" must be a time from 1970 to 9999 \(UTC\), got "\+010000-01-01T00:00:00Z"/],
      ['-005000-01-01T00:00:00Z', /years\.csv line 3: "at" must be a time from 1970 to 9999/],
      ['1969-12-31T23:59:59Z', /years\.csv line 3: "at" must be a time from 1970 to 9999/],
    ];
    const csv = join(dir, 'years.csv');
    for (const [at, message] of cases) {
      await writeFile(csv, `at\n2026-01-05T09:00:00Z\n${at}\n`);
      await refused('simulate', ['--trace', csv, '--agents', '1'], message);
    }
    const json = join(dir, 'years.json');
    await writeFile(json, JSON.stringify([{ at: '0000-06-01T00:00:00Z' }]));
    await refused('simulate', ['--trace', json, '--agents', '1'], /years\.json item 0: "at" must be a time from 1970 to 9999/);
    // within the years, but a handle time carries the clock into 10000
    const late = join(dir, 'late.csv');
    await writeFile(late, 'at,handle_s\n9999-12-31T12:00:00Z,172800\n');
    await refused('simulate', ['--trace', late, '--agents', '1', '--json'], /a conversation's handle time \(about 2 days\) would keep it open past the end of 9999 \(UTC\), the last time the store holds/);
    // the first and the last day the store holds still run
    for (const at of ['1970-01-01T00:00:00Z', '9999-12-31T00:00:00Z']) {
      await writeFile(csv, `at,handle_s\n${at},60\n`);
      const io = capture();
      const code = await runSimulationCommand('simulate', ['--trace', csv, '--agents', '1', '--json'], NO_STORE, io);
      assert.equal(code, 0, `${at}: ${io.stderr}`);
      assert.equal(JSON.parse(io.stdout).results.arrivals, 1);
    }
  });

  it('refuses --check-erlang at occupancy 1 or more, where Erlang C has no finite wait to compare', async () => {
    await refused('simulate', ['--check-erlang', '--load', '1', '--arrivals', '20'], /--check-erlang: Erlang C needs occupancy < 1, but 120 arrivals per hour × 300 s on 10 slots is 1:/);
    await refused('simulate', ['--check-erlang', '--arrivals-per-hour', '30', '--agents', '1', '--capacity', '2', '--arrivals', '20'], /Erlang C needs occupancy < 1, .* is 1\.25: lower --arrivals-per-hour or --load, or add agents/);
  });
});

describe('switchboard plan: --load', () => {
  it('is refused, as --agents is: plan looks for the team whose occupancy --load would be', async () => {
    await refused('plan', ['--load', '0.8', '--arrivals', '20', '--max-agents', '3'], /plan finds the number of agents, so there is no team for --load .*give the traffic as --arrivals-per-hour/);
    await refused('plan', ['--load', '0.8', '--group', 'count=2', '--arrivals', '20', '--max-agents', '3'], /no team for --load/);
  });
});

describe('switchboard export-trace: --from and --to', () => {
  it('reads them as the reports API does: a real date, or a date-time with its offset', async () => {
    await refused('export-trace', ['--from', '2026-02-30'], /--from must be an ISO 8601 time, .* got "2026-02-30", which is not a real date or time/);
    await refused('export-trace', ['--to', '5'], /--to must be an ISO 8601 time, .* got "5"/);
    await refused('export-trace', ['--from', '2026-01-05T09:00:00'], /--from must be an ISO 8601 time, .*date-time with its offset .* got "2026-01-05T09:00:00"/);
    await refused('export-trace', ['--from', 'yesterday'], /--from must be an ISO 8601 time/);
    // these are times: the command goes on to look for the store
    for (const from of ['2026-01-05', '2026-01-05T09:00:00Z', '2026-01-05T09:00:00.5+07:00']) {
      await refused('export-trace', ['--from', from, '--to', '2026-03-01'], /no embedded store/);
    }
  });

  it('refuses a --to that is not after --from, before opening the store: [from, to) would be empty', async () => {
    await refused('export-trace', ['--from', '2026-03-01', '--to', '2026-03-01'], /--to must be after --from \(2026-03-01T00:00:00\.000Z\)/);
    await refused('export-trace', ['--from', '2026-03-01T10:00:00+07:00', '--to', '2026-03-01T02:00:00Z'], /--to must be after --from \(2026-03-01T03:00:00\.000Z\).*got 2026-03-01T02:00:00\.000Z/);
  });
});
