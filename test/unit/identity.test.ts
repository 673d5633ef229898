// Widget identity verification on its own: the HMAC check, the previous
// secret's grace period to the millisecond, and the configuration that
// refuses a rotation without an end.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { checkIdentity, identityHash } from '../../src/customers/identity.js';

const SECRET = 'current-secret-0123456789';
const OLD = 'previous-secret-0123456789';
const UNTIL = new Date('2026-06-01T00:00:00Z');
const config = { secret: SECRET, previousSecret: OLD, previousUntil: UNTIL };
const before = new Date(UNTIL.getTime() - 1);

describe('widget identity verification', () => {
  it('computes the lowercase hex HMAC-SHA256 of the customer id, as the docs’ examples do', () => {
    assert.equal(identityHash('key', 'The quick brown fox jumps over the lazy dog'), 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
    assert.equal(identityHash(SECRET, 'cust-1'), createHmac('sha256', SECRET).update('cust-1').digest('hex'));
  });

  it('verifies a hash of either secret during the grace period, only the current one from its end', () => {
    assert.equal(checkIdentity(config, 'c', identityHash(SECRET, 'c'), before), 'verified');
    assert.equal(checkIdentity(config, 'c', identityHash(OLD, 'c'), before), 'verified');
    assert.equal(checkIdentity(config, 'c', identityHash(SECRET, 'c'), UNTIL), 'verified');
    assert.throws(() => checkIdentity(config, 'c', identityHash(OLD, 'c'), UNTIL), { code: 'SB_IDENTITY_INVALID', status: 401, field: 'customer.hash' });
  });

  it('leaves a chat without a hash unverified and refuses a wrong one, whatever its shape', () => {
    assert.equal(checkIdentity(config, 'c', undefined, before), 'unverified');
    assert.equal(checkIdentity(config, 'c', null, before), 'unverified');
    for (const hash of [identityHash(SECRET, 'd'), '0'.repeat(64), 'zz', '', identityHash(SECRET, 'c').slice(2)]) {
      assert.throws(() => checkIdentity(config, 'c', hash, before), { code: 'SB_IDENTITY_INVALID' }, hash);
    }
  });

  it('has nothing to check a hash with when no secret is configured', () => {
    const none = { secret: undefined, previousSecret: undefined, previousUntil: undefined };
    assert.equal(checkIdentity(none, 'c', identityHash(SECRET, 'c'), before), 'not_configured');
    assert.equal(checkIdentity(none, 'c', undefined, before), 'unverified');
  });

  it('reads the secrets from the environment and refuses a short secret or a rotation without an end', () => {
    assert.deepEqual(loadConfig({}).customers.identity, { secret: undefined, previousSecret: undefined, previousUntil: undefined });
    assert.deepEqual(
      loadConfig({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: '2026-06-01T00:00:00Z' }).customers.identity,
      config,
    );
    const refused = (env: Record<string, string>, variable: string) =>
      assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.variable === variable, JSON.stringify(env));
    refused({ WIDGET_IDENTITY_SECRET: 'short' }, 'WIDGET_IDENTITY_SECRET');
    refused({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD }, 'WIDGET_IDENTITY_SECRET_PREVIOUS');
    refused({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: '2026-06-01T00:00:00Z' }, 'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL');
    refused({ WIDGET_IDENTITY_SECRET_PREVIOUS: OLD, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: '2026-06-01T00:00:00Z' }, 'WIDGET_IDENTITY_SECRET_PREVIOUS');
    refused({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: 'next tuesday' }, 'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL');
    // without its offset it would be read in the server's zone: hours late west of UTC
    refused({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: '2026-06-01T00:00:00' }, 'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL');
    for (const written of ['2026-06-01T09:00:00.000+09:00', '2026-06-01T09:00:00+0900', '2026-06-01t00:00:00z']) {
      assert.deepEqual(
        loadConfig({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: written }).customers.identity.previousUntil,
        new Date('2026-06-01T00:00:00Z'),
        written,
      );
    }
    // a day February does not have is refused, not rolled over into March
    refused({ WIDGET_IDENTITY_SECRET: SECRET, WIDGET_IDENTITY_SECRET_PREVIOUS: OLD, WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: '2026-02-30T00:00:00Z' }, 'WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL');
  });
});
