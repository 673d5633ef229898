// Limits on anonymous chat sessions (#16): POST /session per client address,
// a rate per minute and a cap on live sessions, counted in the database so
// they hold across processes; 429 with retry-after and nothing changed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { addressKey } from '../../src/http/client-address.js';
import { startServer, type Running } from '../../src/server.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('chat session limits per address', (store) => {
  const servers: Running[] = [];
  const start = async (env: Record<string, string>) => {
    const server = await startServer(
      loadConfig({ PORT: '0', LOG_LEVEL: 'silent', SWEEP_INTERVAL: '60000', WEBHOOK_POLL_INTERVAL: '60000', ...env }),
      { db: store().db, keepDb: true },
    );
    servers.push(server);
    return server;
  };
  beforeEach(async () => {
    await store().reset();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const open = (server: Running, remoteAddress: string, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'POST', url: '/session', payload: { customer: { id: randomUUID() } }, remoteAddress, headers });
  const counts = async () =>
    (await store().db.query<{ conversations: number; sessions: number; events: number }>(
      `select (select count(*)::int from conversations) as conversations, (select count(*)::int from customer_sessions) as sessions, (select count(*)::int from events) as events`,
    ))[0]!;

  it('refuses the sessions an address starts beyond SESSION_RATE_LIMIT a minute with 429 and retry-after, changing nothing', async () => {
    const server = await start({ SESSION_RATE_LIMIT: '3', SESSION_MAX_OPEN_PER_ADDRESS: '0' });
    for (let i = 0; i < 3; i += 1) assert.equal((await open(server, '10.0.0.1')).statusCode, 201);
    const before = await counts();
    const refused = await open(server, '10.0.0.1');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'SB_RATE_LIMITED');
    assert.match(refused.json().error.message, /at most 3 a minute \(SESSION_RATE_LIMIT\)/);
    const retry = Number(refused.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `retry-after ${retry}`);
    assert.equal(refused.headers['access-control-allow-origin'], '*', 'a widget on another origin can read the answer');
    assert.deepEqual(await counts(), before);
    // another address is not affected
    assert.equal((await open(server, '10.0.0.2')).statusCode, 201);
    // a minute later the address may start sessions again
    await store().db.query(`update customer_sessions set created_at = created_at - interval '61 seconds' where client_address = '10.0.0.1'`);
    assert.equal((await open(server, '10.0.0.1')).statusCode, 201);
  });

  it('refuses a session beyond SESSION_MAX_OPEN_PER_ADDRESS live ones, and admits one again when a session ends', async () => {
    const server = await start({ SESSION_RATE_LIMIT: '0', SESSION_MAX_OPEN_PER_ADDRESS: '2' });
    const first = await open(server, '10.0.1.1');
    assert.equal((await open(server, '10.0.1.1')).statusCode, 201);
    const before = await counts();
    const refused = await open(server, '10.0.1.1');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'SB_TOO_MANY_SESSIONS');
    assert.match(refused.json().error.message, /SESSION_MAX_OPEN_PER_ADDRESS=2/);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.deepEqual(await counts(), before);
    const ended = await server.app.inject({ method: 'DELETE', url: '/session', headers: { authorization: `Bearer ${first.json().token}` }, remoteAddress: '10.0.1.1' });
    assert.equal(ended.statusCode, 204);
    assert.equal((await open(server, '10.0.1.1')).statusCode, 201);
    // a session silent for longer than the keep-alive is no longer live (the sweep abandons it)
    await store().db.query(`update customer_sessions set last_seen_at = last_seen_at - interval '1 hour' where client_address = '10.0.1.1'`);
    assert.equal((await open(server, '10.0.1.1')).statusCode, 201);
  });

  it('holds the cap when 30 sessions of one address race on two processes sharing the database', async () => {
    const env = { SESSION_RATE_LIMIT: '0', SESSION_MAX_OPEN_PER_ADDRESS: '5' };
    const [a, b] = [await start(env), await start(env)];
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => open(i % 2 === 0 ? a! : b!, '10.0.2.1')));
    const statuses = answers.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 201).length, 5, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 25);
    const [row] = await store().db.query<{ n: number }>(
      `select count(*)::int as n from customer_sessions s join conversations c on c.id = s.conversation_id where s.client_address = '10.0.2.1' and c.state in ('queued', 'assigned')`,
    );
    assert.equal(row!.n, 5);
    assert.equal((await counts()).conversations, 5, 'the refused opens were rolled back');
  });

  it('holds the rate when sessions of one address race', async () => {
    const server = await start({ SESSION_RATE_LIMIT: '4', SESSION_MAX_OPEN_PER_ADDRESS: '0' });
    const answers = await Promise.all(Array.from({ length: 12 }, () => open(server, '10.0.3.1')));
    assert.equal(answers.filter((r) => r.statusCode === 201).length, 4);
    assert.equal(answers.filter((r) => r.statusCode === 429).length, 8);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY says the proxy may be believed', async () => {
    const untrusted = await start({ SESSION_RATE_LIMIT: '2', SESSION_MAX_OPEN_PER_ADDRESS: '0' });
    const forwarded = (ip: string) => ({ 'x-forwarded-for': ip });
    assert.equal((await open(untrusted, '10.0.4.1', forwarded('203.0.113.1'))).statusCode, 201);
    assert.equal((await open(untrusted, '10.0.4.1', forwarded('203.0.113.2'))).statusCode, 201);
    // a made-up header is no way around the limit
    assert.equal((await open(untrusted, '10.0.4.1', forwarded('203.0.113.3'))).statusCode, 429);
    await untrusted.close();
    servers.splice(servers.indexOf(untrusted), 1);
    await store().reset();

    const trusted = await start({ SESSION_RATE_LIMIT: '2', SESSION_MAX_OPEN_PER_ADDRESS: '0', TRUST_PROXY: '10.0.4.1' });
    // behind the trusted proxy every client has its own limit
    for (const client of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) assert.equal((await open(trusted, '10.0.4.1', forwarded(client))).statusCode, 201, client);
    assert.equal((await open(trusted, '10.0.4.1', forwarded('203.0.113.1'))).statusCode, 201);
    assert.equal((await open(trusted, '10.0.4.1', forwarded('203.0.113.1'))).statusCode, 429);
    // a caller that is not the trusted proxy is counted by its own address, whatever it forwards
    assert.equal((await open(trusted, '10.0.4.2', forwarded('203.0.113.9'))).statusCode, 201);
    assert.equal((await open(trusted, '10.0.4.2', forwarded('203.0.113.8'))).statusCode, 201);
    assert.equal((await open(trusted, '10.0.4.2', forwarded('203.0.113.7'))).statusCode, 429);
    const [row] = await store().db.query<{ addresses: string[] }>('select array_agg(distinct client_address order by client_address) as addresses from customer_sessions');
    assert.deepEqual(row!.addresses, ['10.0.4.2', '203.0.113.1', '203.0.113.2', '203.0.113.3']);
  });

  it('behind TRUST_PROXY=1 counts the address the proxy appended, not what the client wrote to its left, nor its port (found by review)', async () => {
    const server = await start({ SESSION_RATE_LIMIT: '2', SESSION_MAX_OPEN_PER_ADDRESS: '0', TRUST_PROXY: '1' });
    const via = (forwarded: string) => open(server, '10.0.5.1', { 'x-forwarded-for': forwarded });
    assert.equal((await via('forged-1, 198.51.100.1, 203.0.113.20')).statusCode, 201);
    assert.equal((await via('198.51.100.2, 203.0.113.20:50001')).statusCode, 201);
    assert.equal((await via('198.51.100.3, 203.0.113.20:50002')).statusCode, 429);
    // a proxy that writes no address at all: counted as the proxy
    assert.equal((await via('unknown')).statusCode, 201);
    const [row] = await store().db.query<{ addresses: string[] }>('select array_agg(distinct client_address order by client_address) as addresses from customer_sessions');
    assert.deepEqual(row!.addresses, ['10.0.5.1', '203.0.113.20']);
  });
});

