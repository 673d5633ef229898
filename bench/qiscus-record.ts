// `npx tsx bench/qiscus-record.ts` — the PostgreSQL CPU of one Qiscus
// allocation webhook's record (sb_record_qiscus_room, src/channels/qiscus/rooms.ts):
// --count new rooms recorded one after another on one connection, and the
// backend's CPU time (/proc) per call; the webhook's write, most of the store's
// messages at 500 rooms/s (bench/qiscus.ts --count-queries).
//   options: --count=3000  --functions=<a functions.sql>: its sb_record_qiscus_room
//            replaces this tree's (A/B against another tree's function on the same schema)
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import pg from 'pg';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { processCpuSeconds } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const COUNT = Number(args.get('count') ?? 3_000);
const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!url) throw new Error('set BENCH_DATABASE_URL or TEST_DATABASE_URL');

/** The `create or replace function sb_record_qiscus_room` statement of a functions.sql. */
async function recordFunctionOf(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  const start = text.indexOf('create or replace function sb_record_qiscus_room(');
  if (start < 0) throw new Error(`${path} has no sb_record_qiscus_room`);
  const end = text.indexOf('$$;', text.indexOf('$$', start) + 2);
  return text.slice(start, end + 3);
}

const RECORD = `select (o.room).*, o.created, o.logged from sb_record_qiscus_room($1::text, $2::text, $3::jsonb, $4::text, $5::timestamptz) o`;

async function main() {
  const scratch = await createScratchDatabase(url!, 'sb_bench_qrecord');
  const db = openPostgres({ connectionString: scratch.url, max: 2 });
  try {
    await migrate(db);
    const other = args.get('functions');
    if (other) await db.query(await recordFunctionOf(other));
    await db.close();
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const call = (room: string) =>
      client.query(RECORD, [room, `cust-${room}`, JSON.stringify({ id: `cust-${room}`, name: room, email: `${room}@example.test`, extras: { notes: null } }), '@qiscus', new Date()]);
    for (let i = 0; i < 300; i++) await call(`warm-${i}`);
    const cpu0 = processCpuSeconds(pid);
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) await call(`room-${i}`);
    const wall = performance.now() - t0;
    const cpu = processCpuSeconds(pid) - cpu0;
    // a re-sent webhook: the room is open already
    const again = processCpuSeconds(pid);
    for (let i = 0; i < 1000; i++) await call(`room-${i}`);
    const againCpu = processCpuSeconds(pid) - again;
    process.stdout.write(
      `sb_record_qiscus_room${other ? ` (from ${other})` : ''}: ${COUNT} new rooms, backend CPU ${((cpu * 1000) / COUNT).toFixed(3)} ms/call, wall ${(wall / COUNT).toFixed(3)} ms/call; ` +
        `1000 re-sent: ${againCpu.toFixed(2)} ms/call; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
    );
    await client.end();
  } finally {
    await scratch.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
