import { createAgent, updateAgent } from '../../src/agents/agents.js';
import { SYSTEM, type AgentRow, type Role } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import type { AgentStatus } from '../../src/routing/presence.js';

let counter = 0;

/** An agent, already in the given status. Passwords are fixed: tests log in with them. */
export async function makeAgent(
  ctx: Ctx,
  options: { role?: Role; status?: AgentStatus; capacity?: number | null; departments?: string[]; name?: string } = {},
): Promise<AgentRow> {
  counter += 1;
  const name = options.name ?? `agent${counter}`;
  const agent = await createAgent(ctx, {
    name,
    email: `${name}.${counter}@example.test`,
    password: 'correct horse',
    role: options.role ?? 'agent',
    capacity: options.capacity ?? null,
    departments: options.departments ?? [],
  });
  if (options.status && options.status !== 'offline') return updateAgent(ctx, agent.id, { status: options.status }, SYSTEM);
  return agent;
}

export const PASSWORD = 'correct horse';
