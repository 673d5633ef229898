import { useEffect, useState, type FormEvent } from 'react';
import { FIELD_TYPES, RESERVED_KEYS, type FieldType, type PrechatField } from '../../../src/prechat/rules';
import { api, errorText, isApiError } from '../../shared/util';
import { Alert, LoadingPage, rich, slots, type AdminProps } from './admin-kit';
import { servedDepartments, type Agent } from './types';
import './prechat.css';
import { t } from '../../shared/i18n';

// Admin: the pre-chat form the widget shows before a chat (PUT
// /api/v1/prechat-form replaces it whole). Fields are added, removed,
// reordered and edited here; the server's rules (src/prechat/rules.ts) judge
// the result, and a refusal is shown at the field and part it names
// (`fields[2].options`).

interface Draft {
  /** React's key for the row: stays put while the field's own key is edited */
  uid: number;
  key: string;
  label: string;
  type: FieldType;
  required: boolean;
  max_length: string;
  pattern: string;
  /** one choice per line */
  options: string;
}

const typeLabel = (type: FieldType) =>
  ({ text: t('Text'), email: t('Email'), phone: t('Phone'), number: t('Number'), select: t('Choice (select)'), checkbox: t('Checkbox') })[type];
const LENGTH_TYPES: readonly FieldType[] = ['text', 'email', 'phone'];
let uids = 0;

const draftOf = (f: PrechatField): Draft => ({
  uid: ++uids,
  key: f.key,
  label: f.label,
  type: f.type,
  required: f.required,
  max_length: f.max_length === null ? '' : String(f.max_length),
  pattern: f.pattern ?? '',
  options: f.options.join('\n'),
});

/** What PUT takes: empty parts left out; typed text sent as typed, so the server says what is wrong with it. */
const bodyOf = (d: Draft) => ({
  key: d.key.trim(),
  label: d.label,
  type: d.type,
  required: d.required,
  // a number when it reads as one; otherwise as typed ("20 chars"), which the server refuses naming the field (NaN went as null: no limit)
  ...(LENGTH_TYPES.includes(d.type) && d.max_length.trim() !== '' ? { max_length: Number.isFinite(Number(d.max_length)) ? Number(d.max_length) : d.max_length } : {}),
  ...(d.type === 'text' && d.pattern !== '' ? { pattern: d.pattern } : {}),
  ...(d.type === 'select' ? { options: d.options.split('\n').map((o) => o.trim()).filter(Boolean) } : {}),
});

/** The inputs a row shows for its type. */
const visibleParts = (type: FieldType) => ['key', 'label', 'type', ...(LENGTH_TYPES.includes(type) ? ['max_length'] : []), ...(type === 'text' ? ['pattern'] : []), ...(type === 'select' ? ['options'] : [])];

const blank = (): Draft => ({ uid: ++uids, key: '', label: '', type: 'text', required: false, max_length: '', pattern: '', options: '' });

