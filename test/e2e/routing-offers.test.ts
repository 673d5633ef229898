import assert from 'node:assert/strict';
import { it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium } from '../helpers/browser.js';
import { signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// Two routing modes of issue #20 at the desk, in a real browser: an offer
// shows with a countdown and Accept/Decline (accepting opens the chat), and
// a manual-pick department's waiting conversations carry a Pick button with
// which an agent takes one.

noteMissingChromium('test/e2e/routing-offers.test.ts');

describeEachStore('the desk: offers and manual pick in a real browser', (store) => {
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);
  const adminToken = async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Adele' });
    return (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
  };
  const open = async (token: string, name: string, department: string) => {
    const res = await http('POST', '/api/v1/conversations', { customer: { id: name.toLowerCase(), name }, department }, token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; state: string; agent_id: string | null };
  };

  it('an offer shows with a countdown; declining hands it on, accepting opens the chat', { skip: !haveChromium }, async () => {
    const admin = await adminToken();
    assert.equal((await http('PUT', '/api/v1/departments/sales/routing', { mode: 'offer', offer_timeout_s: 120 }, admin)).status, 200);
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, departments: ['sales'], name: 'Grace' });
    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);

    const olivia = await open(admin, 'Olivia', 'sales');
    const peter = await open(admin, 'Peter', 'sales');
    assert.deepEqual([olivia.state, peter.state], ['offered', 'offered']);
    const offers = desk.getByRole('region', { name: 'Offers' });
    const oliviaOffer = offers.getByTestId('offer').filter({ hasText: 'Olivia' });
    await oliviaOffer.waitFor();
    const seconds = async () => Number(/(\d+) s left to accept/.exec((await oliviaOffer.getByTestId('offer-countdown').textContent()) ?? '')?.[1]);
    const first = await seconds();
    // the desk's clock ticks each second: its first reading may be from just before the offer
    assert.ok(first > 100 && first <= 121, `a countdown from the offer's time (${first})`);
    await desk.waitForFunction(
      (before) => {
        const text = [...document.querySelectorAll('[data-testid="offer"]')].find((e) => e.textContent?.includes('Olivia'))?.querySelector('[data-testid="offer-countdown"]')?.textContent ?? '';
        const n = Number(/(\d+) s left/.exec(text)?.[1]);
        return n < before;
      },
      first,
      { timeout: 5000 },
    );

    await offers.getByRole('button', { name: 'Decline the chat with Peter' }).click();
    await offers.getByTestId('offer').filter({ hasText: 'Peter' }).waitFor({ state: 'detached' });
    const declined = await http('GET', `/api/v1/conversations/${peter.id}`, undefined, admin);
    assert.equal(declined.body.state, 'queued', 'nobody else can take it: it waits, at its place');

    await offers.getByRole('button', { name: 'Accept the chat with Olivia' }).click();
    await desk.waitForURL(`**/conversations/${olivia.id}`);
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    await desk.getByRole('region', { name: 'Offers' }).waitFor({ state: 'detached' });
    const accepted = await http('GET', `/api/v1/conversations/${olivia.id}`, undefined, admin);
    assert.equal(accepted.body.state, 'assigned');
    assert.equal(accepted.body.agent_id, agent.id);
    await desk.getByTestId('list-mine').getByText('Olivia').waitFor();
    assert.deepEqual(problems, []);
  });

  it('a manual-pick department lists its waiting conversations with Pick; an agent takes one, and is told when they have no room', { skip: !haveChromium }, async () => {
    const admin = await adminToken();
    assert.equal((await http('PUT', '/api/v1/departments/desk/routing', { mode: 'manual', manual_order: 'in_order' }, admin)).status, 200);
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 1, departments: ['desk'], name: 'Manny' });
    const quinn = await open(admin, 'Quinn', 'desk');
    const rita = await open(admin, 'Rita', 'desk');
    assert.deepEqual([quinn.state, rita.state], ['queued', 'queued'], 'nothing is assigned automatically');
    const { page: desk, problems } = await suite.openPage();
    await signIn(desk, suite.server.url, agent.email);
    await desk.getByTestId('tab-waiting').click();
    const waiting = desk.getByTestId('waiting');
    await waiting.getByTestId('pick-entry').filter({ hasText: 'Rita' }).waitFor();
    assert.equal(await waiting.getByTestId('pick-entry').count(), 2);

    await waiting.getByRole('button', { name: 'Pick the chat with Quinn' }).click();
    await desk.waitForURL(`**/conversations/${quinn.id}`);
    await desk.getByTestId('conversation-state').filter({ hasText: 'assigned' }).waitFor();
    const picked = await http('GET', `/api/v1/conversations/${quinn.id}`, undefined, admin);
    assert.equal(picked.body.agent_id, agent.id);

    await desk.getByTestId('tab-waiting').click();
    await waiting.getByTestId('pick-entry').filter({ hasText: 'Quinn' }).waitFor({ state: 'detached' });
    await waiting.getByRole('button', { name: 'Pick the chat with Rita' }).click();
    await waiting.getByRole('status').filter({ hasText: 'capacity' }).waitFor();
    assert.equal((await http('GET', `/api/v1/conversations/${rita.id}`, undefined, admin)).body.state, 'queued');
    // the refused pick's 409 is the browser's one expected console line
    assert.deepEqual(problems.filter((p) => !/status of 409/.test(p)), []);
  });
});
