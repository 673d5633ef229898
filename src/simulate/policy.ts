import { readFile } from 'node:fs/promises';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { AppError } from '../errors.js';
import { RoutingChange } from '../http/routes/departments.js';
import { Skills } from '../http/schemas.js';
import { checkOverflow, type DepartmentRoutingChange } from '../routing/department-settings.js';
import { badInput } from './errors.js';

// Routing policies for a simulation: per department, the very settings
// `PUT /api/v1/departments/:name/routing` takes, checked by the same schema
// and the same overflow rule the API applies, then set in the simulation's
// store through the engine's own changeDepartmentRouting. Two ways to give
// them, combined (the flag's fields win over the file's):
//
//   --routing-file policies.json    {"sales": {"overflow": [{"after_s": 60, "to": "support"}]}}
//   --routing sales:mode=offer,offer_timeout_s=20,overflow=support@60|billing@300
//
// In the flag form, lists are written compactly: overflow steps as
// `to@after_s` joined by `|`, skills as `skill:level` joined by `+`, and
// `null` is null.

export type RoutingPolicies = Record<string, DepartmentRoutingChange>;

/** "spanish:3+billing:1" → {spanish: 3, billing: 1}; checked against the API's Skills schema. */
export function parseSkills(text: string, where: string, separator = '+'): Record<string, number> {
  const skills: Record<string, number> = {};
  for (const part of text.split(separator).map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([^:]+):(.+)$/.exec(part);
    if (!m) throw badInput(`${where}: a skill is name:level (e.g. spanish:3), got ${JSON.stringify(part)}`);
    skills[m[1]!.trim()] = Number(m[2]!.trim());
  }
  const error = firstError(Skills, skills);
  if (error !== null) throw badInput(`${where}: ${error}`);
  return skills;
}

function firstError(schema: TSchema, value: unknown): string | null {
  const first = Value.Errors(schema, value).First();
  if (first === undefined) return null;
  // "/overflow/0/after_s" → "overflow[0].after_s", as the API's field names read
  const path = first.path
    .split('/')
    .filter((s) => s !== '')
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
  const extra = first.message.startsWith('Unexpected property') ? unexpected(schema, value) : null;
  return `${extra ?? (path === '' ? 'value' : path)}: ${first.message}${first.value !== undefined && typeof first.value !== 'object' ? ` (got ${JSON.stringify(first.value)})` : ''}`;
}

/** Names the first field the schema does not know (TypeBox reports only that there is one). */
function unexpected(schema: TSchema, value: unknown): string | null {
  const known = schema.properties as Record<string, unknown> | undefined;
  if (!known || typeof value !== 'object' || value === null) return null;
  const field = Object.keys(value).find((k) => !(k in known));
  return field === undefined ? null : `unknown field ${field}`;
}

