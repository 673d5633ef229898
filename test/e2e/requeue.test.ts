import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// "Return to queue" at the desk, in a real browser: the conversation goes
// back to the queue at its place and the queue is drained at once
// (POST /api/v1/conversations/:id/requeue), so the default policy — least
// load, then idle longest (docs/routing.md, docs/architecture.md) — decides
// who has it next. The console shows what the server answered: the chat
// leaves the agent's hands when someone else got it, and stays, said so,
// when it came straight back to them. Only an assigned conversation has the
// button.

noteMissingChromium('test/e2e/requeue.test.ts');

interface Event {
  type: string;
  conversation_id: string | null;
  agent_id: string | null;
  data: { reason?: string; previous_agent_id?: string };
}

describeEachStore('the desk: return a conversation to the queue in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
  const login = async (email: string) => (await http('POST', '/api/v1/auth/login', { email, password: PASSWORD })).body.token as string;
  const open = async (token: string, name: string, department: string | null = null) => {
    const res = await http('POST', '/api/v1/conversations', { customer: { id: name.toLowerCase(), name }, department }, token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; state: string; agent_id: string | null };
  };
  /** the conversation's events, in the log's order */
  const eventsOf = async (admin: string, conversationId: string) =>
    ((await http('GET', '/api/v1/events?limit=1000', undefined, admin)).body as Event[]).filter((e) => e.conversation_id === conversationId);

  it('an agent returns a conversation to the queue: the less loaded colleague gets it, and a queued conversation has no such button', { skip: !haveChromium }, async () => {
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = await login(adminAgent.email);
    // Ann is alone online when Xavier and Yara write: she holds both
    const ann = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Ann' });
    const xavier = await open(admin, 'Xavier');
    const yara = await open(admin, 'Yara');
    assert.deepEqual([xavier.agent_id, yara.agent_id], [ann.id, ann.id]);
    // Bo comes online with room and nothing yet
    const bo = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Bo' });
    // nobody serves billing: this one waits
    const walter = await open(admin, 'Walter', 'billing');
    assert.equal(walter.state, 'queued');

    const { page: boDesk, problems: boProblems } = await suite.openPage();
    await signIn(boDesk, suite.server.url, bo.email);
    await boDesk.getByTestId('list-mine').getByText('No conversation assigned to you.').waitFor();

    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, ann.email);
    const mine = desk.getByTestId('list-mine');
    await mine.getByRole('link', { name: /Yara/ }).waitFor();
    await mine.getByRole('link', { name: /Xavier/ }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    const button = desk.getByTestId('requeue');
    assert.equal(await button.textContent(), 'Return to queue');

    const answered = desk.waitForResponse((r) => r.url().endsWith(`/api/v1/conversations/${xavier.id}/requeue`) && r.request().method() === 'POST');
    await button.click();
    assert.equal((await answered).status(), 200);
    // Xavier is back in the queue at once and drained: Ann (Yara, load 1)
    // against Bo (load 0) — the least load wins, so Bo has it, and Ann's
    // console leaves a chat that is no longer hers to read
    await desk.waitForURL(`${suite.server.url}/`);
    await mine.getByRole('link', { name: /Xavier/ }).waitFor({ state: 'detached' });
    await mine.getByRole('link', { name: /Yara/ }).waitFor();
    await boDesk.getByTestId('list-mine').getByRole('link', { name: /Xavier/ }).waitFor();

    const now = (await http('GET', `/api/v1/conversations/${xavier.id}`, undefined, admin)).body;
    assert.equal(now.state, 'assigned');
    assert.equal(now.agent_id, bo.id);
    assert.equal((await http('GET', `/api/v1/conversations/${xavier.id}`, undefined, await login(ann.email))).status, 403, 'no longer Ann’s to read');
    const events = await eventsOf(admin, xavier.id);
    const requeued = events.findIndex((e) => e.type === 'conversation.queued' && e.data.reason === 'requeued');
    assert.ok(requeued >= 0, `a conversation.queued event with reason requeued: ${JSON.stringify(events.map((e) => [e.type, e.data.reason]))}`);
    assert.equal(events[requeued]!.data.previous_agent_id, ann.id);
    const given = events.slice(requeued + 1).filter((e) => e.type === 'conversation.assigned');
    assert.deepEqual(
      given.map((e) => e.agent_id),
      [bo.id],
      'then assigned to Bo',
    );

    // an admin opens the waiting one: it is open (Resolve is there) but not assigned, so no Return to queue
    const { page: adminDesk, problems: adminProblems } = await suite.openPage();
    await signIn(adminDesk, suite.server.url, adminAgent.email);
    await adminDesk.getByTestId('tab-all').click();
    await adminDesk.getByTestId('list-all').getByRole('link', { name: /Walter/ }).click();
    await adminDesk.getByTestId('conversation-state').filter({ hasText: 'queued' }).waitFor();
    await adminDesk.getByTestId('resolve').waitFor();
    assert.equal(await adminDesk.getByTestId('requeue').count(), 0);
    // and Bo's own, for the admin, has it
    await adminDesk.getByTestId('list-all').getByRole('link', { name: /Xavier/ }).click();
    await adminDesk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    await adminDesk.getByTestId('requeue').waitFor();

    assert.deepEqual(problems, []);
    assert.deepEqual(boProblems, []);
    assert.deepEqual(adminProblems, []);
  });

  it('when the drain gives it straight back, the console keeps the chat and says so', { skip: !haveChromium }, async () => {
    const adminAgent = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    const admin = await login(adminAgent.email);
    // Bo is online but full (capacity 1, holding Zoe); Ann then takes Xavier
    const bo = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, name: 'Bo' });
    const zoe = await open(admin, 'Zoe');
    assert.equal(zoe.agent_id, bo.id);
    const ann = await makeAgent(suite.server.ctx, { status: 'online', capacity: 3, name: 'Ann' });
    const xavier = await open(admin, 'Xavier');
    assert.equal(xavier.agent_id, ann.id);

    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, ann.email);
    await desk.getByTestId('list-mine').getByRole('link', { name: /Xavier/ }).click();
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    await desk.getByTestId('requeue').waitFor();
    const answered = desk.waitForResponse((r) => r.url().endsWith(`/api/v1/conversations/${xavier.id}/requeue`) && r.request().method() === 'POST');
    await desk.getByTestId('requeue').click();
    const answer = await answered;
    assert.equal(answer.status(), 200);
    // the only agent with room is Ann herself: the drain gives it back to her in the same call
    assert.deepEqual(
      (({ state, agent_id }) => ({ state, agent_id }))((await answer.json()) as { state: string; agent_id: string }),
      { state: 'assigned', agent_id: ann.id },
    );
    await desk.getByTestId('requeue-came-back').filter({ hasText: 'given straight back to you' }).waitFor();
    assert.equal(await desk.getByTestId('conversation-state').textContent(), 'assigned');
    assert.ok(desk.url().endsWith(`/conversations/${xavier.id}`), 'the chat stays open');
    await desk.getByTestId('requeue').waitFor();
    assert.equal(await desk.getByTestId('requeue').isEnabled(), true);
    await desk.getByTestId('list-mine').getByRole('link', { name: /Xavier/ }).waitFor();

    const now = (await http('GET', `/api/v1/conversations/${xavier.id}`, undefined, admin)).body;
    assert.deepEqual([now.state, now.agent_id], ['assigned', ann.id]);
    const events = await eventsOf(admin, xavier.id);
    const requeued = events.findIndex((e) => e.type === 'conversation.queued' && e.data.reason === 'requeued');
    assert.ok(requeued >= 0, 'a conversation.queued event with reason requeued');
    assert.deepEqual(
      events
        .slice(requeued + 1)
        .filter((e) => e.type === 'conversation.assigned')
        .map((e) => e.agent_id),
      [ann.id],
    );
    assert.deepEqual(problems, []);
  });
});
