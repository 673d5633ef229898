import nodemailer from 'nodemailer';
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

export function smtpTransport(smtpUrl: string): (request: SendRequest) => Promise<SendOutcome> {
  return async (request) => {
    // A transporter per attempt: no pooled connection outlives a relay's restart or a changed DNS answer.
    const transporter = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: request.timeoutMs,
      greetingTimeout: request.timeoutMs,
      socketTimeout: request.timeoutMs,
    });
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
