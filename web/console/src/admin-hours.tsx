import { useEffect, useState, type FormEvent } from 'react';
import { api, errorText, isApiError } from '../../shared/util';
import { Alert, LoadingPage, type AdminProps } from './admin-kit';
import { formatDateTime } from '../../shared/format';
import { activeLocale, t } from '../../shared/i18n';

// Admin: business hours (PUT /api/v1/business-hours) and when the widget
// goes offline (the offline_when setting). Hours are typed as a day's
// intervals, "09:00-12:00, 13:00-17:00", holidays one a line, "2026-12-25
// Christmas"; the server's rules judge them and its error is shown at the
// day, time zone or holiday list it names.

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
type Weekday = (typeof WEEKDAYS)[number];
interface Schedule {
  time_zone: string;
  weekly: Record<Weekday, { start: string; end: string }[]>;
  holidays: { date: string; name: string | null }[];
}
interface Hours {
  default: Schedule | null;
  departments: Record<string, Schedule>;
}
interface Draft {
  time_zone: string;
  days: Record<Weekday, string>;
  holidays: string;
}
type Condition = 'outside_hours' | 'no_agent_online';

/** The day's name in the language of the moment (Monday: 2024-01-01, a Monday). */
const label = (d: Weekday) => {
  const name = formatDateTime(new Date(2024, 0, 1 + WEEKDAYS.indexOf(d)), { weekday: 'long' });
  return name.charAt(0).toLocaleUpperCase(activeLocale()) + name.slice(1);
};
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const zones: string[] = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];

const draftOf = (s: Schedule | null): Draft => ({
  time_zone: s?.time_zone ?? localZone(),
  days: Object.fromEntries(WEEKDAYS.map((d) => [d, (s?.weekly[d] ?? []).map((iv) => `${iv.start}-${iv.end}`).join(', ')])) as Record<Weekday, string>,
  holidays: (s?.holidays ?? []).map((h) => `${h.date}${h.name ? ` ${h.name}` : ''}`).join('\n'),
});

/** As typed; the server says what is wrong with it. */
const scheduleOf = (d: Draft) => ({
  time_zone: d.time_zone.trim(),
  weekly: Object.fromEntries(
    WEEKDAYS.map((day) => [
      day,
      d.days[day]
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean)
        .map((part) => {
          const [start = '', end = ''] = part.split(/\s*[-–]\s*/);
          return { start, end };
        }),
    ]),
  ),
  holidays: d.holidays
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [date = '', ...name] = line.split(/\s+/);
      return { date, name: name.join(' ') || null };
    }),
});

