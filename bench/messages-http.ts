// `npx tsx bench/messages-http.ts` — chat messages through the HTTP API,
// flat out, against PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL; a
// scratch database). `switchboard serve` runs as a child process; a
// supervisor posts customer messages (POST /conversations/:id/messages) to
// 500 open conversations from --clients keep-alive sockets for --seconds.
// Prints messages/s, latency and the server process's CPU per message
// (utime + stime from /proc over the phase ÷ messages): what a message costs
// the Node process end to end, bearer token, validation, the store call, the
// realtime publishes and the outbox worker's wake-up included.
//
// With PostgreSQL on this machine it also prints the CPU the scratch
// database's backends spent a message (the pool's connections, read from
// /proc): on two shared cores the server and PostgreSQL take turns, so what
// a change saves or moves on either side decides the rate.
//
//   options: --seconds=10 --clients=32 [--profile=DIR: the server child runs
//   with --cpu-prof and writes its .cpuprofile into DIR on exit, for
//   bench/cpuprofile-summary.mjs] [--node-options='...': NODE_OPTIONS for the
//   server child alone, e.g. --node-options=--max-semi-space-size=32]
//   [--log-statements: PostgreSQL logs every statement of the scratch
//   database, to see what a message sends]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { HttpClient } from './http.js';
import { ADMIN, adminQuery, backendCpuSeconds, commits, prepareStore, startServerProcess } from './server.js';
import { processCpuSeconds, summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => /^--([^=]+)=?(.*)$/s.exec(a)!.slice(1, 3) as [string, string]));
const SECONDS = Number(args.get('seconds') ?? 10);
const CLIENTS = Number(args.get('clients') ?? 32);
const PROFILE_DIR = args.get('profile');
const NODE_OPTIONS = args.get('node-options');
const LOG_STATEMENTS = args.has('log-statements');
const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!pgUrl) throw new Error('bench/messages-http.ts needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

/** The server's user and system CPU seconds so far (/proc/<pid>/stat fields 14 and 15; USER_HZ 100). */
function cpuSplit(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

const store = await prepareStore('postgres', { agents: 50, capacity: 20 }, pgUrl);
// Every statement the server's connections send, into PostgreSQL's own log (the scratch database alone).
if (LOG_STATEMENTS) await adminQuery(store.url!, `alter database ${store.name} set log_statement = 'all'`);
const server = await startServerProcess(store, {
  ...(PROFILE_DIR ? { cpuProfDir: PROFILE_DIR } : {}),
  ...(NODE_OPTIONS ? { extraEnv: { NODE_OPTIONS } } : {}),
});
const client = new HttpClient(server.url, CLIENTS);
try {
  const login = await client.request<{ token: string }>('POST', '/api/v1/auth/login', ADMIN);
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  client.token = login.body.token;
  const chats: string[] = [];
  for (let i = 0; i < 500; i++) {
    const r = await client.request<{ id: string }>('POST', '/api/v1/conversations', { customer: { id: `chat-${i}` } });
    if (r.status !== 201) throw new Error(`open failed: ${r.status} ${JSON.stringify(r.body)}`);
    chats.push(r.body.id);
  }
  let seq = 0;
  const post = () => client.request('POST', `/api/v1/conversations/${chats[Math.floor(Math.random() * chats.length)]}/messages`, { sender: 'customer', text: `m${seq++}` });
  // warm-up
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = 0; i < 50; i++) await post();
  }));
  const latencies: number[] = [];
  let errors = 0;
  const cpu0 = processCpuSeconds(server.pid);
  const split0 = cpuSplit(server.pid);
  const commits0 = await commits(store.url!);
  const backends0 = await backendCpuSeconds(store.url!);
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        const r = await post();
        if (r.status === 201) latencies.push(r.ms);
        else errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = processCpuSeconds(server.pid) - cpu0;
  const split1 = cpuSplit(server.pid);
  const committed = (await commits(store.url!)) - commits0;
  const backends1 = await backendCpuSeconds(store.url!);
  const backends = backends0 === null || backends1 === null ? null : backends1 - backends0;
  const perMessage = (seconds: number) => ((seconds * 1000) / latencies.length).toFixed(3);
  const l = summarize(latencies);
  process.stdout.write(
    `messages over HTTP, ${CLIENTS} clients, ${seconds.toFixed(1)} s: ${Math.round(latencies.length / seconds)}/s, p50 ${l.p50} ms, p99 ${l.p99} ms, errors ${errors}; ` +
      `server CPU ${perMessage(cpu)} ms/message (user ${perMessage(split1.user - split0.user)}, system ${perMessage(split1.system - split0.system)}; ${(cpu / seconds).toFixed(2)} cores); ${(committed / latencies.length).toFixed(2)} transactions a message` +
      (backends === null ? '' : `; PostgreSQL backends ${perMessage(backends)} ms CPU/message`) +
      (NODE_OPTIONS ? ` [server NODE_OPTIONS=${NODE_OPTIONS}]` : '') +
      '\n',
  );
} finally {
  client.close();
  await server.stop();
  await store.dispose();
}
