// The store bench/queue-listing.ts and bench/publisher-refresh.ts measure,
// made by SQL as bench/growth.ts leaves it at its largest: agents online at
// full capacity (so every wait is estimated), 100 resolved conversations for
// the handle time, and a backlog queued a second apart, one in five in
// department "sales". Also how long a store's statements take where they are
// sent.
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/store/db.js';

/** `agents` online agents at full capacity (one in five in "sales") and 100 conversations they resolved. */
export async function seedFullAgents(db: Db, agents: number): Promise<void> {
  await db.exec(`
    insert into agents (name, email, password_hash, role, status, capacity, load, departments, created_at, updated_at)
    select 'Agent ' || i, 'agent' || i || '@bench.test', 'x', 'agent', 'online', 20, 20,
           case when i % 5 = 0 then '{sales}'::text[] else '{}' end, now(), now()
      from generate_series(1, ${agents}) as i;
    insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, assigned_at, resolved_at, resolve_reason, updated_at)
    select 'api', 'past-' || i, jsonb_build_object('id', 'past-' || i), 'resolved', (select id from agents limit 1),
           now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', now() - interval '50 minutes', 'agent', now()
      from generate_series(1, 100) as i;`);
}

/**
 * Queues backlog conversations number `from` + 1 to `to`, number i queued
 * `lastNumber` - i seconds ago; `channel` is an SQL expression in i (default
 * every one an API room).
 */
export async function queueBacklog(db: Db, from: number, to: number, options: { lastNumber: number; channel?: string }): Promise<void> {
  if (to <= from) return;
  await db.exec(`
    insert into conversations (channel, customer_id, customer, state, department, created_at, queued_at, updated_at)
    select ${options.channel ?? `'api'`}, 'backlog-' || i, jsonb_build_object('id', 'backlog-' || i, 'name', 'Waiting customer ' || i), 'queued',
           case when i % 5 = 0 then 'sales' end, now() - make_interval(secs => ${options.lastNumber} - i), now() - make_interval(secs => ${options.lastNumber} - i), now()
      from generate_series(${from + 1}, ${to}) as i`);
}

/** `db` with its statements timed where they are sent: `ms()` is their total since the last `reset()`. */
export function timedStatements(db: Db): { db: Db; ms(): number; reset(): void } {
  let total = 0;
  const timed = Object.create(db) as Db;
  timed.query = async (...args: Parameters<Db['query']>) => {
    const t0 = performance.now();
    try {
      return await db.query(...args);
    } finally {
      total += performance.now() - t0;
    }
  };
  return {
    db: timed,
    ms: () => total,
    reset: () => {
      total = 0;
    },
  };
}
