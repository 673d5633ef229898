// `npx tsx bench/creates-http.ts` — POST /api/v1/conversations through the
// HTTP API against PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL; a
// scratch database), `switchboard serve` as a child process, --clients
// keep-alive sockets. Two phases: --assigned creates that each find an agent
// with room (1,000 agents online), then --queued creates behind full
// capacity, each answered with its place (docs/api.md, "Queue position at
// creation"). For each: creates/s, latency, and the CPU a create cost the
// server process and the scratch database's backends (/proc, utime + stime
// over the phase ÷ creates), which on a loaded machine says more than the
// rate does: on two shared cores the server and PostgreSQL take turns.
//
//   options: --clients=16 --assigned=3000 --queued=1500 --warm-up=3000 (creates opened
//   and resolved first, at most --assigned; 160 before 2026-11-26) [--profile=DIR: the
//   server child runs with --cpu-prof, for bench/cpuprofile-summary.mjs]
//   [--default-capacity: the agents have no capacity of their own, the
//   max_customers setting gives theirs, as agents created without one do]
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { HttpClient } from './http.js';
import { ADMIN, adminQuery, backendCpuSeconds, prepareStore, startServerProcess } from './server.js';
import { processCpuSeconds, summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => /^--([^=]+)=?(.*)$/s.exec(a)!.slice(1, 3) as [string, string]));
const CLIENTS = Number(args.get('clients') ?? 16);
const ASSIGNED = Number(args.get('assigned') ?? 3000);
const QUEUED = Number(args.get('queued') ?? 1500);
const PROFILE_DIR = args.get('profile');
const DEFAULT_CAPACITY = args.has('default-capacity');
/** at most the assigned phase's slots (ASSIGNED), or the warm-up queues */
const WARM_UP = Math.min(Number(args.get('warm-up') ?? 3000), ASSIGNED);
const AGENTS = 1000;
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/creates-http.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');


// Every agent's capacity fits the assigned phase exactly; the queued phase waits behind it.
const capacity = Math.ceil(ASSIGNED / AGENTS);
const store = await prepareStore('postgres', { agents: AGENTS, capacity }, pgUrl);
if (DEFAULT_CAPACITY) {
  // before the server seeds its settings, which keeps a value already there
  await adminQuery(
    store.url!,
    `update agents set capacity = null;
     insert into settings (key, value, updated_at) values ('max_customers', '${capacity}'::jsonb, now())
     on conflict (key) do update set value = excluded.value`,
  );
}
const server = await startServerProcess(store, PROFILE_DIR ? { cpuProfDir: PROFILE_DIR } : {});
const client = new HttpClient(server.url, CLIENTS);
try {
  const login = await client.request<{ token: string }>('POST', '/api/v1/auth/login', ADMIN);
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  client.token = login.body.token;
  // warm-up: every pooled connection plans the open and the place, and V8 compiles the hot paths of
  // the server and of this client (160 creates left both still warming: ~30 % more CPU a create)
  const warm: string[] = [];
  let nextWarm = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = nextWarm++; i < WARM_UP; i = nextWarm++) {
        const r = await client.request<{ id: string }>('POST', '/api/v1/conversations', { customer: { id: `warm-${i}` } });
        warm.push(r.body.id);
      }
    }),
  );
  let nextResolve = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = nextResolve++; i < warm.length; i = nextResolve++) await client.request('POST', `/api/v1/conversations/${warm[i]}/resolve`, {});
    }),
  );
  // its dead row versions (two updates of an agent's row a conversation) cleaned, as autovacuum would (off on the bench's server)
  await adminQuery(store.url!, 'vacuum');

  async function phase(name: string, count: number, expect: 'assigned' | 'queued') {
    const latencies: number[] = [];
    let wrong = 0;
    let next = 0;
    const cpu0 = processCpuSeconds(server.pid);
    const backends0 = await backendCpuSeconds(store.url!);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < count; i = next++) {
          const r = await client.request<{ state: string; queue_position: number | null }>('POST', '/api/v1/conversations', { customer: { id: `${name}-${i}` } });
          if (r.status !== 201 || r.body.state !== expect || (expect === 'queued') !== (r.body.queue_position !== null)) wrong++;
          latencies.push(r.ms);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = processCpuSeconds(server.pid) - cpu0;
    const backends1 = await backendCpuSeconds(store.url!);
    const backends = backends0 === null || backends1 === null ? null : backends1 - backends0;
    const per = (s: number) => ((s * 1000) / count).toFixed(3);
    const l = summarize(latencies);
    process.stdout.write(
      `create → ${expect}, ${CLIENTS} clients, ${count} in ${seconds.toFixed(1)} s: ${Math.round(count / seconds)}/s, p50 ${l.p50} ms, p99 ${l.p99} ms, ` +
        `not ${expect} ${wrong}; server CPU ${per(cpu)} ms/create (${(cpu / seconds).toFixed(2)} cores)` +
        (backends === null ? '' : `; PostgreSQL backends ${per(backends)} ms/create (${(backends / seconds).toFixed(2)} cores)`) +
        `; load ${loadavg()[0]!.toFixed(1)}\n`,
    );
  }
  await phase('assigned', ASSIGNED, 'assigned');
  await phase('queued', QUEUED, 'queued');
} finally {
  client.close();
  await server.stop();
  await store.dispose();
}
