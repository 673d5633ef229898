import type { AgentStatus } from '../routing/presence.js';

export type Role = 'admin' | 'supervisor' | 'agent';
export const ROLES: readonly Role[] = ['admin', 'supervisor', 'agent'];

/** Who is asking: an authenticated agent, or Switchboard itself (channels, sweeps). */
export interface Actor {
  id: string | null;
  role: Role | 'system';
}

export const SYSTEM: Actor = { id: null, role: 'system' };

export const seesEverything = (actor: Actor) => actor.role !== 'agent';

/**
 * Who a bearer token speaks for, as far as the token cache (migration 0047)
 * can vouch: its id and role, dropped at every role change or deletion. The
 * agent's other fields (status, load, departments, name) change without a
 * notice, so whoever needs them reads them from the agents table.
 */
export interface AgentIdentity {
  id: string;
  role: Role;
}

export interface AgentRow {
  id: string;
  name: string;
  email: string;
  password_hash: string;
  role: Role;
  status: AgentStatus;
  capacity: number | null;
  departments: string[];
  /** skill → level 1–10 (migration 0030) */
  skills: Record<string, number>;
  external_ref: string | null;
  /** the channel that made this agent as its mirror ('qiscus'), null for people (migration 0003) */
  source: string | null;
  load: number;
  last_assigned_at: Date | null;
  last_seen_at: Date | null;
  offline_since: Date | null;
  resume_status: 'online' | 'away' | null;
  /** offers let expire in a row (migration 0032) */
  offer_expiries: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export interface Agent {
  id: string;
  name: string;
  email: string;
  role: Role;
  status: AgentStatus;
  capacity: number | null;
  effective_capacity: number;
  departments: string[];
  skills: Record<string, number>;
  external_ref: string | null;
  source: string | null;
  load: number;
  last_seen_at: string | null;
  last_assigned_at: string | null;
  created_at: string;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

/** The capacity the engine applies: the agent's own, else the max_customers setting. */
export const effectiveCapacity = (row: AgentRow, maxCustomers: number): number => row.capacity ?? maxCustomers;

/** Online and below capacity: what the engine's HAS_ROOM test (routing/sql.ts) says of this agent now. */
export const hasRoom = (row: AgentRow, maxCustomers: number): boolean => row.status === 'online' && row.load < effectiveCapacity(row, maxCustomers);

export function toAgent(row: AgentRow, maxCustomers: number): Agent {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    role: row.role,
    status: row.status,
    capacity: row.capacity,
    effective_capacity: effectiveCapacity(row, maxCustomers),
    departments: row.departments,
    skills: row.skills ?? {},
    external_ref: row.external_ref,
    source: row.source ?? null,
    load: row.load,
    last_seen_at: iso(row.last_seen_at),
    last_assigned_at: iso(row.last_assigned_at),
    created_at: iso(row.created_at)!,
  };
}
