import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { AppError } from '../errors.js';
import { parseInstant } from '../reports/period.js';
import { openStore } from '../store/open.js';
import { checkErlang, assertErlangModel } from './check.js';
import { renderChart } from './chart.js';
import { SimulationInputError, badInput } from './errors.js';
import { MODEL_OPTIONS, modelConfig, number, parseFlags } from './flags.js';
import { EXPORT_HELP, PLAN_HELP, SIMULATE_HELP } from './help.js';
import { plan } from './plan.js';
import { summarise } from './report.js';
import { runSimulation, type RunOptions } from './run.js';
import { formatCheck, formatPlan, formatReport } from './table.js';
import { assertWritable, writeOutput } from './output.js';
import { exportTrace, formatOf, formatTrace, writeTrace, type TraceRow } from './trace.js';

// `switchboard simulate | plan | export-trace`: flags in, tables or JSON out.
// Returns the exit status: 0 done, 1 the engine broke one of its promises
// during the run, 2 the request itself was wrong (the message says how).

export type SimulationCommand = 'simulate' | 'plan' | 'export-trace';
export const SIMULATION_COMMANDS: readonly SimulationCommand[] = ['simulate', 'plan', 'export-trace'];

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export interface StoreLocation {
  databaseUrl: string | undefined;
  dataDir: string;
}

export async function runSimulationCommand(command: SimulationCommand, argv: readonly string[], store: StoreLocation, io: CliIo = stdio): Promise<number> {
  try {
    switch (command) {
      case 'simulate':
        return await simulateCommand(argv, io);
      case 'plan':
        return await planCommand(argv, io);
      case 'export-trace':
        return await exportCommand(argv, store, io);
    }
  } catch (error) {
    if (error instanceof SimulationInputError) {
      io.err(`switchboard ${command}: ${error.message}\n(switchboard ${command} --help lists the flags)\n`);
      return 2;
    }
    throw error;
  }
}

function progress(io: CliIo, on: boolean | undefined): RunOptions {
  if (!on) return {};
  return { onProgress: (done, total) => io.err(`  ${done.toLocaleString('en')} / ${total.toLocaleString('en')} arrivals\n`) };
}

const SIMULATE_OPTIONS = {
  ...MODEL_OPTIONS,
  svg: { type: 'string' },
  'save-trace': { type: 'string' },
  'check-erlang': { type: 'boolean' },
} as const;

async function simulateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(argv, SIMULATE_OPTIONS);
  if (values.help) {
    io.out(SIMULATE_HELP);
    return 0;
  }
  const config = await modelConfig(values, { arrivals: 10_000 });
  if (values['check-erlang']) {
    for (const flag of ['svg', 'save-trace'] as const) if (values[flag] !== undefined) throw badInput(`--${flag} cannot be combined with --check-erlang`);
    assertErlangModel(config);
    const check = await checkErlang(config, progress(io, values.progress));
    io.out(values.json ? `${JSON.stringify(check, null, 2)}\n` : formatCheck(check));
    return engineHealthy(check.checks) && check.ideal_queue.differing === 0 ? 0 : 1;
  }
  // Checked before the run, and written after the report is out: a path
  // that cannot be written is refused at once, and a write that fails late
  // (the disk filled up) costs that file, not the run.
  const svg = values.svg;
  const saveTrace = values['save-trace'];
  if (svg !== undefined) await assertWritable(svg, 'svg');
  if (saveTrace !== undefined) await assertWritable(saveTrace, 'save-trace');
  let savedRows: TraceRow[] = [];
  const run = await runSimulation(config, {
    ...progress(io, values.progress),
    ...(saveTrace !== undefined ? { inspect: async (db) => void (savedRows = await exportTrace(db)) } : {}),
  });
  const report = summarise(run);
  io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  const status = engineHealthy(report.checks) ? 0 : 1;
  let written = true;
  if (svg !== undefined) written = (await writeOutput(io, 'simulate', 'svg', svg, () => writeFile(svg, renderChart(report)))) && written;
  if (saveTrace !== undefined) written = (await writeOutput(io, 'simulate', 'save-trace', saveTrace, () => writeTrace(saveTrace, savedRows))) && written;
  // an engine that broke a promise outranks a file that could not be written
  return status === 0 && !written ? 2 : status;
}

