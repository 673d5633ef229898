import { readFile, writeFile } from 'node:fs/promises';
import type { Queryable } from '../store/db.js';
import { badInput, engineDepartment } from './errors.js';
import { FIRST_INSTANT_MS, HORIZON_MS, HORIZON_YEARS, LAST_INSTANT_MS, PRIORITY_MAX, PRIORITY_MIN } from './horizon.js';
import { parseSkills } from './policy.js';

// A trace is recorded traffic: one row per arrival with its time, department,
// priority and — when known — how long it was handled and how long the
// customer was willing to wait. CSV or JSON (an array of the same objects).
//
//   at,department,priority,handle_s,patience_s,skills,customer_id,labels
//   2026-01-05T09:00:03.120Z,sales,0,184.2,,spanish:1;billing:1,kim-42,VIP
//
// `at` is an ISO 8601 timestamp, or seconds from the start of the trace. With
// timestamps the virtual clock starts at midnight UTC of the first arrival,
// so shifts ("09:00-17:00") line up with the trace's own hours. An empty
// handle_s is drawn from the configured handle-time distribution; an empty
// patience_s from the configured patience (none: the customer waits forever).
// The last three columns are optional (older traces have none of them):
// skills the conversation requires (skill:level joined by ";"), the
// customer's id (a customer who returns gets their last agent under sticky
// routing; the simulator then opens every conversation as a verified customer),
// and labels (";"-joined; with --label-skills their skills join the arrival's).

export interface TraceRow {
  at: string | number;
  department: string | null;
  priority: number;
  handle_s: number | null;
  patience_s: number | null;
  /**
   * The conversation's labels, by name, joined with ";" (label names hold no
   * ";"); null when it has none. Exported so a trace can be cut by label;
   * with --label-skills the simulator adds each label's required skills.
   */
  labels?: string | null;
  /** required skills as skill:level joined by ";" (e.g. spanish:1;billing:1); null: none */
  skills?: string | null;
  /** the customer's verified id; null when unknown or unverified */
  customer_id?: string | null;
}

// labels stays last: traces written before skills and customer_id end with it
export const TRACE_COLUMNS = ['at', 'department', 'priority', 'handle_s', 'patience_s', 'skills', 'customer_id', 'labels'] as const;

export type TraceFormat = 'csv' | 'json';

export interface ParsedTrace {
  /** epoch ms the virtual clock starts at */
  originMs: number;
  /** in arrival order; offsetMs from originMs */
  arrivals: {
    offsetMs: number;
    department: string | null;
    priority: number;
    handleS: number | null;
    patienceS: number | null;
    skills: Record<string, number> | null;
    customerId: string | null;
    labels: string[];
  }[];
}

/** The default start of the virtual clock: a Monday, midnight UTC. */
export const DEFAULT_ORIGIN_MS = Date.parse('2026-01-05T00:00:00Z');

const DAY_MS = 86_400_000;

export function formatOf(path: string, explicit?: string): TraceFormat {
  if (explicit !== undefined) {
    if (explicit !== 'csv' && explicit !== 'json') throw badInput(`--format must be csv or json, got ${JSON.stringify(explicit)}`);
    return explicit;
  }
  return path.toLowerCase().endsWith('.json') ? 'json' : 'csv';
}

export async function readTrace(path: string, format?: TraceFormat): Promise<ParsedTrace> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw badInput(`cannot read trace ${path}: ${(error as Error).message}`);
  }
  return parseTrace(text, format ?? formatOf(path), path);
}

