import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { createHttpRequester } from '../../src/channels/qiscus/http.js';

// The requester the Qiscus client calls through: kept-alive sockets, one
// deadline per exchange, and a request sent again when the kept-alive socket
// it went out on had been closed by the server.

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server; sockets: Set<Socket> }> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, sockets };
}

describe('Qiscus HTTP requester', () => {
  const closers: (() => void)[] = [];
  after(() => closers.forEach((close) => close()));

  it('answers over one kept-alive connection, with the body and status as sent', async () => {
    const bodies: string[] = [];
    const { url, server, sockets } = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? ''} ${body}`);
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' }).end('{"ok":"é"}');
      });
    });
    const request = createHttpRequester();
    closers.push(() => (request.close(), server.close()));
    const first = await request(`${url}/a?x=1`, { method: 'GET', headers: { accept: 'application/json' }, timeoutMs: 2_000 });
    const second = await request(`${url}/b`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'room_id=7', timeoutMs: 2_000 });
    const missing = await request(`${url}/missing`, { method: 'GET', headers: {}, timeoutMs: 2_000 });
    assert.deepEqual([first, second.status, missing.status], [{ status: 200, text: '{"ok":"é"}' }, 200, 404]);
    assert.deepEqual(bodies, ['GET /a?x=1  ', 'POST /b application/x-www-form-urlencoded room_id=7', 'GET /missing  ']);
    assert.equal(sockets.size, 1, 'one connection for the three calls');
  });

  it('sends a call again on a new connection when its kept-alive one had been closed by the server', async () => {
    const served = new WeakMap<Socket, number>();
    let answered = 0;
    const { url, server, sockets } = await serve((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      // The server drops an idle connection as the client reuses it: nothing is answered on it.
      if (n > 1) return req.socket.destroy();
      answered += 1;
      res.end(`answer ${answered}`);
    });
    const request = createHttpRequester();
    closers.push(() => (request.close(), server.close()));
    assert.equal((await request(`${url}/x`, { method: 'GET', headers: {}, timeoutMs: 2_000 })).text, 'answer 1');
    assert.equal((await request(`${url}/x`, { method: 'GET', headers: {}, timeoutMs: 2_000 })).text, 'answer 2');
    assert.equal(sockets.size, 2);
  });

  it('gives up at the deadline with a TimeoutError, and reports a refused connection as it is', async () => {
    const { url, server } = await serve(() => {
      // never answers
    });
    const request = createHttpRequester();
    closers.push(() => (request.close(), server.closeAllConnections(), server.close()));
    await assert.rejects(request(`${url}/hang`, { method: 'GET', headers: {}, timeoutMs: 100 }), (error: Error) => error.name === 'TimeoutError' && /no answer within 100 ms/.test(error.message));
    const closed = await serve(() => undefined);
    await new Promise((resolve) => closed.server.close(resolve));
    await assert.rejects(request(`${closed.url}/`, { method: 'GET', headers: {}, timeoutMs: 1_000 }), /ECONNREFUSED/);
  });
});
