// What anyone on the internet can send to /mqtt before authenticating must
// not fill the error log (#16): an oversized WebSocket frame before CONNECT
// closes the connection and is logged at debug, without a stack.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import pino from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

let store: TestStore;
let server: Running;
const lines: { level: number; msg: string; err?: { stack?: string }; code?: string }[] = [];

before(async () => {
  store = await openTestStore('pglite');
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
  server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'debug', SWEEP_INTERVAL: '60000', WEBHOOK_POLL_INTERVAL: '60000' }), { db: store.db, keepDb: true, logger: logger as never });
});
after(async () => {
  await server?.close();
  await store?.close();
});

it('closes a connection whose first frame is over the 256 KiB limit and logs it at debug, not as an error with a stack', async () => {
  lines.length = 0;
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/mqtt`, 'mqtt');
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send(Buffer.alloc(300 * 1024, 0x10));
  assert.ok([1006, 1009].includes(await closed), 'the server ends the connection');
  const deadline = Date.now() + 2_000;
  while (!lines.some((l) => l.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const note = lines.find((l) => l.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  assert.ok(note, 'the refusal is logged');
  assert.equal(note.level, 20, 'at debug');
  assert.equal(note.err, undefined, 'without the error and its stack');
  assert.deepEqual(
    lines.filter((l) => l.level >= 40).map((l) => l.msg),
    [],
    'nothing at warn or above',
  );
});
