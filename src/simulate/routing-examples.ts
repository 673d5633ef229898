import { writeFile } from 'node:fs/promises';
import { renderComparison } from './compare-chart.js';
import { runSimulationCommand, type CliIo } from './cli.js';
import type { Report } from './report.js';

// The simulated examples of docs/routing.md: one per routing mode, each the
// same small run under the default policy and under the mode, with the
// effect the documentation claims. `npx tsx src/simulate/routing-examples.ts`
// regenerates the pictures (docs/img/routing-<mode>.svg) and prints the
// tables; test/integration/simulate-routing-examples.test.ts runs every example and
// checks its claim and that the documented command is the one here.

export interface RoutingExample {
  mode: 'sticky' | 'skills' | 'aging' | 'sla' | 'overflow' | 'offer' | 'manual';
  title: string;
  /** the run under the default policy */
  base: string[];
  /** what the example adds: the policy, and the agents' behaviour it needs */
  policy: string[];
  by: 'departments' | 'priorities';
  claim: string;
  holds(base: Report, policy: Report): boolean;
}

const SMALL = ['--arrivals', '200', '--seed', '3', '--warmup', '0'];
const SALES_SUPPORT = [...SMALL, '--arrivals-per-hour', '44', '--departments', 'sales=0.65,support=0.35', '--group', 'count=3,departments=sales', '--group', 'count=3,departments=support'];
const HELP = [...SMALL, '--arrivals-per-hour', '44', '--departments', 'help=1'];

const dept = (r: Report, key: string) => r.breakdown.departments.find((d) => d.key === key)!;
const priority = (r: Report, key: number) => r.breakdown.priorities.find((d) => d.key === key)!;

export const ROUTING_EXAMPLES: readonly RoutingExample[] = [
  {
    mode: 'sticky',
    title: 'Sticky agent: half the customers come back; they wait up to 120 s for their last agent',
    base: [...HELP, '--agents', '5', '--agent-departments', 'help', '--returning-share', '0.5'],
    policy: ['--routing', 'help:sticky_window_s=7200,sticky_wait_s=120'],
    by: 'departments',
    claim: 'returning customers get their last agent back, paid for with a longer wait for some of them',
    holds: (b, p) => p.policy.counts.sticky_returns > 0 && b.policy.counts.sticky_returns === 0 && p.results.wait_s.max >= b.results.wait_s.max,
  },
  {
    mode: 'skills',
    title: 'Skills: 40 % need Spanish, 2 of 5 agents speak it; relaxed after 60 s',
    base: [...HELP, '--group', 'count=2,departments=help,skills=spanish:3', '--group', 'count=3,departments=help', '--arrival-skills', 'spanish:2=0.4'],
    policy: ['--routing', 'help:skills_relax_after_s=60'],
    by: 'departments',
    claim: 'relaxing the requirement after 60 s cuts the p90 and the longest wait',
    holds: (b, p) => p.results.wait_s.p90 < b.results.wait_s.p90 && p.results.wait_s.max < b.results.wait_s.max,
  },
  {
    mode: 'aging',
    title: 'Aging: 40 % of arrivals have priority 3; aging 1 per minute',
    base: [...HELP, '--agents', '5', '--agent-departments', 'help', '--priorities', '0=0.6,3=0.4'],
    policy: ['--routing', 'help:aging_per_min=1'],
    by: 'priorities',
    claim: 'aging lowers the longest wait of priority 0, the high priority conversations wait a little longer',
    holds: (b, p) => priority(p, 0).wait_s.max < priority(b, 0).wait_s.max,
  },
  {
    mode: 'sla',
    title: 'First-response SLA of 30 s on sales',
    base: SALES_SUPPORT,
    policy: ['--routing', 'sales:sla_first_response_s=30'],
    by: 'departments',
    claim: 'an SLA does not change who gets what: the waits are identical; it counts the breaches',
    holds: (b, p) => p.policy.counts.sla_breaches > 0 && dept(p, 'sales').wait_s.mean === dept(b, 'sales').wait_s.mean,
  },
  {
    mode: 'overflow',
    title: 'Overflow: sales to support after 60 s',
    base: SALES_SUPPORT,
    policy: ['--routing', 'sales:overflow=support@60'],
    by: 'departments',
    claim: "overflow lowers sales' p90 wait and raises its service level; support pays a little",
    holds: (b, p) => dept(p, 'sales').wait_s.p90 < dept(b, 'sales').wait_s.p90 && dept(p, 'sales').service_level > dept(b, 'sales').service_level,
  },
  {
    mode: 'offer',
    title: 'Offer and accept on sales: accepted after 8 s, 10 % declined, 5 % left to run out (20 s)',
    base: SALES_SUPPORT,
    policy: ['--routing', 'sales:mode=offer,offer_timeout_s=20', '--offer-accept-s', '8', '--offer-decline-share', '0.1', '--offer-miss-share', '0.05'],
    by: 'departments',
    claim: "every sales wait grows by the accept delay and the refused offers; sales' service level drops",
    holds: (b, p) => p.policy.counts.offers_expired > 0 && p.policy.counts.offers_declined > 0 && dept(p, 'sales').wait_s.mean > dept(b, 'sales').wait_s.mean && dept(p, 'sales').service_level < dept(b, 'sales').service_level,
  },
  {
    mode: 'manual',
    title: 'Manual pick on sales: agents pick 10 s after they have room',
    base: SALES_SUPPORT,
    policy: ['--routing', 'sales:mode=manual', '--pick-delay-s', '10'],
    by: 'departments',
    claim: "sales waits grow by the pick delay; nobody waits for it while an agent is idle except by the agents' choice",
    holds: (b, p) => p.policy.counts.picks > 0 && dept(p, 'sales').wait_s.mean > dept(b, 'sales').wait_s.mean,
  },
];

