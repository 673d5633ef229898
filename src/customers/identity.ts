import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';
import type { IdentityConfig } from './config.js';

// Identity verification of widget customers, as Intercom and Chatwoot do it:
// the host site's server computes HMAC-SHA256(secret, customer id) and hands
// it to the page with the id (data-customer-id, data-customer-hash); the
// widget passes both to POST /session. A valid hash makes the conversation
// verified; none leaves it unverified (anyone may chat under any id, but
// sees nothing of that id's past); a wrong one is refused.

export type IdentityCheck = 'verified' | 'unverified' | 'not_configured';

/** The lowercase hex HMAC-SHA256 a host site sends for this customer id. */
export const identityHash = (secret: string, customerId: string) => createHmac('sha256', secret).update(customerId, 'utf8').digest('hex');

export const identityInvalid = () =>
  new AppError(
    'SB_IDENTITY_INVALID',
    'customer.hash is not the HMAC-SHA256 of customer.id with the widget identity secret (lowercase hex); compute it on your server with WIDGET_IDENTITY_SECRET, or leave it out for an unverified chat',
    401,
    'customer.hash',
  );

/** The secrets a hash may be made with at `now`: the current one, and the previous one during its grace period. */
function acceptedSecrets(config: IdentityConfig, now: Date): string[] {
  if (config.secret === undefined) return [];
  const inGrace = config.previousSecret !== undefined && config.previousUntil !== undefined && now.getTime() < config.previousUntil.getTime();
  return inGrace ? [config.secret, config.previousSecret!] : [config.secret];
}

/**
 * What a session's claimed identity is worth. No hash: unverified. A hash
 * while no secret is configured: not_configured (nothing to check it with;
 * the chat goes on unverified, see docs/identity-verification.md). A hash
 * that matches none of the accepted secrets: SB_IDENTITY_INVALID (401).
 */
export function checkIdentity(config: IdentityConfig, customerId: string, hash: string | null | undefined, now: Date): IdentityCheck {
  if (hash === undefined || hash === null) return 'unverified';
  const secrets = acceptedSecrets(config, now);
  if (secrets.length === 0) return 'not_configured';
  // The format says nothing about the secret, so refusing it early leaks nothing.
  if (!/^[0-9a-fA-F]{64}$/.test(hash)) throw identityInvalid();
  const given = Buffer.from(hash, 'hex');
  let match = false;
  // Every accepted secret is tried, so the time taken does not tell which one matched.
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(customerId, 'utf8').digest();
    if (timingSafeEqual(expected, given)) match = true;
  }
  if (!match) throw identityInvalid();
  return 'verified';
}
