// Per-department routing settings (issue #20): GET/PUT
// /api/v1/departments/:name/routing. An admin changes what they name; the
// rest keeps its value; everyone signed in reads the effective settings.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

const DEFAULTS = {
  mode: 'auto',
  sticky_window_s: 0,
  sticky_wait_s: 0,
  offer_timeout_s: 30,
  offer_expiries_before_away: 3,
  manual_order: 'in_order',
  overflow: [],
  aging_per_min: 0,
  sla_first_response_s: null,
  required_skills: {},
  skills_relax_after_s: null,
};

describeEachStore('api: department routing settings', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const url = (name: string) => `/api/v1/departments/${encodeURIComponent(name)}/routing`;
  const put = (token: string, name: string, body: unknown) => k.call('PUT', url(name), { token, body });

  it('answers 401 without a valid token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'GET', url: url('sales') },
      { method: 'PUT', url: url('sales'), body: { mode: 'offer' } },
    ]);
  });

  it('a department nobody configured routes by the defaults, and says so', async () => {
    const { agent } = await k.cast();
    const res = await k.call('GET', url('sales'), { token: agent.token });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { department: 'sales', ...DEFAULTS });
  });

  it('an admin sets the fields they send and keeps the others; agents read the result', async () => {
    const { admin, agent } = await k.cast();
    const first = await put(admin.token, 'sales', {
      mode: 'offer',
      sticky_window_s: 86_400,
      offer_timeout_s: 20,
      overflow: [{ after_s: 60, to: 'support' }, { after_s: 300, to: 'billing' }],
      aging_per_min: 0.5,
      sla_first_response_s: 120,
      required_skills: { spanish: 2 },
    });
    assert.equal(first.statusCode, 200, first.body);
    const second = await put(admin.token, 'sales', { mode: 'manual', manual_order: 'any', sla_first_response_s: null });
    assert.equal(second.statusCode, 200, second.body);
    const expected = {
      department: 'sales',
      ...DEFAULTS,
      mode: 'manual',
      manual_order: 'any',
      sticky_window_s: 86_400,
      offer_timeout_s: 20,
      overflow: [{ after_s: 60, to: 'support' }, { after_s: 300, to: 'billing' }],
      aging_per_min: 0.5,
      required_skills: { spanish: 2 },
    };
    assert.deepEqual(second.json(), expected);
    assert.deepEqual((await k.call('GET', url('sales'), { token: agent.token })).json(), expected);
    // another department is untouched
    assert.deepEqual((await k.call('GET', url('support'), { token: agent.token })).json(), { department: 'support', ...DEFAULTS });
  });

  it('refuses non-admins and bad settings with the field named, and changes nothing', async () => {
    const { admin, supervisor, agent } = await k.cast();
    assert.equal((await put(admin.token, 'sales', { overflow: [{ after_s: 60, to: 'support' }] })).statusCode, 200);
    await k.unchanged(async () => {
      expectError(await put(agent.token, 'sales', { mode: 'offer' }), 403, 'SB_FORBIDDEN');
      expectError(await put(supervisor.token, 'sales', { mode: 'offer' }), 403, 'SB_FORBIDDEN');
      expectInvalid(await put(admin.token, 'sales', { mode: 'roundrobin' }), 'mode');
      expectInvalid(await put(admin.token, 'sales', { offer_timeout_s: 2 }), 'offer_timeout_s');
      expectInvalid(await put(admin.token, 'sales', { sticky_window_s: -1 }), 'sticky_window_s');
      expectInvalid(await put(admin.token, 'sales', { aging_per_min: 'fast' }), 'aging_per_min');
      expectInvalid(await put(admin.token, 'sales', { required_skills: { spanish: 0 } }), 'required_skills.spanish');
      expectInvalid(await put(admin.token, 'sales', { required_skills: { 'Spanish Language': 1 } }), 'required_skills.Spanish Language');
      expectInvalid(await put(admin.token, 'sales', { unknown_knob: 1 }), 'unknown_knob');
      expectInvalid(await put(admin.token, 'sales', { overflow: [{ after_s: 30, to: 'sales' }] }), 'overflow[0].to');
      expectInvalid(await put(admin.token, 'sales', { overflow: [{ after_s: 30, to: 'a' }, { after_s: 60, to: 'a' }] }), 'overflow[1].to');
      expectInvalid(await put(admin.token, 'sales', { overflow: [{ after_s: 90, to: 'a' }, { after_s: 60, to: 'b' }] }), 'overflow[1].after_s');
    });
    assert.deepEqual((await k.call('GET', url('sales'), { token: admin.token })).json().overflow, [{ after_s: 60, to: 'support' }]);
  });

  it('refuses an empty change and a blank department with 400 naming the field: no row is stored, no settings.changed is told (found by review)', async () => {
    const { admin } = await k.cast();
    const emptySettings = await k.call('PATCH', '/api/v1/settings', { token: admin.token, body: {} });
    const written = async () => [await k.count('department_routing'), await k.count('events', "type = 'settings.changed'")];
    const before = await written();
    await k.unchanged(async () => {
      const empty = await put(admin.token, 'sales', {});
      expectInvalid(empty, 'body');
      // as PATCH /settings refuses its empty body
      assert.equal(empty.json().error.message, emptySettings.json().error.message);
      for (const blank of [' ', '   ', '\u200b', '\u3164']) {
        const res = await put(admin.token, blank, { mode: 'offer' });
        expectInvalid(res, 'name', JSON.stringify(blank));
        assert.equal(res.json().error.message, 'params name must not be blank');
        expectInvalid(await put(admin.token, 'sales', { overflow: [{ after_s: 60, to: blank }] }), 'overflow.0.to', `overflow to ${JSON.stringify(blank)}`);
      }
    });
    assert.deepEqual(await written(), before);
    // a name with spaces around it is a name; reading a blank one (stored before the rule) still answers
    assert.equal((await put(admin.token, ' sales ', { mode: 'offer' })).statusCode, 200);
    assert.equal((await k.call('GET', url(' '), { token: admin.token })).statusCode, 200);
  });
});
