import { parseArgs } from 'node:util';
import { expectedDurationMs, type ArrivalSpec, type SkillShare } from './arrivals.js';
import type { HandleDistribution } from './distributions.js';
import { badInput, engineDepartment } from './errors.js';
import { HORIZON_MS, HORIZON_YEARS, MAX_CANDIDATES, MAX_MEAN_S, MAX_SWEEP_TICKS, PRIORITY_MAX, PRIORITY_MIN, duration, many, years } from './horizon.js';
import type { Behaviour, SimulationConfig } from './run.js';
import { parseShift, type AgentGroup } from './team.js';
import { parseLabelSkills, parseSkills, routingPolicies, withLabelSkills } from './policy.js';
import { readTrace, type TraceFormat } from './trace.js';

// Command-line flags → a SimulationConfig. Every value is checked here, with
// a message that says what is allowed, so the engine never sees a nonsense
// request and a typo does not silently become a default.

export const MODEL_OPTIONS = {
  'arrivals-per-hour': { type: 'string' },
  load: { type: 'string' },
  arrivals: { type: 'string' },
  'day-profile': { type: 'string' },
  departments: { type: 'string' },
  trace: { type: 'string' },
  'trace-format': { type: 'string' },
  'handle-time-s': { type: 'string' },
  'handle-dist': { type: 'string' },
  'handle-cv': { type: 'string' },
  'patience-s': { type: 'string' },
  agents: { type: 'string' },
  capacity: { type: 'string' },
  'agent-departments': { type: 'string' },
  shift: { type: 'string' },
  group: { type: 'string', multiple: true },
  seed: { type: 'string' },
  warmup: { type: 'string' },
  'target-s': { type: 'string' },
  'target-share': { type: 'string' },
  'sweep-s': { type: 'string' },
  routing: { type: 'string', multiple: true },
  'routing-file': { type: 'string' },
  'agent-skills': { type: 'string' },
  'returning-share': { type: 'string' },
  'arrival-skills': { type: 'string' },
  'label-skills': { type: 'string' },
  priorities: { type: 'string' },
  'offer-accept-s': { type: 'string' },
  'offer-decline-share': { type: 'string' },
  'offer-miss-share': { type: 'string' },
  'pick-delay-s': { type: 'string' },
  json: { type: 'boolean' },
  progress: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type ModelValues = { [K in keyof typeof MODEL_OPTIONS]?: (typeof MODEL_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof MODEL_OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

export function parseFlags<O extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // node:util's messages name the flag ("Unknown option '--agnets'"); keep them, drop the stack
    throw badInput((error as Error).message);
  }
}

export function number(values: Record<string, unknown>, flag: string, rule: { min?: number; max?: number; integer?: boolean; above?: number } = {}): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const n = Number(text);
  const what = rule.integer ? 'a whole number' : 'a number';
  const range = [rule.above !== undefined ? `> ${rule.above}` : null, rule.min !== undefined ? `≥ ${rule.min}` : null, rule.max !== undefined ? `≤ ${rule.max}` : null]
    .filter(Boolean)
    .join(' and ');
  const message = `--${flag} must be ${what}${range ? ` ${range}` : ''}, got ${JSON.stringify(raw)}`;
  if (text === '' || !Number.isFinite(n)) throw badInput(message);
  if (rule.integer && !Number.isInteger(n)) throw badInput(message);
  if (rule.min !== undefined && n < rule.min) throw badInput(message);
  if (rule.max !== undefined && n > rule.max) throw badInput(message);
  if (rule.above !== undefined && n <= rule.above) throw badInput(message);
  return n;
}

