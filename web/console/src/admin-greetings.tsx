import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, FieldError, rich, slots, useFormErrors, type AdminProps } from './admin-kit';
import { formatNumber } from '../../shared/format';
import { t } from '../../shared/i18n';

// Admin: proactive greetings (CRUD /api/v1/greetings). Each is a message and
// the trigger that opens the widget with it; every condition given must
// hold. A refusal is shown at the input it names (trigger.url_pattern, …).

interface Trigger {
  after_seconds: number | null;
  url_pattern: string | null;
  first_visit: boolean;
}

export interface GreetingRecord {
  id: string;
  name: string;
  message: string;
  enabled: boolean;
  trigger: Trigger;
}

interface Draft {
  name: string;
  message: string;
  enabled: boolean;
  after_seconds: string;
  url_pattern: string;
  first_visit: boolean;
}

const FIELDS = ['name', 'message', 'trigger.after_seconds', 'trigger.url_pattern'] as const;
const blank: Draft = { name: '', message: '', enabled: true, after_seconds: '', url_pattern: '', first_visit: false };
const draftOf = (g: GreetingRecord): Draft => ({
  name: g.name,
  message: g.message,
  enabled: g.enabled,
  after_seconds: g.trigger.after_seconds === null ? '' : String(g.trigger.after_seconds),
  url_pattern: g.trigger.url_pattern ?? '',
  first_visit: g.trigger.first_visit,
});
/** Typed text sent as typed (a number field's text as a number), so the server says what is wrong with it. */
const bodyOf = (d: Draft) => ({
  name: d.name,
  message: d.message,
  enabled: d.enabled,
  trigger: {
    after_seconds: d.after_seconds.trim() === '' ? null : Number(d.after_seconds),
    url_pattern: d.url_pattern.trim() === '' ? null : d.url_pattern.trim(),
    first_visit: d.first_visit,
  },
});

export function describeTrigger(trigger: Trigger): string {
  const parts = [
    trigger.after_seconds === null ? t('at once') : t('after {seconds} s on the page', { seconds: formatNumber(trigger.after_seconds) }),
    trigger.url_pattern === null ? t('on any page') : t('on pages matching {pattern}', { pattern: trigger.url_pattern }),
    ...(trigger.first_visit ? [t('first visit only')] : []),
  ];
  return parts.join(', ');
}

export function GreetingsAdmin({ token, onError }: AdminProps) {
  const [greetings, setGreetings] = useState<GreetingRecord[] | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const load = useCallback(() => api<GreetingRecord[]>('GET', '/api/v1/greetings', token).then(setGreetings, onError), [token, onError]);
  useEffect(() => {
    void load();
  }, [load]);

  const remove = async (g: GreetingRecord) => {
    if (!confirm(t('Delete the greeting “{name}” and its counts?', { name: g.name }))) return;
    try {
      await api('DELETE', `/api/v1/greetings/${g.id}`, token);
      void load();
    } catch (e) {
      onError(e);
    }
  };

  return (
    <section aria-labelledby="greetings-title">
      <h3 id="greetings-title">{t('Proactive greetings')}</h3>
      <p className="hint">
        {rich(
          t("The widget opens by itself with a greeting when every condition holds in the visitor's page: time on the page, the page's address (a pattern where {star} is anything, like {pricing} or {checkout}), the visitor's first visit. Each visitor sees a greeting once; the dashboard counts how many saw it and how many then started a chat.",
            slots('star', 'pricing', 'checkout'),
          ),
          [<code key="star">*</code>, <code key="pricing">/pricing*</code>, <code key="checkout">*checkout*</code>],
        )}
      </p>
      {greetings === null ? (
        <p>{t('Loading…')}</p>
      ) : (
        <ul className="greeting-list">
          {greetings.length === 0 && <li className="hint">{t('No greetings yet.')}</li>}
          {greetings.map((g) =>
            editing === g.id ? (
              <li key={g.id} className="card">
                <GreetingForm
                  token={token}
                  onError={onError}
                  greeting={g}
                  onDone={() => {
                    setEditing(null);
                    void load();
                  }}
                />
              </li>
            ) : (
              <li key={g.id} className="card" data-testid="greeting-card">
                <h4>
                  {g.name} {!g.enabled && <span className="badge">{t('off')}</span>}
                </h4>
                <p>{g.message}</p>
                <p className="hint">{describeTrigger(g.trigger)}</p>
                <div className="actions">
                  <button type="button" className="secondary" onClick={() => setEditing(g.id)} aria-label={t('Edit the greeting {name}', { name: g.name })}>
                    {t('Edit')}
                  </button>
                  <button type="button" className="secondary" onClick={() => void remove(g)} aria-label={t('Delete the greeting {name}', { name: g.name })}>
                    {t('Delete')}
                  </button>
                </div>
              </li>
            ),
          )}
        </ul>
      )}
      <h4>{t('New greeting')}</h4>
      <GreetingForm token={token} onError={onError} greeting={null} onDone={() => void load()} />
    </section>
  );
}

