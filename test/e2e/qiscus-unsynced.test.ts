import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { AgentRow } from '../../src/agents/model.js';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { startFakeQiscus, qiscusEnv, type FakeQiscus } from '../helpers/fake-qiscus.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The console's Qiscus page shows a room resolved in Switchboard that Qiscus
// refused to resolve: the whole way, from Qiscus' webhook through the running
// allocator and outbox to the fake Qiscus' refusal, in Debian's Chromium.

noteMissingChromium('test/e2e/qiscus-unsynced.test.ts');

describeEachStore('console: a Qiscus room Qiscus would not resolve', (store) => {
  let fake: FakeQiscus;
  // before the server starts: its environment points at the fake
  before(async () => {
    if (haveChromium) fake = await startFakeQiscus();
  });
  after(async () => {
    await fake?.close();
  });
  const suite = browserServer(store, () => qiscusEnv(fake, { extra: { QISCUS_ALLOW_UNSIGNED_WEBHOOKS: 'true' } }));
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
  const until = async (done: () => boolean | Promise<boolean>, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!(await done())) {
      assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('an admin sees the room as unsynced, with Qiscus’ answer, while the conversation stays resolved', { skip: !haveChromium }, async () => {
    const admin: AgentRow = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    const token = (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
    fake.addAgents(1);
    fake.inject('/api/v1/admin/service/mark_as_resolved', { status: 403, body: { status: 403, errors: { message: 'You are not allowed to resolve this room' } } });
    const hook = await http('POST', '/api/v1/webhook/agent_allocation', { app_id: fake.appId, room_id: '4242', name: 'Dewi', email: 'dewi@example.test' });
    assert.equal(hook.status, 200, JSON.stringify(hook.body));
    await until(() => fake.assigned.some((a) => a.room_id === '4242'), 'the allocator assigned the room in Qiscus');
    const listed = await http('GET', '/api/v1/qiscus/rooms', undefined, token);
    const conversationId = (listed.body.rooms as { room_id: string; conversation_id: string }[]).find((r) => r.room_id === '4242')!.conversation_id;
    const resolved = await http('POST', `/api/v1/conversations/${conversationId}/resolve`, { note: 'sorted' }, token);
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    await until(async () => (await http('GET', '/api/v1/qiscus/rooms?status=unsynced', undefined, token)).body.rooms.length === 1, 'the refusal was recorded');

    const { page, problems } = await suite.openPage();
    await signIn(page, suite.server.url, admin.email);
    await page.getByTestId('tab-mine').waitFor();
    await page.getByRole('link', { name: 'Qiscus' }).click();
    await page.getByRole('radio', { name: 'unsynced' }).click();
    const rooms = page.getByTestId('qiscus-rooms');
    const row = rooms.locator('tbody tr', { has: page.getByRole('link', { name: '4242' }) });
    await row.waitFor();
    assert.equal(await row.locator('.badge').textContent(), 'unsynced');
    await row.getByText('Qiscus refused mark_as_resolved: HTTP 403 You are not allowed to resolve this room').waitFor();
    assert.equal(await rooms.locator('tbody tr').count(), 1);
    // the other filters no longer list it: it is closed in Switchboard
    await page.getByRole('radio', { name: 'assigned' }).click();
    await rooms.getByText('No assigned rooms.').waitFor();
    const [conversation] = await suite.server.ctx.db.query<{ state: string }>('select state from conversations where id = $1', [conversationId]);
    assert.equal(conversation!.state, 'resolved');
    assert.equal(fake.markedResolved.length, 0);
    assert.deepEqual(problems, []);
  });
});
