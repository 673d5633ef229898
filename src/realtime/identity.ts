import type { AgentIdentity, AgentRow } from '../agents/model.js';
import { agentForToken, agentForTokenHash, tokenDigest } from '../agents/tokens.js';
import type { Queryable } from '../store/db.js';
import { isCustomerToken, sessionForToken, sessionForTokenHash, type CustomerSession } from './sessions.js';

/** Who an MQTT client is: an agent (by login token) or a customer (by session token). */
export type Identity = { kind: 'agent'; agent: AgentIdentity } | { kind: 'customer'; session: CustomerSession };

export async function identify(db: Queryable, token: string, now: Date): Promise<Identity | undefined> {
  if (isCustomerToken(token)) {
    const session = await sessionForToken(db, token, now);
    // An ended chat's token still makes REST calls about it, but connects no more.
    return session && !session.ended_at ? { kind: 'customer', session } : undefined;
  }
  const agent = await agentForToken(db, token, now);
  return agent ? { kind: 'agent', agent } : undefined;
}

/**
 * identify, and when the token stops being good on its own (an agent's
 * token's expiry, a customer session's): what a connection needs to end with it.
 */
export async function identifyUntil(db: Queryable, token: string, now: Date): Promise<{ identity: Identity; expiresAt: Date } | undefined> {
  const identity = await identify(db, token, now);
  if (!identity) return undefined;
  if (identity.kind === 'customer') return { identity, expiresAt: new Date(identity.session.expires_at) };
  const [row] = await db.query<{ expires_at: Date }>('select expires_at from auth_tokens where token_hash = $1', [tokenDigest(token)]);
  // Read a moment after identify: a token gone meanwhile is as good as expired.
  return row ? { identity, expiresAt: new Date(row.expires_at) } : undefined;
}

/**
 * The identity of a live token known only by its SHA-256 (what an external
 * broker hands back to the ACL endpoint): undefined once the token expired
 * or was revoked, the session expired or the agent was deleted.
 */
export async function identifyByDigest(db: Queryable, tokenHash: string, now: Date): Promise<Identity | undefined> {
  if (!/^[0-9a-f]{64}$/.test(tokenHash)) return undefined;
  const session = await sessionForTokenHash(db, tokenHash, now);
  if (session) return session.ended_at ? undefined : { kind: 'customer', session };
  const agent = await agentForTokenHash(db, tokenHash, now);
  return agent ? { kind: 'agent', agent } : undefined;
}

/**
 * Which of these token digests are still live, each with what it stands for
 * now (an agent's role, or `customer`): one round trip for every connection
 * a broker holds, so the periodic re-check costs the same for 10 or 10,000.
 */
export async function liveDigests(db: Queryable, digests: readonly string[], now: Date): Promise<Map<string, AgentRow['role'] | 'customer'>> {
  const live = new Map<string, AgentRow['role'] | 'customer'>();
  if (digests.length === 0) return live;
  const rows = await db.query<{ token_hash: string; role: AgentRow['role'] | 'customer' }>(
    `select t.token_hash, a.role from auth_tokens t join agents a on a.id = t.agent_id
      where t.token_hash = any($1::text[]) and t.revoked_at is null and t.expires_at > $2 and a.deleted_at is null
     union all
     select token_hash, 'customer' from customer_sessions where token_hash = any($1::text[]) and expires_at > $2 and ended_at is null`,
    [digests, now],
  );
  for (const row of rows) live.set(row.token_hash, row.role);
  return live;
}

/** The id an identity logs in to an external broker with: the agent's, or the session's. */
export const brokerUsername = (identity: Identity) => (identity.kind === 'agent' ? identity.agent.id : identity.session.conversation_id);

/**
 * What an MQTT client id belongs to: one agent (whatever token they log in
 * with) or one customer session. A client id is bound to one of these while
 * the broker keeps its session, so nobody picks up another's queued messages.
 */
export const identityKey = (identity: Identity) => keyOf(identity.kind, brokerUsername(identity));

/** identityKey of the agent or session with this id, for a caller that holds only the id. */
export const keyOf = (kind: Identity['kind'], id: string) => `${kind}:${id}`;

/**
 * The client id rule on an external broker, where Switchboard cannot see
 * which ids are taken: a client id is the user name (the agent's or session's
 * id), or starts with it and a "-". Two identities never share one, so a
 * persistent session can only be resumed by its own identity.
 */
export function clientIdBelongsTo(clientId: string | undefined, username: string): boolean {
  if (!clientId || clientId.length < username.length) return false;
  const prefix = clientId.slice(0, username.length).toLowerCase();
  return prefix === username && (clientId.length === username.length || clientId[username.length] === '-');
}

export const seesEverything = (identity: Identity) => identity.kind === 'agent' && identity.agent.role !== 'agent';

/** The id a participant writes under (`message.from`). */
export const participantId = (identity: Identity) => (identity.kind === 'agent' ? identity.agent.id : identity.session.customer_id);
