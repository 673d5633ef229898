import { randomBytes } from 'node:crypto';

// Ticketer secrets, as RapidPro makes them: 32 characters from an alphabet
// without look-alikes. The alphabet has 32 symbols, so 5 bits of each random
// byte pick one uniformly.

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
export const SECRET_LENGTH = 32;

export function generateSecret(): string {
  return [...randomBytes(SECRET_LENGTH)].map((byte) => ALPHABET[byte & 31]).join('');
}

/** A secret travels in a header after "Token ": printable ASCII without spaces. */
export const SECRET_PATTERN = '^[\\x21-\\x7E]{8,200}$';

/** The secret from `Authorization: Token <secret>`; undefined when the header is missing or another scheme. */
export function tokenFrom(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Token\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
