import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { ConfigError, loadConfig } from '../../src/config.js';
import { isPrivateAddress, urlProblem } from '../../src/events/outbound/ssrf.js';
import { MAX_ATTEMPTS, parseRetryAfter, RETRY_SCHEDULE_MS, retryDelay } from '../../src/events/outbound/retry.js';
import { generateSecret, hubSignature, secretProblem, signatureHeaders, standardSignature } from '../../src/events/webhooks/signing.js';

describe('webhook signatures', () => {
  it("matches the contract's test vector for X-Hub-Signature", () => {
    assert.equal(
      hubSignature("It's a Secret to Everybody", Buffer.from('Hello, World!')),
      'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
  });

  it('signs the exact body bytes, not a re-serialization', () => {
    const a = hubSignature('secret-123', Buffer.from('{"a":1}'));
    const b = hubSignature('secret-123', Buffer.from('{ "a": 1 }'));
    assert.notEqual(a, b);
  });

  it('produces Standard Webhooks headers that the standardwebhooks package verifies (whsec_ secret)', () => {
    const secret = generateSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = Buffer.from(JSON.stringify({ type: 'conversation.created', data: { é: 'ünïcode' } }));
    const headers = signatureHeaders({ secret, id: 'evt_1_conversation.created', timestamp: Math.floor(Date.now() / 1000), body });
    assert.deepEqual(new Webhook(secret).verify(body.toString(), headers), JSON.parse(body.toString()));
    assert.equal(headers['x-hub-signature'], `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  });

  it('keys a plain secret by its bytes, which standardwebhooks reads with format raw', () => {
    const secret = "It's a Secret to Everybody";
    const body = Buffer.from('Hello, World!');
    const ts = Math.floor(Date.now() / 1000);
    const headers = signatureHeaders({ secret, id: 'msg_1', timestamp: ts, body });
    const expected = createHmac('sha256', Buffer.from(secret)).update(`msg_1.${ts}.Hello, World!`).digest('base64');
    assert.equal(headers['webhook-signature'], `v1,${expected}`);
    // the package parses what it verified: give it JSON
    const json = Buffer.from('{"hello":"world"}');
    assert.deepEqual(new Webhook(secret, { format: 'raw' }).verify(json.toString(), signatureHeaders({ secret, id: 'msg_2', timestamp: ts, body: json })), { hello: 'world' });
  });

  it('decodes a whsec_ secret for the Standard Webhooks key (the spec example)', () => {
    // From the Standard Webhooks spec's reference implementation tests.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const sig = standardSignature(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, Buffer.from('{"test": 2432232314}'));
    assert.equal(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('adds a second webhook-signature while a rotated-out secret is in its grace period', () => {
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const body = Buffer.from('{}');
    const headers = signatureHeaders({ secret: newSecret, previousSecret: oldSecret, id: 'm', timestamp: Math.floor(Date.now() / 1000), body });
    assert.equal(headers['webhook-signature']!.split(' ').length, 2);
    new Webhook(oldSecret).verify('{}', headers);
    new Webhook(newSecret).verify('{}', headers);
  });

  it('accepts only printable ASCII secrets of 8 to 200 characters, and whsec_ ones with real base64', () => {
    assert.equal(secretProblem("It's a Secret to Everybody"), undefined);
    assert.equal(secretProblem(generateSecret()), undefined);
    assert.match(secretProblem('short')!, /8 to 200/);
    assert.match(secretProblem('naïve-secret')!, /ASCII/);
    assert.match(secretProblem('whsec_not base64!!')!, /base64/);
  });
});

describe('retry schedule', () => {
  it('is 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, then gives up', () => {
    const mid = () => 0.5;
    const delays = Array.from({ length: MAX_ATTEMPTS }, (_, i) => retryDelay(i + 1, null, MAX_ATTEMPTS, mid));
    assert.deepEqual(delays, [...RETRY_SCHEDULE_MS, null]);
    assert.deepEqual(RETRY_SCHEDULE_MS.map((ms) => ms / 1000), [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]);
  });

  it('spreads each delay by at most 10 %', () => {
    assert.equal(retryDelay(1, null, MAX_ATTEMPTS, () => 0), 4_500);
    assert.equal(retryDelay(1, null, MAX_ATTEMPTS, () => 0.999999), 5_500);
  });

  it('honours Retry-After, never retrying earlier than asked (up to a day)', () => {
    assert.equal(retryDelay(1, 120_000, MAX_ATTEMPTS, () => 0.5), 120_000);
    assert.equal(retryDelay(2, 1_000, MAX_ATTEMPTS, () => 0.5), 300_000);
    assert.equal(retryDelay(1, 7 * 86_400_000, MAX_ATTEMPTS, () => 0.5), 86_400_000);
    assert.equal(parseRetryAfter('120', 0), 120_000);
    assert.equal(parseRetryAfter(new Date(60_000).toUTCString(), 0), 60_000);
    assert.equal(parseRetryAfter('soon', 0), null);
    assert.equal(parseRetryAfter(undefined, 0), null);
  });
});

describe('SSRF guard', () => {
  it('refuses private, loopback, link-local and reserved addresses, v4 and v6', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1']) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(isPrivateAddress(a), false, a);
  });

  it('refuses IPv4-compatible (::/96), local-use NAT64 (64:ff9b:1::/48) and 6to4 (2002::/16) addresses, whatever IPv4 they carry (#16)', () => {
    for (const a of ['::8.8.8.8', '::808:808', '::127.0.0.1', '::7f00:1', '64:ff9b:1::8.8.8.8', '64:ff9b:1:ffff::1', '2002:808:808::1', '2002:7f00:1::1', '2002::']) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    assert.match(urlProblem('http://[::8.8.8.8]/hook', false)!, /private/);
    assert.match(urlProblem('http://[2002:808:808::1]/hook', false)!, /private/);
    // the well-known NAT64 prefix is still judged by the IPv4 address it carries; neighbours of the new ranges are public
    for (const a of ['64:ff9b::8.8.8.8', '64:ff9b:2::1', '2003::1', '::2:0:0']) assert.equal(isPrivateAddress(a), false, a);
    assert.equal(isPrivateAddress('64:ff9b::10.0.0.1'), true);
  });

  it('judges URLs by scheme, credentials and literal host', () => {
    assert.equal(urlProblem('https://93.184.215.14/hook', false), undefined);
    assert.match(urlProblem('http://127.0.0.1:8080/', false)!, /private/);
    assert.match(urlProblem('http://[::1]/', false)!, /private/);
    assert.match(urlProblem('http://localhost/', false)!, /private/);
    assert.match(urlProblem('http://metadata.google.internal/', false)!, /private/);
    assert.match(urlProblem('ftp://example.com/', false)!, /http or https/);
    assert.match(urlProblem('https://user:pw@example.com/', false)!, /user name/);
    assert.match(urlProblem('not a url', false)!, /absolute/);
    assert.equal(urlProblem('http://127.0.0.1:8080/', true), undefined);
  });
});

describe('webhook configuration', () => {
  it('defaults to refusing private targets, a 15 s deadline, 64 in flight (32 per destination) and a 1 s poll', () => {
    const config = loadConfig({});
    assert.equal(config.allowPrivateWebhookTargets, false);
    assert.equal(config.webhookTimeoutMs, 15_000);
    assert.equal(config.webhookConcurrency, 64);
    assert.equal(config.webhookConcurrencyPerDestination, 32);
    assert.equal(config.webhookPollIntervalMs, 1_000);
  });

  it('reads the variables and names the one at fault', () => {
    const config = loadConfig({ ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true', WEBHOOK_TIMEOUT: '5000', WEBHOOK_CONCURRENCY: '8', WEBHOOK_CONCURRENCY_PER_DESTINATION: '2', WEBHOOK_POLL_INTERVAL: '250' });
    assert.deepEqual(
      [config.allowPrivateWebhookTargets, config.webhookTimeoutMs, config.webhookConcurrency, config.webhookConcurrencyPerDestination, config.webhookPollIntervalMs],
      [true, 5_000, 8, 2, 250],
    );
    assert.equal(loadConfig({ ALLOW_PRIVATE_WEBHOOK_TARGETS: 'false' }).allowPrivateWebhookTargets, false);
    for (const [name, value] of [['ALLOW_PRIVATE_WEBHOOK_TARGETS', 'maybe'], ['WEBHOOK_TIMEOUT', '10'], ['WEBHOOK_CONCURRENCY', '0'], ['WEBHOOK_CONCURRENCY_PER_DESTINATION', '0'], ['WEBHOOK_POLL_INTERVAL', 'fast']]) {
      assert.throws(() => loadConfig({ [name!]: value }), (e: unknown) => e instanceof ConfigError && e.variable === name && e.message.startsWith(`${name}:`), name);
    }
  });
});
