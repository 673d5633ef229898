import { Type } from '@sinclair/typebox';
import type { Queryable } from '../store/db.js';
import type { Identity } from './identity.js';
import { readPayload } from './payloads.js';

// Typing indicators: `conversations/<id>/typing`, published by the
// conversation's customer and the agent holding it. They are passing signals,
// not state: never stored, never turned into events, and relayed by the
// embedded broker straight away (after the access rules) instead of being
// re-published from committed state like messages are.

/** What a client may publish: `{typing: true|false}`; anything else it sends is dropped. */
export const TypingPayload = Type.Object({ typing: Type.Boolean() });

/** What the other side receives: rebuilt from the identity, never the client's own bytes. */
export interface TypingSignal {
  typing: boolean;
  /** who is typing: `agent` or `customer` (a client ignores its own side's signals) */
  sender: 'agent' | 'customer';
  /** the agent's display name; customers are named by the conversation the console already shows */
  name?: string;
}

/** The signal to relay for this publish; throws an AppError naming the field when the payload is not `{typing: boolean}`. */
export async function typingSignal(db: Queryable, identity: Identity, payload: Buffer): Promise<TypingSignal> {
  const { typing } = readPayload(TypingPayload, payload);
  if (identity.kind !== 'agent') return { typing, sender: 'customer' };
  // Read now: the identity may come from the token cache, which a rename does not clear.
  const [agent] = await db.query<{ name: string }>('select name from agents where id = $1', [identity.agent.id]);
  return agent ? { typing, sender: 'agent', name: agent.name } : { typing, sender: 'agent' };
}

/** How many typing signals one connection may send per second; the client sends about one per 2 s, so more is a misbehaving client. */
export const TYPING_PER_SECOND = 5;

/**
 * A per-connection budget of typing signals: a fixed one-second window per
 * key. Over budget the signal is dropped, not refused — a burst of keystrokes
 * must not cost the customer their connection.
 */
export class TypingLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perSecond = TYPING_PER_SECOND,
    private readonly now: () => number = Date.now,
  ) {}

  /** true when this connection may send one more signal now */
  allow(key: string): boolean {
    const at = this.now();
    const window = this.windows.get(key);
    if (!window || at - window.start >= 1000) {
      if (this.windows.size > 50_000) for (const [k, w] of this.windows) if (at - w.start >= 1000) this.windows.delete(k);
      this.windows.set(key, { start: at, count: 1 });
      return true;
    }
    window.count += 1;
    return window.count <= this.perSecond;
  }

  forget(key: string): void {
    this.windows.delete(key);
  }
}
