import { ConfigError, integer, optional, type Env } from '../env.js';

// Email is on when SMTP_URL names a relay; without it every email feature
// answers SB_EMAIL_NOT_CONFIGURED and the admin pages say so. The URL is
// nodemailer's: smtp://user:pass@host:587 (STARTTLS, required of a relay
// that is not this machine: tlsRequired in src/email/transport.ts),
// smtps://…:465 (TLS from the start), and query options such as
// ?tls.rejectUnauthorized=false for a relay with a self-signed certificate.

export interface EmailConfig {
  /** undefined: email is off */
  smtpUrl: string | undefined;
  /** the From of every email, `address` or `Name <address>` */
  from: string | undefined;
  /** how long the file links in a transcript stay good, s (EMAIL_LINK_TTL) */
  linkTtlSeconds: number;
}

const DAY = 86_400;

/**
 * A transcript's file links are signed once, when it is accepted: every
 * attempt sends the bytes accepted (its Message-ID too), so a retry cannot
 * sign them again as a webhook's does. They must outlive the retries (the
 * schedule spans up to 3 days and 11 hours with its jitter) and then leave
 * the reader time: an email is read days or weeks later, where
 * ATTACHMENT_OUTBOUND_LINK_TTL (7 days by default, down to 60 s) is for
 * machines that fetch at once. At least 7 days, 30 by default; at most a year.
 */
export const EMAIL_LINK_TTL = { fallback: 30 * DAY, min: 7 * DAY, max: 365 * DAY } as const;

const ADDRESS = /^[^\s@<>",]+@[^\s@<>",]+$/;
const NAMED = /^[^<>\r\n]*<([^\s@<>",]+@[^\s@<>",]+)>$/;

/** The bare address of `Name <address>` or `address`; undefined when it is neither. */
export function addressOf(from: string): string | undefined {
  return mailboxOf(from)?.address;
}

export interface Mailbox {
  /** the display name, '' when there is none */
  name: string;
  address: string;
}

/**
 * `Name <address>` or `address` as its parts; undefined when it is neither.
 * The name is what stands before `<`, trimmed, and unquoted when the whole of
 * it is one quoted string (`"ACME: Desk" <…>`). Composed from these parts,
 * the From header quotes the name as it needs: given as written, a name
 * with a `:` (`ACME: Desk <support@acme.test>`) was read by nodemailer as an
 * RFC 5322 group, and the email went out without a sender address.
 */
export function mailboxOf(from: string): Mailbox | undefined {
  const text = from.trim();
  if (ADDRESS.test(text)) return { name: '', address: text };
  const named = NAMED.exec(text);
  if (!named) return undefined;
  let name = text.slice(0, text.lastIndexOf('<')).trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(name);
  if (quoted) name = quoted[1]!.replace(/\\(.)/g, '$1');
  return { name, address: named[1]! };
}

export function loadEmailConfig(env: Env): EmailConfig {
  const smtpUrl = optional(env, 'SMTP_URL');
  const from = optional(env, 'EMAIL_FROM');
  if (smtpUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(smtpUrl);
    } catch {
      throw new ConfigError('SMTP_URL', 'must be a URL such as smtp://user:pass@host:587 or smtps://user:pass@host:465');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new ConfigError('SMTP_URL', `must start with smtp:// or smtps://, got ${url.protocol}//`);
    if (url.hostname === '') throw new ConfigError('SMTP_URL', 'must name the relay host');
    // Without a sender, every email would go out as some made-up address that relays refuse.
    if (from === undefined) throw new ConfigError('EMAIL_FROM', 'must be set when SMTP_URL is: the address emails are sent from, e.g. "Support <support@example.com>"');
  }
  if (from !== undefined && addressOf(from) === undefined) {
    throw new ConfigError('EMAIL_FROM', `must be an address or "Name <address>", got ${JSON.stringify(from)}`);
  }
  const linkTtlSeconds = integer(env, 'EMAIL_LINK_TTL', EMAIL_LINK_TTL.fallback, EMAIL_LINK_TTL.min, EMAIL_LINK_TTL.max);
  return { smtpUrl, from, linkTtlSeconds };
}

/** What the admin page shows of the relay: never the password. */
export function describeRelay(smtpUrl: string): string {
  const url = new URL(smtpUrl);
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  return `${url.protocol}//${user}${url.hostname}${url.port ? `:${url.port}` : ''}`;
}
