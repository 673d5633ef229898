// A conversation as stored, and as the API and events show it.

/** `offline`: a message left through the offline form (src/email/offline.ts); the customer is not in a live chat */
export type Channel = 'widget' | 'qiscus' | 'rapidpro' | 'api' | 'mqtt' | 'offline';
export const CHANNELS: readonly Channel[] = ['widget', 'qiscus', 'rapidpro', 'api', 'mqtt', 'offline'];
// `offered`: held for one agent who must accept it (offer-mode departments, src/routing/offers.ts).
export type ConversationState = 'queued' | 'offered' | 'assigned' | 'resolved' | 'abandoned';
export const OPEN_STATES: readonly ConversationState[] = ['queued', 'offered', 'assigned'];
/** SQL: conversation alias `c` is open (OPEN_STATES); the one spelling, so no query forgets `offered`. */
export const IS_OPEN = (c: string) => /* sql */ `${c}.state in (${OPEN_STATES.map((s) => `'${s}'`).join(', ')})`;
/** The state as the customer is told it: an offer not yet accepted is still waiting. */
export const customerState = (state: string): string => (state === 'offered' ? 'queued' : state);

export interface Customer {
  id: string;
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  fields?: Record<string, string>;
}

export interface ConversationRow {
  id: string;
  seq: number;
  channel: Channel;
  external_ref: string | null;
  customer_id: string;
  customer: Customer;
  /** the customer id is vouched for (a signed widget session, a vouching channel or an overseer); see migration 0009 */
  customer_verified: boolean;
  department: string | null;
  priority: number;
  state: ConversationState;
  agent_id: string | null;
  created_at: Date;
  queued_at: Date | null;
  assigned_at: Date | null;
  resolved_at: Date | null;
  resolve_reason: string | null;
  note: string | null;
  /** label names (migration 0023) */
  labels: string[];
  /** what the opener asked for (migration 0030) */
  requested_skills: Record<string, number>;
  /** the effective requirement: requested_skills merged with the department's */
  required_skills: Record<string, number>;
  skills_relax_after_s: number | null;
  overflow: { after_s: number; to: string }[];
  updated_at: Date;
  /** sticky wait (migration 0033): until sticky_until only sticky_agent_id may take it */
  sticky_agent_id: string | null;
  sticky_until: Date | null;
  /** priority gained per minute queued: the department's aging rate when it arrived */
  aging_per_min: number;
  /** first-response SLA (migration 0033) */
  sla_due_at: Date | null;
  first_response_at: Date | null;
  sla_breached_at: Date | null;
  /** while offered: when the offer runs out (migration 0032) */
  offer_expires_at: Date | null;
  /** agents who declined or let expire its offer while it waits */
  declined_by: string[];
}

export interface QueueInfo {
  position: number;
  expected_wait_seconds: number | null;
}

export interface Conversation {
  id: string;
  channel: Channel;
  external_ref: string | null;
  customer: { id: string; name: string | null; email: string | null; phone: string | null; fields: Record<string, string> };
  customer_verified: boolean;
  department: string | null;
  priority: number;
  state: ConversationState;
  agent_id: string | null;
  created_at: string;
  queued_at: string | null;
  assigned_at: string | null;
  resolved_at: string | null;
  resolve_reason: string | null;
  note: string | null;
  offer_expires_at: string | null;
  labels: string[];
  required_skills: Record<string, number>;
  /** when the first agent reply is due by the department's SLA; null: no SLA */
  sla_due_at: string | null;
  /** the first agent message (not a note, not a system message) */
  first_response_at: string | null;
  /** when conversation.sla_breached was raised; null: not breached */
  sla_breached_at: string | null;
  queue_position: number | null;
  expected_wait_seconds: number | null;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

export function toConversation(row: ConversationRow, queue?: QueueInfo | null): Conversation {
  return {
    id: row.id,
    channel: row.channel,
    external_ref: row.external_ref,
    customer: {
      id: row.customer.id,
      name: row.customer.name ?? null,
      email: row.customer.email ?? null,
      phone: row.customer.phone ?? null,
      fields: row.customer.fields ?? {},
    },
    customer_verified: row.customer_verified,
    department: row.department,
    priority: row.priority,
    state: row.state,
    agent_id: row.agent_id,
    created_at: iso(row.created_at)!,
    queued_at: iso(row.queued_at),
    assigned_at: iso(row.assigned_at),
    resolved_at: iso(row.resolved_at),
    resolve_reason: row.resolve_reason,
    note: row.note,
    offer_expires_at: row.state === 'offered' ? iso(row.offer_expires_at) : null,
    labels: row.labels ?? [],
    required_skills: row.required_skills ?? {},
    sla_due_at: iso(row.sla_due_at ?? null),
    first_response_at: iso(row.first_response_at ?? null),
    sla_breached_at: iso(row.sla_breached_at ?? null),
    queue_position: row.state === 'queued' ? (queue?.position ?? null) : null,
    expected_wait_seconds: row.state === 'queued' ? (queue?.expected_wait_seconds ?? null) : null,
  };
}
