import { useCallback, useState, type ReactNode } from 'react';
import { errorText, isApiError } from '../../shared/util';

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
      // `events.3` is still the events field
      const field = isApiError(e) ? known.find((k) => e.field === k || e.field?.startsWith(`${k}.`)) : undefined;
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
        {copied ? 'Copied' : 'Copy'}
      </button>
    </span>
  );
}

export const when = (t: string | null | undefined) => (t ? new Date(t).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' }) : '—');

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
            <span className="visually-hidden">Actions</span>
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
