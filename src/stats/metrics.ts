import client from 'prom-client';
import type { StoredEvent } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';

/**
 * Prometheus metrics. Gauges are read from the store at scrape time, so every
 * process reports the same truth; counters count what this process did (sum
 * them across processes, as Prometheus usually does).
 */
export function createMetrics(db: Queryable, now: () => Date = () => new Date()) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });

  const events = new client.Counter({
    name: 'switchboard_events_total',
    help: 'Events committed by this process, by type',
    labelNames: ['type'],
    registers: [registry],
  });
  const assignments = new client.Counter({
    name: 'switchboard_assignments_total',
    help: 'Conversations assigned to an agent by this process',
    registers: [registry],
  });

  let snapshot: Promise<Snapshot> | undefined;
  // One query per scrape, shared by every gauge's collect().
  const read = () => (snapshot ??= readSnapshot(db, now()).finally(() => setTimeout(() => (snapshot = undefined), 0)));

  new client.Gauge({
    name: 'switchboard_queue_length',
    help: 'Conversations waiting for an agent',
    registers: [registry],
    async collect() {
      this.set((await read()).queued);
    },
  });
  new client.Gauge({
    name: 'switchboard_queue_longest_wait_seconds',
    help: 'How long the longest-waiting queued conversation has waited',
    registers: [registry],
    async collect() {
      this.set((await read()).longestWait);
    },
  });
  new client.Gauge({
    name: 'switchboard_conversations_assigned',
    help: 'Conversations currently assigned to an agent',
    registers: [registry],
    async collect() {
      this.set((await read()).assigned);
    },
  });
  new client.Gauge({
    name: 'switchboard_conversations_offered',
    help: 'Conversations currently offered to an agent and not yet accepted (offer mode); each holds a slot of its agent',
    registers: [registry],
    async collect() {
      this.set((await read()).offered);
    },
  });
  new client.Gauge({
    name: 'switchboard_agents',
    help: 'Agents by presence status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const s = await read();
      for (const status of ['online', 'away', 'offline'] as const) this.set({ status }, s.agents[status] ?? 0);
    },
  });

  return {
    registry,
    observe(committed: readonly StoredEvent[]) {
      for (const event of committed) {
        events.inc({ type: event.type });
        if (event.type === 'conversation.assigned') assignments.inc();
      }
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

interface Snapshot {
  queued: number;
  offered: number;
  assigned: number;
  longestWait: number;
  agents: Record<string, number>;
}

async function readSnapshot(db: Queryable, now: Date): Promise<Snapshot> {
  const [row] = await db.query<{ queued: number; offered: number; assigned: number; longest_wait: number | null; agents: Record<string, number> | null }>(
    `select
       (select count(*)::int from conversations where state = 'queued') as queued,
       (select count(*)::int from conversations where state = 'offered') as offered,
       (select count(*)::int from conversations where state = 'assigned') as assigned,
       (select extract(epoch from ($1::timestamptz - min(queued_at)))::float8 from conversations where state = 'queued') as longest_wait,
       (select jsonb_object_agg(status, n) from (select status, count(*)::int as n from agents where deleted_at is null group by status) s) as agents`,
    [now],
  );
  return { queued: row!.queued, offered: row!.offered, assigned: row!.assigned, longestWait: Math.max(0, row!.longest_wait ?? 0), agents: row!.agents ?? {} };
}
