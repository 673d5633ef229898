import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { emailProducer, PRODUCER } from '../../src/email/outbox.js';
import type { SendOutcome, SendRequest } from '../../src/events/outbound/send.js';
import { createOutboundWorker, type OutboundWorker } from '../../src/events/outbound/worker.js';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { testApp, type TestApp } from './app.js';
import type { TestStore } from './stores.js';

// A real SMTP server for the email tests (smtp-server, on 127.0.0.1 and a
// free port), with login required, that parses what it receives with
// mailparser: tests check the email as a mail client would read it. It can
// refuse the next messages with a reply code, as a relay does.

export const SMTP_USER = 'switchboard';
export const SMTP_PASS = 'smtp test password';

export interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  parsed: ParsedMail;
  raw: Buffer;
}

export interface SmtpReceiver {
  /** smtp://user:pass@127.0.0.1:port */
  url: string;
  received: ReceivedMail[];
  /** Refuses the next `count` messages with `code` (after DATA, like a relay's 451 or 550). */
  refuseNext(count: number, code: number, message?: string): void;
  /** Resolves once `count` messages have arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  logins: number;
  close(): Promise<void>;
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const received: ReceivedMail[] = [];
  let refusals: { count: number; code: number; message: string } = { count: 0, code: 0, message: '' };
  const waiters = new Set<() => void>();
  const state = { logins: 0 };
  const server = new SMTPServer({
    // plain SMTP on loopback: no certificate to trust in the test
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASS) {
        state.logins += 1;
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (refusals.count > 0) {
          refusals.count -= 1;
          callback(Object.assign(new Error(refusals.message), { responseCode: refusals.code }));
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            received.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              parsed,
              raw,
            });
            callback();
            for (const wake of waiters) wake();
          })
          .catch((error: Error) => callback(error));
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://${encodeURIComponent(SMTP_USER)}:${encodeURIComponent(SMTP_PASS)}@127.0.0.1:${port}`,
    received,
    get logins() {
      return state.logins;
    },
    refuseNext(count, code, message = code >= 500 ? 'Mailbox unavailable' : 'Try again later') {
      refusals = { count, code, message };
    },
    waitFor(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (received.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(received.slice());
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`only ${received.length} of ${count} emails arrived within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * An outbound worker for tests that sends email to `smtp` from `from`; drive
 * it with tick(). `gate`, when it gives a function, is awaited before each
 * email is sent (a test holds an email in flight).
 */
export function emailWorker(ctx: Ctx, smtp: SmtpReceiver, from: string, gate?: () => ((request: SendRequest) => Promise<void>) | undefined): OutboundWorker {
  const producer = emailProducer({ smtpUrl: smtp.url, from });
  const send = producer.transport!;
  return createOutboundWorker(ctx, {
    producers: {
      [PRODUCER]: gate === undefined
        ? producer
        : {
            ...producer,
            transport: async (request): Promise<SendOutcome> => {
              await gate()?.(request);
              return send(request);
            },
          },
    },
    concurrency: 4,
    timeoutMs: 10_000,
    pollMs: 60_000,
    allowPrivate: false,
    random: () => 0.5,
  });
}

export const TEST_EMAIL_FROM = 'Switchboard Support <support@example.test>';

export interface EmailTest {
  readonly smtp: SmtpReceiver;
  readonly t: TestApp;
  /** the outbound worker sending the app's email to `smtp`, driven by tick() */
  readonly worker: OutboundWorker;
  readonly admin: { agent: AgentRow; token: string };
}

/**
 * For a describeEachStore suite about email: before each test an emptied
 * store, an SMTP receiver, an app sending to it from TEST_EMAIL_FROM on
 * `now`, its email worker and an admin; all closed after the test.
 */
export function eachEmailTest(store: () => TestStore, options: { now: () => Date }): EmailTest {
  let smtp: SmtpReceiver | undefined;
  let t: TestApp | undefined;
  let worker: OutboundWorker | undefined;
  let admin: EmailTest['admin'] | undefined;
  beforeEach(async () => {
    await store().reset();
    smtp = await startSmtpReceiver();
    t = await testApp(store(), { now: options.now, env: { SMTP_URL: smtp.url, EMAIL_FROM: TEST_EMAIL_FROM } });
    worker = emailWorker(t.ctx, smtp, TEST_EMAIL_FROM);
    admin = await t.user('admin');
  });
  afterEach(async () => {
    await t?.close();
    await smtp?.close();
  });
  return {
    get smtp() {
      return smtp!;
    },
    get t() {
      return t!;
    },
    get worker() {
      return worker!;
    },
    get admin() {
      return admin!;
    },
  };
}
