import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { QiscusClient } from '../../src/channels/qiscus/client.js';
import { MARK_AS_RESOLVED_PATH } from '../../src/channels/qiscus/constants.js';
import { qiscusProducer, qiscusTransport } from '../../src/channels/qiscus/producer.js';
import { ENVELOPE_FROM, mailtoUrl, smtpTransport } from '../../src/email/transport.js';
import type { Ctx } from '../../src/context.js';
import type { OutboundRow } from '../../src/events/outbound/outbox.js';
import type { SendRequest } from '../../src/events/outbound/send.js';

// An outbox row is leased for the longest attempt deadline + 30 s, on the promise that
// an attempt ends by its deadline (src/events/outbound/worker.ts, Producer.timeoutMs):
// an attempt still going when its lease ends is claimed and sent again by
// another process, beside it. The attempts that are more than one HTTP exchange
// keep that promise too (found by review, 2026-11-26): an SMTP session whose
// relay keeps talking, slowly, and Qiscus' mark_as_resolved, whose attempt reads
// the room's last comment id before its call; and every Qiscus call in login
// mode, whose attempt logs in for a token first (found by review, 2026-11-27).

interface Session {
  openedAt: number;
  closedAt?: number;
}

/** A relay on 127.0.0.1 that greets, then answers EHLO with a continuation line every 100 ms, for ever. */
async function talkativeRelay(): Promise<{ url: string; sessions: Session[]; close(): Promise<void> }> {
  const sessions: Session[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const session: Session = { openedAt: Date.now() };
    sessions.push(session);
    sockets.add(socket);
    let trickle: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      session.closedAt = Date.now();
      clearInterval(trickle);
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (/^(EHLO|HELO)/i.test(chunk.toString('latin1')) && trickle === undefined) {
        trickle = setInterval(() => socket.write('250-relay.test still thinking\r\n'), 100);
      }
    });
    socket.write('220 relay.test ESMTP\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    sessions,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const request = (url: string, body: string, timeoutMs: number, headers: Record<string, string> = {}): SendRequest => ({
  url,
  method: 'POST',
  headers,
  body: Buffer.from(body),
  verifyTls: true,
  timeoutMs,
  allowPrivate: true,
});

