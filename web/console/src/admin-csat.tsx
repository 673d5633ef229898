import type { FormEvent } from 'react';
import { Alert, FieldError, FormFooter, useFormErrors, useSettingsForm } from './admin-kit';
import { t } from '../../shared/i18n';

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
const pick = (s: Csat): Csat => ({ csat_enabled: s.csat_enabled, csat_question: s.csat_question, csat_thanks: s.csat_thanks });

export function CsatSettings({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const errors = useFormErrors(onError, ID, FIELDS);
  const { saved, draft, setDraft, notice, busy, start, save } = useSettingsForm(token, errors, pick, (s: Csat) => s);

  // the section stays away until read; a failed read says why, where the section would be
  if (!saved || !draft) return errors.general ? <Alert>{errors.general}</Alert> : null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    start();
    await save(Object.fromEntries(FIELDS.filter((k) => draft[k] !== saved[k]).map((k) => [k, draft[k]])), t('Saved. The widget uses it from the next resolved chat.'));
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
      <h3 id="csat-title">{t('Customer satisfaction')}</h3>
      <div className="setting">
        <label>
          <input
            type="checkbox"
            name="csat_enabled"
            checked={draft.csat_enabled}
            onChange={(e) => setDraft({ ...draft, csat_enabled: e.target.checked })}
            {...errors.describe('csat_enabled')}
          />{' '}
          {t('Ask customers for a rating (1–5) after a resolved chat')}
        </label>
        <FieldError errors={errors} field="csat_enabled" idPrefix={ID} />
      </div>
      <div className="setting">
        <label htmlFor={`${ID}-csat_question`}>{t('Question')}</label>
        <input {...text('csat_question')} />
        <FieldError errors={errors} field="csat_question" idPrefix={ID} />
      </div>
      <div className="setting">
        <label htmlFor={`${ID}-csat_thanks`}>{t('Thank-you message')}</label>
        <input {...text('csat_thanks')} />
        <FieldError errors={errors} field="csat_thanks" idPrefix={ID} />
      </div>
      <FormFooter errors={errors} notice={notice} busy={busy} save={t('Save satisfaction settings')} />
    </form>
  );
}
