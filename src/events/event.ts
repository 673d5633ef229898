// An event as a domain function emits it and as the log stores it. Its own
// module, so the context (which hands committed events on) and the outbox
// (which writes them) need not import each other.

export interface NewEvent {
  type: string;
  conversationId?: string | null;
  agentId?: string | null;
  data: Record<string, unknown>;
}

export interface StoredEvent {
  id: number;
  type: string;
  conversation_id: string | null;
  agent_id: string | null;
  data: Record<string, unknown>;
  created_at: Date;
}

/** Records an event for the transaction's end (withEvents appends it with the commit). */
export interface Emit {
  (event: NewEvent): void;
  /** Events already appended in this transaction (by a routing function, src/store/migrations/routing/functions.sql): for the listeners once committed. */
  logged?: (events: readonly StoredEvent[]) => void;
}