describe('addressKey', () => {
  const key = (ip: string, socket = '10.99.0.1') => addressKey({ ip, socket: { remoteAddress: socket } });

  it('counts an IPv6 host by its /64 and an IPv4-mapped address as IPv4', () => {
    assert.equal(key('203.0.113.7'), '203.0.113.7');
    assert.equal(key('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(key('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(key('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(key('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(key('::1'), '0:0:0:0::/64');
    assert.equal(key('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });

  it('counts an address a proxy forwarded with its port (Azure Application Gateway) as the address', () => {
    assert.equal(key('203.0.113.7:50123'), '203.0.113.7');
    assert.equal(key('203.0.113.7:50124'), '203.0.113.7');
    assert.equal(key('[2001:db8:1:2::9]:443'), '2001:db8:1:2::/64');
    assert.equal(key('[::ffff:203.0.113.7]:443'), '203.0.113.7');
    assert.equal(key('[2001:db8:1:2::9]'), '2001:db8:1:2::/64');
  });

  it('counts a forwarded value that is no address as the socket it came through, not as a key of its own', () => {
    for (const forged of ['forged-1', 'forged-2', 'unknown', '', '203.0.113.7:x', '[nonsense]:80', '999.1.1.1']) assert.equal(key(forged, '10.99.0.1'), '10.99.0.1', forged);
    assert.equal(key('forged', '::ffff:10.99.0.2'), '10.99.0.2');
    assert.equal(key('forged', '2001:db8:5::1'), '2001:db8:5:0::/64');
  });
});
