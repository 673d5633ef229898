// Issue #18, items 7 and 8: the widget's look (GET/PUT
// /api/v1/widget-settings) and proactive greetings (CRUD /api/v1/greetings,
// the widget's reports POST /api/v1/greetings/:id/events, and GET
// /api/v1/reports/greetings). Bad input is a 400 naming the field and changes
// nothing; a visitor counts once per greeting and kind, whatever is posted.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { contrastRatio, textColorOn } from '../../src/appearance/contrast.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { makeAgent } from '../helpers/fixtures.js';
import { appOnClock } from '../helpers/app-on-clock.js';
import { describeEachStore } from '../helpers/stores.js';

const LOOK = { color: '#FFD400', position: 'bottom-left', launcher_text: ' Questions? ', title: 'Ask the shop', show_agent_avatars: false };
const DEFAULT_LOOK = { color: '#2457c5', text_color: '#ffffff', position: 'bottom-right', launcher_text: 'Chat with us', title: 'Chat with us', show_agent_avatars: true };
const GREETING = { name: 'Pricing help', message: 'Questions about our plans?', trigger: { after_seconds: 5, url_pattern: '/pricing*' } };
const VISITOR = 'v-3f1c9a7e-visitor';

describeEachStore('widget appearance and greetings', (store) => {
  const { clock, ctx, inject } = appOnClock(store, Date.parse('2026-03-01T09:00:00Z'));

  type Res = { statusCode: number; body: string; headers: Record<string, unknown>; json(): any };
  const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, options: { token?: string; body?: unknown; ip?: string } = {}): Promise<Res> =>
    inject({
      method,
      url,
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      ...(options.ip ? { remoteAddress: options.ip } : {}),
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
    }) as Promise<Res>;
  const user = async (role: 'admin' | 'supervisor' | 'agent') => {
    const agent = await makeAgent(ctx(), { role });
    return { agent, token: (await issueToken(store().db, agent.id, clock.now(), 3600)).token };
  };
  const expect400 = (res: Res, field: string, message: RegExp) => {
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.code, 'SB_VALIDATION', res.body);
    assert.equal(res.json().error.field, field, res.body);
    assert.match(res.json().error.message, message);
  };
  const stored = async () => (await store().db.query<{ look: string | null; greetings: string }>(
    `select (select row_to_json(w)::text from widget_appearance w) as look,
            (select coalesce(json_agg(g order by g.id), '[]')::text from greetings g) as greetings`,
  ))[0]!;

  it('serves the default look publicly, with CORS for the host page, until an admin changes it', async () => {
    const res = await call('GET', '/api/v1/widget-settings');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { ...DEFAULT_LOOK, greetings: [] });
    assert.equal(res.headers['access-control-allow-origin'], '*', 'the loader reads it from any site');

    const admin = await user('admin');
    const put = await call('PUT', '/api/v1/widget-settings', { token: admin.token, body: LOOK });
    assert.equal(put.statusCode, 200, put.body);
    // colour lowercased, texts trimmed, and dark text on a light yellow
    const expected = { color: '#ffd400', text_color: '#000000', position: 'bottom-left', launcher_text: 'Questions?', title: 'Ask the shop', show_agent_avatars: false, greetings: [] };
    assert.deepEqual(put.json(), expected);
    assert.deepEqual((await call('GET', '/api/v1/widget-settings')).json(), expected);
    const [event] = await store().db.query<{ data: { changed: { widget_appearance: { color: string } }; by: string } }>(
      "select data from events where type = 'settings.changed' order by id desc limit 1",
    );
    assert.equal(event!.data.changed.widget_appearance.color, '#ffd400');
    assert.equal(event!.data.by, admin.agent.id);
  });

  it('picks the text colour that reaches WCAG AA contrast on any colour', () => {
    for (const color of ['#000000', '#ffffff', '#777777', '#767676', '#2457c5', '#ffd400', '#00ff00', '#ff0000', '#0000ff', '#808080']) {
      const ratio = contrastRatio(color, textColorOn(color));
      assert.ok(ratio >= 4.5, `${color} with ${textColorOn(color)}: ${ratio.toFixed(2)}:1`);
    }
    assert.equal(textColorOn('#2457c5'), '#ffffff');
    assert.equal(textColorOn('#ffd400'), '#000000');
    assert.ok(Math.abs(contrastRatio('#000000', '#ffffff') - 21) < 1e-9);
  });

  it('refuses a bad look with 400 naming the field, lets only admins change it, and keeps it as it was', async () => {
    const admin = await user('admin');
    assert.equal((await call('PUT', '/api/v1/widget-settings', { token: admin.token, body: LOOK })).statusCode, 200);
    const before = await stored();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...LOOK, color: 'red' }, 'color', /hex colour like #2457c5/],
      [{ ...LOOK, color: '#fff' }, 'color', /six hex digits/],
      [{ ...LOOK, color: 'url(javascript:1)' }, 'color', /hex colour/],
      [{ ...LOOK, position: 'top-left' }, 'position', /must be one of bottom-right, bottom-left, got "top-left"/],
      [{ ...LOOK, launcher_text: '   ' }, 'launcher_text', /blank/],
      [{ ...LOOK, title: 'x'.repeat(61) }, 'title', /at most 60/],
      [{ ...LOOK, launcher_text: 'Chat\nwith us' }, 'launcher_text', /one line/],
      [{ ...LOOK, title: 'Help\u0007desk' }, 'title', /one line/],
      [{ ...LOOK, title: 'Help\u2028desk' }, 'title', /one line/],
      [{ ...LOOK, show_agent_avatars: 'yes' }, 'show_agent_avatars', /boolean/],
      [{ ...LOOK, font: 'Comic Sans' }, 'font', /not a known field/],
      [(({ title: _t, ...rest }) => rest)(LOOK), 'title', /required/],
    ];
    for (const [body, field, message] of cases) expect400(await call('PUT', '/api/v1/widget-settings', { token: admin.token, body }), field, message);
    for (const role of ['agent', 'supervisor'] as const) {
      const res = await call('PUT', '/api/v1/widget-settings', { token: (await user(role)).token, body: { ...LOOK, color: '#000000' } });
      assert.equal(res.statusCode, 403, res.body);
    }
    assert.equal((await call('PUT', '/api/v1/widget-settings', { body: LOOK })).statusCode, 401);
    assert.deepEqual(await stored(), before, 'nothing changed');
  });

  it('creates, lists, replaces and deletes greetings (admins only); the public settings carry only what the loader needs', async () => {
    const admin = await user('admin');
    const created = await call('POST', '/api/v1/greetings', { token: admin.token, body: GREETING });
    assert.equal(created.statusCode, 201, created.body);
    const g = created.json();
    assert.deepEqual(
      { name: g.name, message: g.message, enabled: g.enabled, trigger: g.trigger },
      { name: 'Pricing help', message: 'Questions about our plans?', enabled: true, trigger: { after_seconds: 5, url_pattern: '/pricing*', first_visit: false } },
    );
    clock.advance(1000);
    const second = (await call('POST', '/api/v1/greetings', { token: admin.token, body: { name: 'Welcome', message: 'Hello!', enabled: false, trigger: { first_visit: true } } })).json();
    assert.deepEqual((await call('GET', '/api/v1/greetings', { token: admin.token })).json().map((x: { id: string }) => x.id), [g.id, second.id]);
    assert.deepEqual((await call('GET', `/api/v1/greetings/${g.id}`, { token: admin.token })).json(), g);

    // public: the enabled ones, without their names
    assert.deepEqual((await call('GET', '/api/v1/widget-settings')).json().greetings, [{ id: g.id, message: g.message, trigger: g.trigger }]);

    clock.advance(1000);
    const replaced = await call('PUT', `/api/v1/greetings/${g.id}`, { token: admin.token, body: { ...GREETING, message: 'Need a hand choosing?', trigger: { url_pattern: '*checkout*' } } });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal(replaced.json().message, 'Need a hand choosing?');
    assert.deepEqual(replaced.json().trigger, { after_seconds: null, url_pattern: '*checkout*', first_visit: false });
    assert.notEqual(replaced.json().updated_at, g.updated_at);

    for (const role of ['agent', 'supervisor'] as const) {
      const { token } = await user(role);
      assert.equal((await call('GET', '/api/v1/greetings', { token })).statusCode, 403);
      assert.equal((await call('POST', '/api/v1/greetings', { token, body: GREETING })).statusCode, 403);
      assert.equal((await call('DELETE', `/api/v1/greetings/${g.id}`, { token })).statusCode, 403);
    }
    assert.equal((await call('POST', '/api/v1/greetings', { body: GREETING })).statusCode, 401);

    assert.equal((await call('DELETE', `/api/v1/greetings/${g.id}`, { token: admin.token })).statusCode, 204);
    assert.equal((await call('DELETE', `/api/v1/greetings/${g.id}`, { token: admin.token })).statusCode, 404);
    assert.equal((await call('GET', `/api/v1/greetings/${g.id}`, { token: admin.token })).statusCode, 404);
    assert.equal((await call('PUT', `/api/v1/greetings/${g.id}`, { token: admin.token, body: GREETING })).statusCode, 404);
    assert.deepEqual((await call('GET', '/api/v1/greetings', { token: admin.token })).json().map((x: { id: string }) => x.id), [second.id]);
  });

  it('refuses a bad greeting with 400 naming the field, and changes nothing', async () => {
    const admin = await user('admin');
    const g = (await call('POST', '/api/v1/greetings', { token: admin.token, body: GREETING })).json();
    const before = await stored();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...GREETING, message: '  ' }, 'message', /blank/],
      [{ ...GREETING, message: 'x'.repeat(501) }, 'message', /at most 500/],
      [{ ...GREETING, name: '' }, 'name', /blank/],
      // blank as everywhere (isBlank): nothing but characters that show as nothing would pop an empty greeting
      [{ ...GREETING, name: '\u200b' }, 'name', /must not be blank/],
      [{ ...GREETING, message: '\u200b\u2060\ufeff' }, 'message', /must not be blank/],
      [{ ...GREETING, message: ' \u200d\u00ad\u3164 ' }, 'message', /must not be blank/],
      [{ ...GREETING, trigger: { after_seconds: -1 } }, 'trigger.after_seconds', /must be >= 0/],
      [{ ...GREETING, trigger: { after_seconds: 3601 } }, 'trigger.after_seconds', /must be <= 3600/],
      [{ ...GREETING, trigger: { after_seconds: 1.5 } }, 'trigger.after_seconds', /integer/],
      [{ ...GREETING, trigger: { url_pattern: 'pricing' } }, 'trigger.url_pattern', /must start with \/ .* or \*/],
      [{ ...GREETING, trigger: { url_pattern: '/a b' } }, 'trigger.url_pattern', /spaces/],
      [{ ...GREETING, trigger: { url_pattern: `/${'a'.repeat(200)}` } }, 'trigger.url_pattern', /1 to 200 characters/],
      [{ ...GREETING, trigger: { url_regex: '(a+)+$' } }, 'trigger.url_regex', /not a known field/],
      [{ name: 'x', message: 'y' }, 'trigger', /required/],
    ];
    for (const [body, field, message] of cases) {
      expect400(await call('POST', '/api/v1/greetings', { token: admin.token, body }), field, message);
      expect400(await call('PUT', `/api/v1/greetings/${g.id}`, { token: admin.token, body }), field, message);
    }
    expect400(await call('GET', '/api/v1/greetings/not-a-uuid', { token: admin.token }), 'id', /uuid/);
    expect400(await call('GET', `/api/v1/greetings/urn:uuid:${g.id}`, { token: admin.token }), 'id', /uuid/);
    assert.deepEqual(await stored(), before, 'nothing changed');
  });

  it('counts a greeting shown and the chat it opened once per visitor, whatever is posted, and reports them by period', async () => {
    const admin = await user('admin');
    const g = (await call('POST', '/api/v1/greetings', { token: admin.token, body: GREETING })).json();
    clock.advance(1000);
    const other = (await call('POST', '/api/v1/greetings', { token: admin.token, body: { name: 'Other', message: 'Hi', trigger: {} } })).json();
    const post = (id: string, body: unknown) => call('POST', `/api/v1/greetings/${id}/events`, { body });

    // an opened chat counts only after that visitor was shown the greeting
    const early = await post(g.id, { kind: 'opened', visitor_id: VISITOR });
    assert.equal(early.statusCode, 409, early.body);
    assert.equal(early.json().error.code, 'SB_GREETING_NOT_SHOWN');

    // the same report five times at once: one row
    const shown = await Promise.all(Array.from({ length: 5 }, () => post(g.id, { kind: 'shown', visitor_id: VISITOR })));
    assert.deepEqual(shown.map((r) => r.statusCode), [200, 200, 200, 200, 200]);
    assert.equal(shown.filter((r) => r.json().counted).length, 1, shown.map((r) => r.body).join());
    assert.deepEqual((await post(g.id, { kind: 'opened', visitor_id: VISITOR })).json(), { counted: true });
    assert.deepEqual((await post(g.id, { kind: 'opened', visitor_id: VISITOR })).json(), { counted: false });
    assert.deepEqual((await post(g.id, { kind: 'shown', visitor_id: 'v-second-visitor' })).json(), { counted: true });

    // the server's half of "once per visitor": the greetings shown to this visitor are left out for it
    assert.deepEqual((await call('GET', `/api/v1/widget-settings?visitor=${VISITOR}`)).json().greetings.map((x: { id: string }) => x.id), [other.id]);
    assert.deepEqual((await call('GET', '/api/v1/widget-settings')).json().greetings.map((x: { id: string }) => x.id), [g.id, other.id]);

    // bad reports: 4xx naming the problem, nothing counted
    expect400(await post(g.id, { kind: 'clicked', visitor_id: VISITOR }), 'kind', /must be one of shown, opened, got "clicked"/);
    expect400(await post(g.id, { kind: 'shown', visitor_id: 'short' }), 'visitor_id', /8 to 100 letters/);
    expect400(await post(g.id, { kind: 'shown', visitor_id: 'v-<script>alert(1)</script>' }), 'visitor_id', /letters, digits/);
    expect400(await post(g.id, { kind: 'shown' }), 'visitor_id', /required/);
    assert.equal((await post(randomUUID(), { kind: 'shown', visitor_id: VISITOR })).statusCode, 404);
    const [{ n }] = (await store().db.query<{ n: number }>('select count(*)::int as n from greeting_events')) as [{ n: number }];
    assert.equal(n, 3);

    const supervisor = await user('supervisor');
    const report = await call('GET', '/api/v1/reports/greetings?from=2026-03-01&to=2026-03-02', { token: supervisor.token });
    assert.equal(report.statusCode, 200, report.body);
    assert.deepEqual(report.json().rows.map((r: Record<string, unknown>) => [r.greeting_id, r.name, r.shown, r.opened, r.open_rate]), [
      [g.id, 'Pricing help', 2, 1, 50],
      [other.id, 'Other', 0, 0, null],
    ]);
    assert.deepEqual(report.json().total, { shown: 2, opened: 1, open_rate: 50 });
    // another period: nothing happened then
    assert.deepEqual((await call('GET', '/api/v1/reports/greetings?from=2026-02-01&to=2026-03-01', { token: supervisor.token })).json().total, { shown: 0, opened: 0, open_rate: null });
    expect400(await call('GET', '/api/v1/reports/greetings?from=2026-03-02&to=2026-03-01', { token: supervisor.token }), 'to', /must be after from/);
    assert.equal((await call('GET', '/api/v1/reports/greetings?from=2026-03-01&to=2026-03-02', { token: (await user('agent')).token })).statusCode, 403);

    // deleting a greeting takes its counts with it
    assert.equal((await call('DELETE', `/api/v1/greetings/${g.id}`, { token: admin.token })).statusCode, 204);
    assert.deepEqual((await call('GET', '/api/v1/reports/greetings?from=2026-03-01&to=2026-03-02', { token: supervisor.token })).json().total, { shown: 0, opened: 0, open_rate: null });
  });

  it('limits the reports one address may post per minute, counted across processes', async () => {
    const admin = await user('admin');
    const g = (await call('POST', '/api/v1/greetings', { token: admin.token, body: GREETING })).json();
    // a second server on the same database: the reports spread over both count together
    const c = ctx();
    const other = await buildApp({ ctx: c, config: { ...loadConfig({}), logLevel: 'silent' as const }, metrics: createMetrics(c.db, c.now) });
    try {
      const ip = '203.0.113.77';
      const report = (i: number, via: 'this' | 'other') => {
        const request = { method: 'POST' as const, url: `/api/v1/greetings/${g.id}/events`, remoteAddress: ip, payload: { kind: 'shown', visitor_id: `v-visitor-${i}` } };
        return (via === 'this' ? inject(request) : other.inject(request)) as Promise<Res>;
      };
      for (let i = 0; i < 120; i++) assert.equal((await report(i, i % 2 ? 'this' : 'other')).statusCode, 200);
      for (const via of ['this', 'other'] as const) {
        const refused = await report(120, via);
        assert.equal(refused.statusCode, 429, refused.body);
        assert.equal(refused.json().error.code, 'SB_RATE_LIMITED');
        assert.ok(Number(refused.headers['retry-after']) > 0);
      }
      // another address is not affected
      assert.equal((await call('POST', `/api/v1/greetings/${g.id}/events`, { ip: '203.0.113.78', body: { kind: 'shown', visitor_id: 'v-visitor-x' } })).statusCode, 200);
      // the minute ends
      clock.advance(60_000);
      assert.equal((await report(121, 'other')).statusCode, 200);
    } finally {
      await other.close();
    }
  });
});