describe('outbound attempts end by their deadline', () => {
  const closers: (() => Promise<void>)[] = [];
  after(() => Promise.all(closers.map((close) => close())));

  it('an SMTP attempt whose relay never goes quiet nor finishes ends at its timeout, its connection closed', { timeout: 10_000 }, async () => {
    const relay = await talkativeRelay();
    closers.push(relay.close);
    const started = Date.now();
    const raw = 'From: desk@example.com\r\nTo: kim@example.com\r\nSubject: transcript\r\n\r\nhello\r\n';
    const outcome = await smtpTransport(relay.url)(request(mailtoUrl(['kim@example.com']), raw, 800, { [ENVELOPE_FROM]: 'desk@example.com' }));
    const took = Date.now() - started;
    assert.equal(outcome.status, null);
    assert.match(outcome.error ?? '', /^timeout: the relay did not finish within 800 ms/);
    assert.ok(took < 3_000, `the attempt took ${took} ms (the relay talks for ever; the per-phase timeouts alone never fire)`);
    // the relay sees the session end: nothing of it can go on beside a retry
    const deadline = Date.now() + 2_000;
    while (relay.sessions[0]?.closedAt === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(relay.sessions.length, 1);
    assert.ok(relay.sessions[0]!.closedAt !== undefined, 'the SMTP connection was left open');
  });

  const markAsResolved = `https://multichannel.test${MARK_AS_RESOLVED_PATH}`;
  const assignAgent = 'https://multichannel.test/api/v1/admin/service/assign_agent';
  const secretAuth = async () => ({ 'qiscus-app-id': 'app', 'qiscus-secret-key': 'secret' });
  const fakeClient = (parts: Partial<Pick<QiscusClient, 'authHeaders' | 'lastCommentId'>>) =>
    ({ api: { appId: 'app' }, authHeaders: secretAuth, forgetToken() {}, credentialsCooling: () => 0, answered() {}, refused: () => ({ renew: false, waitMs: 15_000 }), ...parts }) as unknown as QiscusClient;
  const clientReading = (lastCommentId: () => Promise<string | null>) => fakeClient({ lastCommentId });
  const delivered = (calls: SendRequest[]) => async (sent: SendRequest) => (calls.push(sent), { status: 200, excerpt: null, error: null, retryAfterMs: null, durationMs: 1 });

  it("mark_as_resolved: a read of the room's last comment id that outlasts the attempt's timeout ends the attempt, with no call", { timeout: 10_000 }, async () => {
    const calls: SendRequest[] = [];
    const transport = qiscusTransport(
      clientReading(() => new Promise(() => {})),
      delivered(calls),
    );
    const started = Date.now();
    const outcome = await transport(request(markAsResolved, 'room_id=7', 300));
    assert.ok(Date.now() - started < 2_000);
    assert.equal(outcome.status, null);
    assert.match(outcome.error ?? '', /^timeout: reading the room's last comment id took over 300 ms/);
    assert.deepEqual(calls, []);
  });

  it('mark_as_resolved: the call gets what is left of the deadline after the read, with the id it read', async () => {
    const calls: SendRequest[] = [];
    const transport = qiscusTransport(
      clientReading(() => new Promise((resolve) => setTimeout(() => resolve('c-42'), 400))),
      delivered(calls),
    );
    const outcome = await transport(request(markAsResolved, 'room_id=7', 1_000));
    assert.equal(outcome.status, 200);
    assert.equal(calls.length, 1);
    assert.equal(new URLSearchParams(calls[0]!.body.toString()).get('last_comment_id'), 'c-42');
    assert.ok(calls[0]!.timeoutMs <= 650 && calls[0]!.timeoutMs >= 1, `the call was given ${calls[0]!.timeoutMs} ms of the 1,000`);
  });
  it('a Qiscus login that never answers ends the attempt at its timeout, with no call', { timeout: 10_000 }, async () => {
    const calls: SendRequest[] = [];
    const transport = qiscusTransport(fakeClient({ authHeaders: () => new Promise(() => {}) }), delivered(calls));
    const started = Date.now();
    const outcome = await transport(request(assignAgent, 'room_id=7&agent_id=3', 300));
    assert.ok(Date.now() - started < 2_000);
    assert.equal(outcome.status, null);
    assert.match(outcome.error ?? '', /^timeout: logging in to Qiscus took over 300 ms/);
    assert.deepEqual(calls, []);
  });

  it('the call gets what is left of the deadline after the login, with its token', async () => {
    const calls: SendRequest[] = [];
    const slowLogin = () => new Promise<Record<string, string>>((resolve) => setTimeout(() => resolve({ 'qiscus-app-id': 'app', authorization: 'token-1' }), 400));
    const transport = qiscusTransport(fakeClient({ authHeaders: slowLogin }), delivered(calls));
    const outcome = await transport(request(assignAgent, 'room_id=7&agent_id=3', 1_000, { 'user-agent': 'ua' }));
    assert.equal(outcome.status, 200);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.headers, { 'user-agent': 'ua', 'qiscus-app-id': 'app', authorization: 'token-1' });
    assert.ok(calls[0]!.timeoutMs <= 650 && calls[0]!.timeoutMs >= 1, `the call was given ${calls[0]!.timeoutMs} ms of the 1,000`);
  });

  it("a Qiscus attempt as the worker makes it (the producer's prepare, then its transport) ends by its timeout when the login never answers", { timeout: 10_000 }, async () => {
    // Qiscus' API on 127.0.0.1, counting the calls that reach it: none may, the login being part of the attempt
    let reached = 0;
    const api = http.createServer((_req, res) => {
      reached += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => api.close(() => resolve())));
    const url = `http://127.0.0.1:${(api.address() as net.AddressInfo).port}/api/v1/admin/service/assign_agent`;
    const producer = qiscusProducer(fakeClient({ authHeaders: () => new Promise(() => {}) }), 300, { onFreed() {} });
    const row = { id: 1 } as OutboundRow;
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<'overrun'>((resolve) => (timer = setTimeout(() => resolve('overrun'), 3_000)));
    const started = Date.now();
    const attempt = (async () => {
      const sign = await producer.prepare({} as Ctx);
      const headers = sign([row], new Date()).headers.get(row.id)!;
      return producer.transport!(request(url, 'room_id=7&agent_id=3', 300, headers));
    })();
    const outcome = await Promise.race([attempt, overrun]);
    clearTimeout(timer);
    if (outcome === 'overrun') assert.fail('the attempt was still going 3 s after its 300 ms deadline');
    assert.ok(Date.now() - started < 2_000);
    assert.equal(outcome.status, null);
    assert.match(outcome.error ?? '', /^timeout: logging in to Qiscus took over 300 ms/);
    assert.equal(reached, 0, 'a call went out past the attempt\'s deadline');
  });
});
