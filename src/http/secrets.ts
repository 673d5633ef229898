import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether a presented secret is the configured one. Compares digests of
 * equal length, so the time taken says nothing about the secret's length or
 * how much of it matched.
 */
export function sameSecret(sent: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(sent), digest(expected));
}
