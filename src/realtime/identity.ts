import type { AgentRow } from '../agents/model.js';
import { agentForToken, agentForTokenHash } from '../agents/tokens.js';
import type { Queryable } from '../store/db.js';
import { isCustomerToken, sessionForToken, sessionForTokenHash, type CustomerSession } from './sessions.js';

/** Who an MQTT client is: an agent (by login token) or a customer (by session token). */
export type Identity = { kind: 'agent'; agent: AgentRow } | { kind: 'customer'; session: CustomerSession };

export async function identify(db: Queryable, token: string, now: Date): Promise<Identity | undefined> {
  if (isCustomerToken(token)) {
    const session = await sessionForToken(db, token, now);
    return session ? { kind: 'customer', session } : undefined;
  }
  const agent = await agentForToken(db, token, now);
  return agent ? { kind: 'agent', agent } : undefined;
}

/**
 * The identity of a live token known only by its SHA-256 (what an external
 * broker hands back to the ACL endpoint): undefined once the token expired
 * or was revoked, the session expired or the agent was deleted.
 */
export async function identifyByDigest(db: Queryable, tokenHash: string, now: Date): Promise<Identity | undefined> {
  if (!/^[0-9a-f]{64}$/.test(tokenHash)) return undefined;
  const session = await sessionForTokenHash(db, tokenHash, now);
  if (session) return { kind: 'customer', session };
  const agent = await agentForTokenHash(db, tokenHash, now);
  return agent ? { kind: 'agent', agent } : undefined;
}

/** The id an identity logs in to an external broker with: the agent's, or the session's. */
export const brokerUsername = (identity: Identity) => (identity.kind === 'agent' ? identity.agent.id : identity.session.conversation_id);

export const seesEverything = (identity: Identity) => identity.kind === 'agent' && identity.agent.role !== 'agent';

/** The id a participant writes under (`message.from`). */
export const participantId = (identity: Identity) => (identity.kind === 'agent' ? identity.agent.id : identity.session.customer_id);