function engineHealthy(c: { fifo_violations: number; work_conservation_violations: number; sweep_assignments: number; store_mismatches: string[]; sticky_violations?: number }): boolean {
  return c.fifo_violations === 0 && c.work_conservation_violations === 0 && c.sweep_assignments === 0 && c.store_mismatches.length === 0 && (c.sticky_violations ?? 0) === 0;
}

const PLAN_OPTIONS = { ...MODEL_OPTIONS, 'max-agents': { type: 'string' }, 'size-group': { type: 'string' } } as const;

async function planCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(argv, PLAN_OPTIONS);
  if (values.help) {
    io.out(PLAN_HELP);
    return 0;
  }
  if (values.agents !== undefined) throw badInput('plan finds the number of agents; leave out --agents');
  // --load is an occupancy of a team, and plan's team is what it looks for:
  // the rate would silently be the load of whichever size it started from
  if (values.load !== undefined) throw badInput('plan finds the number of agents, so there is no team for --load to be the occupancy of; give the traffic as --arrivals-per-hour');
  const groups = values.group?.length ?? 0;
  if (groups === 0 && values['size-group'] !== undefined) throw badInput('--size-group names one of the --group flags (1 for the first)');
  if (groups > 1 && values['size-group'] === undefined) throw badInput('with several --group flags, --size-group says which group plan sizes (1 for the first); the others stay as given');
  const sizeGroup = groups === 0 ? 0 : (number(values, 'size-group', { integer: true, min: 1, max: groups }) ?? 1) - 1;
  const maxAgents = number(values, 'max-agents', { integer: true, min: 1, max: 10_000 }) ?? 1000;
  const template = await modelConfig(groups === 0 ? { ...values, agents: '1' } : values, { arrivals: 5_000 });
  const result = await plan(template, {
    maxAgents,
    sizeGroup,
    ...progress(io, values.progress),
    ...(values.progress ? { onCandidate: (c) => io.err(`  ${c.agents} agents: service level ${(c.service_level * 100).toFixed(1)} %\n`) } : {}),
  });
  io.out(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatPlan(result));
  return 0;
}

const EXPORT_OPTIONS = {
  out: { type: 'string' },
  format: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function exportCommand(argv: readonly string[], store: StoreLocation, io: CliIo): Promise<number> {
  const values = parseFlags(argv, EXPORT_OPTIONS);
  if (values.help) {
    io.out(EXPORT_HELP);
    return 0;
  }
  const format = formatOf(values.out ?? '', values.format);
  const window = { from: time(values.from, 'from'), to: time(values.to, 'to') };
  // [from, to) as the reports API reads it: an empty or reversed window would
  // write an empty trace that looks like a quiet day, not a typo
  if (window.from && window.to && window.to.getTime() <= window.from.getTime()) {
    throw badInput(`--to must be after --from (${window.from.toISOString()}): the window is [from, to), got ${window.to.toISOString()}`);
  }
  const out = values.out;
  if (out !== undefined) await assertWritable(out, 'out');
  if (store.databaseUrl === undefined && !existsSync(store.dataDir)) {
    throw badInput(`there is no embedded store in ${store.dataDir}: set DATA_DIR to Switchboard's data directory, or DATABASE_URL`);
  }
  const db = await openStore({ databaseUrl: store.databaseUrl, dataDir: store.dataDir });
  try {
    const rows = await exportTrace(db, { ...(window.from ? { from: window.from } : {}), ...(window.to ? { to: window.to } : {}) });
    if (out === undefined) io.out(formatTrace(rows, format));
    else {
      if (!(await writeOutput(io, 'export-trace', 'out', out, () => writeTrace(out, rows, format)))) return 2;
      io.err(`wrote ${rows.length} arrivals to ${out}\n`);
    }
  } finally {
    await db.close();
  }
  return 0;
}

/**
 * The reports API's reading of a time (src/reports/period.ts), not
 * Date.parse's: that rolls 2026-02-30 over into March, takes "5" for May
 * 2001 and a time without an offset in the machine's own zone.
 */
function time(raw: string | undefined, flag: string): Date | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseInstant(`--${flag}`, raw);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    const why = /is not a real date or time|is out of range/.exec(error.message)?.[0];
    throw badInput(
      `--${flag} must be an ISO 8601 time, a date (2026-01-05: from midnight UTC) or a date-time with its offset (2026-01-05T09:00:00Z), got ${JSON.stringify(raw)}${why ? `, which ${why}` : ''}`,
    );
  }
}