export function HoursAdmin({ token, onError }: AdminProps) {
  const [useDefault, setUseDefault] = useState(false);
  const [fallback, setFallback] = useState<Draft>(draftOf(null));
  const [departments, setDepartments] = useState<{ uid: number; name: string; draft: Draft }[] | null>(null);
  const [problem, setProblem] = useState<{ field: string; message: string } | null>(null);
  // a department row named like one above it (after trimming): refused here, since the
  // name is the key of the saved object and only the later row would survive
  const [repeated, setRepeated] = useState<{ uid: number; message: string } | null>(null);
  const [general, setGeneral] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const show = (hours: Hours) => {
    setUseDefault(hours.default !== null);
    setFallback(draftOf(hours.default));
    setDepartments(Object.entries(hours.departments).map(([name, s], uid) => ({ uid, name, draft: draftOf(s) })));
  };
  useEffect(() => {
    api<Hours>('GET', '/api/v1/business-hours', token).then(show, onError);
  }, [token]);

  if (!departments) {
    return <LoadingPage title={t('Business hours')} />;
  }

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setProblem(null);
    setGeneral(null);
    setNotice(null);
    setRepeated(null);
    const seen = new Set<string>();
    for (const d of departments) {
      const name = d.name.trim();
      // (a blank name goes to the server, which refuses it at its field)
      if (name !== '' && seen.has(name)) {
        setRepeated({ uid: d.uid, message: t('Another department is already named {name}: each department needs its own name.', { name }) });
        document.getElementById(`hours-department-${d.uid}`)?.focus();
        return;
      }
      seen.add(name);
    }
    setBusy(true);
    try {
      const saved = await api<Hours>('PUT', '/api/v1/business-hours', token, {
        default: useDefault ? scheduleOf(fallback) : null,
        departments: Object.fromEntries(departments.map((d) => [d.name.trim(), scheduleOf(d.draft)])),
      });
      show(saved);
      setNotice(t('Saved. The widget and the expected waits follow the new hours at once.'));
    } catch (e) {
      if (isApiError(e) && e.status === 401) onError(e);
      else if (isApiError(e) && e.field) setProblem({ field: e.field, message: errorText(e) });
      else setGeneral(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  /** The wiring of an input whose server field path starts with `field`; its id from `idField`. */
  const at = (field: string, idField = field) => {
    const id = `hours-${idField.replace(/[^\w-]/g, '_')}`;
    const mine = problem && (problem.field === field || problem.field.startsWith(`${field}.`) || problem.field.startsWith(`${field}[`)) ? problem.message : null;
    return {
      id,
      input: mine ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-error` } : {},
      error: mine ? (
        <span className="field-error" id={`${id}-error`} role="alert">
          {mine}
        </span>
      ) : null,
    };
  };

  // `idScope`: a department's inputs are named by its row, not its name, which two rows may share while typed
  const editor = (scope: string, draft: Draft, change: (next: Draft) => void, title: string, idScope = scope) => {
    const zone = at(`${scope}.time_zone`, `${idScope}.time_zone`);
    const holidays = at(`${scope}.holidays`, `${idScope}.holidays`);
    return (
      <div className="grid-form">
        <div className="setting">
          <label htmlFor={zone.id}>{t('Time zone {title}', { title })}</label>
          <input id={zone.id} list="hours-zones" value={draft.time_zone} onChange={(e) => change({ ...draft, time_zone: e.target.value })} {...zone.input} />
          {zone.error}
        </div>
        {WEEKDAYS.map((day) => {
          const f = at(`${scope}.weekly.${day}`, `${idScope}.weekly.${day}`);
          return (
            <div className="setting" key={day}>
              <label htmlFor={f.id}>{t('{day} {title}', { day: label(day), title })}</label>
              <input id={f.id} placeholder={t('closed (e.g. 09:00-12:00, 13:00-17:00)')} value={draft.days[day]} onChange={(e) => change({ ...draft, days: { ...draft.days, [day]: e.target.value } })} {...f.input} />
              {f.error}
            </div>
          );
        })}
        <div className="setting">
          <label htmlFor={holidays.id}>{t('Holidays {title}', { title })}</label>
          <textarea id={holidays.id} rows={3} placeholder={t('2026-12-25 Christmas')} value={draft.holidays} onChange={(e) => change({ ...draft, holidays: e.target.value })} {...holidays.input} />
          {holidays.error}
        </div>
      </div>
    );
  };

  return (
    <main className="admin">
      <h2>{t('Business hours')}</h2>
      <p className="hint">
        {t("Hours are local times in each schedule's time zone; a day left empty is closed. A department without its own schedule follows the default; without a default it is always open.",
        )}
      </p>
      <datalist id="hours-zones">
        {zones.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
      <form className="stack-form" onSubmit={save} noValidate aria-label={t('Business hours')}>
        <fieldset data-testid="hours-default">
          <legend>{t('Default: conversations without a department')}</legend>
          <label className="checkbox-label">
            <input type="checkbox" checked={useDefault} onChange={(e) => setUseDefault(e.target.checked)} /> {t('Use business hours (unticked: always open)')}
          </label>
          {useDefault && editor('default', fallback, setFallback, t('(default)'))}
        </fieldset>
        {departments.map((d, i) => {
          const update = (next: Partial<(typeof departments)[number]>) => setDepartments(departments.map((x, j) => (j === i ? { ...x, ...next } : x)));
          const nameId = `hours-department-${d.uid}`;
          const nameProblem = repeated?.uid === d.uid ? repeated.message : problem?.field === `departments.${d.name.trim()}` ? problem.message : null;
          return (
            <fieldset key={d.uid} data-testid="hours-department">
              <legend>{t('Department {name}', { name: d.name || `#${i + 1}` })}</legend>
              <div className="setting">
                <label htmlFor={`hours-department-${d.uid}`}>{t('Department name')}</label>
                <input
                  id={nameId}
                  value={d.name}
                  onChange={(e) => {
                    update({ name: e.target.value });
                    if (repeated?.uid === d.uid) setRepeated(null);
                  }}
                  {...(nameProblem ? { 'aria-invalid': true as const, 'aria-describedby': `${nameId}-error` } : {})}
                />
                {nameProblem && (
                  <span className="field-error" id={`${nameId}-error`} role="alert">
                    {nameProblem}
                  </span>
                )}
              </div>
              {editor(`departments.${d.name.trim()}`, d.draft, (draft) => update({ draft }), `(${d.name || t('department {n}', { n: i + 1 })})`, `department-${d.uid}`)}
              <div className="row-actions">
                <button type="button" className="secondary" onClick={() => setDepartments(departments.filter((_, j) => j !== i))}>
                  {t('Remove {name}', { name: d.name || t('department {n}', { n: i + 1 }) })}
                </button>
              </div>
            </fieldset>
          );
        })}
        <Alert>{general}</Alert>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => setDepartments([...departments, { uid: Date.now(), name: '', draft: draftOf(null) }])}>
            {t('Add a department')}
          </button>
          <button type="submit" disabled={busy}>
            {t('Save business hours')}
          </button>
        </div>
      </form>
      <OfflineWhen token={token} onError={onError} />
    </main>
  );
}

