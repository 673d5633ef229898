import { randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { mailboxOf } from './config.js';

// An email as the bytes that go over SMTP, made once when the request is
// accepted: every retry sends exactly what was accepted, whatever happens to
// the conversation or the configuration afterwards.

export interface Mail {
  from: string;
  to: readonly string[];
  replyTo?: { name: string; address: string };
  subject: string;
  text: string;
  html: string;
  date: Date;
}

export interface Composed {
  messageId: string;
  raw: Buffer;
}

export async function compose(mail: Mail): Promise<Composed> {
  const from = mailboxOf(mail.from);
  const domain = from?.address.split('@')[1] ?? 'switchboard.invalid';
  const messageId = `<${randomUUID()}@${domain}>`;
  const composer = new MailComposer({
    // as parts, never the configured text: nodemailer would parse that again, its own way (mailboxOf)
    from: from ?? mail.from,
    to: [...mail.to],
    ...(mail.replyTo ? { replyTo: mail.replyTo } : {}),
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    date: mail.date,
    messageId,
  });
  const raw = await new Promise<Buffer>((resolve, reject) => composer.compile().build((error, message) => (error ? reject(error) : resolve(message))));
  return { messageId, raw };
}
