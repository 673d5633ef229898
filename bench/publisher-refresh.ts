// `npx tsx bench/publisher-refresh.ts --store=postgres` — what one refresh of
// the realtime publisher's waiting list costs (issue #22, "cost as work
// grows"): the queue.changed page for agents and the widget customers'
// session/update, after a queue change, at each queue length. Per refresh:
// wall time, this process's CPU (the Node event loop that also answers the
// HTTP requests: row parsing, expected waits, JSON), and the time its
// statements took where they were sent.
//
// The store is made by SQL as bench/queue-listing.ts makes it (bench/backlog-seed.ts): --agents online
// agents at full capacity, then the queue grows to each of --lengths, one in
// five conversations in department "sales", one in --widget-every a widget
// customer's (the rest API rooms, as bench/growth.ts's backlog).
//
//   options: --store=postgres|pglite  --lengths=800,10800  --agents=1000
//            --samples=30  --widget-every=0 (0: none)  --list=1000
//            --churn=0 (1: before each refresh the queue's head leaves and a conversation is queued at
//            its end, untimed, as under a stream of resolves that hand their slots to the head)
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/store/db.js';
import type { StoredEvent } from '../src/events/outbox.js';
import { encodePayload } from '../src/realtime/payloads.js';
import { createPublisher } from '../src/realtime/publisher.js';
import { Assignments } from '../src/realtime/access.js';
import { topics } from '../src/realtime/topics.js';
import { openTestStore, type StoreKind } from '../test/helpers/stores.js';
import { queueBacklog, seedFullAgents, timedStatements } from './backlog-seed.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const store = arg('store', 'postgres') as StoreKind;
const lengths = arg('lengths', '800,10800').split(',').map(Number);
const agents = Number(arg('agents', '1000'));
const samples = Number(arg('samples', '30'));
const widgetEvery = Number(arg('widget-every', '0'));
const list = Number(arg('list', '1000'));
const churn = arg('churn', '0') === '1';

const p50 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor((s.length - 1) / 2)]! * 100) / 100;
};

async function fill(db: Db, from: number, to: number, analyze = true): Promise<void> {
  if (to <= from) return;
  const channel = widgetEvery > 0 ? `case when i % ${widgetEvery} = 0 then 'widget' else 'api' end` : `'api'`;
  await queueBacklog(db, from, to, { lastNumber: 100000, channel });
  if (store === 'postgres' && analyze) await db.exec('vacuum analyze conversations');
}

async function main(): Promise<void> {
  const s = await openTestStore(store);
  try {
    await seedFullAgents(s.db, agents);
    const statements = timedStatements(s.db);
    const db = statements.db;
    let bytes = 0;
    let messages = 0;
    const publisher = createPublisher({
      ctx: { db, now: () => new Date() } as never,
      topics: topics('sb'),
      assignments: new Assignments(),
      publish: async (_topic, payload) => {
        // the broker's encode (the JSON the publisher made, or JSON.stringify): its cost is the publisher's too
        bytes += encodePayload(payload).length;
        messages++;
      },
      onError: (error) => {
        throw error;
      },
      queueDebounceMs: 0,
      // each refresh timed alone, not the gathering that spaces refreshes on a server
      queueRefreshSpacing: 0,
      queueRefreshGapMs: 0,
      waitingListLimit: list,
    });
    const change = [{ type: 'agent.status_changed', agent_id: null, conversation_id: null, data: {}, created_at: new Date().toISOString() }] as unknown as StoredEvent[];
    console.log(`[${store}] ${agents} agents, list ${list}, widget customers ${widgetEvery > 0 ? `1 in ${widgetEvery}` : 'none'}${churn ? ', the head replaced before each refresh' : ''}; p50 of ${samples} refreshes, ms`);
    let filled = 0;
    for (const length of lengths) {
      await fill(s.db, filled, length);
      filled = length;
      const wall: number[] = [];
      const cpu: number[] = [];
      const sql: number[] = [];
      for (let i = 0; i <= samples; i++) {
        if (churn) {
          await s.db.query(`delete from conversations where id = (select id from conversations where state = 'queued' order by priority desc, seq limit 1)`);
          await fill(s.db, filled, filled + 1, false);
          filled++;
        }
        statements.reset();
        bytes = 0;
        messages = 0;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        publisher.onCommitted(change);
        await publisher.idle();
        const t = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (i === 0) continue; // warm: plans, and the first refresh tells every widget customer
        wall.push(t);
        cpu.push((c.user + c.system) / 1000);
        sql.push(statements.ms());
      }
      console.log(`  ${length} queued: refresh ${p50(wall)} wall, ${p50(cpu)} Node CPU, statements ${p50(sql)}; last: ${messages} publishes, ${Math.round(bytes / 1024)} KiB`);
    }
    publisher.close();
  } finally {
    await s.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