export const command = (args: readonly string[]) => `switchboard simulate ${args.map((a) => (/[\s|;]/.test(a) ? `'${a}'` : a)).join(' ')}`;

// Several examples share one default-policy run: it is made once per process.
const reports = new Map<string, Promise<Report>>();
function report(args: readonly string[]): Promise<Report> {
  const key = JSON.stringify(args);
  if (!reports.has(key)) reports.set(key, runReport(args));
  return reports.get(key)!;
}

async function runReport(args: readonly string[]): Promise<Report> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const status = await runSimulationCommand('simulate', [...args, '--json'], { databaseUrl: undefined, dataDir: '/nonexistent' }, io);
  if (status !== 0) throw new Error(`simulate ${args.join(' ')} exited ${status}: ${err}${out}`);
  return JSON.parse(out) as Report;
}

export async function runExample(example: RoutingExample): Promise<{ base: Report; policy: Report }> {
  return { base: await report(example.base), policy: await report([...example.base, ...example.policy]) };
}

/** The markdown table of an example: each department (or priority) under both policies. */
export function exampleTable(example: RoutingExample, base: Report, policy: Report): string {
  const pick = (r: Report) => r.breakdown[example.by];
  const lines = ['| | policy | mean wait | p90 wait | longest wait | service level |', '|---|---|---|---|---|---|'];
  for (const b of pick(policy)) {
    const name = example.by === 'departments' ? String(b.key ?? '(none)') : `priority ${b.key}`;
    for (const [label, r] of [['default', base], [example.mode, policy]] as const) {
      const x = pick(r).find((y) => y.key === b.key);
      if (x) lines.push(`| ${name} | ${label} | ${x.wait_s.mean.toFixed(1)} s | ${x.wait_s.p90.toFixed(1)} s | ${x.wait_s.max.toFixed(1)} s | ${(x.service_level * 100).toFixed(1)} % |`);
    }
  }
  const counts = Object.entries(policy.policy.counts).filter(([, n]) => n > 0);
  if (counts.length > 0) lines.push('', `Policy at work: ${counts.map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`).join(', ')}.`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const example of ROUTING_EXAMPLES) {
    const { base, policy } = await runExample(example);
    await writeFile(`docs/img/routing-${example.mode}.svg`, renderComparison(example.title, base, policy, example.by));
    process.stdout.write(`### ${example.mode}\n\n    ${command([...example.base, ...example.policy])}\n\n${exampleTable(example, base, policy)}\n\nclaim holds: ${example.holds(base, policy)}\n\n`);
  }
}
