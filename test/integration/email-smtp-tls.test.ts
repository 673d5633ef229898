// SMTP without encryption (found by review): nodemailer goes on in
// plaintext when the relay does not offer STARTTLS, so one in the path who
// strips the offer read the relay's login and every transcript. smtp:// to a
// relay that is not this machine now requires STARTTLS, unless the URL says
// requireTLS=false (a trusted relay). A relay on the network cannot be
// tested here: the rule is checked by host name, and against a real
// smtp-server without STARTTLS reached at 0.0.0.0 (this machine, not a
// loopback name) and at 127.0.0.1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { compose } from '../../src/email/compose.js';
import { emailDecision } from '../../src/email/outbox.js';
import { isLoopbackHost, mailtoUrl, smtpOptions, smtpTransport, tlsRequired } from '../../src/email/transport.js';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtp-receiver.js';

describe('email: TLS to the relay', () => {
  it('requires STARTTLS for smtp:// to a relay off this machine, unless the URL opts out', () => {
    for (const url of [
      'smtp://user:pass@relay.example.com:587',
      'smtp://10.0.0.5:25',
      'smtp://0.0.0.0:25',
      'smtp://127.0.0.1.example.com:25',
      'smtp://localhost.example.com:25',
      'smtp://[2001:db8::1]:587',
      'smtp://relay.example.com:587?tls.rejectUnauthorized=false',
      'smtp://localhost:1025?requireTLS=true',
    ]) {
      assert.equal(tlsRequired(url), true, url);
    }
    for (const url of [
      'smtp://127.0.0.1:1025',
      'smtp://user:pass@127.8.9.10:25',
      'smtp://localhost:25',
      'smtp://LOCALHOST.:25',
      'smtp://[::1]:25',
      'smtp://[0:0:0:0:0:0:0:1]:25',
      'smtp://[::ffff:127.0.0.1]:25',
      // TLS from the first byte: nothing to require
      'smtps://user:pass@relay.example.com:465',
      // the operator's word for a trusted relay
      'smtp://user:pass@relay.internal:25?requireTLS=false',
      'smtp://relay.internal:25?ignoreTLS=true',
    ]) {
      assert.equal(tlsRequired(url), false, url);
    }
    assert.deepEqual(
      ['localhost', '127.0.0.1', '127.255.255.254', '::1', '[::1]', '::ffff:7f00:1', 'example.com', '128.0.0.1', '::2', '::ffff:10.0.0.1', '0.0.0.0', ''].map(isLoopbackHost),
      [true, true, true, true, true, true, false, false, false, false, false, false],
    );
  });

  it('hands nodemailer requireTLS as a boolean, and the URL’s opt-out arrives as false', () => {
    const optionsOf = (url: string) => (nodemailer.createTransport(smtpOptions(url, 1_000)) as unknown as { transporter: { options: Record<string, unknown> } }).transporter.options;
    assert.equal(optionsOf('smtp://u:p@relay.example.com:587').requireTLS, true);
    assert.equal(optionsOf('smtp://u:p@relay.example.com:587?requireTLS=false').requireTLS, false);
    const ignoring = optionsOf('smtp://relay.example.com:25?ignoreTLS=true');
    assert.deepEqual([ignoring.requireTLS, ignoring.ignoreTLS], [false, true]);
    assert.equal(optionsOf('smtp://127.0.0.1:1025').requireTLS, false);
    assert.equal(optionsOf('smtps://u:p@relay.example.com:465').secure, true);
  });

  describe('against a relay that offers no STARTTLS', () => {
    let smtp: SmtpReceiver;
    before(async () => {
      smtp = await startSmtpReceiver();
    });
    after(async () => {
      await smtp?.close();
    });

    const send = async (url: string) => {
      const { raw } = await compose({ from: 'support@example.test', to: ['ann@example.test'], subject: 'Transcript', text: 'secret', html: '<p>secret</p>', date: new Date() });
      return smtpTransport(url)({
        url: mailtoUrl(['ann@example.test']),
        method: 'SMTP',
        headers: { 'mail-from': 'support@example.test' },
        body: raw,
        verifyTls: true,
        timeoutMs: 5_000,
        allowPrivate: true,
      });
    };

    it('delivers on loopback, refuses to log in or send in plaintext off it, and delivers there when the URL opts out', async () => {
      const loopback = await send(smtp.url);
      assert.equal(loopback.status, 250, loopback.error ?? '');
      assert.deepEqual([smtp.logins, smtp.received.length], [1, 1]);

      // 0.0.0.0 reaches this machine, but is no loopback name: the rule of a relay on the network
      const offMachine = smtp.url.replace('@127.0.0.1:', '@0.0.0.0:');
      const refused = await send(offMachine);
      assert.match(refused.error ?? '', /STARTTLS/i, JSON.stringify(refused));
      // the session's refusal, not the email's: retried on the schedule once the operator fixes it
      assert.equal(emailDecision(refused), undefined);
      assert.deepEqual([smtp.logins, smtp.received.length], [1, 1], 'no login, no message, in plaintext');

      const optedOut = await send(`${offMachine}?requireTLS=false`);
      assert.equal(optedOut.status, 250, optedOut.error ?? '');
      assert.deepEqual([smtp.logins, smtp.received.length], [2, 2]);
    });
  });
});