function GreetingForm({ token, onError, greeting, onDone }: { token: string; onError: (e: unknown) => void; greeting: GreetingRecord | null; onDone: () => void }) {
  const [draft, setDraft] = useState<Draft>(greeting ? draftOf(greeting) : blank);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const errors = useFormErrors(onError, id, FIELDS);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setBusy(true);
    try {
      if (greeting) await api('PUT', `/api/v1/greetings/${greeting.id}`, token, bodyOf(draft));
      else await api('POST', '/api/v1/greetings', token, bodyOf(draft));
      if (!greeting) setDraft(blank);
      onDone();
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };
  const input = (key: 'name' | 'after_seconds' | 'url_pattern', field: (typeof FIELDS)[number]) => ({
    id: `${id}-${field}`,
    name: key,
    value: draft[key],
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value }),
    ...errors.describe(field),
  });

  return (
    <form className="grid-form greeting-form" onSubmit={submit} noValidate aria-label={greeting ? t('Edit the greeting {name}', { name: greeting.name }) : t('New greeting')}>
      <div className="setting">
        <label htmlFor={`${id}-name`}>{t('Name')}</label>
        <input {...input('name', 'name')} maxLength={100} placeholder={t('For you: e.g. Pricing help')} />
        <FieldError errors={errors} field="name" idPrefix={id} />
      </div>
      <div className="setting">
        <label htmlFor={`${id}-message`}>{t('Message')}</label>
        <textarea
          id={`${id}-message`}
          name="message"
          rows={2}
          maxLength={500}
          value={draft.message}
          onChange={(e) => setDraft({ ...draft, message: e.target.value })}
          {...errors.describe('message')}
        />
        <FieldError errors={errors} field="message" idPrefix={id} />
      </div>
      <div className="setting">
        <label htmlFor={`${id}-trigger.after_seconds`}>{t('Seconds on the page')}</label>
        <input {...input('after_seconds', 'trigger.after_seconds')} inputMode="numeric" placeholder={t('at once')} />
        <FieldError errors={errors} field="trigger.after_seconds" idPrefix={id} />
      </div>
      <div className="setting">
        <label htmlFor={`${id}-trigger.url_pattern`}>{t('Page address pattern')}</label>
        <input {...input('url_pattern', 'trigger.url_pattern')} maxLength={200} placeholder={t('any page; e.g. /pricing*')} />
        <FieldError errors={errors} field="trigger.url_pattern" idPrefix={id} />
      </div>
      <label className="check">
        <input type="checkbox" name="first_visit" checked={draft.first_visit} onChange={(e) => setDraft({ ...draft, first_visit: e.target.checked })} />
        {t('First visit only')}
      </label>
      <label className="check">
        <input type="checkbox" name="enabled" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} />
        {t('On')}
      </label>
      <Alert>{errors.general}</Alert>
      <div className="actions">
        {greeting && (
          <button type="button" className="secondary" onClick={onDone}>
            {t('Cancel')}
          </button>
        )}
        <button type="submit" disabled={busy}>
          {greeting ? t('Save greeting') : t('Add greeting')}
        </button>
      </div>
    </form>
  );
}
