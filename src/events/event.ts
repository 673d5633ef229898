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

export type Emit = (event: NewEvent) => void;