export function parseTrace(text: string, format: TraceFormat, name = 'trace'): ParsedTrace {
  const rows = format === 'json' ? parseJsonRows(text, name) : parseCsvRows(text, name);
  if (rows.length === 0) throw badInput(`${name} has no arrivals`);
  const kinds = new Set(rows.map((r) => typeof r.at.value));
  if (kinds.size > 1) throw badInput(`${name}: "at" must be all timestamps or all seconds, not a mix`);
  const absolute = kinds.has('string');
  const times = rows.map((r) => r.at.value as number | string).map((v, i) => {
    const ms = typeof v === 'number' ? v * 1000 : Date.parse(v);
    if (!Number.isFinite(ms)) throw badInput(`${rows[i]!.where}: "at" is not a timestamp or a number of seconds: ${JSON.stringify(v)}`);
    // JavaScript reads years 0 and ±10000 on; the store then failed on the first write, with status 1
    if (typeof v === 'string' && !(ms >= FIRST_INSTANT_MS && ms <= LAST_INSTANT_MS)) {
      throw badInput(`${rows[i]!.where}: "at" must be a time from 1970 to 9999 (UTC), got ${JSON.stringify(v)}`);
    }
    return ms;
  });
  // a loop, not Math.min(...times): spreading an array passes each element
  // on the stack, which overflows at some 125,000 arrivals
  let first = Infinity;
  for (const ms of times) if (ms < first) first = ms;
  const originMs = absolute ? Math.floor(first / DAY_MS) * DAY_MS : DEFAULT_ORIGIN_MS;
  times.forEach((ms, i) => {
    if ((absolute ? ms - originMs : ms) > HORIZON_MS) {
      throw badInput(`${rows[i]!.where}: "at" is more than ${HORIZON_YEARS} years after the trace's ${absolute ? 'first day' : 'start'}, beyond what one run covers`);
    }
  });
  const arrivals = rows
    .map((r, i) => ({
      offsetMs: Math.round(absolute ? times[i]! - originMs : times[i]!),
      department: r.department,
      priority: r.priority,
      handleS: r.handle_s,
      patienceS: r.patience_s,
      skills: r.skills,
      customerId: r.customer_id,
      labels: r.labels,
      order: i,
    }))
    .sort((a, b) => a.offsetMs - b.offsetMs || a.order - b.order)
    .map(({ order: _order, ...rest }) => rest);
  if (arrivals[0]!.offsetMs < 0) throw badInput(`${name}: "at" in seconds must not be negative`);
  return { originMs, arrivals };
}

interface CheckedRow {
  at: { value: string | number };
  department: string | null;
  priority: number;
  handle_s: number | null;
  patience_s: number | null;
  skills: Record<string, number> | null;
  customer_id: string | null;
  labels: string[];
  where: string;
}

function checkRow(raw: Record<string, unknown>, where: string): CheckedRow {
  const at = raw.at;
  if (typeof at !== 'string' && typeof at !== 'number') throw badInput(`${where}: "at" is required (an ISO timestamp or seconds)`);
  const department = raw.department === undefined || raw.department === null || raw.department === '' ? null : engineDepartment(String(raw.department), where);
  const priority = raw.priority === undefined || raw.priority === null || raw.priority === '' ? 0 : Number(raw.priority);
  if (!Number.isInteger(priority) || priority < PRIORITY_MIN || priority > PRIORITY_MAX) {
    throw badInput(`${where}: priority must be a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX} (the API's range), got ${JSON.stringify(raw.priority)}`);
  }
  return {
    at: { value: typeof at === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(at) ? Number(at) : at },
    department,
    priority,
    handle_s: optionalSeconds(raw.handle_s, 'handle_s', where),
    patience_s: optionalSeconds(raw.patience_s, 'patience_s', where),
    skills: optionalText(raw.skills, 'skills', where) === null ? null : parseSkills(String(raw.skills), `${where}: skills`, ';'),
    customer_id: optionalText(raw.customer_id, 'customer_id', where),
    labels: (optionalText(raw.labels, 'labels', where) ?? '').split(';').map((l) => l.trim()).filter((l) => l !== ''),
    where,
  };
}

function optionalText(value: unknown, field: string, where: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' && typeof value !== 'number') throw badInput(`${where}: ${field} must be text, got ${JSON.stringify(value)}`);
  return String(value).trim() === '' ? null : String(value).trim();
}

function optionalSeconds(value: unknown, field: string, where: string): number | null {
  if (value === undefined || value === null || value === '') return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n * 1000 > HORIZON_MS) {
    throw badInput(`${where}: ${field} must be a number of seconds from 0 to ${HORIZON_MS / 1000} (${HORIZON_YEARS} years) or empty, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseJsonRows(text: string, name: string): CheckedRow[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw badInput(`${name} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(data)) throw badInput(`${name}: a JSON trace is an array of {at, department, priority, handle_s, patience_s, skills, customer_id, labels}`);
  return data.map((row, i) => {
    if (typeof row !== 'object' || row === null) throw badInput(`${name} item ${i}: expected an object`);
    return checkRow(row as Record<string, unknown>, `${name} item ${i}`);
  });
}

