// The embedded broker's book of connections (src/realtime/connections.ts),
// between a CONNECT's token check and the broker's registering the client:
// a token ended then (a logout, DELETE /session) must close that connection
// too, or it is served until the next re-check.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Client } from 'aedes';
import type { Ctx } from '../../src/context.js';
import { createConnections } from '../../src/realtime/connections.js';
import type { Identity } from '../../src/realtime/identity.js';

function fakeClient(id: string): Client & { closes: number } {
  const client = {
    id,
    clean: true,
    closed: false,
    closes: 0,
    conn: { destroyed: false, once: () => undefined },
    close() {
      client.closes += 1;
      client.closed = true;
    },
  };
  return client as unknown as Client & { closes: number };
}

const ctx = { now: () => new Date('2026-11-29T10:00:00Z') } as unknown as Ctx;
const customer = (conversationId: string) => ({ kind: 'customer', session: { conversation_id: conversationId } }) as unknown as Identity;
const later = new Date('2026-11-29T22:00:00Z');

it('a token ended while its connection is being registered closes that connection too, and only those made with it', () => {
  const connections = createConnections(ctx);
  const connecting = fakeClient('c1-widget-a');
  const registered = fakeClient('c1-widget-b');
  const otherToken = fakeClient('c2-widget');
  assert.equal(connections.admit(connecting, customer('c1'), 'token-1', later), 'ok');
  assert.equal(connections.admit(registered, customer('c1'), 'token-1', later), 'ok');
  assert.equal(connections.admit(otherToken, customer('c2'), 'token-2', later), 'ok');
  connections.ready(registered);
  // `connecting` has passed its token check; the broker has not said 'client' for it yet
  assert.equal(connections.endToken('token-1'), 2);
  assert.deepEqual([connecting.closes, registered.closes, otherToken.closes], [1, 1, 0]);
  assert.equal(connections.usable(connecting), false, 'nothing is delivered to it meanwhile');
  assert.equal(connections.usable(otherToken), true);
  connections.close();
});

it("an offline persistent session the broker fails to forget stays bound and is tried again; while it is being forgotten its id is not resumed", async () => {
  let attempt = 0;
  let release: (() => void) | undefined;
  const forgetSession = async () => {
    attempt += 1;
    if (attempt === 1) throw new Error('persistence unavailable');
    await new Promise<void>((resolve) => (release = resolve));
  };
  // no token is live any more: every offline session is to be forgotten
  const deadTokens = { ...ctx, db: { query: async () => [] } } as unknown as Ctx;
  const connections = createConnections(deadTokens, { forgetSession });
  const tab = Object.assign(fakeClient('c1-kept'), { clean: false });
  assert.equal(connections.admit(tab, customer('c1'), 'token-1', later), 'ok');
  connections.ready(tab);
  connections.gone(tab);

  await assert.rejects(connections.recheck(), /persistence unavailable/);
  assert.equal(connections.admit(fakeClient('c1-kept'), customer('c2'), 'token-2', later), 'taken', 'still bound: not forgotten');

  const second = connections.recheck();
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(release, 'forgetting');
  const back = Object.assign(fakeClient('c1-kept'), { clean: false });
  assert.equal(connections.admit(back, customer('c1'), 'token-1', later), 'full', 'not resumed while being forgotten');
  release!();
  assert.equal(await second, 0);
  assert.equal(connections.admit(fakeClient('c1-kept'), customer('c2'), 'token-2', later), 'ok', 'forgotten: the id is free');
  connections.close();
});
