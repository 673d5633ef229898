import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// scrypt from node:crypto: memory-hard, no native dependency. Parameters are
// stored with each hash so they can be raised later without breaking logins.
const PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, options: ScryptOptions, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS, KEY_LENGTH);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) }, expected.length);
  return timingSafeEqual(actual, expected);
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
