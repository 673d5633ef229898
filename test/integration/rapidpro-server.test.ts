// The RapidPro channel in a real `switchboard serve` process: the callbacks
// ride the one outbound worker the server starts, woken by the commit of an
// agent's reply — no test seam, no tick().
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeMailroom, type FakeMailroom } from '../helpers/fake-mailroom.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { CONTRACT } from '../helpers/rapidpro.js';
import { migratedDataDir } from '../helpers/pglite-template.js';

const ADMIN = { email: 'admin@rapidpro.test', password: 'correct horse battery' };

describe('RapidPro in a server process [pglite]', () => {
  let server: ServerProcess;
  let dataDir: string;
  let mailroom: FakeMailroom | undefined;

  before(async () => {
    dataDir = await migratedDataDir('sb-rapidpro-');
    server = await startServerProcess({
      env: {
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        LOG_LEVEL: 'info',
        DATABASE_URL: undefined,
        DATA_DIR: dataDir,
        ALLOW_PRIVATE_WEBHOOK_TARGETS: 'true',
        PUBLIC_URL: 'https://support.example.com',
      },
    });
  });
  after(async () => {
    await mailroom?.close();
    await server?.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function api(method: string, path: string, options: { token?: string; auth?: string; body?: unknown } = {}) {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.auth ? { authorization: options.auth } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  }
  const login = async (email: string, password: string) => (await api('POST', '/api/v1/auth/login', { body: { email, password } })).json!.token as string;

  it('delivers an agent reply and the resolve to mailroom on its own', async () => {
    const admin = await login(ADMIN.email, ADMIN.password);
    const created = await api('POST', '/api/v1/ticketers', { token: admin, body: { name: 'e2e' } });
    assert.equal(created.status, 201);
    const ticketer = created.json!;
    assert.equal(ticketer.base_url, `https://support.example.com/api/v1/ticketers/${ticketer.uuid}`);
    const base = `/api/v1/ticketers/${ticketer.uuid}`;
    const auth = `Token ${ticketer.secret}`;

    mailroom = await startFakeMailroom({ uuid: ticketer.uuid, secret: () => ticketer.secret });
    mailroom.tickets.add(CONTRACT.room.ticketID);
    assert.equal((await api('PUT', `${base}/settings`, { auth, body: { webhook: { url: mailroom.url } } })).status, 204);

    await api('POST', '/api/v1/agents', { token: admin, body: { name: 'Ana', email: 'ana@rapidpro.test', password: 'correct horse', role: 'agent' } });
    const agent = await login('ana@rapidpro.test', 'correct horse');
    await api('PATCH', '/api/v1/agents/me', { token: agent, body: { status: 'online' } });

    // fetch() cannot send a GET with a body; mailroom's GETs are replayed over TCP in rapidpro-wire.test.ts
    const room = await api('POST', `${base}/room`, { auth, body: CONTRACT.room });
    assert.equal(room.status, 201);
    assert.equal((await api('POST', `/api/v1/conversations/${room.json!.id}/messages`, { token: agent, body: { text: 'We can help' } })).status, 201);
    assert.equal((await api('POST', `/api/v1/conversations/${room.json!.id}/resolve`, { token: agent, body: {} })).status, 200);

    const deadline = Date.now() + 10_000;
    while (mailroom.handled.length < 2 && Date.now() < deadline) await sleep(50);
    assert.deepEqual(mailroom.handled, [
      { type: 'agent-message', ticketID: CONTRACT.room.ticketID, visitor: { token: '1234567' }, data: { text: 'We can help' } },
      { type: 'close-room', ticketID: CONTRACT.room.ticketID, visitor: { token: '1234567' } },
    ]);
  });
});
