import nodemailer from 'nodemailer';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SendOutcome, SendRequest } from '../events/outbound/send.js';

// One SMTP attempt for an outbox row: the rendered message is sent as is
// (the bytes stored when the email was accepted), to the envelope the row
// names. The outcome speaks the outbox's language: `status` is the relay's
// reply code (250 delivered; 4xx retried on the schedule; a 5xx refusing the
// recipient or the message is final, any other retried: src/email/outbox.ts).

export const MAILTO = 'mailto:';

/** The envelope recipients of an email row: its url is `mailto:a@x,b@y`. */
export const recipientsOf = (url: string): string[] => url.slice(MAILTO.length).split(',').filter(Boolean).map(decodeURIComponent);

export const mailtoUrl = (recipients: readonly string[]) => MAILTO + recipients.map(encodeURIComponent).join(',');

/** The envelope sender is kept in the row's headers (they are logged with each attempt; nothing secret). */
export const ENVELOPE_FROM = 'mail-from';

const EXCERPT = 1_024;

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  /** the SMTP command the relay answered (nodemailer's): 'RCPT TO', 'DATA', 'MAIL FROM', 'AUTH PLAIN'… */
  command?: string;
}

/**
 * How an attempt's error begins when the relay refused this email itself —
 * its recipient (RCPT TO) or its content (DATA) — rather than the session
 * (the greeting, the login, the sender every email has): the email
 * producer takes a 5xx of these as final (src/email/outbox.ts, decide).
 */
export const REFUSED_RECIPIENT = 'the relay refused the recipient';
export const REFUSED_MESSAGE = 'the relay refused the message';

function refusal(error: SmtpError): string {
  const said = error.response ?? error.message;
  if (error.code === 'EENVELOPE' && error.command === 'RCPT TO') return `${REFUSED_RECIPIENT}: ${said}`;
  if ((error.code === 'EMESSAGE' || error.code === 'EENVELOPE') && error.command === 'DATA') return `${REFUSED_MESSAGE}: ${said}`;
  return `the relay refused${error.command ? ` ${error.command}` : ''}: ${said}`;
}

/** Whether a relay's host is this machine itself: 127.0.0.0/8, ::1 (IPv4-mapped too), localhost. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (name === 'localhost') return true;
  if (isIP(name) === 6) {
    // the canonical form, as URL writes it: 0:0:0:0:0:0:0:1 is ::1, ::ffff:127.0.0.1 is ::ffff:7f00:1
    const canonical = new URL(`http://[${name}]`).hostname.slice(1, -1);
    if (canonical === '::1') return true;
    const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(canonical);
    return mapped !== null && Number.parseInt(mapped[1]!, 16) >> 8 === 127;
  }
  return isIP(name) === 4 && name.startsWith('127.');
}

/**
 * Whether a session with this relay must be encrypted before it says
 * anything: smtp:// to a relay that is not this machine. nodemailer's own
 * default goes on in plaintext when the relay does not offer STARTTLS, and
 * one in the path that strips the offer then reads the login (AUTH) and
 * every transcript. A loopback relay (a local Postfix, Mailpit, the tests'
 * smtp-server) is not on the network. The operator's word in the URL wins:
 * `requireTLS=false` for a trusted relay without STARTTLS (on a private
 * network), as does `ignoreTLS=true`, which asks for plaintext outright.
 * The URL is read by nodemailer's parser, so a value means here what it
 * means to nodemailer (`false`, `0` and `true` are taken as booleans).
 */
export function tlsRequired(smtpUrl: string): boolean {
  const url = parseConnectionUrl(smtpUrl) as { secure?: boolean; host?: string; requireTLS?: unknown; ignoreTLS?: unknown };
  if (url.secure !== false) return false; // smtps:// is TLS from the first byte
  if (url.requireTLS !== undefined) return Boolean(url.requireTLS);
  if (url.ignoreTLS) return false;
  return !isLoopbackHost(url.host ?? 'localhost');
}

/** nodemailer's options for one attempt to `smtpUrl`; options in the URL's query override these. */
export function smtpOptions(smtpUrl: string, timeoutMs: number) {
  return {
    url: smtpUrl,
    requireTLS: tlsRequired(smtpUrl),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
}

export function smtpTransport(smtpUrl: string): (request: SendRequest) => Promise<SendOutcome> {
  return async (request) => {
    // A transporter per attempt: no pooled connection outlives a relay's restart or a changed DNS answer.
    const transporter = nodemailer.createTransport(smtpOptions(smtpUrl, request.timeoutMs));
    const started = performance.now();
    const durationMs = () => Math.round(performance.now() - started);
    // The timeouts above are per phase and for silence: a relay that keeps answering,
    // slowly, held an attempt open past its lease (the worker's timeout + 30 s), and
    // another process then claimed and sent the same email beside it. The whole
    // session ends at the attempt's deadline, as an HTTP attempt does (send.ts):
    // nodemailer closes the connection on the abort.
    const deadline = AbortSignal.timeout(request.timeoutMs);
    try {
      const info = (await transporter.sendMail({
        envelope: { from: request.headers[ENVELOPE_FROM] ?? '', to: recipientsOf(request.url) },
        raw: request.body,
        signal: deadline,
      })) as { response?: string };
      const response = info.response ?? '250';
      const code = Number.parseInt(response, 10);
      return { status: Number.isFinite(code) ? code : 250, excerpt: response.slice(0, EXCERPT), error: null, retryAfterMs: null, durationMs: durationMs() };
    } catch (caught) {
      const error = caught as SmtpError;
      const status = typeof error.responseCode === 'number' ? error.responseCode : null;
      const reason = deadline.aborted
        ? `timeout: the relay did not finish within ${request.timeoutMs} ms`
        : status !== null
          ? refusal(error)
          : `${error.message}${error.code ? ` (${error.code})` : ''}`;
      return { status, excerpt: error.response?.slice(0, EXCERPT) ?? null, error: reason.slice(0, EXCERPT), retryAfterMs: null, durationMs: durationMs() };
    } finally {
      transporter.close();
    }
  };
}
