import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, FieldError, useFormErrors } from './admin-kit';

// Admin: customer satisfaction (the csat_* runtime settings): whether the
// widget asks for a rating after a resolved chat, and in which words. Its own
// form beside the other settings, sending only what changed.

interface Csat {
  csat_enabled: boolean;
  csat_question: string;
  csat_thanks: string;
}

const FIELDS = ['csat_enabled', 'csat_question', 'csat_thanks'] as const;
const ID = 'csat';

export function CsatSettings({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const [saved, setSaved] = useState<Csat | null>(null);
  const [draft, setDraft] = useState<Csat | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(onError, ID, FIELDS);

  useEffect(() => {
    api<Csat>('GET', '/api/v1/settings', token).then((s) => {
      const mine = { csat_enabled: s.csat_enabled, csat_question: s.csat_question, csat_thanks: s.csat_thanks };
      setSaved(mine);
      setDraft(mine);
    }, errors.fail);
  }, [token]);

  if (!saved || !draft) return null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setNotice(null);
    const patch = Object.fromEntries(FIELDS.filter((k) => draft[k] !== saved[k]).map((k) => [k, draft[k]]));
    if (Object.keys(patch).length === 0) {
      setNotice('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      const next = await api<Csat>('PATCH', '/api/v1/settings', token, patch);
      const mine = { csat_enabled: next.csat_enabled, csat_question: next.csat_question, csat_thanks: next.csat_thanks };
      setSaved(mine);
      setDraft(mine);
      setNotice('Saved. The widget uses it from the next resolved chat.');
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };

  const text = (key: 'csat_question' | 'csat_thanks') => ({
    id: `${ID}-${key}`,
    name: key,
    maxLength: 300,
    value: draft[key],
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value }),
    ...errors.describe(key),
  });

  return (
    <form className="settings-form" onSubmit={submit} noValidate aria-labelledby="csat-title">
      <h3 id="csat-title">Customer satisfaction</h3>
      <div className="setting">
        <label>
          <input
            type="checkbox"
            name="csat_enabled"
            checked={draft.csat_enabled}
            onChange={(e) => setDraft({ ...draft, csat_enabled: e.target.checked })}
            {...errors.describe('csat_enabled')}
          />{' '}
          Ask customers for a rating (1–5) after a resolved chat
        </label>
        <FieldError errors={errors} field="csat_enabled" idPrefix={ID} />
      </div>
      <div className="setting">
        <label htmlFor={`${ID}-csat_question`}>Question</label>
        <input {...text('csat_question')} />
        <FieldError errors={errors} field="csat_question" idPrefix={ID} />
      </div>
      <div className="setting">
        <label htmlFor={`${ID}-csat_thanks`}>Thank-you message</label>
        <input {...text('csat_thanks')} />
        <FieldError errors={errors} field="csat_thanks" idPrefix={ID} />
      </div>
      <Alert>{errors.general}</Alert>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          Save satisfaction settings
        </button>
      </div>
    </form>
  );
}
