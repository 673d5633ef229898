// Password hashing at OWASP's scrypt cost (#16), old hashes verifying with
// their own cost, and the test-only lower cost kept out of src/.
import assert from 'node:assert/strict';
import { randomBytes, scrypt } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hashPassword, MAX_HASHES_AT_ONCE, MAX_LOGINS_WAITING, needsRehash, PASSWORD_COST, verifyPassword } from '../../src/agents/passwords.js';
import { RateLimited } from '../../src/errors.js';

/** A hash as the previous release made them: scrypt N=2^14, r=8, p=1. */
function oldHash(password: string): Promise<string> {
  const salt = randomBytes(16);
  return new Promise((resolve, reject) =>
    scrypt(password, salt, 32, { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(`scrypt$16384$8$1$${salt.toString('base64')}$${key.toString('base64')}`),
    ),
  );
}

describe('password hashing', () => {
  it('hashes at scrypt N=2^17, r=8, p=1 (OWASP), the cost stored with the hash', async () => {
    assert.deepEqual(PASSWORD_COST, { N: 131_072, r: 8, p: 1 });
    const hash = await hashPassword('correct horse');
    assert.match(hash, /^scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horsf', hash), false);
    assert.equal(needsRehash(hash), false);
  });

  it('verifies a hash made at the old cost with that cost, and marks it for re-hashing', async () => {
    const hash = await oldHash('correct horse');
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('wrong horse', hash), false);
    assert.equal(needsRehash(hash), true);
  });

  it('says no, after the same work, without a hash or for a damaged one', async () => {
    assert.equal(await verifyPassword('correct horse', undefined), false);
    // 4 GiB (N=2^20, r=32) and p=16 are past what a stored cost may ask (256 MiB, p ≤ 4): refused unrun
    for (const damaged of ['', 'bcrypt$x', 'scrypt$1048577$8$1$AAAA$AAAA', 'scrypt$4194304$8$1$AAAA$AAAA', 'scrypt$16384$8$1$$', 'scrypt$1048576$32$1$AAAA$AAAA', 'scrypt$16384$8$16$AAAA$AAAA']) {
      assert.equal(await verifyPassword('correct horse', damaged), false, damaged);
    }
  });

  it(`checks at most ${MAX_HASHES_AT_ONCE} passwords at once; ${MAX_LOGINS_WAITING} more logins wait their turn, the next is told to try again (429 SB_LOGIN_BUSY)`, async () => {
    // a cheap stored cost (N=2^10): the verifications are quick, the turns are what is tested
    const salt = randomBytes(16);
    const key = await new Promise<Buffer>((resolve, reject) => scrypt('pw', salt, 32, { N: 1024, r: 8, p: 1 }, (e, k) => (e ? reject(e) : resolve(k))));
    const cheap = `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
    const flood = Array.from({ length: MAX_HASHES_AT_ONCE + MAX_LOGINS_WAITING + 3 }, () => verifyPassword('pw', cheap));
    const settled = await Promise.allSettled(flood);
    const refused = settled.filter((r) => r.status === 'rejected');
    assert.equal(settled.filter((r) => r.status === 'fulfilled' && r.value === true).length, MAX_HASHES_AT_ONCE + MAX_LOGINS_WAITING);
    assert.equal(refused.length, 3);
    for (const r of refused) {
      const error = (r as PromiseRejectedResult).reason;
      assert.ok(error instanceof RateLimited);
      assert.deepEqual([error.code, error.status, error.retryAfterSeconds], ['SB_LOGIN_BUSY', 429, 1]);
    }
    // the turns were all handed back
    assert.equal(await verifyPassword('pw', cheap), true);
  });

  it('lowers the cost only in tests: no file under src/ calls setPasswordCostForTests', () => {
    // the checkout's src/ (`npm test` runs this file compiled in a mirror of the checkout, whose package.json links to it)
    const root = join(dirname(realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../package.json'))), 'src');
    const files = (dir: string): string[] => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : [join(dir, name)]));
    const callers = files(root).filter((file) => /setPasswordCostForTests\(/.test(readFileSync(file, 'utf8')) && !file.endsWith(join('agents', 'passwords.ts')));
    assert.deepEqual(callers, []);
  });
});
