import type { Figures, Report } from './query.js';

// A report as CSV (RFC 4180): a header row, one row per agent or department,
// CRLF line ends, fields quoted when they hold a comma, a quote or a line
// break. The total row is left out, so every row is one agent or department
// and a spreadsheet's own sums are not doubled.
//
// It starts with a UTF-8 byte-order mark: Excel, where most supervisors open
// a download, reads a CSV without one in the machine's legacy code page, so
// "José" and "Zoë" showed as "JosÃ©" and "ZoÃ«". LibreOffice, Google Sheets
// and Python's utf-8-sig read the mark as what it is.
const BYTE_ORDER_MARK = '\uFEFF';

const FIGURES: readonly (keyof Figures)[] = [
  'conversations',
  'responded',
  'first_response_s',
  'first_response_median_s',
  'first_response_p90_s',
  'resolution_s',
  'resolution_median_s',
  'resolution_p90_s',
  'messages',
  'messages_total',
];

export function reportColumns(group: Report['group']): readonly string[] {
  return [...(group === 'agent' ? ['agent_id', 'agent_name'] : ['department']), ...FIGURES];
}

/**
 * A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage
 * return before one) as a formula: an agent named "=HYPERLINK(…)" would run
 * in the supervisor's spreadsheet. Spreadsheets also drop spaces and control
 * characters before one (" =1+1", "\n=1+1"; a department's text comes from
 * an anonymous customer), so the first other character is the one looked
 * at. Text cells that start so, and any starting with a tab or carriage
 * return, get a leading apostrophe, as OWASP advises; numbers are never
 * text here.
 */
const FORMULA = /^(?:[\t\r]|[\s\p{Cc}\p{Cf}]*[=+\-@])/u;
function neutralize(text: string): string {
  return FORMULA.test(text) ? `'${text}` : text;
}

function field(value: string | number | null): string {
  if (value === null) return '';
  const text = typeof value === 'number' ? String(value) : neutralize(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function reportCsv(report: Report): string {
  const columns = reportColumns(report.group);
  const lines = [columns.join(',')];
  for (const row of report.rows) {
    const values = row as unknown as Record<string, string | number | null>;
    lines.push(columns.map((c) => field(values[c] ?? null)).join(','));
  }
  return `${BYTE_ORDER_MARK}${lines.join('\r\n')}\r\n`;
}

/** The download's file name: switchboard-report-agent-2026-01-01-2026-02-01.csv (UTC days). */
export function reportFilename(report: Report): string {
  const day = (iso: string) => (iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace(/[:.]/g, '').replace(/000Z$/, 'Z'));
  return `switchboard-report-${report.group}-${day(report.from)}-${day(report.to)}.csv`;
}
