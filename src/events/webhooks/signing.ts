import { createHmac, randomBytes } from 'node:crypto';

// The two signature schemes of docs/webhooks.md, over the exact body bytes:
// Gitple's (and GitHub's) X-Hub-Signature, keyed by the secret as typed, and
// the Standard Webhooks headers, keyed by the secret's bytes — base64-decoded
// when the secret is written `whsec_<base64>`, as that spec says.

export const SECRET_PREFIX = 'whsec_';

/** A fresh secret in the Standard Webhooks form: `whsec_` + 32 random bytes in base64. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** `sha256=<hex>`: HMAC-SHA256 of the body, keyed by the secret's UTF-8 bytes. */
export function hubSignature(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The Standard Webhooks key: the decoded bytes of a `whsec_` secret, the UTF-8 bytes of any other. */
export function standardKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX) ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<base64>` over `<id>.<timestamp>.<body>`. */
export function standardSignature(secret: string, id: string, timestamp: number, body: Buffer | string): string {
  const mac = createHmac('sha256', standardKey(secret));
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

export interface SigningInput {
  /** signs X-Hub-Signature and the first webhook-signature */
  secret: string;
  /** a rotated-out secret still in its grace period: a second webhook-signature */
  previousSecret?: string | null;
  id: string;
  /** unix seconds of this attempt */
  timestamp: number;
  body: Buffer;
}

/** Every header that authenticates one attempt. */
export function signatureHeaders(input: SigningInput): Record<string, string> {
  const signatures = [standardSignature(input.secret, input.id, input.timestamp, input.body)];
  if (input.previousSecret) signatures.push(standardSignature(input.previousSecret, input.id, input.timestamp, input.body));
  return {
    'x-hub-signature': hubSignature(input.secret, input.body),
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

/** A secret is printable ASCII (so every receiver library reads the same bytes); a `whsec_` one must be valid base64. */
export function secretProblem(secret: string): string | undefined {
  if (secret.length < 8 || secret.length > 200) return 'must be 8 to 200 characters long';
  if (!/^[\x20-\x7e]+$/.test(secret)) return 'must be printable ASCII characters';
  if (secret.startsWith(SECRET_PREFIX)) {
    const b64 = secret.slice(SECRET_PREFIX.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0 || standardKey(secret).length < 16) {
      return 'starting with whsec_ must continue with the base64 of at least 16 bytes';
    }
  }
  return undefined;
}
