// `npx tsx bench/realtime-publish.ts` — what the real-time layer costs this
// process per new conversation, alone (issue #22, server CPU per create):
// the events of one open (conversation.created, conversation.assigned, as a
// real open on PGlite committed them) handed to the embedded broker's
// publisher --creates times, each with a conversation id of its own, with
// --subscribers MQTT clients on the supervisors' topic (0: nobody listens,
// as in bench/creates-http.ts). Prints the CPU of this process per create
// (process.cpuUsage over the replay, user + system), which a loaded machine
// disturbs less than a rate: the store is read only for the agent's name.
//
//   options: --creates=20000 --batch=50 --rounds=3 --subscribers=0
import mqtt from 'mqtt';
import { createServer } from 'node:http';
import { openConversation } from '../src/conversations/lifecycle.js';
import type { StoredEvent } from '../src/events/outbox.js';
import { loadRealtimeConfig } from '../src/realtime/config.js';
import { createRealtime } from '../src/realtime/index.js';
import { issueToken } from '../src/agents/tokens.js';
import { makeAgent } from '../test/helpers/fixtures.js';
import { openTestStore } from '../test/helpers/stores.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const CREATES = Number(arg('creates', '20000'));
const BATCH = Number(arg('batch', '50'));
const ROUNDS = Number(arg('rounds', '3'));
const SUBSCRIBERS = Number(arg('subscribers', '0'));

const store = await openTestStore('pglite');
const captured: StoredEvent[] = [];
const ctx = { db: store.db, now: () => new Date(), onCommitted: (events: readonly StoredEvent[]) => void captured.push(...events) };
const agent = await makeAgent(ctx as never, { status: 'online', capacity: 1 });
captured.length = 0;
await openConversation(ctx as never, { customer: { id: 'template' } });
const template = JSON.stringify(captured);
const templateId = (captured.find((e) => e.conversation_id)?.conversation_id)!;

const realtime = await createRealtime({
  ctx: { db: store.db, now: () => new Date() } as never,
  config: loadRealtimeConfig({}),
  sessionTtlSeconds: 3600,
  onError: (error, context) => console.error(context, error),
  sweepIntervalMs: 0,
  tokenRecheckMs: 0,
});

const clients: mqtt.MqttClient[] = [];
let received = 0;
let http: ReturnType<typeof createServer> | undefined;
if (SUBSCRIBERS > 0) {
  // the broker over WebSocket, as the server serves it at /mqtt
  const { WebSocketServer, createWebSocketStream } = await import('ws');
  http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/mqtt' });
  wss.on('connection', (socket, request) => realtime.broker.handle!(createWebSocketStream(socket), request));
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  const supervisor = await makeAgent(ctx as never, { role: 'supervisor' });
  const { token } = await issueToken(store.db, supervisor.id, new Date(), 3600);
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${port}/mqtt`, { username: 'switchboard', password: token, reconnectPeriod: 0 });
    client.on('message', () => void received++);
    await client.subscribeAsync(realtime.topics.supervisorEvents('conversations'), { qos: 1 });
    clients.push(client);
  }
}

// Every create's events, with its own conversation id, made before the clock starts.
const batches: StoredEvent[][][] = [];
for (let r = 0; r < ROUNDS; r++) {
  const round: StoredEvent[][] = [];
  for (let i = 0; i < CREATES; i++) {
    const id = `${templateId.slice(0, 24)}${(r * CREATES + i).toString(16).padStart(12, '0')}`;
    const events = JSON.parse(template.replaceAll(templateId, id)) as StoredEvent[];
    for (const e of events) e.created_at = new Date(e.created_at);
    round.push(events);
  }
  batches.push(round);
}

console.log(`agent ${agent.id.slice(0, 8)}, ${captured.map((e) => e.type).join(' + ')} per create, ${SUBSCRIBERS} subscriber(s) on the supervisors' topic`);
for (const round of batches) {
  received = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < round.length; i += BATCH) {
    for (const events of round.slice(i, i + BATCH)) realtime.onCommitted(events);
    await realtime.publisher.idle();
  }
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - started;
  console.log(
    `${round.length} creates in ${(ms / 1000).toFixed(2)} s: realtime CPU ${((cpu.user + cpu.system) / 1000 / round.length * 1000).toFixed(1)} µs/create (user ${(cpu.user / round.length).toFixed(1)}, system ${(cpu.system / round.length).toFixed(1)})${SUBSCRIBERS > 0 ? `, ${received} delivered` : ''}`,
  );
}
for (const client of clients) await client.endAsync();
await realtime.close();
http?.close();
await store.close();
