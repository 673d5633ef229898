import { erlangMeanWait, erlangServiceLevel } from './erlang.js';
import { badInput } from './errors.js';
import { summarise } from './report.js';
import { runSimulation, type RunOptions, type SimulationConfig } from './run.js';
import { describePolicies } from './policy.js';
import type { AgentGroup } from './team.js';

// `switchboard plan`: the fewest agents (each with the given capacity) that
// meet a service-level target, found by running the simulation for
// candidate team sizes — the same customers every time (one seed, common
// random numbers), so the comparison between sizes is not blurred by noise.
// The search starts at Erlang C's answer and steps down while the target is
// still met, or up until it is.
//
// With several groups (--group, e.g. sales and support agents under an
// overflow policy) one of them is sized and the others stay as given; the
// search then starts from that group's given count, as Erlang C knows
// nothing of departments and routing policies. The plan states the policy
// it assumed.

export interface PlanCandidate {
  agents: number;
  service_level: number;
  mean_wait_s: number;
  p_wait: number;
  abandonment: number;
  utilisation: number;
  meets_target: boolean;
}

export interface Plan {
  target: { seconds: number; share: number };
  /** the routing policy every candidate ran under */
  policy: string[];
  /** which group was sized (1 for the first) and the others, as given */
  sized_group: number;
  other_groups: { count: number; capacity: number; departments: readonly string[] }[];
  capacity: number;
  arrivals_per_hour: number;
  handle_time_s: number;
  erlang: { agents: number; slots: number; service_level: number; mean_wait_s: number; note: string | null };
  simulation: { agents: number | null; service_level: number | null; arrivals_per_run: number; seed: number };
  tried: PlanCandidate[];
}

export interface PlanOptions extends RunOptions {
  maxAgents: number;
  /** index of the group to size; the others stay as given */
  sizeGroup?: number;
  onCandidate?: (c: PlanCandidate) => void;
}

/** Erlang C's smallest team: N agents × capacity k slots, N·k > offered load, service level ≥ share. */
export function erlangAgents(offeredLoad: number, capacity: number, handleS: number, target: { seconds: number; share: number }, maxAgents: number): number | null {
  for (let n = Math.max(1, Math.floor(offeredLoad / capacity)); n <= maxAgents; n++) {
    if (n * capacity > offeredLoad && erlangServiceLevel(offeredLoad, n * capacity, handleS, target.seconds) >= target.share) return n;
  }
  return null;
}

export async function plan(template: SimulationConfig, options: PlanOptions): Promise<Plan> {
  const sized = options.sizeGroup ?? 0;
  const group = template.groups[sized];
  if (group === undefined) throw badInput(`plan: there is no group ${sized + 1} to size`);
  const single = template.groups.length === 1 && Object.keys(template.routing ?? {}).length === 0;
  const spec = template.arrivals;
  const handleS = template.customers.handle.meanS;
  const { perHour, note } =
    spec.kind === 'poisson'
      ? spec.dayProfile === null
        ? { perHour: spec.perHour, note: null }
        : { perHour: spec.perHour * Math.max(...spec.dayProfile), note: 'at the day profile’s peak rate' }
      : traceRate(spec.trace.arrivals.slice(0, spec.count ?? undefined).map((a) => a.offsetMs));
  const offered = (perHour / 3600) * handleS;
  const erlangN = erlangAgents(offered, group.capacity, handleS, template.target, options.maxAgents);
  // with several groups or a routing policy, start from the group as given
  const start = single ? erlangN : group.count;
  const tried = new Map<number, PlanCandidate>();
  const evaluate = async (agents: number): Promise<PlanCandidate> => {
    const known = tried.get(agents);
    if (known) return known;
    const config: SimulationConfig = { ...template, groups: template.groups.map((g, i) => (i === sized ? ({ ...group, count: agents } satisfies AgentGroup) : g)) };
    const r = summarise(await runSimulation(config, options)).results;
    const candidate = {
      agents,
      service_level: r.service_level,
      mean_wait_s: r.wait_s.mean,
      p_wait: r.p_wait,
      abandonment: r.abandonment,
      utilisation: r.utilisation,
      meets_target: r.service_level_met,
    };
    tried.set(agents, candidate);
    options.onCandidate?.(candidate);
    return candidate;
  };

  let best: PlanCandidate | null = null;
  let n = Math.min(start ?? options.maxAgents, options.maxAgents);
  if ((await evaluate(n)).meets_target) {
    best = tried.get(n)!;
    while (n > 1 && (await evaluate(n - 1)).meets_target) best = tried.get(--n)!;
  } else {
    while (n < options.maxAgents) {
      const c = await evaluate(++n);
      if (c.meets_target) {
        best = c;
        break;
      }
    }
  }
  return {
    target: template.target,
    policy: describePolicies(template.routing ?? {}),
    sized_group: sized + 1,
    other_groups: template.groups.filter((_, i) => i !== sized).map((g) => ({ count: g.count, capacity: g.capacity, departments: g.departments })),
    capacity: group.capacity,
    arrivals_per_hour: perHour,
    handle_time_s: handleS,
    erlang: {
      agents: erlangN ?? NaN,
      slots: (erlangN ?? NaN) * group.capacity,
      service_level: erlangN === null ? NaN : erlangServiceLevel(offered, erlangN * group.capacity, handleS, template.target.seconds),
      mean_wait_s: erlangN === null ? NaN : erlangMeanWait(offered, erlangN * group.capacity, handleS),
      note: single ? note : 'for all the traffic on the sized group alone: Erlang C knows nothing of departments, other groups or routing policies',
    },
    simulation: {
      agents: best?.agents ?? null,
      service_level: best?.service_level ?? null,
      arrivals_per_run: spec.kind === 'poisson' ? spec.count : Math.min(spec.count ?? Infinity, spec.trace.arrivals.length),
      seed: template.customers.seed,
    },
    tried: [...tried.values()].sort((a, b) => a.agents - b.agents),
  };
}

function traceRate(offsets: readonly number[]): { perHour: number; note: string } {
  const span = offsets.length > 1 ? offsets[offsets.length - 1]! - offsets[0]! : 0;
  if (span <= 0) throw badInput('plan needs a trace spanning some time, to know its arrival rate');
  return { perHour: ((offsets.length - 1) / span) * 3_600_000, note: 'at the trace’s average rate and the configured mean handle time' };
}
