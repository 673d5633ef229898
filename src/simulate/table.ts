import type { ErlangCheck } from './check.js';
import type { Plan } from './plan.js';
import type { Report } from './report.js';

// Plain-text tables for a terminal. The same figures are in the --json output.

function table(rows: readonly (readonly string[])[], header?: readonly string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = all.map(line);
  if (header) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return `${out.join('\n')}\n`;
}

const s = (v: number, digits = 1) => (Number.isFinite(v) ? `${v.toFixed(digits)} s` : '∞');
const pct = (v: number | null, digits = 1) => (v === null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)} %`);
const num = (v: number, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

export function formatReport(report: Report): string {
  const r = report.results;
  const e = report.erlang;
  const rows: string[][] = [
    ['arrivals (counted after warm-up)', `${r.arrivals} (${r.counted})`, ''],
    ['answered / abandoned / unanswered', `${r.answered} / ${r.abandoned} / ${r.unanswered}`, ''],
    ['mean wait', s(r.wait_s.mean), e ? s(e.mean_wait_s) : ''],
    ['wait p50 / p90 / p99', `${s(r.wait_s.p50)} / ${s(r.wait_s.p90)} / ${s(r.wait_s.p99)}`, ''],
    ['longest wait', s(r.wait_s.max), ''],
    ['waited at all', pct(r.p_wait), e ? pct(e.p_wait) : ''],
    [`service level (${pct(report.inputs.target.share, 0)} in ${report.inputs.target.seconds} s)`, `${pct(r.service_level)} ${r.service_level_met ? 'met' : 'NOT met'}`, e ? pct(e.service_level) : ''],
    ['abandonment', pct(r.abandonment), ''],
    ['agent utilisation', pct(r.utilisation), e ? pct(e.occupancy) : ''],
    ['queue length mean / max', `${r.queue_length.mean.toFixed(2)} / ${r.queue_length.max}`, ''],
    ['virtual time', `${r.virtual_hours.toFixed(1)} h`, ''],
  ];
  let out = `routing policy: ${report.policy.routing.join('; ')}\n`;
  out += table(rows, ['', 'simulation', e ? 'Erlang C' : '']);
  if (report.breakdown.departments.length > 1 || report.breakdown.priorities.length > 1) out += breakdownTable(report);
  const counts = Object.entries(report.policy.counts).filter(([, n]) => n > 0);
  if (counts.length > 0) out += `\npolicy at work: ${counts.map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`).join(', ')}\n`;
  out += checksLine(report.checks);
  const manual = Object.entries(report.inputs.routing).filter(([, r]) => r.mode === 'manual').map(([d]) => d);
  if (manual.length > 0) out += `  (work conservation does not apply to ${manual.join(', ')}: in manual mode agents choose when to pick)\n`;
  out += performanceLine(report.performance);
  return out;
}

function breakdownTable(report: Report): string {
  const rows = [
    ...(report.breakdown.departments.length > 1 ? report.breakdown.departments.map((b) => ({ ...b, label: `department ${b.key ?? '(none)'}` })) : []),
    ...(report.breakdown.priorities.length > 1 ? report.breakdown.priorities.map((b) => ({ ...b, label: `priority ${b.key}` })) : []),
  ];
  return `\n${table(
    rows.map((b) => [b.label, String(b.counted), s(b.wait_s.mean), s(b.wait_s.p90), s(b.wait_s.max), pct(b.service_level)]),
    ['', 'arrivals', 'mean wait', 'p90 wait', 'longest', 'service level'],
  )}`;
}

function checksLine(c: Report['checks']): string {
  const sticky = c.sticky_violations ?? 0;
  const ok = c.fifo_violations === 0 && c.work_conservation_violations === 0 && c.sweep_assignments === 0 && c.store_mismatches.length === 0 && sticky === 0;
  const what = c.sticky_violations === undefined ? 'FIFO, work-conserving' : 'in queue order and work-conserving under the policy, sticky returns kept';
  let out = `\nengine checks: ${ok ? `${what}, nothing left for the sweep, store agrees` : 'PROBLEMS FOUND'}`;
  if (!ok) {
    out += ` — order violations ${c.fifo_violations}, work-conservation violations ${c.work_conservation_violations}, sweep assignments ${c.sweep_assignments}, sticky violations ${sticky}`;
    for (const m of [...c.store_mismatches, ...c.examples]) out += `\n  ${m}`;
  }
  return `${out}\n`;
}

