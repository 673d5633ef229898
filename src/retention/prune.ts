import type { Db } from '../store/db.js';
import { NOTE_UNRECLAIMED, unreclaimedOn } from '../store/vacuum.js';

/** The tables a prune of the outbound history deletes from (attempts and callback links by cascade). */
export const OUTBOUND_TABLES = ['outbound_requests', 'outbound_attempts', 'rapidpro_callbacks'];

/**
 * Deletes, oldest first and `batch` at most, the outbound requests (webhook
 * deliveries, Qiscus and RapidPro calls, emails) that finished — delivered,
 * failed or cancelled — and were made before `before`, with their attempts
 * and RapidPro callback links (on delete cascade). Pending rows are work, not
 * history: never touched, however old. A row another transaction has locked
 * (an erasure blanking it) is skipped and goes at a later pass; a
 * redelivery copies a row unlocked and keeps no reference a delete breaks.
 * Several processes share the work without waiting for each other.
 */
export async function pruneOutboundHistory(db: Db, before: Date, batch: number): Promise<number> {
  // their bodies (a conversation's messages, its customer) stay in PGlite's files until a rewrite: noted in the same statement
  const rows = await db.query(
    `with gone as (
       delete from outbound_requests where id in (
         select id from outbound_requests
          where state <> 'pending' and created_at < $1
          order by created_at, id limit $2
            for update skip locked)
       returning 1
     ), noted as (${NOTE_UNRECLAIMED('$3', 'gone')})
     select 1 from gone`,
    [before, batch, unreclaimedOn(db.kind, OUTBOUND_TABLES)],
  );
  return rows.length;
}

/**
 * Deletes login tokens that expired or were revoked before `before`: they
 * let nobody in any more (agentForTokenHash refuses them), and a row per
 * login otherwise stays for ever. The delete runs only when there is one to
 * delete: auth_tokens' statement trigger (migration 0047) makes every process
 * drop its token cache at each delete, even one that deletes nothing.
 */
export async function pruneDeadTokens(db: Db, before: Date, batch: number): Promise<number> {
  return db.transaction(async (tx) => {
    const dead = await tx.query<{ token_hash: string }>(
      `select token_hash from auth_tokens
        where expires_at < $1 or revoked_at < $1
        limit $2
          for update skip locked`,
      [before, batch],
    );
    if (dead.length === 0) return 0;
    await tx.query('delete from auth_tokens where token_hash = any ($1::text[])', [dead.map((t) => t.token_hash)]);
    return dead.length;
  });
}
