import { Fragment, useCallback, useEffect, useState, type ReactNode } from 'react';
import { api, errorText, isApiError } from '../../shared/util';
import type { Role, Status } from './types';
import { t } from '../../shared/i18n';
import { formatDateTime } from '../../shared/format';

// What the admin pages share: server errors shown next to the field they
// name (or above the form), secrets to copy once, and dates.

export interface AdminProps {
  token: string;
  /** errors the page cannot place (and 401s, which log out) */
  onError: (e: unknown) => void;
  /** in-app navigation */
  go: (path: string) => void;
}

export interface FormErrors {
  /** field → message, from the server's `field` */
  fields: Record<string, string>;
  general: string | null;
  /** Places an error: next to its field, else above the form; a 401 goes to onError. */
  fail(e: unknown): void;
  clear(): void;
  /** aria wiring of an input for `field` */
  describe(field: string): { 'aria-invalid'?: true; 'aria-describedby'?: string };
}

export function useFormErrors(onError: (e: unknown) => void, idPrefix: string, known: readonly string[] = []): FormErrors {
  const [fields, setFields] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const fail = useCallback(
    (e: unknown) => {
      if (isApiError(e) && e.status === 401) return onError(e);
      // `events.3` is still the events field, `overflow[1].to` the overflow field
      const field = isApiError(e) ? known.find((k) => e.field === k || e.field?.startsWith(`${k}.`) || e.field?.startsWith(`${k}[`)) : undefined;
      if (field) {
        setFields({ [field]: errorText(e) });
        setGeneral(null);
      } else {
        setFields({});
        setGeneral(errorText(e));
      }
    },
    [onError, known],
  );
  const clear = useCallback(() => {
    setFields({});
    setGeneral(null);
  }, []);
  const describe = (field: string) => (fields[field] ? { 'aria-invalid': true as const, 'aria-describedby': `${idPrefix}-${field}-error` } : {});
  return { fields, general, fail, clear, describe };
}

/**
 * A form over some of the runtime settings (GET/PATCH /api/v1/settings): the
 * saved values (`pick` takes the form's own from all settings), the draft being
 * edited, and `save`, which sends only what changed and says `savedNotice`.
 */
export function useSettingsForm<S, D>(token: string, errors: FormErrors, pick: (all: S) => S, draftOf: (saved: S) => D) {
  const [saved, setSaved] = useState<S | null>(null);
  const [draft, setDraft] = useState<D | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const take = (all: S) => {
    const mine = pick(all);
    setSaved(mine);
    setDraft(draftOf(mine));
  };
  useEffect(() => {
    api<S>('GET', '/api/v1/settings', token).then(take, errors.fail);
  }, [token]);

  const start = () => {
    errors.clear();
    setNotice(null);
  };
  const save = async (patch: Record<string, unknown>, savedNotice: string) => {
    if (Object.keys(patch).length === 0) return setNotice(t('Nothing changed.'));
    setBusy(true);
    try {
      take(await api<S>('PATCH', '/api/v1/settings', token, patch));
      setNotice(savedNotice);
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };
  const undo = () => {
    if (saved) setDraft(draftOf(saved));
    start();
  };
  return { saved, draft, setDraft, notice, busy, start, save, undo };
}

/** An admin page while its data is on the way (or could not be read: `problem`). */
export function LoadingPage({ title, problem = null }: { title: string; problem?: string | null }) {
  return (
    <main className="admin">
      <h2>{title}</h2>
      <Alert>{problem}</Alert>
      <p>{t('Loading…')}</p>
    </main>
  );
}

/** The end of a settings form: the error it could not place by a field, what saving did, and its buttons (`onUndo`: also Undo changes). */
export function FormFooter({ errors, notice, busy, save, onUndo }: { errors: FormErrors; notice: string | null; busy: boolean; save: string; onUndo?: () => void }) {
  return (
    <>
      <Alert>{errors.general}</Alert>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {save}
        </button>
        {onUndo && (
          <button type="button" className="secondary" onClick={onUndo}>
            {t('Undo changes')}
          </button>
        )}
      </div>
    </>
  );
}

export const roleText = (role: Role) => (role === 'admin' ? t('admin') : role === 'supervisor' ? t('supervisor') : t('agent'));
export const statusText = (status: Status) => (status === 'online' ? t('online') : status === 'away' ? t('away') : t('offline'));

/** An email's or a webhook delivery's state, as a word of the console's language. */
export const deliveryState = (state: string) =>
  ({ pending: t('pending'), delivered: t('delivered'), failed: t('failed'), cancelled: t('cancelled') })[state] ?? state;

// A translated message whose placeholders are elements (<code>, links):
// slots('star', 'example') as the values of t marks where they go, rich() puts them there.
const MARK = '\u0001';
export const slots = (...names: string[]) => Object.fromEntries(names.map((name, i) => [name, `${MARK}${i}${MARK}`]));
export const rich = (text: string, elements: readonly ReactNode[]) =>
  text.split(new RegExp(`${MARK}(\\d+)${MARK}`)).map((part, i) => (i % 2 === 1 ? <Fragment key={i}>{elements[Number(part)]}</Fragment> : part));

/** A page's or section's own error line: a 401 still goes to onError (it logs out). */
export function useProblem(onError: (e: unknown) => void) {
  const [problem, setProblem] = useState<string | null>(null);
  const fail = useCallback((e: unknown) => (isApiError(e) && e.status === 401 ? onError(e) : setProblem(errorText(e))), [onError]);
  return { problem, setProblem, fail };
}

export function FieldError({ errors, field, idPrefix }: { errors: FormErrors; field: string; idPrefix: string }) {
  const message = errors.fields[field];
  if (!message) return null;
  return (
    <span className="field-error" id={`${idPrefix}-${field}-error`} role="alert">
      {message}
    </span>
  );
}

export function Alert({ children }: { children: ReactNode }) {
  if (children === null || children === undefined || children === false) return null;
  return (
    <p className="error" role="alert">
      {children}
    </p>
  );
}

/** A value to copy (a secret, a URL): selectable text and a Copy button. */
export function CopyValue({ label, value, testId }: { label: string; value: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // no clipboard (plain http): the value stays selectable
    }
  };
  return (
    <span className="copy-value">
      <input aria-label={label} readOnly value={value} onFocus={(e) => e.target.select()} data-testid={testId} />
      <button type="button" className="secondary" onClick={() => void copy()}>
        {copied ? t('Copied') : t('Copy')}
      </button>
    </span>
  );
}

export const when = (at: string | null | undefined) => (at ? formatDateTime(at, { dateStyle: 'short', timeStyle: 'medium' }) : '—');

/** An admin table's head: its columns, then (with `actions`) an unnamed one for the row's buttons. */
export function TableHead({ columns, actions = false }: { columns: readonly string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
        {actions && (
          <th scope="col">
            <span className="visually-hidden">{t('Actions')}</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

/** The one row of an empty table, across all `columns`. */
export function EmptyRow({ columns, children }: { columns: number; children: ReactNode }) {
  return (
    <tr>
      <td colSpan={columns} className="empty">
        {children}
      </td>
    </tr>
  );
}
