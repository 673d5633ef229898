import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, FieldError, FormFooter, useFormErrors, type AdminProps } from './admin-kit';
import { servedDepartments, type Agent } from './types';
import { t } from '../../shared/i18n';

// Admin: how each department's conversations are routed
// (GET/PUT /api/v1/departments/:name/routing, docs/routing.md). Departments
// are the names agents carry, so the page offers those and any other name
// typed in. The whole form is sent: the server keeps what did not change.

type Mode = 'auto' | 'offer' | 'manual';

interface Routing {
  department: string;
  mode: Mode;
  sticky_window_s: number;
  sticky_wait_s: number;
  offer_timeout_s: number;
  offer_expiries_before_away: number;
  manual_order: 'in_order' | 'any';
  overflow: { after_s: number; to: string }[];
  aging_per_min: number;
  sla_first_response_s: number | null;
  required_skills: Record<string, number>;
  skills_relax_after_s: number | null;
}

const NUMBERS = ['sticky_window_s', 'sticky_wait_s', 'offer_timeout_s', 'offer_expiries_before_away', 'aging_per_min'] as const;
const OPTIONAL_NUMBERS = ['sla_first_response_s', 'skills_relax_after_s'] as const;
type Draft = Record<(typeof NUMBERS)[number] | (typeof OPTIONAL_NUMBERS)[number], string> & {
  mode: Mode;
  manual_order: Routing['manual_order'];
  required_skills: string;
  overflow: { after_s: string; to: string }[];
};
const FIELDS = [...NUMBERS, ...OPTIONAL_NUMBERS, 'mode', 'manual_order', 'required_skills', 'overflow'] as const;
const ID = 'routing';

const draftOf = (r: Routing): Draft => ({
  mode: r.mode,
  manual_order: r.manual_order,
  sticky_window_s: String(r.sticky_window_s),
  sticky_wait_s: String(r.sticky_wait_s),
  offer_timeout_s: String(r.offer_timeout_s),
  offer_expiries_before_away: String(r.offer_expiries_before_away),
  aging_per_min: String(r.aging_per_min),
  sla_first_response_s: r.sla_first_response_s === null ? '' : String(r.sla_first_response_s),
  skills_relax_after_s: r.skills_relax_after_s === null ? '' : String(r.skills_relax_after_s),
  required_skills: Object.entries(r.required_skills)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([skill, level]) => `${skill}:${level}`)
    .join(', '),
  overflow: r.overflow.map((o) => ({ after_s: String(o.after_s), to: o.to })),
});

/** "spanish:2, billing" → {spanish: 2, billing: 1}; what is not a number reaches the server as typed, which names it. */
function parseSkills(text: string): Record<string, unknown> {
  const skills: Record<string, unknown> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name, level] = part.split(':').map((p) => p.trim());
    skills[name!] = level === undefined || level === '' ? 1 : Number.isFinite(Number(level)) ? Number(level) : level;
  }
  return skills;
}

/** A number field as typed: "" is null where the setting allows none, else sent as is for the server to judge. */
const numberOf = (text: string) => (text.trim() === '' ? null : Number.isFinite(Number(text)) ? Number(text) : text);

