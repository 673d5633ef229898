import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './process-server.js';

// A reader for the repository's Dockerfile, enough for the tests that check
// it without a container engine: instructions per stage, with line
// continuations joined and comments dropped. No variable expansion.

export interface Instruction {
  /** upper case: FROM, RUN, COPY, ENV, … */
  keyword: string;
  /** everything after the keyword, continuations joined with a space */
  args: string;
}

export interface Stage {
  /** the image after FROM (an ARG reference stays as written) */
  from: string;
  /** the name after AS, if any */
  name: string | undefined;
  instructions: Instruction[];
}

export function readDockerfile(path = join(REPO_ROOT, 'Dockerfile')): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    // a comment line inside a continued instruction is dropped, as Docker does
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  if (pending.trim() !== '') logical.push(pending.trim());

  const stages: Stage[] = [];
  for (const line of logical.filter(Boolean)) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** The runtime stage: the last one, what `docker build` without --target produces. */
export function runtimeStage(stages: Stage[]): Stage {
  const last = stages.at(-1);
  if (!last) throw new Error('the Dockerfile has no FROM');
  return last;
}

/** ENV instructions of a stage as one map (`KEY=value` pairs, quotes removed). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    for (const [, key, quoted, bare] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S*))/g)) env[key!] = quoted ?? bare ?? '';
  }
  return env;
}

/** The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK … CMD; undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  const json = args.slice(args.indexOf('['));
  if (!args.includes('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}
