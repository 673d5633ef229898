import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../store/db.js';

// Signed links let a browser's <img>, a webhook receiver or RapidPro's
// mailroom fetch one attachment without a token: HMAC-SHA256 over the
// attachment id and the expiry, so a link names one file until one moment.

export const attachmentPath = (id: string) => `/api/v1/attachments/${id}`;

export interface FileLinks {
  /** the path with ?expires=&sig=, good for `ttlSeconds` from `now` */
  sign(id: string, now: Date, ttlSeconds: number): string;
  /** whether `sig` is this server's signature of `id` until `expires` (unix seconds), and `expires` is still ahead */
  verify(id: string, expires: number, sig: string, now: Date): boolean;
}

export function fileLinks(secret: Buffer): FileLinks {
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

/** The configured secret, or the one kept in the database (made by whichever process comes first). */
export async function linkSecret(db: Queryable, configured: string | undefined): Promise<Buffer> {
  if (configured !== undefined) return Buffer.from(configured, 'utf8');
  await db.query('insert into attachment_link_secret (secret) values ($1) on conflict do nothing', [randomBytes(32)]);
  const [row] = await db.query<{ secret: Uint8Array }>('select secret from attachment_link_secret');
  return Buffer.from(row!.secret);
}
