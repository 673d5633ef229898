// `npx tsx bench/http-floor.ts` — what one HTTP request costs this machine
// before Switchboard does any work: GET /healthz (Fastify, the bearer-less
// route, one `select 1` round trip to PostgreSQL) at --clients keep-alive
// sockets, against the same server's POST /api/v1/conversations (assigned).
// For each: requests/s and the CPU a request cost the server process, this
// bench client and the scratch database's backends. The floor bounds what
// any change to the routing can win: a create can be no cheaper than a
// request that does nothing.
//
//   options: --clients=16 --requests=5000
import { performance } from 'node:perf_hooks';
import { HttpClient } from './http.js';
import { ADMIN, backendCpuSeconds, commits, prepareStore, startServerProcess } from './server.js';
import { processCpuSeconds } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => /^--([^=]+)=?(.*)$/s.exec(a)!.slice(1, 3) as [string, string]));
const CLIENTS = Number(args.get('clients') ?? 16);
const REQUESTS = Number(args.get('requests') ?? 5000);
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/http-floor.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

const AGENTS = 1000;
const store = await prepareStore('postgres', { agents: AGENTS, capacity: Math.ceil((REQUESTS + 200) / AGENTS) }, pgUrl);
const server = await startServerProcess(store);
const client = new HttpClient(server.url, CLIENTS);

async function phase(name: string, count: number, request: (i: number) => Promise<{ status: number }>, ok: number) {
  let next = 0;
  let wrong = 0;
  const cpu0 = processCpuSeconds(server.pid);
  const self0 = process.cpuUsage();
  const backends0 = await backendCpuSeconds(store.url!);
  const commits0 = await commits(store.url!);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < count; i = next++) if ((await request(i)).status !== ok) wrong++;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const server_ms = ((processCpuSeconds(server.pid) - cpu0) / count) * 1000;
  const self = process.cpuUsage(self0);
  const client_ms = (self.user + self.system) / 1000 / count;
  const backends1 = await backendCpuSeconds(store.url!);
  const commits_each = ((await commits(store.url!)) - commits0) / count;
  const pg_ms = backends0 === null || backends1 === null ? NaN : ((backends1 - backends0) / count) * 1000;
  const row = { phase: name, per_s: Math.round(count / seconds), server_ms: +server_ms.toFixed(3), postgres_ms: +pg_ms.toFixed(3), client_ms: +client_ms.toFixed(3), commits: +commits_each.toFixed(2), wrong };
  process.stdout.write(`${JSON.stringify(row)}\n`);
  return row;
}

try {
  const login = await client.request<{ token: string }>('POST', '/api/v1/auth/login', ADMIN);
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  client.token = login.body.token;
  for (let round = 0; round < 2; round++) {
    await phase('GET /healthz', REQUESTS, () => client.request('GET', '/healthz'), 200);
    await phase('POST /api/v1/conversations', REQUESTS / 2, (i) => client.request('POST', '/api/v1/conversations', { customer: { id: `floor-${round}-${i}` } }), 201);
  }
} finally {
  client.close();
  await server.stop();
  await store.dispose();
}