function parseCsvRows(text: string, name: string): CheckedRow[] {
  const lines = splitCsv(text);
  const header = lines.shift();
  if (!header) throw badInput(`${name} is empty`);
  const columns = header.cells.map((c) => c.trim());
  if (!columns.includes('at')) throw badInput(`${name}: the CSV header must name the columns, at least "at" (got ${columns.join(',')})`);
  const unknown = columns.filter((c) => !(TRACE_COLUMNS as readonly string[]).includes(c));
  if (unknown.length > 0) throw badInput(`${name}: unknown column(s) ${unknown.join(', ')}; allowed: ${TRACE_COLUMNS.join(', ')}`);
  return lines.map(({ cells, line }) => {
    if (cells.length !== columns.length) throw badInput(`${name} line ${line}: ${cells.length} fields, the header has ${columns.length}`);
    const raw: Record<string, unknown> = {};
    columns.forEach((c, i) => (raw[c] = cells[i]!.trim()));
    return checkRow(raw, `${name} line ${line}`);
  });
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. Blank lines are skipped. */
function splitCsv(text: string): { cells: string[]; line: number }[] {
  const out: { cells: string[]; line: number }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0]!.trim() === '')) out.push({ cells, line: startLine });
    cells = [];
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      startLine = line;
    } else cell += ch;
  }
  if (cell !== '' || cells.length > 0) endRow();
  return out;
}

export function formatTrace(rows: readonly TraceRow[], format: TraceFormat): string {
  // one arrival per line: diffable, and still one JSON array
  if (format === 'json') return rows.length === 0 ? '[]\n' : `[\n${rows.map((r) => JSON.stringify(r)).join(',\n')}\n]\n`;
  const field = (v: string | number | null) => {
    if (v === null) return '';
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = rows.map((r) => TRACE_COLUMNS.map((c) => field(r[c] ?? null)).join(','));
  return `${TRACE_COLUMNS.join(',')}\n${lines.map((l) => `${l}\n`).join('')}`;
}

export async function writeTrace(path: string, rows: readonly TraceRow[], format?: TraceFormat): Promise<void> {
  await writeFile(path, formatTrace(rows, format ?? formatOf(path)));
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/**
 * Switchboard's own history as a trace: every conversation created in the
 * window, in arrival order. Handle time is resolved_at − assigned_at of a
 * conversation an agent closed; patience is how long a customer who left
 * unanswered had waited (for the others it is unknown, and left empty).
 */
export async function exportTrace(db: Queryable, window: { from?: Date; to?: Date } = {}): Promise<TraceRow[]> {
  const rows = await db.query<{
    created_at: Date;
    department: string | null;
    priority: number;
    state: string;
    assigned_at: Date | null;
    resolved_at: Date | null;
    labels: string[];
    required_skills: Record<string, number>;
    customer_id: string | null;
  }>(
    `select created_at, department, priority, state, assigned_at, resolved_at, labels, requested_skills as required_skills,
            case when customer_verified then customer_id end as customer_id
       from conversations
      where ($1::timestamptz is null or created_at >= $1) and ($2::timestamptz is null or created_at < $2)
        -- a channel's own queue (@qiscus) is its channel's work, not the engine's (src/routing/channel-queues.ts)
        and (department is null or department not like '@%')
      order by created_at, seq`,
    [window.from ?? null, window.to ?? null],
  );
  return rows.map((r) => {
    const created = new Date(r.created_at).getTime();
    const assigned = r.assigned_at === null ? null : new Date(r.assigned_at).getTime();
    const closed = r.resolved_at === null ? null : new Date(r.resolved_at).getTime();
    const closedUnanswered = r.state === 'abandoned' && assigned === null && closed !== null;
    const handled = (r.state === 'resolved' || r.state === 'abandoned') && assigned !== null && closed !== null;
    return {
      at: new Date(created).toISOString(),
      department: r.department,
      priority: r.priority,
      handle_s: handled ? seconds(closed! - assigned!) : null,
      patience_s: closedUnanswered ? seconds(closed! - created) : null,
      skills: formatSkills(r.required_skills),
      customer_id: r.customer_id,
      labels: r.labels.length === 0 ? null : r.labels.join(';'),
    };
  });
}

function formatSkills(skills: Record<string, number> | null): string | null {
  const entries = Object.entries(skills ?? {});
  return entries.length === 0 ? null : entries.map(([k, v]) => `${k}:${v}`).join(';');
}
