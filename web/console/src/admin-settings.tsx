import type { FormEvent } from 'react';
import { CsatSettings } from './admin-csat';
import { FieldError, FormFooter, LoadingPage, useFormErrors, useSettingsForm, type AdminProps } from './admin-kit';
import { formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';

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

const pick = (s: Settings): Settings => ({
  max_customers: s.max_customers,
  attendant_keep_alive_ms: s.attendant_keep_alive_ms,
  agent_offline_grace_ms: s.agent_offline_grace_ms,
  offline_policy: s.offline_policy,
});
const draftOf = (s: Settings): Draft => ({
  max_customers: String(s.max_customers),
  attendant_keep_alive_ms: String(s.attendant_keep_alive_ms),
  agent_offline_grace_ms: String(s.agent_offline_grace_ms),
  offline_policy: s.offline_policy,
});

export function SettingsAdmin({ token, onError }: AdminProps) {
  const errors = useFormErrors(onError, ID, FIELDS);
  const { saved, draft, setDraft, notice, busy, start, save, undo } = useSettingsForm(token, errors, pick, draftOf);

  if (!saved || !draft) {
    return <LoadingPage title={t('Settings')} problem={errors.general} />;
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    start();
    const patch: Record<string, unknown> = {};
    for (const key of NUMERIC) {
      // sent as typed: "2.5" or "" reach the server, which says what is wrong with them
      if (draft[key] !== String(saved[key])) patch[key] = draft[key].trim() === '' ? null : Number(draft[key]);
    }
    if (draft.offline_policy !== saved.offline_policy) patch.offline_policy = draft.offline_policy;
    await save(patch, t('Saved. Every server process uses the new values now.'));
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
      <h2>{t('Settings')}</h2>
      <form className="settings-form" onSubmit={submit} noValidate aria-labelledby="settings-title">
        <h3 id="settings-title" className="visually-hidden">
          {t('Runtime settings')}
        </h3>
        <div className="setting">
          <label htmlFor={`${ID}-max_customers`}>{t('Max customers per agent')}</label>
          <input {...number('max_customers')} />
          <small>{t('Conversations at once for agents without their own capacity (1–10000). Raising it hands waiting conversations out at once.')}</small>
          <FieldError errors={errors} field="max_customers" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-attendant_keep_alive_ms`}>{t('Agent keep-alive (ms)')}</label>
          <input {...number('attendant_keep_alive_ms')} />
          <small>
            {t('An agent silent this long is set offline (at least 1000).')} {seconds(draft.attendant_keep_alive_ms)}
          </small>
          <FieldError errors={errors} field="attendant_keep_alive_ms" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-agent_offline_grace_ms`}>{t('Offline grace (ms)')}</label>
          <input {...number('agent_offline_grace_ms')} />
          <small>
            {t('How long an offline agent keeps their conversations before they are re-queued (0 or more).')} {seconds(draft.agent_offline_grace_ms)}
          </small>
          <FieldError errors={errors} field="agent_offline_grace_ms" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-offline_policy`}>{t('Conversations of offline agents')}</label>
          <select id={`${ID}-offline_policy`} value={draft.offline_policy} onChange={(e) => setDraft({ ...draft, offline_policy: e.target.value as Settings['offline_policy'] })} {...errors.describe('offline_policy')}>
            <option value="requeue">{t('Re-queue after the grace period')}</option>
            <option value="keep">{t('Keep them with the agent')}</option>
          </select>
          <FieldError errors={errors} field="offline_policy" idPrefix={ID} />
        </div>
        <FormFooter errors={errors} notice={notice} busy={busy} save={t('Save settings')} onUndo={undo} />
      </form>
      <CsatSettings token={token} onError={onError} />
    </main>
  );
}
