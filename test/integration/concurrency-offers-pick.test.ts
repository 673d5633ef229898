// Offers and manual pick under concurrency, across real processes (issue #20
// items 5 and 6): two `switchboard serve` processes on one PostgreSQL
// database; many agents click pick on the same conversations at once, and
// accept (twice, from both processes), decline, and answer other agents'
// offers at once, while resolves free slots. Checked: every conversation is
// taken by exactly one click, every refusal is one of the documented 4xx,
// nobody is ever over capacity (consistent snapshots during the run), and
// the promises hold at the end (invariantViolations: load = assigned +
// offered, no double assignment in the event log).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { call, loginAdmin, SERVER_ENV, STARTUP_TIMEOUT_MS, type Reply } from '../helpers/load.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { openTestStore, storeKinds, type TestStore } from '../helpers/stores.js';

interface Clicker {
  id: string;
  token: string;
  capacity: number;
}

const PICK_CONVERSATIONS = 24;
const OFFER_CONVERSATIONS = 24;

describe('offers and manual pick across processes', () => {
  for (const kind of storeKinds().filter((k) => k === 'postgres')) {
    describe(`[${kind}]`, () => {
      const servers: ServerProcess[] = [];
      let store: TestStore | undefined;
      after(async () => {
        await Promise.all(servers.map((s) => s.kill()));
        await store?.close();
      });

      it('two processes: each conversation is picked or accepted once, nobody goes over capacity', async (t) => {
        store = await openTestStore('postgres', { poolSize: 4 });
        const db = store.db;
        servers.push(
          ...(await Promise.all([0, 1].map(() => startServerProcess({ env: { ...SERVER_ENV, DATABASE_URL: store!.url!, DATA_DIR: undefined }, timeoutMs: STARTUP_TIMEOUT_MS })))),
        );
        const urls = servers.map((s) => s.url);
        const on = (i: number) => urls[i % urls.length]!;
        const admin = await loginAdmin(urls[0]!);
        const ok = (r: Reply, what: string, status = 200) => assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
        ok(
          await call(urls[0]!, 'PATCH', '/api/v1/settings', {
            token: admin,
            body: { attendant_keep_alive_ms: Number(SERVER_ENV.ATTENDANT_KEEP_ALIVE_TIME), agent_offline_grace_ms: Number(SERVER_ENV.AGENT_OFFLINE_GRACE) },
          }),
          'settings',
        );
        ok(await call(urls[0]!, 'PUT', '/api/v1/departments/desk/routing', { token: admin, body: { mode: 'manual', manual_order: 'any' } }), 'desk routing');
        ok(await call(urls[1]!, 'PUT', '/api/v1/departments/offers/routing', { token: admin, body: { mode: 'offer', offer_timeout_s: 3600 } }), 'offers routing');

        const makeAgents = (department: string, n: number) =>
          Promise.all(
            Array.from({ length: n }, async (_, i): Promise<Clicker> => {
              const email = `${department}${i}@offers.test`;
              const capacity = 1 + (i % 2);
              const created = await call(on(i), 'POST', '/api/v1/agents', {
                token: admin,
                body: { name: `${department} ${i}`, email, password: 'agent-password-1', role: 'agent', capacity, departments: [department] },
              });
              ok(created, 'create agent', 201);
              const session = await call(on(i + 1), 'POST', '/api/v1/auth/login', { body: { email, password: 'agent-password-1' } });
              ok(session, 'login');
              ok(await call(on(i + 1), 'PATCH', '/api/v1/agents/me', { token: session.body.token, body: { status: 'online' } }), 'online');
              return { id: created.body.id, token: session.body.token, capacity };
            }),
          );
        const pickers = await makeAgents('desk', 8);
        const offerees = await makeAgents('offers', 8);

        // Snapshots during the run: nobody over capacity at any commit.
        let monitoring = true;
        const seen: string[] = [];
        let samples = 0;
        const monitor = (async () => {
          while (monitoring) {
            const problems = await db.transaction(async (tx) => {
              await tx.query('set transaction isolation level repeatable read');
              return (await overCapacity(tx)).map((a) => `agent ${a.id} holds ${a.load} of ${a.capacity}`);
            });
            seen.push(...problems);
            samples += 1;
            await new Promise((r) => setTimeout(r, 20));
          }
        })();

        // ---- manual pick: every picker clicks every waiting conversation at once
        const opened = await Promise.all(
          Array.from({ length: PICK_CONVERSATIONS }, (_, i) =>
            call(on(i), 'POST', '/api/v1/conversations', { token: admin, body: { customer: { id: `pick-${i}` }, department: 'desk' } }),
          ),
        );
        for (const r of opened) {
          ok(r, 'open desk', 201);
          assert.equal(r.body.state, 'queued', 'manual mode: nothing assigned automatically');
        }
        const winners = new Map<string, string>();
        const refusals = new Map<string, number>();
        const holding = new Map<string, string[]>(pickers.map((p) => [p.id, []]));
        for (let round = 0; winners.size < PICK_CONVERSATIONS && round < 60; round += 1) {
          const waiting = opened.map((r) => r.body.id as string).filter((id) => !winners.has(id)).slice(0, 3);
          const clicks = waiting.flatMap((id) => pickers.map((p, i) => ({ id, p, server: on(i + round) })));
          // resolves free slots while the clicks race
          const resolves = [...holding.entries()].flatMap(([agentId, ids]) => {
            if (ids.length === 0 || round % 2 === 1) return [];
            const picker = pickers.find((p) => p.id === agentId)!;
            const id = ids.shift()!;
            return [call(on(round), 'POST', `/api/v1/conversations/${id}/resolve`, { token: picker.token, body: {} }).then((r) => ok(r, 'resolve'))];
          });
          const answers = await Promise.all(clicks.map(async (c) => ({ ...c, r: await call(c.server, 'POST', `/api/v1/conversations/${c.id}/pick`, { token: c.p.token, body: {} }) })));
          await Promise.all(resolves);
          for (const { id, p, r } of answers) {
            if (r.status === 200) {
              assert.ok(!winners.has(id), `conversation ${id} was picked twice (by ${winners.get(id)} and ${p.id})`);
              assert.equal(r.body.agent_id, p.id);
              winners.set(id, p.id);
              holding.get(p.id)!.push(id);
            } else {
              assert.equal(r.status, 409, JSON.stringify(r.body));
              assert.ok(['SB_ALREADY_TAKEN', 'SB_NO_ROOM'].includes(r.body.error.code), JSON.stringify(r.body));
              refusals.set(r.body.error.code, (refusals.get(r.body.error.code) ?? 0) + 1);
            }
          }
        }
        assert.equal(winners.size, PICK_CONVERSATIONS, 'every conversation was picked');
        assert.ok((refusals.get('SB_ALREADY_TAKEN') ?? 0) > 0, 'clicks raced on the same conversations');
        const pickedEvents = await db.query<{ conversation_id: string; n: number; agent: string }>(
          `select conversation_id, count(*)::int as n, min(agent_id::text) as agent from events
            where type = 'conversation.assigned' and (data ->> 'picked')::boolean group by conversation_id`,
        );
        assert.equal(pickedEvents.length, PICK_CONVERSATIONS);
        for (const e of pickedEvents) {
          assert.equal(e.n, 1, `conversation ${e.conversation_id} assigned once`);
          assert.equal(e.agent, winners.get(e.conversation_id));
        }
        t.diagnostic(`pick: ${JSON.stringify(Object.fromEntries(refusals))}`);

        // ---- offers: double accepts from both processes, declines, strangers' answers
        const offered = await Promise.all(
          Array.from({ length: OFFER_CONVERSATIONS }, (_, i) =>
            call(on(i), 'POST', '/api/v1/conversations', { token: admin, body: { customer: { id: `offer-${i}` }, department: 'offers' } }),
          ),
        );
        for (const r of offered) ok(r, 'open offers', 201);
        const ids = offered.map((r) => r.body.id as string);
        const accepted = new Map<string, string>();
        let declines = 0;
        for (let round = 0; accepted.size < OFFER_CONVERSATIONS && round < 80; round += 1) {
          const mine = await Promise.all(
            offerees.map(async (a, i) => {
              const list = await call(on(i + round), 'GET', `/api/v1/conversations?state=offered&agent=${a.id}`, { token: a.token });
              ok(list, 'list offers');
              return { a, i, offers: list.body as { id: string; agent_id: string }[] };
            }),
          );
          const work: Promise<void>[] = [];
          for (const { a, i, offers } of mine) {
            for (const [n, offer] of offers.entries()) {
              const stranger = offerees[(i + 1) % offerees.length]!;
              const strangerTry = call(on(i), 'POST', `/api/v1/conversations/${offer.id}/accept`, { token: stranger.token, body: {} });
              if ((round + n + i) % 4 === 0 && declines < OFFER_CONVERSATIONS) {
                declines += 1;
                work.push(
                  Promise.all([call(on(i + 1), 'POST', `/api/v1/conversations/${offer.id}/decline`, { token: a.token, body: {} }), strangerTry]).then(async ([mineR, other]) => {
                    ok(mineR, 'decline');
                    // The decline hands the conversation to the next agent, who
                    // may be this very "stranger": then their accept is theirs to win.
                    if (other.status === 200) {
                      assert.equal(other.body.agent_id, stranger.id, `a stranger's accept: ${JSON.stringify(other.body)}`);
                      assert.ok(!accepted.has(offer.id), `conversation ${offer.id} accepted twice`);
                      accepted.set(offer.id, stranger.id);
                      ok(await call(on(i), 'POST', `/api/v1/conversations/${offer.id}/resolve`, { token: stranger.token, body: {} }), 'resolve');
                      return;
                    }
                    assert.ok([403, 409].includes(other.status), `a stranger's accept: ${JSON.stringify(other.body)}`);
                  }),
                );
                continue;
              }
              // the same agent's accept, twice at once, one on each process
              work.push(
                Promise.all([
                  call(on(0), 'POST', `/api/v1/conversations/${offer.id}/accept`, { token: a.token, body: {} }),
                  call(on(1), 'POST', `/api/v1/conversations/${offer.id}/accept`, { token: a.token, body: {} }),
                  strangerTry,
                ]).then(async ([x, y, other]) => {
                  const wins = [x, y].filter((r) => r.status === 200);
                  assert.ok(wins.length <= 1, `accepted twice: ${JSON.stringify([x.body, y.body])}`);
                  for (const r of [x, y]) if (r.status !== 200) assert.equal(r.body.error.code, 'SB_NOT_OFFERED', JSON.stringify(r.body));
                  assert.ok([403, 409].includes(other.status), `a stranger's accept: ${JSON.stringify(other.body)}`);
                  if (wins.length === 1) {
                    assert.ok(!accepted.has(offer.id), `conversation ${offer.id} accepted twice`);
                    accepted.set(offer.id, a.id);
                    ok(await call(on(i), 'POST', `/api/v1/conversations/${offer.id}/resolve`, { token: a.token, body: {} }), 'resolve');
                  }
                }),
              );
            }
          }
          await Promise.all(work);
          // a conversation every agent declined waits for a supervisor: move it back into play
          const stranded = await db.query<{ id: string }>(`select id from conversations where department = 'offers' and state = 'queued' and cardinality(declined_by) >= 2`);
          for (const s of stranded) ok(await call(on(round), 'POST', `/api/v1/conversations/${s.id}/transfer`, { token: admin, body: { department: 'offers' } }), 'transfer');
        }
        monitoring = false;
        await monitor;
        assert.equal(accepted.size, OFFER_CONVERSATIONS, `every offered conversation was accepted (${accepted.size})`);
        assert.ok(declines > 0);
        const assignedEvents = await db.query<{ conversation_id: string; n: number }>(
          `select conversation_id, count(*)::int as n from events where type = 'conversation.assigned' and conversation_id = any ($1::uuid[]) group by conversation_id`,
          [ids],
        );
        assert.equal(assignedEvents.length, OFFER_CONVERSATIONS);
        for (const e of assignedEvents) assert.equal(e.n, 1, `conversation ${e.conversation_id} accepted once`);

        assert.ok(samples > 0, 'the snapshot monitor ran');
        assert.deepEqual(seen, [], 'nobody over capacity at any snapshot');
        assert.deepEqual(await invariantViolations(db), []);
        assert.deepEqual(await overCapacity(db), []);
        t.diagnostic(`offers: ${declines} declines, ${samples} snapshots`);
      });
    });
  }
});