function flagValue(field: string, raw: string, where: string): unknown {
  const text = raw.trim();
  if (text === 'null') return null;
  if (field === 'overflow') {
    return text
      .split('|')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((step) => {
        const m = /^(.+)@(.+)$/.exec(step);
        if (!m) throw badInput(`${where}: an overflow step is department@after_s (e.g. support@60), got ${JSON.stringify(step)}`);
        return { to: m[1]!.trim(), after_s: Number(m[2]!.trim()) };
      });
  }
  if (field === 'required_skills') return parseSkills(text, `${where} required_skills`);
  return text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** One --routing flag: "department:field=value,field=value". */
export function parseRoutingFlag(text: string): { department: string; change: Record<string, unknown> } {
  const colon = text.indexOf(':');
  if (colon <= 0) throw badInput(`--routing is department:field=value,… (e.g. sales:mode=offer,offer_timeout_s=20), got ${JSON.stringify(text)}`);
  const department = text.slice(0, colon).trim();
  const where = `--routing ${department}`;
  const change: Record<string, unknown> = {};
  for (const part of text.slice(colon + 1).split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw badInput(`${where}: expected field=value, got ${JSON.stringify(part)}`);
    const field = part.slice(0, eq).trim();
    change[field] = flagValue(field, part.slice(eq + 1), where);
  }
  return { department, change };
}

async function readRoutingFile(path: string): Promise<Record<string, Record<string, unknown>>> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw badInput(`--routing-file ${path}: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw badInput(`--routing-file ${path}: expected an object of department → routing settings (the body of PUT /api/v1/departments/:name/routing)`);
  }
  for (const [department, change] of Object.entries(data)) {
    if (typeof change !== 'object' || change === null || Array.isArray(change)) throw badInput(`--routing-file ${path}: ${JSON.stringify(department)} must be an object of routing settings`);
  }
  return data as Record<string, Record<string, unknown>>;
}

/**
 * The routing policies of --routing-file and --routing, each department's
 * settings checked as the API checks a PUT body: the schema
 * (RoutingChange) and the overflow rule (checkOverflow).
 */
export async function routingPolicies(flags: readonly string[] | undefined, file: string | undefined): Promise<RoutingPolicies> {
  const merged: Record<string, { change: Record<string, unknown>; where: string }> = {};
  if (file !== undefined) {
    for (const [department, change] of Object.entries(await readRoutingFile(file))) merged[department] = { change: { ...change }, where: `--routing-file ${department}` };
  }
  for (const text of flags ?? []) {
    const { department, change } = parseRoutingFlag(text);
    const known = merged[department];
    merged[department] = { change: { ...known?.change, ...change }, where: `--routing ${department}` };
  }
  const policies: RoutingPolicies = {};
  for (const [department, { change, where }] of Object.entries(merged)) {
    if (department === '' || /[\u0000-\u001f\u007f]/.test(department)) throw badInput(`${where}: a department name is needed, without control characters`);
    const error = firstError(RoutingChange, change);
    if (error !== null) throw badInput(`${where}: ${error}`);
    const typed = change as DepartmentRoutingChange;
    if (typed.overflow !== undefined) {
      try {
        checkOverflow(department, typed.overflow);
      } catch (e) {
        if (e instanceof AppError) throw badInput(`${where}: ${e.message}`);
        throw e;
      }
    }
    policies[department] = typed;
  }
  return policies;
}

/** One line per department, as the reports state the policy they assumed. */
export function describePolicies(policies: RoutingPolicies): string[] {
  const entries = Object.entries(policies);
  if (entries.length === 0) return ['default (auto, FIFO by priority, no sticky, skills, aging, SLA or overflow)'];
  return entries.map(([department, change]) => `${department}: ${JSON.stringify(change)}`);
}

/**
 * `--label-skills vip=billing:2+spanish:1,es=spanish:2`: the skills each label
 * requires, as a label's `required_skills` does on the server
 * (`POST /api/v1/labels`). A trace's labels are on its conversations from
 * the start, so their skills join the arrival's own at the open.
 */
export function parseLabelSkills(raw: string | undefined): Map<string, Record<string, number>> {
  const labels = new Map<string, Record<string, number>>();
  if (raw === undefined) return labels;
  for (const part of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([^=]+)=(.+)$/.exec(part);
    if (!m) throw badInput(`--label-skills is label=skill:level+skill:level,… (e.g. vip=billing:2), got ${JSON.stringify(part)}`);
    const label = m[1]!.trim();
    if (labels.has(label)) throw badInput(`--label-skills names label ${JSON.stringify(label)} twice`);
    labels.set(label, parseSkills(m[2]!, `--label-skills ${label}`));
  }
  return labels;
}

/**
 * The skills an arrival requires with its labels': the highest level per
 * skill over its own and its labels', the server's rule for merging
 * requirements (sb_required_skills). null when none.
 */
export function withLabelSkills(
  skills: Readonly<Record<string, number>> | null,
  labels: readonly string[],
  labelSkills: ReadonlyMap<string, Readonly<Record<string, number>>>,
): Record<string, number> | null {
  let merged: Record<string, number> | null = skills === null ? null : { ...skills };
  for (const label of labels) {
    for (const [skill, level] of Object.entries(labelSkills.get(label) ?? {})) {
      merged ??= {};
      merged[skill] = Math.max(merged[skill] ?? 0, level);
    }
  }
  return merged;
}