export function PrechatAdmin({ token, onError }: AdminProps) {
  const [drafts, setDrafts] = useState<Draft[] | null>(null);
  const [departments, setDepartments] = useState<string[]>([]);
  const [problem, setProblem] = useState<{ row: number; part: string; message: string } | null>(null);
  const [general, setGeneral] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ fields: PrechatField[] }>('GET', '/api/v1/prechat-form', token).then((form) => setDrafts(form.fields.map(draftOf)), onError);
    // the departments agents work in: what a department choice usually offers
    api<Agent[]>('GET', '/api/v1/agents', token).then((agents) => setDepartments(servedDepartments(agents)), () => undefined);
  }, [token, onError]);

  if (!drafts) {
    return <LoadingPage title={t('Pre-chat form')} />;
  }

  const update = (i: number, patch: Partial<Draft>) => setDrafts(drafts.map((d, j) => (j === i ? { ...d, ...patch } : d)));
  const move = (i: number, by: -1 | 1) => {
    const next = [...drafts];
    [next[i], next[i + by]] = [next[i + by]!, next[i]!];
    setDrafts(next);
  };

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setProblem(null);
    setGeneral(null);
    setNotice(null);
    setBusy(true);
    try {
      const form = await api<{ fields: PrechatField[] }>('PUT', '/api/v1/prechat-form', token, { fields: drafts.map(bodyOf) });
      setDrafts(form.fields.map(draftOf));
      setNotice(form.fields.length === 0 ? t('Saved: no pre-chat form; the widget asks for name and email only.') : t('Saved. New chats use this form now.'));
    } catch (e) {
      if (isApiError(e) && e.status === 401) return onError(e);
      // the form's own rules name a row fields[2].options; the schema's checks fields.2.max_length
      const at = isApiError(e) ? /^fields(?:\[(\d+)\]|\.(\d+))?(?:\.(\w+))?/.exec(e.field ?? '') : null;
      const index = at?.[1] ?? at?.[2];
      const row = index === undefined ? undefined : drafts[Number(index)];
      const part = at?.[3] ?? 'key';
      // at its input when the row shows one for that part, else above the buttons
      if (row && visibleParts(row.type).includes(part)) setProblem({ row: Number(index), part, message: errorText(e) });
      else setGeneral(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="admin">
      <h2>{t('Pre-chat form')}</h2>
      <p className="hint">
        {rich(
          t("What the widget asks before a chat starts. The keys {name}, {email}, {phone} and {department} fill the conversation's own details (department routes the chat); any other key is kept with the customer and shown in the customer panel and webhooks. No fields: the widget asks for name and email, as before.",
            slots('name', 'email', 'phone', 'department'),
          ),
          [<code key="name">name</code>, <code key="email">email</code>, <code key="phone">phone</code>, <code key="department">department</code>],
        )}
      </p>
      <form className="stack-form prechat-admin" onSubmit={save} noValidate>
        {drafts.length === 0 && <p className="hint">{t('No fields yet.')}</p>}
        {drafts.map((d, i) => {
          const id = `prechat-${d.uid}`;
          const errorFor = (part: string) => (problem?.row === i && problem.part === part ? problem.message : null);
          const wire = (part: string) => (errorFor(part) ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-${part}-error` } : {});
          const error = (part: string) =>
            errorFor(part) ? (
              <span className="field-error" id={`${id}-${part}-error`} role="alert">
                {errorFor(part)}
              </span>
            ) : null;
          const reserved = RESERVED_KEYS[d.key.trim()];
          return (
            <fieldset key={d.uid} className="prechat-field" data-testid="prechat-field">
              <legend>
                {d.label ? t('Field {n}: {label}', { n: i + 1, label: d.label }) : t('Field {n}', { n: i + 1 })}
              </legend>
              <div className="grid-form">
                <label>
                  {t('Key')}
                  <input name="key" value={d.key} onChange={(e) => update(i, { key: e.target.value })} placeholder={t('e.g. plan')} list="prechat-keys" {...wire('key')} />
                  {error('key')}
                </label>
                <label>
                  {t('Label')}
                  <input name="label" value={d.label} onChange={(e) => update(i, { label: e.target.value })} placeholder={t('What the customer reads')} {...wire('label')} />
                  {error('label')}
                </label>
                <label>
                  {t('Type')}
                  <select name="type" value={d.type} onChange={(e) => update(i, { type: e.target.value as FieldType })} {...wire('type')}>
                    {FIELD_TYPES.map((type) => (
                      <option key={type} value={type}>
                        {typeLabel(type)}
                      </option>
                    ))}
                  </select>
                  {reserved && reserved !== d.type && <small className="hint">{t('The key {key} needs the type {type}.', { key: d.key.trim(), type: typeLabel(reserved) })}</small>}
                  {error('type')}
                </label>
                <label className="checkbox-label">
                  <input name="required" type="checkbox" checked={d.required} onChange={(e) => update(i, { required: e.target.checked })} />
                  {t('Required')}
                </label>
                {LENGTH_TYPES.includes(d.type) && (
                  <label>
                    {t('Max length')}
                    <input name="max_length" inputMode="numeric" value={d.max_length} onChange={(e) => update(i, { max_length: e.target.value })} placeholder={t("the type's own")} {...wire('max_length')} />
                    {error('max_length')}
                  </label>
                )}
                {d.type === 'text' && (
                  <label>
                    {t('Pattern (regular expression)')}
                    <input name="pattern" value={d.pattern} onChange={(e) => update(i, { pattern: e.target.value })} placeholder={`${t('e.g.')} ORD-[0-9]{4}`} {...wire('pattern')} />
                    {error('pattern')}
                  </label>
                )}
                {d.type === 'select' && (
                  <label>
                    {t('Choices, one per line')}
                    <textarea name="options" rows={3} value={d.options} onChange={(e) => update(i, { options: e.target.value })} {...wire('options')} />
                    {d.key.trim() === 'department' && departments.length > 0 && (
                      <button type="button" className="link-button" onClick={() => update(i, { options: departments.join('\n') })}>
                        {t("Use the agents' departments ({list})", { list: departments.join(', ') })}
                      </button>
                    )}
                    {error('options')}
                  </label>
                )}
              </div>
              <div className="row-actions">
                <button type="button" className="secondary" onClick={() => move(i, -1)} disabled={i === 0} aria-label={t('Move field {n} up', { n: i + 1 })}>
                  ↑ {t('Up')}
                </button>
                <button type="button" className="secondary" onClick={() => move(i, 1)} disabled={i === drafts.length - 1} aria-label={t('Move field {n} down', { n: i + 1 })}>
                  ↓ {t('Down')}
                </button>
                <button type="button" className="secondary" onClick={() => setDrafts(drafts.filter((_, j) => j !== i))} aria-label={t('Remove field {n}', { n: i + 1 })}>
                  {t('Remove')}
                </button>
              </div>
            </fieldset>
          );
        })}
        <datalist id="prechat-keys">
          {Object.keys(RESERVED_KEYS).map((k) => (
            <option key={k} value={k} />
          ))}
        </datalist>
        <Alert>{general}</Alert>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => setDrafts([...drafts, blank()])}>
            {t('Add field')}
          </button>
          <button type="submit" disabled={busy}>
            {t('Save form')}
          </button>
        </div>
      </form>
    </main>
  );
}
