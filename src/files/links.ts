import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../store/db.js';

// Signed links let a browser's <img>, a webhook receiver or RapidPro's
// mailroom fetch one attachment without a token: HMAC-SHA256 over the
// attachment id and the expiry, so a link names one file until one moment.

export const attachmentPath = (id: string) => `/api/v1/attachments/${id}`;

/**
 * How often a process reads attachment_link_secret again: deleting the row
 * revokes every link within this (docs/security.md), for one indexed read a
 * minute per process and none per download.
 */
export const LINK_SECRET_RECHECK_MS = 60_000;

/**
 * How often, at most, a link the key held refuses makes a process read the
 * key again (real time): ten small reads a second bound what forged links
 * cost, while a link a new key signed is refused only if it comes within
 * this of another failure (the picture is then asked for again, and works).
 */
export const FAILED_LINK_RECHECK_MS = 100;

/** An HMAC-SHA256 signature is this long; a sig of another length is refused without a look at the database. */
const SIG_BYTES = 32;

export interface FileLinks {
  /** the path with ?expires=&sig=, good for `ttlSeconds` from `now` */
  sign(id: string, now: Date, ttlSeconds: number): string;
  /** whether `sig` is the signature of `id` until `expires` (unix seconds) with the key this process holds, and `expires` is still ahead */
  verify(id: string, expires: number, sig: string, now: Date): boolean;
  /**
   * verify, and a link that fails with the key held is checked again against
   * the key the database has now: another process may have made a new one
   * since the row was deleted. What the download route asks.
   */
  accepts(id: string, expires: number, sig: string, now: Date): Promise<boolean>;
  /** reads the key again, as the timer does every LINK_SECRET_RECHECK_MS */
  refresh(): Promise<void>;
  /** stops the timer (the app closing) */
  close(): void;
}

type Key = Pick<FileLinks, 'sign' | 'verify'>;

function keyOf(secret: Buffer): Key {
  const mac = (id: string, expires: number) => createHmac('sha256', secret).update(`${id.toLowerCase()}.${expires}`).digest();
  return {
    sign(id, now, ttlSeconds) {
      const expires = Math.floor(now.getTime() / 1000) + ttlSeconds;
      return `${attachmentPath(id)}?expires=${expires}&sig=${mac(id, expires).toString('base64url')}`;
    },
    verify(id, expires, sig, now) {
      if (!Number.isSafeInteger(expires) || expires * 1000 <= now.getTime()) return false;
      const given = Buffer.from(sig, 'base64url');
      const expected = mac(id, expires);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/** Links signed with a fixed key (ATTACHMENT_LINK_SECRET): changed only by restarting with another. */
export function fileLinks(secret: Buffer): FileLinks {
  const key = keyOf(secret);
  return { ...key, accepts: async (id, expires, sig, now) => key.verify(id, expires, sig, now), refresh: async () => {}, close() {} };
}

/**
 * The configured secret's links, or links with the key kept in the
 * database (made by whichever process comes first), which follow that row:
 * deleted, every process moves to the one made after it. The key is read
 * again on a timer, in real time: the callers' `now` is a clock tests set
 * back and forth, and links are signed where no read can be awaited.
 * Signing and checking use the one key, so a process always accepts its
 * own unexpired links.
 */
export async function openFileLinks(db: Queryable, configured: string | undefined, recheckMs = LINK_SECRET_RECHECK_MS): Promise<FileLinks> {
  if (configured !== undefined) return fileLinks(Buffer.from(configured, 'utf8'));
  let key = keyOf(await readLinkSecret(db));
  let reading: Promise<void> | undefined;
  const refresh = () =>
    (reading ??= readLinkSecret(db)
      .then((secret) => void (key = keyOf(secret)))
      .finally(() => (reading = undefined)));
  // a failed read (the database away) keeps the key held, until the next tick
  const timer = setInterval(() => void refresh().catch(() => undefined), recheckMs);
  timer.unref();
  // A link that fails asks the database at most this often: forged links on a
  // route with no login, or revoked ones still in emails, must not cost a read each.
  let askedAt = -Infinity;
  return {
    sign: (id, now, ttlSeconds) => key.sign(id, now, ttlSeconds),
    verify: (id, expires, sig, now) => key.verify(id, expires, sig, now),
    async accepts(id, expires, sig, now) {
      if (key.verify(id, expires, sig, now)) return true;
      // expired or malformed: refused by any key, with no read
      if (!Number.isSafeInteger(expires) || expires * 1000 <= now.getTime() || Buffer.from(sig, 'base64url').length !== SIG_BYTES) return false;
      if (performance.now() - askedAt < FAILED_LINK_RECHECK_MS) return false;
      askedAt = performance.now();
      // the database away: refused (403), as a link the key held does not sign
      if (!(await refresh().then(() => true, () => false))) return false;
      return key.verify(id, expires, sig, now);
    },
    refresh,
    close: () => clearInterval(timer),
  };
}

const LINK_SECRET = 'select secret from attachment_link_secret';

/** The key kept in the database, made if there is none (on conflict another process made it first, and every process reads that one). */
async function readLinkSecret(db: Queryable): Promise<Buffer> {
  let [row] = await db.query<{ secret: Uint8Array }>(LINK_SECRET);
  if (!row) {
    await db.query('insert into attachment_link_secret (secret) values ($1) on conflict do nothing', [randomBytes(32)]);
    [row] = await db.query<{ secret: Uint8Array }>(LINK_SECRET);
  }
  return Buffer.from(row!.secret);
}
