import { integer, type Env } from '../env.js';
import { RateLimited } from '../errors.js';
import type { Queryable } from '../store/db.js';

// Limits on the one thing anyone may do without a credential: start a chat
// session (POST /session), which opens a conversation that takes a place in
// the queue or an agent's slot. Both limits are counted in the database, per
// client address, so they hold however many processes share it.

export interface SessionLimits {
  /** sessions one address may start per minute; 0 = no limit */
  perMinute: number;
  /** live sessions one address may hold at once; 0 = no limit */
  maxOpen: number;
}

export function loadSessionLimits(env: Env): SessionLimits {
  return {
    perMinute: integer(env, 'SESSION_RATE_LIMIT', 20, 0, 1_000_000),
    maxOpen: integer(env, 'SESSION_MAX_OPEN_PER_ADDRESS', 20, 0, 1_000_000),
  };
}

const WINDOW_MS = 60_000;

interface Counts {
  recent: number;
  oldest_recent: Date | null;
  live: number;
}

// The sessions started in the last minute, and the live ones: open, and heard
// from within the keep-alive (a silent one is being abandoned by the sweep,
// and counting only these keeps the scan to what the address holds now).
const COUNTS = /* sql */ `
  select count(*) filter (where s.created_at > $2)::int as recent,
         min(s.created_at) filter (where s.created_at > $2) as oldest_recent,
         count(*) filter (where s.last_seen_at > $3 and c.state in ('queued', 'offered', 'assigned'))::int as live
    from customer_sessions s
    join conversations c on c.id = s.conversation_id
   where s.client_address = $1 and s.last_seen_at > least($2, $3)`;

// Serializes the starts of one address's sessions (the two-key form, with a
// class of its own, so it cannot meet the single-key LOCKS of store/db.ts).
const LOCK_CLASS = 7_301_010;

export interface SessionGate {
  /** Refuses early, without a transaction, when the address is over a limit already (cheap answer to a flood). */
  precheck(db: Queryable, now: Date): Promise<void>;
  /**
   * Inside the transaction that opens the session: waits for the address'
   * lock, counts again, and either refuses (rolling the open back) or marks
   * the new session as this address'.
   */
  admit(tx: Queryable, conversationId: string, now: Date): Promise<void>;
}

/** `address`: the client's, as addressKey (src/http/client-address.ts) counts it. */
export function sessionGate(limits: SessionLimits, keepAliveMs: number, address: string): SessionGate {
  const check = async (db: Queryable, now: Date) => {
    if (limits.perMinute === 0 && limits.maxOpen === 0) return;
    const [counts] = await db.query<Counts>(COUNTS, [address, new Date(now.getTime() - WINDOW_MS), new Date(now.getTime() - keepAliveMs)]);
    const { recent, oldest_recent: oldest, live } = counts!;
    if (limits.perMinute > 0 && recent >= limits.perMinute) {
      const seconds = Math.max(1, Math.ceil(((oldest ? new Date(oldest).getTime() : now.getTime()) + WINDOW_MS - now.getTime()) / 1000));
      throw new RateLimited(
        'SB_RATE_LIMITED',
        `too many chat sessions started from this address: at most ${limits.perMinute} a minute (SESSION_RATE_LIMIT); try again in ${seconds} s`,
        seconds,
      );
    }
    if (limits.maxOpen > 0 && live >= limits.maxOpen) {
      // A live session frees its place when it ends or falls silent for the keep-alive.
      const seconds = Math.max(1, Math.ceil(keepAliveMs / 1000));
      throw new RateLimited(
        'SB_TOO_MANY_SESSIONS',
        `this address already holds ${live} open chat ${live === 1 ? 'session' : 'sessions'}, the most allowed (SESSION_MAX_OPEN_PER_ADDRESS=${limits.maxOpen}); end one or try again in ${seconds} s`,
        seconds,
      );
    }
  };
  return {
    precheck: check,
    async admit(tx, conversationId, now) {
      if (limits.perMinute > 0 || limits.maxOpen > 0) {
        await tx.query('select pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, address]);
        await check(tx, now);
      }
      // Recorded also with the limits off, so turning them on counts what is already open.
      await tx.query('update customer_sessions set client_address = $2 where conversation_id = $1', [conversationId, address]);
    },
  };
}
