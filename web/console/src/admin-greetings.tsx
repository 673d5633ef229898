import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, FieldError, useFormErrors, type AdminProps } from './admin-kit';

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

export function describeTrigger(t: Trigger): string {
  const parts = [
    t.after_seconds === null ? 'at once' : `after ${t.after_seconds} s on the page`,
    t.url_pattern === null ? 'on any page' : `on pages matching ${t.url_pattern}`,
    ...(t.first_visit ? ['first visit only'] : []),
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
    if (!confirm(`Delete the greeting “${g.name}” and its counts?`)) return;
    try {
      await api('DELETE', `/api/v1/greetings/${g.id}`, token);
      void load();
    } catch (e) {
      onError(e);
    }
  };

  return (
    <section aria-labelledby="greetings-title">
      <h3 id="greetings-title">Proactive greetings</h3>
      <p className="hint">
        The widget opens by itself with a greeting when every condition holds in the visitor&apos;s page: time on the page, the page&apos;s address (a pattern
        where <code>*</code> is anything, like <code>/pricing*</code> or <code>*checkout*</code>), the visitor&apos;s first visit. Each visitor sees a greeting
        once; the dashboard counts how many saw it and how many then started a chat.
      </p>
      {greetings === null ? (
        <p>Loading…</p>
      ) : (
        <ul className="greeting-list">
          {greetings.length === 0 && <li className="hint">No greetings yet.</li>}
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
                  {g.name} {!g.enabled && <span className="badge">off</span>}
                </h4>
                <p>{g.message}</p>
                <p className="hint">{describeTrigger(g.trigger)}</p>
                <div className="actions">
                  <button type="button" className="secondary" onClick={() => setEditing(g.id)} aria-label={`Edit the greeting ${g.name}`}>
                    Edit
                  </button>
                  <button type="button" className="secondary" onClick={() => void remove(g)} aria-label={`Delete the greeting ${g.name}`}>
                    Delete
                  </button>
                </div>
              </li>
            ),
          )}
        </ul>
      )}
      <h4>New greeting</h4>
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
    <form className="grid-form greeting-form" onSubmit={submit} noValidate aria-label={greeting ? `Edit the greeting ${greeting.name}` : 'New greeting'}>
      <div className="setting">
        <label htmlFor={`${id}-name`}>Name</label>
        <input {...input('name', 'name')} maxLength={100} placeholder="For you: e.g. Pricing help" />
        <FieldError errors={errors} field="name" idPrefix={id} />
      </div>
      <div className="setting">
        <label htmlFor={`${id}-message`}>Message</label>
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
        <label htmlFor={`${id}-trigger.after_seconds`}>Seconds on the page</label>
        <input {...input('after_seconds', 'trigger.after_seconds')} inputMode="numeric" placeholder="at once" />
        <FieldError errors={errors} field="trigger.after_seconds" idPrefix={id} />
      </div>
      <div className="setting">
        <label htmlFor={`${id}-trigger.url_pattern`}>Page address pattern</label>
        <input {...input('url_pattern', 'trigger.url_pattern')} maxLength={200} placeholder="any page; e.g. /pricing*" />
        <FieldError errors={errors} field="trigger.url_pattern" idPrefix={id} />
      </div>
      <label className="check">
        <input type="checkbox" name="first_visit" checked={draft.first_visit} onChange={(e) => setDraft({ ...draft, first_visit: e.target.checked })} />
        First visit only
      </label>
      <label className="check">
        <input type="checkbox" name="enabled" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} />
        On
      </label>
      <Alert>{errors.general}</Alert>
      <div className="actions">
        {greeting && (
          <button type="button" className="secondary" onClick={onDone}>
            Cancel
          </button>
        )}
        <button type="submit" disabled={busy}>
          {greeting ? 'Save greeting' : 'Add greeting'}
        </button>
      </div>
    </form>
  );
}
