import type { AgentRow } from '../agents/model.js';
import { agentForToken } from '../agents/tokens.js';
import type { Queryable } from '../store/db.js';
import { isCustomerToken, sessionForToken, type CustomerSession } from './sessions.js';

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

export const seesEverything = (identity: Identity) => identity.kind === 'agent' && identity.agent.role !== 'agent';

/** The id a participant writes under (`message.from`). */
export const participantId = (identity: Identity) => (identity.kind === 'agent' ? identity.agent.id : identity.session.customer_id);
