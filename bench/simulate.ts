// Simulated conversations per second of wall time: the simulator driving the
// real engine on embedded PGlite, with where the time goes per engine call.
//
//   npx tsx bench/simulate.ts [arrivals=2000] [agents=5] [capacity=2] [load=0.8]
//
// SIM_PROFILE=1 adds the routing functions' own times (track_functions,
// pg_stat_user_functions: calls, total and self time, top 15 by self time).
// The timing slows PGlite down two to three times, shorter functions most:
// read it for where the time goes, not for the rate.
//
// Wall time on a shared machine scatters (two cores, other work): beside it
// are the figures that do not move with the load as much — the CPU time this
// process spent per conversation once the first 1,000 had arrived (caches
// and plans warm), and the calls into PostgreSQL (round trips) per
// conversation, counted where every statement enters PGlite.
//
// SIM_CPU_PROFILE=<file> writes a V8 CPU profile of the warm loop only (from
// the 1,000th arrival to the end, setup left out) for
// `node bench/cpuprofile-summary.mjs <file>`.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PGlite } from '@electric-sql/pglite';
import { summarise } from '../src/simulate/report.js';
import { runSimulation } from '../src/simulate/run.js';
import type { Db } from '../src/store/db.js';

const [arrivals = 2000, agents = 5, capacity = 2, load = 0.8] = process.argv.slice(2).map(Number);
const handleS = 300;
const profile = process.env.SIM_PROFILE === '1';
interface FunctionTimes {
  function: string;
  calls: number;
  total_ms: number;
  self_ms: number;
  self_us_each: number;
}
let functions: FunctionTimes[] | undefined;

let roundTrips = 0;
const send = PGlite.prototype.execProtocolRawStream;
PGlite.prototype.execProtocolRawStream = function (this: PGlite, ...args: Parameters<typeof send>) {
  roundTrips++;
  return send.apply(this, args);
};
let warm: { cpu: NodeJS.CpuUsage; trips: number; arrived: number } | undefined;
const profileFile = process.env.SIM_CPU_PROFILE;
const inspector = profileFile === undefined ? undefined : new Session();
if (inspector !== undefined) {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
}

const run = await runSimulation(
  {
    arrivals: { kind: 'poisson', perHour: (load * agents * capacity * 3600) / handleS, count: arrivals, dayProfile: null, departments: [] },
    customers: { handle: { kind: 'exponential', meanS: handleS }, patienceMeanS: null, seed: 1 },
    groups: [{ count: agents, capacity, departments: [], shift: null }],
    warmup: 0.05,
    target: { seconds: 20, share: 0.8 },
    sweepEveryS: 300,
  },
  {
    onProgress: (arrived) => {
      if (warm !== undefined) return;
      warm = { cpu: process.cpuUsage(), trips: roundTrips, arrived };
      void inspector?.post('Profiler.start');
    },
    ...(profile
      ? {
          prepare: async (db: Db) => void (await db.exec(`set track_functions = 'all'`)),
          inspect: async (db: Db) => {
            // this session's counts reach the statistics when flushed
            await db.query('select pg_stat_force_next_flush()');
            functions = await db.query<FunctionTimes>(
              `select funcname as function, calls, round(total_time::numeric, 1)::float8 as total_ms, round(self_time::numeric, 1)::float8 as self_ms,
                      round((1000 * self_time / calls)::numeric, 1)::float8 as self_us_each
                 from pg_stat_user_functions where calls > 0 order by self_time desc limit 15`,
            );
          },
        }
      : {}),
  },
);
if (inspector !== undefined && profileFile !== undefined) {
  const { profile: cpuProfile } = await inspector.post('Profiler.stop');
  writeFileSync(profileFile, JSON.stringify(cpuProfile));
}
const p = summarise(run).performance;
const perCall = Object.fromEntries(
  Object.entries(p.engine_calls).map(([k, n]) => [k, { calls: n, ms_each: n === 0 ? 0 : +(p.engine_ms[k as keyof typeof p.engine_ms] / n).toFixed(3) }]),
);
const engineMs = Object.values(p.engine_ms).reduce((s, v) => s + v, 0);
const loopMs = run.wallMs - run.engine.setup_ms;
// The last conversations may still be open when the last arrives: the tail
// is counted per arrival after the first 1,000, which is what the loop does.
const tail = warm === undefined ? null : { cpu: process.cpuUsage(warm.cpu), trips: roundTrips - warm.trips, arrivals: arrivals - warm.arrived };
console.log(
  JSON.stringify(
    {
      arrivals,
      slots: agents * capacity,
      load,
      conversations_per_s: +p.conversations_per_s.toFixed(1),
      wall_s: +p.wall_s.toFixed(2),
      setup_s: +p.setup_s.toFixed(2),
      engine_share_of_loop: +(engineMs / loopMs).toFixed(3),
      ...(tail === null || tail.arrivals === 0
        ? {}
        : {
            warm_cpu_ms_per_conversation: +((tail.cpu.user + tail.cpu.system) / 1000 / tail.arrivals).toFixed(3),
            warm_round_trips_per_conversation: +(tail.trips / tail.arrivals).toFixed(2),
          }),
      per_call: perCall,
      ...(functions === undefined ? {} : { functions }),
    },
    null,
    2,
  ),
);
