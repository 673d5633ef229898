import { createHash, randomBytes } from 'node:crypto';
import type { Ctx } from '../context.js';
import { routingCall } from '../routing/calls.js';
import type { Db, Listening, Queryable } from '../store/db.js';
import type { AgentIdentity, AgentRow } from './model.js';

// Only a SHA-256 of each token is stored: a leaked database does not hand out
// working tokens. Tokens are 256 random bits, so a fast hash is enough.
// createHash, not crypto.hash: that came in Node 20.12, and importing it stops
// an older Node 20 (package.json says >=20) before start-up.
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

/**
 * A login's token: issued only while the agent is not deleted and their
 * password hash is still `checkedHash`, the one the password was verified
 * against, with the agent as they are then; undefined (no token) when the
 * password was changed or the agent deleted since it was read. The agent's
 * row is locked (FOR SHARE) for the insert, so a password change either
 * commits first (and no token is issued) or waits, and its revocation then
 * sees the new token.
 */
export async function issueLoginToken(
  db: Queryable,
  agentId: string,
  checkedHash: string,
  now: Date,
  ttlSeconds: number,
): Promise<{ token: string; expires_at: Date; agent: AgentRow } | undefined> {
  const token = `sbt_${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
  const [agent] = await db.query<AgentRow>(LOGIN_TOKEN, [digest(token), agentId, now, expiresAt, checkedHash]);
  return agent === undefined ? undefined : { token, expires_at: expiresAt, agent };
}

const LOGIN_TOKEN = /* sql */ `with a as (
    select * from agents where id = $2::uuid and password_hash = $5::text and deleted_at is null for share
  ), t as (
    insert into auth_tokens (token_hash, agent_id, created_at, expires_at)
    select $1::text, a.id, $3::timestamptz, $4::timestamptz from a returning agent_id
  )
  select a.* from a join t on t.agent_id = a.id`;

/**
 * Logging out: the agent set offline (unless already, sb_update_agent's
 * unlessStatusAlready) and `token` revoked, in one transaction: both happen
 * or neither. The revocation runs after the status change (the subquery
 * makes it wait for the call), so it takes the token's row lock under the
 * routing lock, in the order a password change takes them.
 */
export async function logOut(ctx: Ctx, token: string, agentId: string, by: string | null): Promise<void> {
  const now = ctx.now();
  await routingCall(ctx, LOG_OUT, [agentId, now, by, digest(token)], now);
  // Refused at once here; other processes drop theirs at the notice (migration 0047).
  forgetTokens(ctx.db);
}

const LOG_OUT = /* sql */ `with s as materialized (
    select o.logged from sb_update_agent($1::uuid, $2::timestamptz, null, null, null, null, false, null, null,
                                         false, null, null, 'offline', null, $3::text, true) o
  ), r as (
    update auth_tokens t set revoked_at = $2::timestamptz
     where t.token_hash = $4::text and t.revoked_at is null and (select count(*) from s) >= 0
  )
  select s.logged from s`;

/** The agent a live token belongs to, or undefined for an unknown, expired or revoked token. */
export async function agentForToken(db: Queryable, token: string, now: Date): Promise<AgentIdentity | undefined> {
  const cache = caches.get(db);
  if (cache?.hearing) return cachedAgentForHash(db, cache, digest(token), now);
  return agentForTokenHash(db, digest(token), now);
}

/** agentForToken for a token known only by its digest (what an external broker hands back). */
export async function agentForTokenHash(db: Queryable, tokenHash: string, now: Date): Promise<AgentIdentity | undefined> {
  const [row] = await db.query<AgentIdentity>(
    `select a.id, a.role from auth_tokens t join agents a on a.id = t.agent_id
      where t.token_hash = $1 and t.revoked_at is null and t.expires_at > $2 and a.deleted_at is null`,
    [tokenHash, now],
  );
  return row;
}

export async function revokeToken(db: Queryable, token: string, now: Date): Promise<void> {
  await db.query('update auth_tokens set revoked_at = $2 where token_hash = $1 and revoked_at is null', [digest(token), now]);
  // Refused at once here; other processes drop theirs at the notice (migration 0047).
  forgetTokens(db);
}

// ---- the per-process cache of token lookups (migration 0047) ---------------

/** The channel migration 0047's triggers notify on when a token or an agent's role or deletion changes. */
export const AUTH_CHANNEL = 'switchboard_auth';

/** How long a cached token is admitted after it was read from the store, by default: then it is read again. */
export const TOKEN_CACHE_MAX_AGE_MS = 30_000;

/**
 * How many tokens the cache holds at most, by default. Entries leave when
 * looked up stale or at a notice; a process whose agents sign in over and
 * over with no sign-out or role change heard for days would otherwise keep
 * every token it ever admitted. 10,000 is far more than the agents a
 * deployment signs in within TOKEN_CACHE_MAX_AGE_MS.
 */
export const TOKEN_CACHE_MAX_ENTRIES = 10_000;

export interface TokenCacheOptions {
  /**
   * A cached token is admitted for at most this long after it was read
   * (TOKEN_CACHE_MAX_AGE_MS by default), then read again: a backstop for a
   * notice that never arrived, however it was lost. Measured on the
   * process's monotonic clock, not `now` (which a test or simulation may
   * hold still or move by hand).
   */
  maxAgeMs?: number;
  /** TOKEN_CACHE_MAX_ENTRIES by default: at that size, the stale go, and then the longest held */
  maxEntries?: number;
}

interface CachedToken {
  agent: AgentIdentity;
  expiresAt: number;
  /** performance.now() as the lookup that read it began */
  readAt: number;
}

interface TokenCache {
  entries: Map<string, CachedToken>;
  /** true only while the listening connection is up: a change made meanwhile would go unheard */
  hearing: boolean;
  /** bumped at every notice, loss and reconnection: a lookup begun before one is not kept */
  generation: number;
  users: number;
  listening: Promise<Listening | undefined>;
  maxAgeMs: number;
  maxEntries: number;
}

const caches = new WeakMap<Queryable, TokenCache>();

/** Drops everything this process's cache for `db` holds (a change it made itself: known at once, before its notice). */
export function forgetTokens(db: Queryable): void {
  const cache = caches.get(db);
  if (!cache) return;
  cache.generation += 1;
  cache.entries.clear();
}

/**
 * Caches agentForToken's answers for `db` in this process until the returned
 * stop is called (an app that serves the API turns it on for its life). A
 * cached token is admitted without a round trip while it has not expired by
 * `now` and was read less than `maxAgeMs` ago (30 s by default); the cache is
 * dropped whole at every switchboard_auth notice (any process's revocation,
 * role change or deletion) and whenever the listening connection is lost
 * (an error, or no answer to its periodic check: src/store/postgres-listen.ts),
 * and is not used until it listens again. A second caller for the same `db`
 * shares the first one's cache and options.
 */
export function cacheTokens(db: Db, options: TokenCacheOptions = {}): () => Promise<void> {
  let cache = caches.get(db);
  if (cache) {
    cache.users += 1;
  } else {
    const created: TokenCache = {
      entries: new Map(),
      hearing: false,
      generation: 0,
      users: 1,
      listening: Promise.resolve(undefined),
      maxAgeMs: options.maxAgeMs ?? TOKEN_CACHE_MAX_AGE_MS,
      maxEntries: options.maxEntries ?? TOKEN_CACHE_MAX_ENTRIES,
    };
    cache = created;
    caches.set(db, created);
    const drop = () => {
      created.generation += 1;
      created.entries.clear();
    };
    let failedWhileStarting = false;
    created.listening = db
      .listen(AUTH_CHANNEL, {
        notified: drop,
        reconnected: () => {
          drop();
          created.hearing = true;
        },
        onError: () => {
          failedWhileStarting = true;
          created.hearing = false;
          drop();
        },
      })
      .then(
        (listening) => {
          // a first attempt that failed is retried; `reconnected` turns the cache on then
          if (!failedWhileStarting && caches.get(db) === created) created.hearing = true;
          drop();
          return listening;
        },
        () => undefined,
      );
  }
  const used = cache;
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    used.users -= 1;
    if (used.users > 0) return;
    used.hearing = false;
    used.entries.clear();
    if (caches.get(db) === used) caches.delete(db);
    await (await used.listening)?.close();
  };
}

const LOOKUP = `select a.id, a.role, t.expires_at as sb_token_expires_at from auth_tokens t join agents a on a.id = t.agent_id
  where t.token_hash = $1 and t.revoked_at is null and t.expires_at > $2 and a.deleted_at is null`;

/** agentForToken through the cache of `db`, when one is on. */
async function cachedAgentForHash(db: Queryable, cache: TokenCache, tokenHash: string, now: Date): Promise<AgentIdentity | undefined> {
  const hit = cache.entries.get(tokenHash);
  if (hit && hit.expiresAt > now.getTime() && performance.now() - hit.readAt < cache.maxAgeMs) return hit.agent;
  if (hit) cache.entries.delete(tokenHash);
  const generation = cache.generation;
  const readAt = performance.now();
  const [row] = await db.query<AgentIdentity & { sb_token_expires_at: Date }>(LOOKUP, [tokenHash, now]);
  if (!row) return undefined;
  const { sb_token_expires_at: expiresAt, ...agent } = row;
  // Kept only if nothing could have changed it since the lookup began, with the notices heard.
  if (cache.hearing && cache.generation === generation) {
    makeRoom(cache);
    cache.entries.set(tokenHash, { agent, expiresAt: new Date(expiresAt).getTime(), readAt });
  }
  return agent;
}

/**
 * Keeps the cache under maxEntries before one more goes in. A Map iterates
 * in insertion order and an entry is only ever inserted as it is read, so
 * the first entries are the longest held: the stale among them go, and if
 * that frees nothing, the oldest fresh one (read again when next shown).
 */
function makeRoom(cache: TokenCache): void {
  if (cache.entries.size < cache.maxEntries) return;
  const staleBefore = performance.now() - cache.maxAgeMs;
  for (const [hash, entry] of cache.entries) {
    if (entry.readAt >= staleBefore && cache.entries.size < cache.maxEntries) break;
    cache.entries.delete(hash);
    if (entry.readAt >= staleBefore) break;
  }
}
