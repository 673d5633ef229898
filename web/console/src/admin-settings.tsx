import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { formatWait } from '../../shared/format';
import { CsatSettings } from './admin-csat';
import { Alert, FieldError, useFormErrors, type AdminProps } from './admin-kit';

// Admin: the runtime settings of PATCH /api/v1/settings. Only changed
// values are sent; the server's checks are the rules, shown by their field.

interface Settings {
  max_customers: number;
  attendant_keep_alive_ms: number;
  agent_offline_grace_ms: number;
  offline_policy: 'requeue' | 'keep';
}

type Draft = Record<keyof Settings, string>;
const NUMERIC = ['max_customers', 'attendant_keep_alive_ms', 'agent_offline_grace_ms'] as const;
const FIELDS = [...NUMERIC, 'offline_policy'] as const;
const ID = 'settings';

const draftOf = (s: Settings): Draft => ({
  max_customers: String(s.max_customers),
  attendant_keep_alive_ms: String(s.attendant_keep_alive_ms),
  agent_offline_grace_ms: String(s.agent_offline_grace_ms),
  offline_policy: s.offline_policy,
});

export function SettingsAdmin({ token, onError }: AdminProps) {
  const [saved, setSaved] = useState<Settings | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(onError, ID, FIELDS);

  useEffect(() => {
    api<Settings>('GET', '/api/v1/settings', token).then((s) => {
      setSaved(s);
      setDraft(draftOf(s));
    }, errors.fail);
  }, [token]);

  if (!saved || !draft) {
    return (
      <main className="admin">
        <h2>Settings</h2>
        <Alert>{errors.general}</Alert>
        <p>Loading…</p>
      </main>
    );
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setNotice(null);
    const patch: Record<string, unknown> = {};
    for (const key of NUMERIC) {
      // sent as typed: "2.5" or "" reach the server, which says what is wrong with them
      if (draft[key] !== String(saved[key])) patch[key] = draft[key].trim() === '' ? null : Number(draft[key]);
    }
    if (draft.offline_policy !== saved.offline_policy) patch.offline_policy = draft.offline_policy;
    if (Object.keys(patch).length === 0) {
      setNotice('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      const next = await api<Settings>('PATCH', '/api/v1/settings', token, patch);
      setSaved(next);
      setDraft(draftOf(next));
      setNotice('Saved. Every server process uses the new values now.');
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };

  const number = (key: (typeof NUMERIC)[number]) => ({
    id: `${ID}-${key}`,
    name: key,
    type: 'number',
    inputMode: 'numeric' as const,
    value: draft[key],
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value }),
    ...errors.describe(key),
  });
  const seconds = (ms: string) => (ms.trim() !== '' && Number.isFinite(Number(ms)) ? formatWait(Number(ms) / 1000) : '');

  return (
    <main className="admin">
      <h2>Settings</h2>
      <form className="settings-form" onSubmit={submit} noValidate aria-labelledby="settings-title">
        <h3 id="settings-title" className="visually-hidden">
          Runtime settings
        </h3>
        <div className="setting">
          <label htmlFor={`${ID}-max_customers`}>Max customers per agent</label>
          <input {...number('max_customers')} />
          <small>Conversations at once for agents without their own capacity (1–10000). Raising it hands waiting conversations out at once.</small>
          <FieldError errors={errors} field="max_customers" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-attendant_keep_alive_ms`}>Agent keep-alive (ms)</label>
          <input {...number('attendant_keep_alive_ms')} />
          <small>An agent silent this long is set offline (at least 1000). {seconds(draft.attendant_keep_alive_ms)}</small>
          <FieldError errors={errors} field="attendant_keep_alive_ms" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-agent_offline_grace_ms`}>Offline grace (ms)</label>
          <input {...number('agent_offline_grace_ms')} />
          <small>How long an offline agent keeps their conversations before they are re-queued (0 or more). {seconds(draft.agent_offline_grace_ms)}</small>
          <FieldError errors={errors} field="agent_offline_grace_ms" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-offline_policy`}>Conversations of offline agents</label>
          <select id={`${ID}-offline_policy`} value={draft.offline_policy} onChange={(e) => setDraft({ ...draft, offline_policy: e.target.value as Settings['offline_policy'] })} {...errors.describe('offline_policy')}>
            <option value="requeue">Re-queue after the grace period</option>
            <option value="keep">Keep them with the agent</option>
          </select>
          <FieldError errors={errors} field="offline_policy" idPrefix={ID} />
        </div>
        <Alert>{errors.general}</Alert>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <div className="actions">
          <button type="submit" disabled={busy}>
            Save settings
          </button>
          <button type="button" className="secondary" onClick={() => (setDraft(draftOf(saved)), errors.clear(), setNotice(null))}>
            Undo changes
          </button>
        </div>
      </form>
      <CsatSettings token={token} onError={onError} />
    </main>
  );
}
