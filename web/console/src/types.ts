import type { SlaClock } from './sla';
import type { Rating } from './ratings';

export type Role = 'admin' | 'supervisor' | 'agent';
export type Status = 'online' | 'away' | 'offline';

export interface Agent {
  id: string;
  name: string;
  email: string;
  role: Role;
  status: Status;
  capacity: number | null;
  effective_capacity: number;
  departments: string[];
  /** skill → level 1–10 (docs/routing.md#skills) */
  skills: Record<string, number>;
  /** 'qiscus' for a Qiscus agent's mirror: Qiscus decides its status and departments */
  source: string | null;
  load: number;
  last_seen_at: string | null;
}

/**
 * The departments these agents work in, sorted: not a channel's own queue
 * (`@qiscus`, its mirrors'), where the server takes no agent, conversation,
 * transfer or routing setting (docs/api.md, "Channels' own queues").
 */
export const servedDepartments = (agents: readonly { departments: readonly string[] }[]): string[] =>
  [...new Set(agents.flatMap((a) => a.departments))].filter((d) => !isChannelQueue(d)).sort((a, b) => a.localeCompare(b));

/** A channel's own queue, as src/routing/channel-queues.ts names them. */
export const isChannelQueue = (department: string): boolean => department.startsWith('@');

/**
 * `spanish:3, billing` → {spanish: 3, billing: 1} (no level: 1). The server
 * judges names and levels: a bad one comes back as a 400 naming it.
 */
export const parseSkills = (text: string): Record<string, number> =>
  Object.fromEntries(
    text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const [name = '', level] = part.split(':').map((x) => x.trim());
        return [name, level === undefined || level === '' ? 1 : Number(level)];
      }),
  );

/** Skills as the console writes them, by name: `billing:1, spanish:3`. */
export const skillsText = (skills: Record<string, number> | undefined) =>
  Object.entries(skills ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, level]) => `${name}:${level}`)
    .join(', ');

export interface Conversation {
  id: string;
  channel: string;
  customer: { id: string; name: string | null; email: string | null; phone: string | null; fields: Record<string, string> };
  /** the customer id is vouched for (signed widget session, a Qiscus room from an authenticating platform, RapidPro, opened by a supervisor or admin) */
  customer_verified: boolean;
  department: string | null;
  priority: number;
  state: 'queued' | 'offered' | 'assigned' | 'resolved' | 'abandoned';
  /** while offered to the agent: when the offer runs out (offers.tsx) */
  offer_expires_at?: string | null;
  agent_id: string | null;
  created_at: string;
  queued_at: string | null;
  assigned_at: string | null;
  resolved_at: string | null;
  resolve_reason: string | null;
  note: string | null;
  /** the customer's satisfaction rating (resolved conversations; see ratings.tsx) */
  rating?: Rating | null;
  /** label names (labels.tsx) */
  labels?: string[];
  /** skill → minimum level an agent needs: the opener's merged with the department's */
  required_skills?: Record<string, number>;
  /** the customer's messages the caller has not read (lists and GET of one) */
  unread?: number;
  /** first-response SLA (docs/routing.md): when the first agent reply is due; null: no SLA */
  sla_due_at?: string | null;
  first_response_at?: string | null;
  /** when the breach was raised; null: not breached */
  sla_breached_at?: string | null;
}

export interface Message {
  id: number;
  conversation_id: string;
  sender: 'customer' | 'agent' | 'system' | 'bot';
  sender_id: string | null;
  text: string | null;
  attachments: { type: string; url: string; id?: string; name?: string; size?: number }[];
  created_at: string;
  read_at: string | null;
  /** a note, which only agents see (notes.tsx) */
  private?: boolean;
  updated_at?: string | null;
}

export interface Waiting {
  id: string;
  name: string | null;
  department: string | null;
  queuedAt: string | null;
  position: number;
  expected: number | null;
  /** first-response SLA (sla.tsx) */
  sla: SlaClock;
}
