import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { RateLimited } from '../errors.js';
import type { Queryable } from '../store/db.js';

// scrypt from node:crypto: memory-hard, no native dependency. The cost is
// stored with each hash (scrypt$N$r$p$salt$key), so a hash verifies with the
// cost it was made with, and one made at an older, cheaper cost is made
// again at today's at the next login that knows the password.

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/** OWASP's Password Storage Cheat Sheet: N=2^17 (128 MiB), r=8, p=1. */
export const PASSWORD_COST: ScryptCost = { N: 2 ** 17, r: 8, p: 1 };
const KEY_LENGTH = 32;

let cost: ScryptCost = PASSWORD_COST;

/**
 * Tests only (test/helpers/stores.ts): hash at a lower cost, so the hundreds
 * of agents the fixtures create do not take minutes. No code under src/
 * calls it and no setting reaches it (test/unit/passwords.test.ts checks);
 * a hash made this way would be made again at PASSWORD_COST at its first
 * login on a real server.
 */
export function setPasswordCostForTests(next: ScryptCost): void {
  cost = next;
}

/** The most a stored cost may ask of one login: 256 MiB (128·N·r bytes; today's is 128 MiB), and p ≤ 4 (p multiplies the time). */
const MAX_COST_BYTES = 256 * 1024 * 1024;

// Bounds on a stored cost: a damaged or planted row must not make a login allocate gigabytes.
const validCost = ({ N, r, p }: ScryptCost) =>
  Number.isInteger(N) && N >= 2 && (N & (N - 1)) === 0 && Number.isInteger(r) && r >= 1 && 128 * N * r <= MAX_COST_BYTES && Number.isInteger(p) && p >= 1 && p <= 4;

/**
 * scrypt runs at once in one process, at most. Each takes its 128 MiB and
 * one of libuv's worker threads (4 by default, UV_THREADPOOL_SIZE), which
 * file reads and DNS lookups (webhook deliveries) share: a flood of logins
 * from many addresses must not take them all.
 */
export const MAX_HASHES_AT_ONCE = 2;
/** Logins waiting for a turn at most; the next is told to try again in a second (429 SB_LOGIN_BUSY) rather than queue behind a flood. */
export const MAX_LOGINS_WAITING = 64;

let hashing = 0;
const waiting: (() => void)[] = [];

async function inTurn<T>(work: () => Promise<T>, login: boolean): Promise<T> {
  if (hashing < MAX_HASHES_AT_ONCE) hashing += 1;
  else {
    if (login && waiting.length >= MAX_LOGINS_WAITING) throw new RateLimited('SB_LOGIN_BUSY', 'too many logins are being checked at once; try again in a moment', 1);
    // the turn is handed over by the one finishing: `hashing` stays as it is
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else hashing -= 1;
  }
}

function derive(password: string, salt: Buffer, { N, r, p }: ScryptCost, length: number, login = false): Promise<Buffer> {
  return inTurn(
    () =>
      new Promise((resolve, reject) => {
        // scrypt needs about 128·N·r bytes; Node refuses above maxmem (32 MiB by default).
        scrypt(password, salt, length, { N, r, p, maxmem: 128 * N * r + 32 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
      }),
    login,
  );
}

function parse(stored: string): { cost: ScryptCost; salt: Buffer; key: Buffer } | undefined {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return undefined;
  const parsed = { N: Number(n), r: Number(r), p: Number(p) };
  return validCost(parsed) ? { cost: parsed, salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') } : undefined;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost, KEY_LENGTH);
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const NO_SALT = Buffer.alloc(16);

/**
 * Whether `password` is the one `stored` was made from. Without a stored
 * hash (an unknown email) it spends the same time at today's cost and says
 * no, so response times do not reveal which accounts exist. `login`: a
 * login's check, refused with 429 SB_LOGIN_BUSY when too many wait their
 * turn; false: a check that waits, whatever the queue.
 */
export async function verifyPassword(password: string, stored: string | undefined, login = true): Promise<boolean> {
  const hash = stored === undefined ? undefined : parse(stored);
  if (hash === undefined) {
    await derive(password, NO_SALT, cost, KEY_LENGTH, login);
    return false;
  }
  const actual = await derive(password, hash.salt, hash.cost, hash.key.length, login);
  return actual.length === hash.key.length && timingSafeEqual(actual, hash.key);
}

/** True when `stored` was made at another cost than today's. */
export function needsRehash(stored: string): boolean {
  const hash = parse(stored);
  return hash === undefined || hash.cost.N !== cost.N || hash.cost.r !== cost.r || hash.cost.p !== cost.p;
}

/**
 * After a successful login: the agent's hash made again at today's cost when
 * it was made at another. Only if the hash is still the one checked, so a
 * password changed meanwhile is never overwritten with the old one. Returns
 * the hash of this password now stored: the new one, or `stored` when
 * nothing changed (the token is then issued only while it is still that).
 */
export async function rehashIfOutdated(db: Queryable, agentId: string, stored: string, password: string): Promise<string> {
  if (!needsRehash(stored)) return stored;
  const upgraded = await hashPassword(password);
  const rows = await db.query('update agents set password_hash = $2 where id = $1 and password_hash = $3 and deleted_at is null returning id', [agentId, upgraded, stored]);
  if (rows.length > 0) return upgraded;
  // The hash changed since it was read: another login of the same password upgraded it first (its hash
  // is this password's too), or the password was changed (then it is not, and the login must fail).
  // Found by review: two logins at once after a cost change, and one was told its password was wrong.
  const [now] = await db.query<{ password_hash: string }>('select password_hash from agents where id = $1 and deleted_at is null', [agentId]);
  // not a new login (this one got its turn): it waits, never refused busy
  return now !== undefined && (await verifyPassword(password, now.password_hash, false)) ? now.password_hash : stored;
}

// A short list of the passwords tried first by anyone guessing (8 characters
// or more, since shorter ones are refused anyway). Not a substitute for a
// breach corpus; it stops the obvious choices.
const COMMON = new Set([
  'password', 'password1', 'password12', 'password123', 'passw0rd', 'p@ssw0rd', 'p@ssword', '12345678', '123456789', '1234567890',
  '0123456789', '87654321', '11111111', '00000000', '123123123', '12341234', 'qwertyui', 'qwertyuiop', 'qwerty123', 'qwerty12',
  '1q2w3e4r', '1qaz2wsx', 'zaq12wsx', 'asdfghjk', 'asdf1234', 'abc12345', 'abcd1234', 'abcdefgh', 'iloveyou', 'sunshine',
  'princess', 'football', 'baseball', 'superman', 'trustno1', 'welcome1', 'welcome123', 'letmein1', 'changeme', 'admin123',
  'administrator', 'switchboard', 'secret123', 'default1',
]);

/** Why a new password is too weak, or undefined. Length limits are the schema's (8–200). */
export function weakPasswordReason(password: string, email?: string): string | undefined {
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) return 'is one of the most common passwords; choose another';
  if (/^(.)\1*$/.test(password)) return 'is one character repeated; choose another';
  if (email !== undefined) {
    const address = email.toLowerCase();
    if (lower === address || lower === address.split('@')[0]) return 'must not be the email address';
  }
  return undefined;
}
