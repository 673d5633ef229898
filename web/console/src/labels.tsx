import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, isApiError } from '../../shared/util';
import { FieldError, TableHead, useFormErrors, type AdminProps } from './admin-kit';
import { parseSkills, skillsText, type Conversation } from './types';
import './desk.css';
import { t } from '../../shared/i18n';
import { LABEL_NAME_AS_SENT } from '../../../src/labels/limits';

// Labels in the console: the catalogue (read by everyone, kept by admins on
// their page), chips on a conversation, the editor in the customer panel, the
// filter over the desk's lists, and the counts on the dashboard.

export interface Label {
  id: string;
  name: string;
  color: string;
  /** skill → minimum level an open conversation carrying it needs (docs/routing.md#skills) */
  required_skills?: Record<string, number>;
}

/** The catalogue, read again whenever `version` changes; `reload` after a change. Errors go to `onError`. */
export function useLabels(token: string, onError: (e: unknown) => void, version: string | number = 0): { labels: Label[]; reload: () => void } {
  const [labels, setLabels] = useState<Label[]>([]);
  // answers may come back out of order: only the latest read's is shown
  const reads = useRef(0);
  const reload = useCallback(() => {
    const read = ++reads.current;
    api<Label[]>('GET', '/api/v1/labels', token).then((answer) => read === reads.current && setLabels(answer), onError);
  }, [token, onError]);
  useEffect(reload, [reload, version]);
  return { labels, reload };
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((n) => b.includes(n));

/** Black or white text, whichever reads better on the label's colour. */
function inkOn(color: string): string {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
  return 0.299 * r! + 0.587 * g! + 0.114 * b! > 150 ? '#1c1c1c' : '#fff';
}

export function LabelChip({ name, labels, onRemove }: { name: string; labels: readonly Label[]; onRemove?: () => void }) {
  const color = labels.find((l) => l.name === name)?.color ?? '#e2e5ec';
  return (
    <span className="label-chip" style={{ background: color, color: inkOn(color) }} data-testid="label-chip">
      {name}
      {onRemove && (
        <button type="button" className="chip-remove" aria-label={t('Remove label {name}', { name })} onClick={onRemove}>
          ×
        </button>
      )}
    </span>
  );
}

export function LabelChips({ names, labels }: { names: readonly string[]; labels: readonly Label[] }) {
  if (names.length === 0) return null;
  return (
    <span className="label-chips">
      {names.map((n) => (
        <LabelChip key={n} name={n} labels={labels} />
      ))}
    </span>
  );
}

/** The conversation's labels, with add and remove (PUT replaces the set). */
export function LabelEditor({ conversation, token, onChanged, onError }: { conversation: Conversation; token: string; onChanged: () => void; onError: (e: unknown) => void }) {
  const shown = conversation.labels ?? [];
  const shownKey = shown.join('\n');
  // An admin may rename, add or delete labels while a chat stays open: the
  // catalogue is read again when the conversation's labels change (a rename
  // renames them there too), when the list of labels to add is opened, and
  // after a label the server no longer knows was refused.
  const { labels, reload } = useLabels(token, onError, shownKey);
  const [adding, setAdding] = useState('');
  // Each PUT replaces the whole set: two built from the same conversation as shown undid each other
  // (× on A then on B, before the read after the first, put A back). So the set the agent asks for
  // is kept and shown here, each edit made to it, and sent one PUT at a time, always the latest.
  const [asked, setAsked] = useState<readonly string[] | null>(null);
  const outbox = useRef({ asked: null as readonly string[] | null, unsent: false, running: false, shownWhenSent: '' });
  const shownNow = useRef(shown);
  useEffect(() => {
    shownNow.current = shown;
    // All sent: the conversation as read again takes over once it shows the set asked for, or shows
    // anything newer (a colleague's change, a rename) than it did when the last answer came.
    const box = outbox.current;
    if (!box.running && box.asked && (sameSet(box.asked, shown) || shownKey !== box.shownWhenSent)) {
      box.asked = null;
      setAsked(null);
    }
  }, [shownKey]);
  const send = async () => {
    const box = outbox.current;
    box.running = true;
    try {
      while (box.unsent) {
        box.unsent = false;
        const sent = await api<Conversation>('PUT', `/api/v1/conversations/${conversation.id}/labels`, token, { labels: box.asked });
        // in the server's order (the catalogue's), unless the agent asked for more meanwhile
        if (!box.unsent) box.asked = sent.labels ?? [];
      }
      box.shownWhenSent = shownNow.current.join('\n');
      if (box.asked && sameSet(box.asked, shownNow.current)) box.asked = null;
      setAsked(box.asked);
    } catch (e) {
      // the set asked for is not what is stored: what is, read again below, is shown
      box.asked = null;
      box.unsent = false;
      setAsked(null);
      if (isApiError(e) && e.code === 'SB_UNKNOWN_LABEL') {
        setAdding('');
        reload();
      }
      onError(e);
    } finally {
      box.running = false;
      onChanged();
    }
  };
  const change = (edit: (names: readonly string[]) => string[]) => {
    const box = outbox.current;
    box.asked = edit(box.asked ?? shown);
    box.unsent = true;
    setAsked(box.asked);
    if (!box.running) void send();
  };
  const current = asked ?? shown;
  const addable = labels.filter((l) => !current.includes(l.name));
  // a choice the catalogue no longer offers (deleted, renamed, added by a colleague) is no choice,
  // nor one again should it come back
  const chosen = addable.some((l) => l.name === adding) ? adding : '';
  useEffect(() => {
    if (adding !== chosen) setAdding(chosen);
  }, [adding, chosen]);
  return (
    <section className="stack" aria-label={t('Labels')}>
      <h3>{t('Labels')}</h3>
      <div className="label-chips" data-testid="conversation-labels">
        {current.length === 0 && <span className="hint">{t('No labels.')}</span>}
        {current.map((n) => (
          <LabelChip key={n} name={n} labels={labels} onRemove={() => change((names) => names.filter((c) => c !== n))} />
        ))}
      </div>
      {/* Kept when nothing is left to add: the list, opened, reads the catalogue again, which an
          admin may have added to meanwhile (and a form that vanished under a focused list left the
          keyboard's focus on nothing). */}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!chosen) return;
          change((names) => (names.includes(chosen) ? [...names] : [...names, chosen]));
          setAdding('');
        }}
      >
        <label>
          <span className="visually-hidden">{t('Label to add')}</span>
          <select value={chosen} onChange={(e) => setAdding(e.target.value)} onFocus={reload} aria-label={t('Label to add')}>
            <option value="">{addable.length > 0 ? t('Add a label…') : t('No other labels')}</option>
            {addable.map((l) => (
              <option key={l.id} value={l.name}>
                {l.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="secondary" disabled={!chosen}>
          {t('Add')}
        </button>
      </form>
    </section>
  );
}

/**
 * The desk's label filter: a name from the catalogue, or '' for every
 * conversation. One the catalogue no longer has (renamed, deleted) is
 * dropped, as the label editor drops its choice: kept, it filtered on a name
 * no conversation carries, and with the last label gone the filter, not
 * shown, could not be cleared.
 */
export function useLabelFilter(labels: readonly Label[]): [string, (name: string) => void] {
  const [chosen, setChosen] = useState('');
  const filter = labels.some((l) => l.name === chosen) ? chosen : '';
  useEffect(() => {
    if (chosen !== filter) setChosen(filter);
  }, [chosen, filter]);
  return [filter, setChosen];
}

/**
 * A supervisor's All list under a label filter: read with `label=` (the
 * server's filter), since the unfiltered list holds only the newest 100.
 * Null while there is no filter or the answer has not come. Read again after
 * each read of `catalogue` rather than with the lists: a label renamed
 * meanwhile then leaves the filter (useLabelFilter) before it is asked for,
 * not after a 400 SB_UNKNOWN_LABEL.
 */
export function useLabelled(token: string, label: string, enabled: boolean, catalogue: readonly Label[], onError: (e: unknown) => void): Conversation[] | null {
  const [found, setFound] = useState<{ label: string; list: Conversation[] } | null>(null);
  useEffect(() => {
    if (!enabled || !label) return;
    let current = true;
    api<Conversation[]>('GET', `/api/v1/conversations?label=${encodeURIComponent(label)}&limit=100`, token).then(
      (list) => current && setFound({ label, list }),
      (e) => current && onError(e),
    );
    return () => {
      current = false;
    };
  }, [token, label, enabled, catalogue, onError]);
  return enabled && label && found?.label === label ? found.list : null;
}

/** The desk's filter over its lists: every conversation, or those with one label (useLabelFilter keeps `value` among them). */
export function LabelFilter({ labels, value, onChange }: { labels: readonly Label[]; value: string; onChange: (name: string) => void }) {
  if (labels.length === 0) return null;
  return (
    <label className="label-filter">
      <span className="visually-hidden">{t('Filter by label')}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label={t('Filter by label')} data-testid="label-filter">
        <option value="">{t('All labels')}</option>
        {labels.map((l) => (
          <option key={l.id} value={l.name}>
            {l.name}
          </option>
        ))}
      </select>
    </label>
  );
}

interface LabelCount {
  name: string;
  color: string;
  open: number;
  total: number;
}

/** The dashboard's counts per label (GET /api/v1/stats/labels), read with the dashboard. */
export function LabelStats({ token, version, onError }: { token: string; version: number; onError: (e: unknown) => void }) {
  const [counts, setCounts] = useState<LabelCount[] | null>(null);
  useEffect(() => {
    void api<LabelCount[]>('GET', '/api/v1/stats/labels', token).then(setCounts, onError);
  }, [token, version, onError]);
  if (!counts || counts.length === 0) return null;
  return (
    <section className="panel-box" aria-labelledby="labels-title">
      <h3 id="labels-title">{t('Labels')}</h3>
      <div className="table-wrap">
        <table data-testid="label-stats">
          <TableHead columns={[t('Label'), t('Open now'), t('All')]} />
          <tbody>
            {counts.map((c) => (
              <tr key={c.name}>
                <td>
                  <LabelChip name={c.name} labels={[{ id: c.name, name: c.name, color: c.color }]} />
                </td>
                <td>{c.open}</td>
                <td>{c.total}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/**
 * A label's colour in the catalogue. React's onChange is the input event, one
 * per step of a drag in the picker: a PATCH each, which could land out of
 * order, and the field, held to the stored colour, snapped back meanwhile.
 * The picker keeps its own value while the admin picks; the native change
 * event, once the pick is made, sends it.
 */
function LabelColour({ label, onPick }: { label: Label; onPick: (color: string) => Promise<boolean> }) {
  const input = useRef<HTMLInputElement>(null);
  // the stored colour, once read again after a pick (or changed by another admin)
  useEffect(() => {
    if (input.current) input.current.value = label.color;
  }, [label.color]);
  useEffect(() => {
    const field = input.current;
    if (!field) return;
    const picked = () => {
      if (field.value === label.color) return;
      void onPick(field.value).then((stored) => {
        if (!stored) field.value = label.color;
      });
    };
    field.addEventListener('change', picked);
    return () => field.removeEventListener('change', picked);
  }, [label.color, onPick]);
  return <input ref={input} type="color" aria-label={t('Colour of {name}', { name: label.name })} defaultValue={label.color} />;
}

/** Admin page: the catalogue. */
export function LabelsAdmin({ token, onError }: AdminProps) {
  const { labels, reload } = useLabels(token, onError);
  const [form, setForm] = useState({ name: '', color: '#2457c5', skills: '' });
  const errors = useFormErrors(onError, 'label', ['name', 'color', 'required_skills']);
  const create = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    try {
      await api('POST', '/api/v1/labels', token, { name: form.name, color: form.color, required_skills: parseSkills(form.skills) });
      setForm({ name: '', color: form.color, skills: '' });
      reload();
    } catch (e) {
      errors.fail(e);
    }
  };
  const patch = async (label: Label, body: Partial<Label>): Promise<boolean> => {
    try {
      await api('PATCH', `/api/v1/labels/${label.id}`, token, body);
      reload();
      return true;
    } catch (e) {
      onError(e);
      return false;
    }
  };
  const remove = async (label: Label) => {
    if (!confirm(t('Delete the label {name}? It is taken off every conversation.', { name: label.name }))) return;
    try {
      await api('DELETE', `/api/v1/labels/${label.id}`, token);
      reload();
    } catch (e) {
      onError(e);
    }
  };
  return (
    <main className="admin" aria-labelledby="labels-admin-title">
      <h2 id="labels-admin-title">{t('Labels')}</h2>
      <form className="grid-form" onSubmit={create} aria-label={t('New label')}>
        <label>
          {t('Name')}
          {/* The server counts characters once composed (LABEL_NAME_MAX), where maxLength counts UTF-16
              units: an emoji is two. Only the bound on what is sent here; its 4xx says the rest. */}
          <input required maxLength={LABEL_NAME_AS_SENT} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} {...errors.describe('name')} />
          <FieldError errors={errors} field="name" idPrefix="label" />
        </label>
        <label>
          {t('Colour')}
          <input type="color" value={form.color} onChange={(e) => setForm({ ...form, color: e.target.value })} {...errors.describe('color')} />
          <FieldError errors={errors} field="color" idPrefix="label" />
        </label>
        <label>
          {t('Required skills')}
          <input value={form.skills} placeholder={t('spanish:3, billing:1')} onChange={(e) => setForm({ ...form, skills: e.target.value })} {...errors.describe('required_skills')} />
          <FieldError errors={errors} field="required_skills" idPrefix="label" />
        </label>
        <button type="submit">{t('Add label')}</button>
      </form>
      {errors.general && (
        <p className="error" role="alert">
          {errors.general}
        </p>
      )}
      <div className="table-wrap">
        <table data-testid="labels-table">
          <TableHead columns={[t('Label'), t('Colour'), t('Required skills'), '']} />
          <tbody>
            {labels.map((l) => (
              <tr key={l.id}>
                <td>
                  <LabelChip name={l.name} labels={labels} />
                </td>
                <td>
                  <LabelColour label={l} onPick={(color) => patch(l, { color })} />
                </td>
                <td>
                  <input
                    key={`${l.id}-${skillsText(l.required_skills)}`}
                    aria-label={t('Required skills of {name}', { name: l.name })}
                    placeholder={t('spanish:3, billing:1')}
                    defaultValue={skillsText(l.required_skills)}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') e.currentTarget.blur();
                    }}
                    onBlur={(e) => {
                      const next = parseSkills(e.target.value);
                      if (skillsText(next) !== skillsText(l.required_skills)) void patch(l, { required_skills: next });
                    }}
                  />
                </td>
                <td>
                  <button type="button" className="danger" onClick={() => void remove(l)}>
                    {t('Delete')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}
