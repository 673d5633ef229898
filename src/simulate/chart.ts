import type { Report, TimelineBin } from './report.js';

// The picture of a run, as a dependency-free SVG: queue length over time on
// top, the mean wait of each slice's arrivals below, on a shared hour axis.

const W = 860;
const PANEL_H = 210;
const M = { left: 64, right: 24, top: 84, gap: 70, bottom: 44 };

interface Panel {
  title: string;
  unit: string;
  series: { values: (number | null)[]; color: string; label: string; fill?: boolean }[];
  guide?: { value: number; label: string };
}

export function renderChart(report: Report, title = 'Switchboard simulation'): string {
  const bins = report.timeline;
  const r = report.results;
  const subtitle =
    `${r.arrivals.toLocaleString('en')} arrivals over ${r.virtual_hours.toFixed(1)} virtual hours · ` +
    `mean wait ${r.wait_s.mean.toFixed(1)} s · p90 ${r.wait_s.p90.toFixed(1)} s · ` +
    `service level ${(r.service_level * 100).toFixed(1)} % in ${report.inputs.target.seconds} s · utilisation ${(r.utilisation * 100).toFixed(1)} %`;
  const panels: Panel[] = [
    {
      title: 'Queue length (conversations waiting)',
      unit: '',
      series: [
        { values: bins.map((b) => b.queue_max), color: '#f4a259', label: 'max in slice' },
        { values: bins.map((b) => b.queue_mean), color: '#1f6feb', label: 'time-average', fill: true },
      ],
    },
    {
      title: 'Wait of the customers arriving in each slice',
      unit: ' s',
      series: [{ values: bins.map((b) => b.wait_mean_s), color: '#8250df', label: 'mean wait' }],
      guide: { value: report.inputs.target.seconds, label: `target ${report.inputs.target.seconds} s` },
    },
  ];
  const height = M.top + panels.length * PANEL_H + (panels.length - 1) * M.gap + M.bottom;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="22" font-size="16" font-weight="600" fill="#1f2328">${esc(title)}</text>`,
    `<text x="${M.left}" y="40" fill="#57606a">${esc(subtitle)}</text>`,
  ];
  panels.forEach((panel, i) => parts.push(renderPanel(panel, bins, M.top + i * (PANEL_H + M.gap))));
  parts.push(`<text x="${M.left + (W - M.left - M.right) / 2}" y="${height - 8}" text-anchor="middle" fill="#57606a">virtual time (hours)</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function renderPanel(panel: Panel, bins: readonly TimelineBin[], top: number): string {
  const plotW = W - M.left - M.right;
  const end = bins[bins.length - 1]?.to_h ?? 1;
  const all = panel.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const yMax = niceCeil(Math.max(1e-9, ...all, panel.guide?.value ?? 0));
  const x = (h: number) => M.left + (h / end) * plotW;
  const y = (v: number) => top + PANEL_H - (v / yMax) * PANEL_H;
  const out: string[] = [`<text x="${M.left}" y="${top - 10}" font-weight="600" fill="#1f2328">${esc(panel.title)}</text>`];
  for (const t of ticks(yMax)) {
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${f(y(t))}" y2="${f(y(t))}" stroke="#eaeef2"/>`);
    out.push(`<text x="${M.left - 8}" y="${f(y(t) + 4)}" text-anchor="end" fill="#57606a">${fmt(t)}${panel.unit}</text>`);
  }
  for (const t of ticks(end)) {
    out.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${top + PANEL_H}" y2="${top + PANEL_H + 5}" stroke="#57606a"/>`);
    out.push(`<text x="${f(x(t))}" y="${top + PANEL_H + 18}" text-anchor="middle" fill="#57606a">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#d0d7de"/>`);
  if (panel.guide) {
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${f(y(panel.guide.value))}" y2="${f(y(panel.guide.value))}" stroke="#cf222e" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${M.left + plotW - 4}" y="${f(y(panel.guide.value) - 5)}" text-anchor="end" fill="#cf222e">${esc(panel.guide.label)}</text>`);
  }
  let legendX = M.left + plotW;
  for (const s of [...panel.series].reverse()) {
    const pts = bins.flatMap((b, i) => {
      const v = s.values[i];
      return v === null || v === undefined ? [] : [[x((b.from_h + b.to_h) / 2), y(v)] as const];
    });
    if (s.fill && pts.length > 0) {
      const area = [`${f(pts[0]![0])},${f(y(0))}`, ...pts.map(([px, py]) => `${f(px)},${f(py)}`), `${f(pts[pts.length - 1]![0])},${f(y(0))}`];
      out.push(`<polygon points="${area.join(' ')}" fill="${s.color}" fill-opacity="0.18"/>`);
    }
    out.push(`<polyline points="${pts.map(([px, py]) => `${f(px)},${f(py)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    const label = esc(s.label);
    legendX -= label.length * 6.5 + 30;
    out.push(`<line x1="${f(legendX)}" x2="${f(legendX + 18)}" y1="${top - 14}" y2="${top - 14}" stroke="${s.color}" stroke-width="3"/>`);
    out.push(`<text x="${f(legendX + 22)}" y="${top - 10}" fill="#57606a">${label}</text>`);
  }
  return out.join('\n');
}

/** The smallest 1, 2 or 5 × 10ⁿ at or above v. */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function ticks(max: number): number[] {
  const step = niceCeil(max / 6);
  const out: number[] = [];
  for (let t = 0; t <= max + 1e-9; t += step) out.push(t);
  return out;
}

const f = (n: number) => n.toFixed(1);
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(3).replace(/\.?0+$/, ''));
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
