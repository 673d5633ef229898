import type { Breakdown, Report } from './report.js';

// A routing policy's effect as a dependency-free SVG: for each department
// (or priority) the mean and p90 wait under the default policy and under
// the policy, side by side, with each bar's service level. The pictures of
// docs/routing.md's simulated examples.

const W = 860;
const ROW_H = 86;
const M = { left: 150, right: 150, top: 84, bottom: 48 };
const COLORS = { base: '#8b949e', policy: '#1f6feb' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderComparison(title: string, base: Report, policy: Report, by: 'departments' | 'priorities'): string {
  const label = (b: Breakdown) => (by === 'departments' ? String(b.key ?? '(none)') : `priority ${b.key}`);
  const keys = policy.breakdown[by].map((b) => b.key);
  const rows = keys.map((key) => ({
    name: label(policy.breakdown[by].find((b) => b.key === key)!),
    base: base.breakdown[by].find((b) => b.key === key) ?? null,
    policy: policy.breakdown[by].find((b) => b.key === key)!,
  }));
  const max = Math.max(1, ...rows.flatMap((r) => [r.base?.wait_s.p90 ?? 0, r.policy.wait_s.p90]));
  const plotW = W - M.left - M.right;
  const x = (v: number) => M.left + (v / max) * plotW;
  const height = M.top + rows.length * ROW_H + M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="28" font-size="17" font-weight="600">${esc(title)}</text>`,
    `<text x="${M.left}" y="50" fill="#57606a">bar: mean wait · whisker: p90 wait · right: service level (${(policy.inputs.target.share * 100).toFixed(0)} % in ${policy.inputs.target.seconds} s)</text>`,
    `<rect x="${M.left}" y="60" width="12" height="12" fill="${COLORS.base}"/><text x="${M.left + 18}" y="70">default policy</text>`,
    `<rect x="${M.left + 140}" y="60" width="12" height="12" fill="${COLORS.policy}"/><text x="${M.left + 158}" y="70">${esc(policy.policy.routing.join('; ').slice(0, 80))}</text>`,
  ];
  rows.forEach((row, i) => {
    const y0 = M.top + i * ROW_H + 10;
    out.push(`<text x="${M.left - 10}" y="${y0 + 32}" text-anchor="end" font-weight="600">${esc(row.name)}</text>`);
    const bar = (b: Breakdown | null, y: number, color: string) => {
      if (b === null) return;
      out.push(`<rect x="${M.left}" y="${y}" width="${Math.max(1, x(b.wait_s.mean) - M.left).toFixed(1)}" height="22" fill="${color}"/>`);
      out.push(`<line x1="${x(b.wait_s.mean).toFixed(1)}" x2="${x(b.wait_s.p90).toFixed(1)}" y1="${y + 11}" y2="${y + 11}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<line x1="${x(b.wait_s.p90).toFixed(1)}" x2="${x(b.wait_s.p90).toFixed(1)}" y1="${y + 4}" y2="${y + 18}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<text x="${W - M.right + 10}" y="${y + 16}">${b.wait_s.mean.toFixed(0)} s / ${b.wait_s.p90.toFixed(0)} s · ${(b.service_level * 100).toFixed(0)} %</text>`);
    };
    bar(row.base, y0, COLORS.base);
    bar(row.policy, y0 + 28, COLORS.policy);
  });
  const axisY = M.top + rows.length * ROW_H + 8;
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${axisY}" y2="${axisY}" stroke="#d0d7de"/>`);
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    out.push(`<text x="${x(v).toFixed(1)}" y="${axisY + 18}" text-anchor="middle" fill="#57606a">${v.toFixed(0)} s</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