function performanceLine(p: Report['performance']): string {
  return `performance: ${Math.round(p.conversations_per_s)} simulated conversations/s of wall time (${p.wall_s.toFixed(1)} s, of which set-up ${p.setup_s.toFixed(1)} s)\n`;
}

export function formatCheck(c: ErlangCheck): string {
  const i = c.inputs;
  let out =
    `M/M/c check: ${i.agents} agents × capacity ${i.capacity} = ${i.slots} slots, ${num(i.arrivals_per_hour, 1)} arrivals/h, ` +
    `mean handle ${i.handle_time_s} s → ${num(i.offered_load_erlangs, 2)} Erlangs, occupancy ${num(i.occupancy, 3)}; ` +
    `${i.arrivals} arrivals, first ${pct(i.warmup, 0)} discarded, seed ${i.seed}\n\n`;
  const a = c.agreement;
  out += table(
    [
      ['P(wait)', num(c.erlang.p_wait, 4), num(c.simulation.p_wait, 4), `${a.p_wait_absolute_error >= 0 ? '+' : ''}${num(a.p_wait_absolute_error, 4)}`, a.p_wait_within_0_02 ? 'ok (≤ 0.02)' : 'OUTSIDE 0.02'],
      [
        'mean wait',
        s(c.erlang.mean_wait_s, 2),
        `${s(c.simulation.mean_wait_s, 2)} (95 % CI ${num(c.simulation.mean_wait_ci95_s[0], 1)}–${num(c.simulation.mean_wait_ci95_s[1], 1)})`,
        `${a.mean_wait_relative_error >= 0 ? '+' : ''}${pct(a.mean_wait_relative_error)}`,
        a.mean_wait_within_5_percent ? 'ok (≤ 5 %)' : 'OUTSIDE 5 %',
      ],
      ['service level', pct(c.erlang.service_level), pct(c.simulation.service_level), '', ''],
    ],
    ['', 'Erlang C', 'simulation', 'difference', 'tolerance'],
  );
  out += `\nErlang C inside the run's 95 % interval: ${a.erlang_inside_ci95 ? 'yes' : 'no'}`;
  out += `\nengine vs ideal FIFO queue on the same customers: ${c.ideal_queue.differing === 0 ? 'identical waits for every customer' : `${c.ideal_queue.differing} customers differ (largest ${c.ideal_queue.max_abs_diff_s} s, first #${c.ideal_queue.first_differing})`}\n`;
  out += checksLine(c.checks);
  out += performanceLine(c.performance);
  return out;
}

export function formatPlan(p: Plan): string {
  let out =
    `Staffing for ${num(p.arrivals_per_hour, 1)} arrivals/h, mean handle ${p.handle_time_s} s, capacity ${p.capacity} per agent, ` +
    `target ${pct(p.target.share, 0)} answered within ${p.target.seconds} s\n`;
  out += `routing policy: ${p.policy.join('; ')}\n`;
  if (p.other_groups.length > 0) {
    out += `sizing group ${p.sized_group}; the others as given: ${p.other_groups.map((g) => `${g.count} × capacity ${g.capacity}${g.departments.length > 0 ? ` (${g.departments.join('|')})` : ''}`).join(', ')}\n`;
  }
  out += '\n';
  out += table(
    p.tried.map((c) => [String(c.agents), pct(c.service_level), s(c.mean_wait_s), pct(c.p_wait), pct(c.abandonment), pct(c.utilisation), c.meets_target ? 'yes' : 'no']),
    ['agents', 'service level', 'mean wait', 'waited', 'abandoned', 'utilisation', 'meets target'],
  );
  out += `\nsimulation: ${p.simulation.agents === null ? 'no team size tried meets the target' : `${p.simulation.agents} agents`} (${p.simulation.arrivals_per_run} arrivals per run, seed ${p.simulation.seed})\n`;
  out += `Erlang C:   ${Number.isNaN(p.erlang.agents) ? 'no team size up to the limit meets the target' : `${p.erlang.agents} agents (service level ${pct(p.erlang.service_level)}, mean wait ${s(p.erlang.mean_wait_s)})`}${p.erlang.note ? ` — ${p.erlang.note}` : ''}\n`;
  return out;
}