/** The offline_when setting: when the widget shows the offline form instead of a live chat. */
function OfflineWhen({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const [when, setWhen] = useState<Condition[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api<{ offline_when: Condition[] }>('GET', '/api/v1/settings', token).then((s) => setWhen(s.offline_when), onError);
  }, [token]);
  if (!when) return null;
  const toggle = (c: Condition, on: boolean) => setWhen(on ? [...when.filter((x) => x !== c), c] : when.filter((x) => x !== c));
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setNotice(null);
    setProblem(null);
    try {
      const saved = await api<{ offline_when: Condition[] }>('PATCH', '/api/v1/settings', token, { offline_when: when });
      setWhen(saved.offline_when);
      setNotice(t('Saved.'));
    } catch (e) {
      if (isApiError(e) && e.status === 401) onError(e);
      else setProblem(errorText(e));
    }
  };
  return (
    <form className="settings-form" onSubmit={save} aria-labelledby="offline-when-title">
      <h3 id="offline-when-title">{t('When the widget shows the offline form')}</h3>
      <p className="hint">{t('Instead of a live chat, customers then leave a message: it waits in the queue and is emailed to the team address (Admin → Email).')}</p>
      <label className="checkbox-label">
        <input type="checkbox" name="outside_hours" checked={when.includes('outside_hours')} onChange={(e) => toggle('outside_hours', e.target.checked)} /> {t('Outside business hours')}
      </label>
      <label className="checkbox-label">
        <input type="checkbox" name="no_agent_online" checked={when.includes('no_agent_online')} onChange={(e) => toggle('no_agent_online', e.target.checked)} /> {t('When no agent who could take the chat is online (with room and the skills it needs)')}
      </label>
      <Alert>{problem}</Alert>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <div className="actions">
        <button type="submit">{t('Save offline rule')}</button>
      </div>
    </form>
  );
}