export function RoutingAdmin({ token, onError }: AdminProps) {
  const [departments, setDepartments] = useState<string[]>([]);
  const [department, setDepartment] = useState('');
  const [saved, setSaved] = useState<Routing | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(onError, ID, FIELDS);

  useEffect(() => {
    api<Agent[]>('GET', '/api/v1/agents', token).then((agents) => {
      const names = servedDepartments(agents);
      setDepartments(names);
      setDepartment((current) => current || names[0] || '');
    }, onError);
  }, [token, onError]);

  const take = useCallback((r: Routing) => {
    setSaved(r);
    setDraft(draftOf(r));
  }, []);
  useEffect(() => {
    if (department.trim() === '') return;
    errors.clear();
    setNotice(null);
    api<Routing>('GET', `/api/v1/departments/${encodeURIComponent(department.trim())}/routing`, token).then(take, errors.fail);
  }, [department, token]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!draft || department.trim() === '') return;
    errors.clear();
    setNotice(null);
    const body: Record<string, unknown> = {
      mode: draft.mode,
      manual_order: draft.manual_order,
      required_skills: parseSkills(draft.required_skills),
      overflow: draft.overflow.filter((o) => o.to.trim() !== '' || o.after_s.trim() !== '').map((o) => ({ after_s: numberOf(o.after_s), to: o.to.trim() })),
    };
    for (const key of NUMBERS) body[key] = numberOf(draft[key]);
    for (const key of OPTIONAL_NUMBERS) body[key] = numberOf(draft[key]);
    setBusy(true);
    try {
      take(await api<Routing>('PUT', `/api/v1/departments/${encodeURIComponent(department.trim())}/routing`, token, body));
      setNotice(t('Saved. New conversations of {department} are routed this way now.', { department: department.trim() }));
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };

  const number = (key: (typeof NUMBERS)[number] | (typeof OPTIONAL_NUMBERS)[number]) => ({
    id: `${ID}-${key}`,
    name: key,
    type: 'number',
    step: key === 'aging_per_min' ? 'any' : '1',
    value: draft?.[key] ?? '',
    onChange: (e: { target: { value: string } }) => draft && setDraft({ ...draft, [key]: e.target.value }),
    ...errors.describe(key),
  });
  const setting = (key: (typeof NUMBERS)[number] | (typeof OPTIONAL_NUMBERS)[number], label: string, help: string) => (
    <div className="setting" key={key}>
      <label htmlFor={`${ID}-${key}`}>{label}</label>
      <input {...number(key)} />
      <small>{help}</small>
      <FieldError errors={errors} field={key} idPrefix={ID} />
    </div>
  );
  const setOverflow = (i: number, change: Partial<{ after_s: string; to: string }>) =>
    draft && setDraft({ ...draft, overflow: draft.overflow.map((o, j) => (j === i ? { ...o, ...change } : o)) });

  return (
    <main className="admin">
      <h2>{t('Routing')}</h2>
      <p>{t('How each department’s conversations reach agents. A department you never changed routes by the defaults.')}</p>
      <div className="setting">
        <label htmlFor={`${ID}-department`}>{t('Department')}</label>
        <input id={`${ID}-department`} list={`${ID}-departments`} value={department} onChange={(e) => setDepartment(e.target.value)} />
        <datalist id={`${ID}-departments`}>
          {departments.map((d) => (
            <option key={d} value={d} />
          ))}
        </datalist>
      </div>
      {department.trim() === '' ? (
        <p>{t('Name a department to see its routing.')}</p>
      ) : !draft || !saved ? (
        <>
          <Alert>{errors.general}</Alert>
          <p>{t('Loading…')}</p>
        </>
      ) : (
        <form className="settings-form" onSubmit={submit} noValidate aria-label={t('Routing of {department}', { department: saved.department })}>
          <div className="setting">
            <label htmlFor={`${ID}-mode`}>{t('Mode')}</label>
            <select id={`${ID}-mode`} value={draft.mode} onChange={(e) => setDraft({ ...draft, mode: e.target.value as Mode })} {...errors.describe('mode')}>
              <option value="auto">{t('Automatic: the least busy agent gets it at once')}</option>
              <option value="offer">{t('Offer: the agent accepts or declines in time')}</option>
              <option value="manual">{t('Manual: agents pick from the queue')}</option>
            </select>
            <FieldError errors={errors} field="mode" idPrefix={ID} />
          </div>
          {draft.mode === 'offer' && (
            <>
              {setting('offer_timeout_s', t('Seconds to accept an offer'), t('5–3600. An offer not accepted in time goes to the next agent.'))}
              {setting('offer_expiries_before_away', t('Missed offers before away'), t('An agent who lets this many offers in a row expire is set away (1–100).'))}
            </>
          )}
          {draft.mode === 'manual' && (
            <div className="setting">
              <label htmlFor={`${ID}-manual_order`}>{t('Which conversations agents may pick')}</label>
              <select id={`${ID}-manual_order`} value={draft.manual_order} onChange={(e) => setDraft({ ...draft, manual_order: e.target.value as Draft['manual_order'] })}>
                <option value="in_order">{t('Only the next in line')}</option>
                <option value="any">{t('Any waiting conversation')}</option>
              </select>
              <FieldError errors={errors} field="manual_order" idPrefix={ID} />
            </div>
          )}
          {setting('sticky_window_s', t('Return to the last agent within (s)'), t('A returning customer goes back to the agent of their last conversation if it ended this recently; 0: off.'))}
          {setting('sticky_wait_s', t('Wait for that agent (s)'), t('How long to wait when that agent is busy before routing normally; 0: route at once.'))}
          {setting('aging_per_min', t('Priority gained per minute waiting'), t('So that low priorities never wait forever; 0: off.'))}
          {setting('sla_first_response_s', t('First response target (s)'), t('A conversation with no agent answer by then is reported as an SLA breach; empty: no target.'))}
          <div className="setting">
            <label htmlFor={`${ID}-required_skills`}>{t('Required skills')}</label>
            <input id={`${ID}-required_skills`} value={draft.required_skills} placeholder="spanish:2, billing:1" onChange={(e) => setDraft({ ...draft, required_skills: e.target.value })} {...errors.describe('required_skills')} />
            <small>{t('skill:level pairs, separated by commas; only agents with every skill at that level or higher serve the department.')}</small>
            <FieldError errors={errors} field="required_skills" idPrefix={ID} />
          </div>
          {setting('skills_relax_after_s', t('Drop the skills after (s)'), t('A conversation no skilled agent can take is offered to everyone after this wait; empty: it waits for a skilled agent.'))}
          <fieldset className="setting" aria-describedby={errors.fields.overflow ? `${ID}-overflow-error` : undefined}>
            <legend>{t('Overflow')}</legend>
            <small>{t('After waiting this long, agents of another department may serve the conversation too.')}</small>
            {draft.overflow.map((o, i) => (
              <div className="overflow-step" key={i}>
                <label>
                  {t('After (s)')}
                  <input type="number" value={o.after_s} onChange={(e) => setOverflow(i, { after_s: e.target.value })} />
                </label>
                <label>
                  {t('Also to')}
                  <input list={`${ID}-departments`} value={o.to} onChange={(e) => setOverflow(i, { to: e.target.value })} />
                </label>
                <button type="button" className="secondary" onClick={() => setDraft({ ...draft, overflow: draft.overflow.filter((_, j) => j !== i) })}>
                  {t('Remove step')}
                </button>
              </div>
            ))}
            <button type="button" className="secondary" onClick={() => setDraft({ ...draft, overflow: [...draft.overflow, { after_s: '60', to: '' }] })}>
              {t('Add overflow step')}
            </button>
            <FieldError errors={errors} field="overflow" idPrefix={ID} />
          </fieldset>
          <FormFooter errors={errors} notice={notice} busy={busy} save={t('Save routing')} onUndo={() => take(saved)} />
        </form>
      )}
    </main>
  );
}
