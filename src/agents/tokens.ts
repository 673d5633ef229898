import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import type { AgentRow } from './model.js';

// Only a SHA-256 of each token is stored: a leaked database does not hand out
// working tokens. Tokens are 256 random bits, so a fast hash is enough.
/** SHA-256 of a token, hex: what is stored of agents' and customers' tokens alike. */
export const tokenDigest = (token: string) => createHash('sha256').update(token).digest('hex');
const digest = tokenDigest;

export async function issueToken(db: Queryable, agentId: string, now: Date, ttlSeconds: number): Promise<{ token: string; expires_at: Date }> {
  const token = `sbt_${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
  await db.query('insert into auth_tokens (token_hash, agent_id, created_at, expires_at) values ($1, $2, $3, $4)', [
    digest(token),
    agentId,
    now,
    expiresAt,
  ]);
  return { token, expires_at: expiresAt };
}

/** The agent a live token belongs to, or undefined for an unknown, expired or revoked token. */
export async function agentForToken(db: Queryable, token: string, now: Date): Promise<AgentRow | undefined> {
  return agentForTokenHash(db, digest(token), now);
}

/** agentForToken for a token known only by its digest (what an external broker hands back). */
export async function agentForTokenHash(db: Queryable, tokenHash: string, now: Date): Promise<AgentRow | undefined> {
  const [row] = await db.query<AgentRow>(
    `select a.* from auth_tokens t join agents a on a.id = t.agent_id
      where t.token_hash = $1 and t.revoked_at is null and t.expires_at > $2 and a.deleted_at is null`,
    [tokenHash, now],
  );
  return row;
}

export async function revokeToken(db: Queryable, token: string, now: Date): Promise<void> {
  await db.query('update auth_tokens set revoked_at = $2 where token_hash = $1 and revoked_at is null', [digest(token), now]);
}
