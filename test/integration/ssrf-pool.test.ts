// The SSRF guard runs in the DNS lookup of a new connection. Found by review: the keep-alive pool was
// shared by guarded sends (webhooks) and trusted ones (Qiscus, RapidPro: operator-configured targets,
// allowed private addresses) and keyed by host:port, so a webhook attempt could reuse a socket a
// trusted producer had left open to a private address, with no lookup and so no check.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { send } from '../../src/events/outbound/send.js';

it('a guarded send is refused even when a trusted send left a keep-alive socket to the same host:port', async () => {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    hits.push(String(req.headers['x-who']));
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://localhost:${(server.address() as AddressInfo).port}/x`;
  try {
    const request = (allowPrivate: boolean, who: string) =>
      send({ url, method: 'POST', headers: { 'x-who': who }, body: Buffer.from('{}'), verifyTls: true, timeoutMs: 3_000, allowPrivate });
    const cold = await request(false, 'guarded-cold');
    assert.equal(cold.status, null, 'a guarded send with no socket open is refused (the lookup runs)');
    const trusted = await request(true, 'trusted');
    assert.equal(trusted.status, 200);
    const guarded = await request(false, 'guarded');
    assert.equal(guarded.status, null, `the guarded attempt reached the private address: ${JSON.stringify(guarded)}`);
    assert.match(guarded.error ?? '', /private address/);
    const again = await request(true, 'trusted-again');
    assert.equal(again.status, 200, 'trusted sends still work (and keep their own pool)');
    assert.deepEqual(hits, ['trusted', 'trusted-again']);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
