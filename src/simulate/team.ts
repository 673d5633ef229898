import { createAgent } from '../agents/agents.js';
import type { Ctx } from '../context.js';
import { badInput } from './errors.js';

// The agents of a simulation: groups of identical agents, each with a
// capacity, departments and an optional daily shift.

export interface Shift {
  /** minutes after midnight */
  startMin: number;
  /** minutes after midnight; before startMin for a shift across midnight */
  endMin: number;
}

export interface AgentGroup {
  count: number;
  capacity: number;
  departments: readonly string[];
  shift: Shift | null;
  /** skill → level, as the Agent's `skills` (docs/routing.md#skills); empty: none */
  skills?: Readonly<Record<string, number>>;
}

export interface SimAgent {
  id: string;
  index: number;
  group: number;
  capacity: number;
  departments: readonly string[];
  shift: Shift | null;
  skills: Readonly<Record<string, number>>;
}

const DAY_MIN = 1440;

export function parseShift(text: string): Shift {
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) throw badInput(`a shift is HH:MM-HH:MM (e.g. 09:00-17:00), got ${JSON.stringify(text)}`);
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number];
  if (h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59) throw badInput(`a shift's times must be between 00:00 and 24:00, got ${JSON.stringify(text)}`);
  const startMin = (h1 * 60 + m1) % DAY_MIN;
  const endMin = (h2 * 60 + m2) % DAY_MIN;
  if (startMin === endMin) throw badInput(`a shift must not start and end at the same time (leave --shift out for agents always on), got ${JSON.stringify(text)}`);
  return { startMin, endMin };
}

export function formatShift(shift: Shift | null): string | null {
  if (shift === null) return null;
  const f = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${f(shift.startMin)}-${f(shift.endMin)}`;
}

export function onShiftAt(shift: Shift | null, minuteOfDay: number): boolean {
  if (shift === null) return true;
  return shift.startMin < shift.endMin
    ? minuteOfDay >= shift.startMin && minuteOfDay < shift.endMin
    : minuteOfDay >= shift.startMin || minuteOfDay < shift.endMin;
}

/**
 * Agents are made with the real createAgent. Their ids are then renumbered
 * in creation order: the engine's last tie-break between equally loaded,
 * equally idle agents is the id, and random uuids would make two runs with one
 * seed pick different agents. Nothing references the rows yet.
 */
export async function createTeam(ctx: Ctx, groups: readonly AgentGroup[]): Promise<SimAgent[]> {
  const specs = groups.flatMap((g, group) => Array.from({ length: g.count }, () => ({ group, g })));
  const created = await Promise.all(
    specs.map(({ g }, index) =>
      createAgent(ctx, {
        name: `Simulated agent ${index + 1}`,
        email: `agent-${index + 1}@simulation.invalid`,
        password: 'simulated-agent',
        role: 'agent',
        capacity: g.capacity,
        departments: [...g.departments],
        skills: { ...g.skills },
      }),
    ),
  );
  const agents: SimAgent[] = [];
  for (const [index, row] of created.entries()) {
    const id = `00000000-0000-4000-8000-${String(index + 1).padStart(12, '0')}`;
    await ctx.db.query('update agents set id = $2 where id = $1', [row.id, id]);
    await ctx.db.query('update events set agent_id = $2 where agent_id = $1', [row.id, id]);
    const { group, g } = specs[index]!;
    agents.push({ id, index, group, capacity: g.capacity, departments: g.departments, shift: g.shift, skills: g.skills ?? {} });
  }
  return agents;
}
