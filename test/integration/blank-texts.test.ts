// Texts an admin sets that something shows (the widget's title and launcher,
// the rating question and thanks, an agent's name) must show something.
// String.prototype.trim() leaves the zero-width characters (U+200B, U+2060,
// U+FEFF is whitespace to it, U+200D, …): text of them alone shows as
// nothing, and is refused as blank, like spaces.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isBlank } from '../../src/http/validation.js';
import { expectInvalid, kitFor } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

const INVISIBLE = ['\u200b', '\u2060', '\ufeff', '\u200b\u200c\u200d', ' \u200b\n\t\u2060 ', '\u00ad', '\u034f', '\u3164', '\u2800\u2800'];

describe('isBlank', () => {
  it('is true for nothing, spaces and characters that show as nothing', () => {
    for (const text of ['', '   ', '\n\t', '\u00a0\u3000', ...INVISIBLE]) assert.equal(isBlank(text), true, JSON.stringify(text));
  });
  it('is false for anything visible, even around invisible characters', () => {
    for (const text of ['a', ' a ', '\u200bHi\u200b', '👩\u200d👧', 'ب', '—', '.', '🙂']) assert.equal(isBlank(text), false, JSON.stringify(text));
  });
});

describeEachStore('blank and invisible admin texts are refused', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const look = { color: '#2457c5', position: 'bottom-right', launcher_text: 'Chat', title: 'Talk to us', show_agent_avatars: true };

  it('PUT /widget-settings: a title or launcher text of invisible characters is 400 naming it; nothing changes', async () => {
    const { token } = await k.user('admin');
    await k.unchanged(async () => {
      for (const text of INVISIBLE) {
        for (const field of ['title', 'launcher_text'] as const) {
          const res = await k.call('PUT', '/api/v1/widget-settings', { token, body: { ...look, [field]: text } });
          expectInvalid(res, field, `${field} ${JSON.stringify(text)}`);
          assert.match(res.json().error.message, /must not be blank/);
        }
      }
    });
    const ok = await k.call('PUT', '/api/v1/widget-settings', { token, body: { ...look, title: '\u200bTalk to us' } });
    assert.equal(ok.statusCode, 200, ok.body);
  });

  it("an offline message's name or text of invisible characters is 400 naming it; nothing changes", async () => {
    await k.unchanged(async () => {
      const offline = { name: 'Ann', email: 'ann@example.test', message: 'Call me back' };
      for (const text of INVISIBLE) {
        for (const field of ['name', 'message'] as const) {
          expectInvalid(await k.call('POST', '/api/v1/offline-messages', { body: { ...offline, [field]: text } }), field, `${field} ${JSON.stringify(text)}`);
        }
      }
    });
  });

  it('PATCH /settings: a blank or invisible csat_question or csat_thanks is 400 naming it; nothing changes', async () => {
    const { token } = await k.user('admin');
    await k.unchanged(async () => {
      for (const text of ['   ', '\n\t', ...INVISIBLE]) {
        for (const field of ['csat_question', 'csat_thanks'] as const) {
          const res = await k.call('PATCH', '/api/v1/settings', { token, body: { csat_enabled: false, [field]: text } });
          expectInvalid(res, field, `${field} ${JSON.stringify(text)}`);
          assert.match(res.json().error.message, new RegExp(`^${field} must not be blank`));
        }
      }
    });
    const ok = await k.call('PATCH', '/api/v1/settings', { token, body: { csat_question: 'How did we do? 🙂', csat_thanks: 'Thanks!' } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().csat_question, 'How did we do? 🙂');
  });

  it('POST and PATCH /agents: a name of invisible characters is 400 naming it; nothing changes', async () => {
    const { token } = await k.user('admin');
    const { agent } = await k.user('agent');
    await k.unchanged(async () => {
      for (const name of INVISIBLE) {
        expectInvalid(await k.call('POST', '/api/v1/agents', { token, body: { name, email: 'zw@example.test', password: 'a good password', role: 'agent' } }), 'name', `POST ${JSON.stringify(name)}`);
        expectInvalid(await k.call('PATCH', `/api/v1/agents/${agent.id}`, { token, body: { name } }), 'name', `PATCH ${JSON.stringify(name)}`);
      }
    });
    const ok = await k.call('PATCH', `/api/v1/agents/${agent.id}`, { token, body: { name: 'Zoë\u200b' } });
    assert.equal(ok.statusCode, 200, ok.body);
  });
});
