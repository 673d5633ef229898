// Search on a big history (issue #17, item 5): p99 ≤ 100 ms with 1,000,000
// messages. Fills a scratch PostgreSQL database with 50,000 conversations of
// 20 messages (bench/search-data.ts), then runs searches one at a time as
// agents and as an admin, with varied words and filters, through the same
// function the route calls (src/search/search.ts; the HTTP layer adds about
// a millisecond on top).
//
//   npx tsx bench/search.ts [searches per kind of caller, default 300]
//
// PostgreSQL from BENCH_DATABASE_URL or TEST_DATABASE_URL; the scratch
// database is dropped at the end. BENCH_SEARCH_URL names an already filled
// database to search instead (it is neither filled nor dropped).
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import type { Actor } from '../src/agents/model.js';
import type { ConversationState } from '../src/conversations/model.js';
import { search, type SearchInput } from '../src/search/search.js';
import { migrate } from '../src/store/migrate.js';
import { openPostgres } from '../src/store/postgres.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { describeMachine } from './machine.js';
import { DEPARTMENTS, fillHistory, FIRST_NAMES, LAST_NAMES, WORDS } from './search-data.js';
import { summarize, type Latency } from './stats.js';

const SHAPE = { agents: 50, conversations: 50_000, messagesPerConversation: 20, transferredShare: 0.1 };
const TARGET_P99_MS = 100;
const WARM_UP = 30;

/** mulberry32: the same searches on every run. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'common word' | 'rarer word' | 'two words' | 'phrase' | 'or / -word' | 'tail word' | 'order number' | 'customer name' | 'customer email' | 'customer id' | 'no match';

function makeQuestions(rand: () => number, agentIds: string[], conversations: number, messagesPer: number) {
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const common = WORDS.slice(0, 12);
  const rarer = WORDS.slice(WORDS.length - 40);
  const kinds: [Kind, () => string][] = [
    ['common word', () => pick(common)],
    ['rarer word', () => pick(rarer)],
    ['two words', () => `${pick(common)} ${pick(rarer)}`],
    ['phrase', () => `"${pick(common)} ${pick(common)}"`],
    ['or / -word', () => `${pick(rarer)} or ${pick(rarer)} -${pick(common)}`],
    ['tail word', () => `sku${Math.floor(rand() ** 3 * 50_000)}`],
    ['order number', () => String(Math.floor(1 + rand() * conversations) * 100 + Math.floor(1 + rand() * messagesPer))],
    ['customer name', () => `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)}`],
    ['customer email', () => `customer${Math.floor(1 + rand() * conversations)}@mail.example`],
    ['customer id', () => `cust-${Math.floor(1 + rand() * conversations)}`],
    ['no match', () => `zq${Math.floor(rand() * 1e9)}`],
  ];
  const states: ConversationState[] = ['resolved', 'assigned'];
  return (admin: boolean): { kind: Kind; filtered: boolean; input: SearchInput } => {
    const [kind, make] = pick(kinds);
    const input: SearchInput = { q: make(), limit: 20, offset: rand() < 0.1 ? 20 : 0 };
    const filters = rand();
    // half without filters; the rest one or several, as a person narrows a search down
    if (filters >= 0.5) {
      if (rand() < 0.5) input.state = pick(states);
      if (rand() < 0.5) input.department = pick(DEPARTMENTS);
      if (rand() < 0.5) {
        const month = Math.floor(rand() * 12);
        input.from = new Date(Date.now() - (12 - month) * 30 * 86_400_000);
        input.to = new Date(input.from.getTime() + 30 * 86_400_000);
      }
      if (admin && rand() < 0.3) input.agent = pick(agentIds);
    }
    return { kind, filtered: filters >= 0.5, input };
  };
}

async function main(): Promise<void> {
  const perCaller = Number(process.argv[2] ?? 300);
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  const reuse = process.env.BENCH_SEARCH_URL;
  if (!adminUrl && !reuse) throw new Error('set BENCH_DATABASE_URL or TEST_DATABASE_URL to a PostgreSQL server');
  const machine = await describeMachine(adminUrl ?? reuse);
  const scratch = reuse ? undefined : await createScratchDatabase(adminUrl!, 'sb_bench_search');
  const db = openPostgres({ connectionString: reuse ?? scratch!.url, max: 2 });
  try {
    let fillSeconds: number | null = null;
    if (!reuse) {
      await migrate(db);
      const t = performance.now();
      process.stderr.write(`filling ${SHAPE.conversations} conversations × ${SHAPE.messagesPerConversation} messages…\n`);
      await fillHistory(db, SHAPE);
      fillSeconds = Math.round((performance.now() - t) / 100) / 10;
    }
    const [counts] = await db.query<{ messages: number; conversations: number; searchable: number }>(
      `select (select count(*) from messages)::int as messages, (select count(*) from conversations)::int as conversations,
              (select count(*) from message_search)::int as searchable`,
    );
    const agentIds = (await db.query<{ id: string }>(`select id from agents where role = 'agent' order by name`)).map((a) => a.id);
    const rand = random(20_261_123);
    const question = makeQuestions(rand, agentIds, counts!.conversations, SHAPE.messagesPerConversation);
    const admin: Actor = { id: null, role: 'admin' };

    const samples = { agent: [] as number[], admin: [] as number[] };
    const byKind = new Map<string, number[]>();
    const slowest: { ms: number; caller: string; kind: Kind; input: SearchInput; hits: number }[] = [];
    const load0 = loadavg()[0]!;
    // agent and admin searches interleaved, so both meet the same machine
    for (let i = 0; i < WARM_UP + perCaller * 2; i++) {
      const asAdmin = i % 2 === 1;
      const caller = asAdmin ? 'admin' : 'agent';
      const actor: Actor = asAdmin ? admin : { id: agentIds[Math.floor(rand() * agentIds.length)]!, role: 'agent' };
      const { kind, filtered, input } = question(asAdmin);
      const t = performance.now();
      const hits = await search(db, actor, input);
      const ms = performance.now() - t;
      if (i < WARM_UP) continue;
      samples[caller].push(ms);
      const key = `${caller} · ${kind}${filtered ? ' · filtered' : ''}`;
      byKind.set(key, [...(byKind.get(key) ?? []), ms]);
      slowest.push({ ms: Math.round(ms * 10) / 10, caller, kind, input, hits: hits.length });
      slowest.sort((a, b) => b.ms - a.ms).splice(8);
    }
    const load1 = loadavg()[0]!;
    const all = summarize([...samples.agent, ...samples.admin]);
    const result = {
      machine,
      loadavg_1m: { start: load0, end: load1 },
      data: { ...counts, ...SHAPE, fill_seconds: fillSeconds },
      target_p99_ms: TARGET_P99_MS,
      met: all.p99 <= TARGET_P99_MS,
      latency_ms: { all, agent: summarize(samples.agent), admin: summarize(samples.admin) },
      by_kind: Object.fromEntries([...byKind.entries()].sort().map(([k, v]) => [k, summarize(v)])) as Record<string, Latency>,
      slowest,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await db.close();
    await scratch?.drop();
  }
}

await main();