function list(raw: string | undefined): string[] {
  return raw === undefined ? [] : raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** A weight or multiplier: Infinity passes `w > 0`, and pickWeighted then draws u = rng × Infinity, which never falls below 0. */
const finiteAbove0 = (w: number) => Number.isFinite(w) && w > 0;

/** Weights each finite can still add up to Infinity (1e308 twice): the same as one infinite. */
function finiteTotal(weights: readonly { weight: number }[], flag: string): void {
  if (!Number.isFinite(weights.reduce((s, w) => s + w.weight, 0))) throw badInput(`${flag}: the weights add up to more than a number holds; scale them down (only their ratios count)`);
}

function handleDistribution(values: ModelValues): HandleDistribution {
  const meanS = number(values, 'handle-time-s', { above: 0, max: MAX_MEAN_S }) ?? 300;
  const kind = values['handle-dist'] ?? 'exponential';
  if (kind === 'exponential' || kind === 'exp') return { kind: 'exponential', meanS };
  if (kind === 'fixed') return { kind: 'fixed', meanS };
  // a cv of 10 already draws one handle time in a million over 2,500 times the mean; past 1e154 cv² overflows and every draw is NaN
  if (kind === 'lognormal') return { kind: 'lognormal', meanS, cv: number(values, 'handle-cv', { above: 0, max: 10 }) ?? 1 };
  throw badInput(`--handle-dist must be exponential, lognormal or fixed, got ${JSON.stringify(kind)}`);
}

function groups(values: ModelValues): AgentGroup[] {
  if (values.group !== undefined && values.group.length > 0) {
    for (const flag of ['agents', 'capacity', 'agent-departments', 'shift', 'agent-skills'] as const) {
      if (values[flag] !== undefined) throw badInput(`--${flag} cannot be combined with --group; give it inside each group (count=…,capacity=…,departments=a|b,shift=09:00-17:00)`);
    }
    return values.group.map(parseGroup);
  }
  return [
    {
      count: number(values, 'agents', { integer: true, min: 1, max: 10_000 }) ?? 10,
      capacity: number(values, 'capacity', { integer: true, min: 1, max: 1_000 }) ?? 1,
      departments: list(values['agent-departments']).map((d) => engineDepartment(d, '--agent-departments')),
      shift: values.shift === undefined ? null : parseShift(values.shift),
      skills: values['agent-skills'] === undefined ? {} : parseSkills(values['agent-skills'], '--agent-skills'),
    },
  ];
}

/** "0=0.8,3=0.2": priority → weight. */
function priorityMix(raw: string | undefined): { value: number; weight: number }[] {
  const mix = list(raw).map((part) => {
    const [p, weight] = part.split('=');
    const value = Number(p);
    const w = weight === undefined ? 1 : Number(weight);
    if (p === undefined || p.trim() === '' || !Number.isInteger(value) || value < PRIORITY_MIN || value > PRIORITY_MAX || !finiteAbove0(w)) {
      throw badInput(
        `--priorities is priority=weight,… with whole priorities from ${PRIORITY_MIN} to ${PRIORITY_MAX} (the API's range) and weights > 0 (e.g. 0=0.8,3=0.2), got ${JSON.stringify(part)}`,
      );
    }
    return { value, weight: w };
  });
  finiteTotal(mix, '--priorities');
  return mix;
}

/** "spanish:2=0.3,billing:1=0.1": each arrival requires the skill at that level with that probability. */
function skillShares(raw: string | undefined): SkillShare[] {
  return list(raw).map((part) => {
    const m = /^([^=]+)=(.+)$/.exec(part);
    const share = m ? Number(m[2]) : NaN;
    if (!m || !(share > 0 && share <= 1)) throw badInput(`--arrival-skills is skill:level=share,… with shares in (0, 1] (e.g. spanish:2=0.3), got ${JSON.stringify(part)}`);
    const [[skill, level]] = Object.entries(parseSkills(m[1]!, '--arrival-skills')) as [[string, number]];
    return { skill, level, share };
  });
}

function behaviour(values: ModelValues): Behaviour {
  const share = (flag: 'offer-decline-share' | 'offer-miss-share') => number(values, flag, { min: 0, max: 1 }) ?? 0;
  const declineShare = share('offer-decline-share');
  const missShare = share('offer-miss-share');
  if (declineShare + missShare > 1) throw badInput('--offer-decline-share and --offer-miss-share together must not exceed 1');
  return {
    offerAcceptS: number(values, 'offer-accept-s', { min: 0, max: 86_400 }) ?? 5,
    offerDeclineShare: declineShare,
    offerMissShare: missShare,
    pickDelayS: number(values, 'pick-delay-s', { min: 0, max: 86_400 }) ?? 5,
  };
}

/** "count=5,capacity=2,departments=sales|support,shift=08:00-16:00,skills=spanish:3+billing:1" */
export function parseGroup(text: string): AgentGroup {
  const fields: Record<string, string> = {};
  for (const part of list(text)) {
    const [k, ...rest] = part.split('=');
    if (!k || rest.length === 0) throw badInput(`--group takes key=value pairs (count, capacity, departments, shift, skills), got ${JSON.stringify(part)}`);
    fields[k.trim()] = rest.join('=').trim();
  }
  const unknown = Object.keys(fields).filter((k) => !['count', 'capacity', 'departments', 'shift', 'skills'].includes(k));
  if (unknown.length > 0) throw badInput(`--group: unknown key(s) ${unknown.join(', ')}; allowed: count, capacity, departments, shift, skills`);
  return {
    count: number({ 'group count': fields.count ?? '1' }, 'group count', { integer: true, min: 1, max: 10_000 })!,
    capacity: number({ 'group capacity': fields.capacity ?? '1' }, 'group capacity', { integer: true, min: 1, max: 1_000 })!,
    departments: (fields.departments ?? '').split('|').map((s) => s.trim()).filter((s) => s !== '').map((d) => engineDepartment(d, '--group departments')),
    shift: fields.shift === undefined ? null : parseShift(fields.shift),
    skills: fields.skills === undefined ? {} : parseSkills(fields.skills, '--group skills'),
  };
}

function departmentMix(raw: string | undefined): { value: string | null; weight: number }[] {
  const mix = list(raw).map((part) => {
    const [name, weight] = part.split('=');
    const w = weight === undefined ? 1 : Number(weight);
    if (!name || !finiteAbove0(w)) throw badInput(`--departments is name=weight,… with weights > 0 (e.g. sales=0.7,support=0.3), got ${JSON.stringify(part)}`);
    return { value: engineDepartment(name.trim(), '--departments'), weight: w };
  });
  finiteTotal(mix, '--departments');
  return mix;
}

function dayProfile(raw: string | undefined): number[] | null {
  if (raw === undefined) return null;
  const values = list(raw).map(Number);
  // Infinity passed `v >= 0`, and thinning then kept no candidate: the run never ended
  if (values.length < 1 || values.some((v) => !(Number.isFinite(v) && v >= 0)) || !values.some((v) => v > 0)) {
    throw badInput(`--day-profile is a comma-separated list of rate multipliers ≥ 0 over one day (24 values: one per hour), got ${JSON.stringify(raw)}`);
  }
  if (!Number.isFinite(values.reduce((s, v) => s + v, 0))) throw badInput(`--day-profile: the multipliers add up to more than a number holds; scale them down, got ${JSON.stringify(raw)}`);
  return values;
}

/**
 * 0: never. Otherwise no more often than a server may sweep (SWEEP_INTERVAL
 * ≥ 50 ms): a tick too small to move the clock would repeat at one instant
 * for ever. And at least daily: 0 is how to ask for no sweep, and a tick
 * ages away would take the clock past what a Date holds.
 */
function sweepEvery(values: ModelValues): number {
  const s = number(values, 'sweep-s', { min: 0, max: 86_400 }) ?? 300;
  if (s > 0 && s < 0.05) throw badInput(`--sweep-s must be 0 (never) or from 0.05 (a server's shortest SWEEP_INTERVAL) to 86400 seconds, got ${JSON.stringify(values['sweep-s'])}`);
  return s;
}

/** Arrival-rate per hour: given, or derived from --load (occupancy ρ = λ·h / slots). */
function perHour(values: ModelValues, handleS: number, slots: number): number {
  const rate = number(values, 'arrivals-per-hour', { above: 0 });
  const load = number(values, 'load', { above: 0 });
  if (rate !== undefined && load !== undefined) throw badInput('give --arrivals-per-hour or --load, not both');
  if (rate !== undefined) return rate;
  if (load !== undefined) return (load * slots * 3600) / handleS;
  throw badInput('--arrivals-per-hour (or --load, the occupancy to aim for) is required unless --trace is given');
}

export async function modelConfig(values: ModelValues, defaults: { arrivals: number }): Promise<SimulationConfig> {
  const handle = handleDistribution(values);
  const team = groups(values);
  const slots = team.reduce((s, g) => s + g.count * g.capacity, 0);
  const count = number(values, 'arrivals', { integer: true, min: 1, max: 100_000_000 });
  let arrivals: ArrivalSpec;
  if (values.trace !== undefined) {
    for (const flag of ['arrivals-per-hour', 'load', 'day-profile', 'departments', 'returning-share', 'arrival-skills', 'priorities'] as const) {
      if (values[flag] !== undefined) throw badInput(`--${flag} describes generated arrivals and cannot be combined with --trace`);
    }
    const format = values['trace-format'];
    if (format !== undefined && format !== 'csv' && format !== 'json') throw badInput(`--trace-format must be csv or json, got ${JSON.stringify(format)}`);
    const trace = await readTrace(values.trace, format as TraceFormat | undefined);
    const labelSkills = parseLabelSkills(values['label-skills']);
    for (const arrival of trace.arrivals) arrival.skills = withLabelSkills(arrival.skills, arrival.labels, labelSkills);
    arrivals = { kind: 'trace', trace, count: count ?? null };
  } else {
    if (values['label-skills'] !== undefined) throw badInput('--label-skills needs --trace: generated arrivals carry no labels');
    arrivals = {
      kind: 'poisson',
      perHour: perHour(values, handle.meanS, slots),
      count: count ?? defaults.arrivals,
      dayProfile: dayProfile(values['day-profile']),
      departments: departmentMix(values.departments),
      returningShare: number(values, 'returning-share', { min: 0, max: 1 }) ?? 0,
      skills: skillShares(values['arrival-skills']),
      priorities: priorityMix(values.priorities),
    };
    const span = expectedDurationMs(arrivals);
    const rate = values['arrivals-per-hour'] !== undefined ? `--arrivals-per-hour ${values['arrivals-per-hour']}` : `--load ${values.load}`;
    if (!(span <= HORIZON_MS)) {
      throw badInput(
        `${rate} spreads ${arrivals.count} arrivals over ${years(span)} of virtual time, and one run covers at most ${HORIZON_YEARS} years: raise the rate or lower --arrivals`,
      );
    }
    const profile = arrivals.dayProfile;
    if (profile !== null) {
      // Over a day or more the candidates are about count × peak / mean (at
      // most count × the profile's length); a shorter run still crosses its
      // quiet hours a candidate at a time.
      const peakPerHour = arrivals.perHour * Math.max(...profile);
      const candidates = peakPerHour * (Math.max(span, 86_400_000) / 3_600_000);
      if (!(candidates <= Math.max(MAX_CANDIDATES, arrivals.count * profile.length))) {
        throw badInput(
          `--day-profile ${values['day-profile']} with ${rate} draws candidate arrivals at ${many(peakPerHour)} an hour at its peak, about ${many(candidates)} of them over ${duration(Math.max(span, 86_400_000))} for ${arrivals.count} arrivals, and a run draws at most ${many(MAX_CANDIDATES)}: lower the rate or the profile's largest multiplier`,
        );
      }
    }
  }
  const sweepEveryS = sweepEvery(values);
  // the loop turns at every tick, swept or not: a tick of 50 ms over decades is hours of nothing
  const ticks = sweepEveryS > 0 ? expectedDurationMs(arrivals) / (sweepEveryS * 1000) : 0;
  if (ticks > MAX_SWEEP_TICKS) {
    throw badInput(
      `--sweep-s ${values['sweep-s']} ticks about ${many(ticks)} times over the ${duration(expectedDurationMs(arrivals))} the arrivals span, and a run takes at most ${many(MAX_SWEEP_TICKS)} ticks: raise --sweep-s, or give 0 for no sweep`,
    );
  }
  return {
    arrivals,
    customers: { handle, patienceMeanS: number(values, 'patience-s', { above: 0, max: MAX_MEAN_S }) ?? null, seed: number(values, 'seed', { integer: true, min: 0, max: 2 ** 32 - 1 }) ?? 1 },
    groups: team,
    warmup: number(values, 'warmup', { min: 0, max: 0.5 }) ?? (arrivals.kind === 'poisson' ? 0.05 : 0),
    target: { seconds: number(values, 'target-s', { min: 0 }) ?? 20, share: number(values, 'target-share', { above: 0, max: 1 }) ?? 0.8 },
    sweepEveryS,
    routing: await routingPolicies(values.routing, values['routing-file']),
    behaviour: behaviour(values),
  };
}
