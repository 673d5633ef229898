import { useCallback, useEffect, useId, useState, type ReactNode } from 'react';
import { api } from '../../shared/util';
import { FieldError, TableHead, useFormErrors, type FormErrors } from './admin-kit';
import { useLatestAnswer } from './latest-answer';
import { formatDate } from '../../shared/format';
import { t } from '../../shared/i18n';

// What the dashboard's period sections (Reports, Satisfaction) share: a
// period of local days and a grouping in a form, the read of a grouped
// report for them, and the table of one row per agent or department with
// a total. Each section keeps only its own figures and columns.

export type Group = 'agent' | 'department';

/** A row of a grouped report: its figures and who or what it is about. */
export type GroupRow<F> = F & { agent_id?: string | null; agent_name?: string | null; department?: string | null };

export interface GroupedReport<F> {
  group: Group;
  rows: GroupRow<F>[];
  total: F;
}

const DAY_MS = 86_400_000;
const FIELDS = ['from', 'to', 'group'] as const;

/** A local calendar day as the date input writes it. */
export function isoDay(t: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
}

/**
 * The console's days are the user's local days: the start of `day`, as an
 * instant the API reads; null when `day` is no day (a cleared date input
 * gives '', and an Invalid Date would throw in toISOString during render).
 */
export function startOfDay(day: string, plusDays = 0): string | null {
  const match = /^(\d{4,})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return null;
  const start = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + plusDays);
  return Number.isNaN(start.getTime()) ? null : start.toISOString();
}

const dayText = (day: string) => {
  const start = startOfDay(day);
  return start === null ? day : formatDate(start);
};

/** The period's days for a caption: {from} and {to}, as dates of the console's language. */
export const periodText = (from: string, to: string) => ({ from: dayText(from), to: dayText(to) });

export interface PeriodReport<R> {
  from: string;
  to: string;
  group: Group;
  today: string;
  setFrom: (day: string) => void;
  setTo: (day: string) => void;
  setGroup: (group: Group) => void;
  /** The query string of the period and grouping, or null while a day is missing. */
  query: string | null;
  /** null while a day is missing too: the last period's figures must not pass for the one being typed */
  report: R | null;
  load: () => Promise<void>;
  errors: FormErrors;
  idPrefix: string;
}

/**
 * The last seven days (by agent, when `grouped`), read from `path` again
 * whenever the period or grouping changes.
 */
export function usePeriodReport<R>(path: string, token: string, onError: (e: unknown) => void, grouped = true): PeriodReport<R> {
  const today = isoDay(new Date());
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 6 * DAY_MS)));
  const [to, setTo] = useState(today);
  const [group, setGroup] = useState<Group>('agent');
  const [report, setReport] = useState<R | null>(null);
  const idPrefix = useId();
  const errors = useFormErrors(onError, idPrefix, FIELDS);
  const { clear, fail } = errors;

  // "to" is a whole day in the form, the end of the API's half-open period
  const start = startOfDay(from);
  const end = startOfDay(to, 1);
  const period = start && end ? `from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}` : null;
  const query = period && grouped ? `group=${group}&${period}` : period;
  const latest = useLatestAnswer(query ?? '');

  const load = useCallback(async () => {
    if (!query) {
      // an error about the days that were there is no longer about anything shown
      clear();
      setReport(null);
      return;
    }
    const fresh = latest(query);
    try {
      const next = await api<R>('GET', `${path}?${query}`, token);
      if (!fresh()) return;
      clear();
      setReport(next);
    } catch (e) {
      if (!fresh()) return;
      setReport(null);
      fail(e);
    }
  }, [path, query, token, latest, clear, fail]);

  useEffect(() => {
    void load();
  }, [load]);

  return { from, to, group, today, setFrom, setTo, setGroup, query, report: query ? report : null, load, errors, idPrefix };
}

/**
 * The period form: from, to (included), one row per agent or department
 * (when the section is grouped: `groupLabel` names that choice), and what
 * the section adds (buttons).
 */
export function PeriodForm<R>({ period, testIdPrefix, groupLabel, children }: { period: PeriodReport<R>; testIdPrefix: string; groupLabel?: string; children?: ReactNode }) {
  const { from, to, group, today, errors, idPrefix } = period;
  return (
    <>
      <form
        className="report-form"
        onSubmit={(e) => {
          e.preventDefault();
          void period.load();
        }}
      >
        <label>
          {t('From')}
          <input type="date" value={from} max={to || today} onChange={(e) => period.setFrom(e.target.value)} required {...errors.describe('from')} data-testid={`${testIdPrefix}-from`} />
        </label>
        <label>
          {t('To (included)')}
          <input type="date" value={to} onChange={(e) => period.setTo(e.target.value)} required {...errors.describe('to')} data-testid={`${testIdPrefix}-to`} />
        </label>
        {groupLabel && (
          <div role="group" aria-label={groupLabel} className="report-group">
            {(['agent', 'department'] as const).map((g) => (
              <button key={g} type="button" className={group === g ? '' : 'secondary'} aria-pressed={group === g} onClick={() => period.setGroup(g)}>
                {g === 'agent' ? t('Per agent') : t('Per department')}
              </button>
            ))}
          </div>
        )}
        {children}
      </form>
      {!period.query && (
        <p className="hint" role="status" data-testid={`${testIdPrefix}-incomplete`}>
          {t('Choose both days of the period to see its figures.')}
        </p>
      )}
      {FIELDS.map((f) => (
        <FieldError key={f} errors={errors} field={f} idPrefix={idPrefix} />
      ))}
      {errors.general && (
        <p className="error" role="alert">
          {errors.general}
        </p>
      )}
    </>
  );
}

/** One row per agent or department, then the total over all of them. */
export function GroupedTable<F>({
  report,
  caption,
  columns,
  cells,
  empty,
  testIdPrefix,
}: {
  report: GroupedReport<F>;
  caption: string;
  columns: readonly string[];
  cells: (figures: F) => string[];
  empty: string;
  testIdPrefix: string;
}) {
  const byAgent = report.group === 'agent';
  const nameOf = (row: GroupRow<F>) => (byAgent ? (row.agent_name ?? t('No agent (closed from the queue)')) : (row.department ?? t('No department')));
  return (
    <div className="table-wrap">
      <table data-testid={`${testIdPrefix}-table`}>
        <caption className="visually-hidden">{caption}</caption>
        <TableHead columns={[byAgent ? t('Agent') : t('Department'), ...columns]} />
        <tbody>
          {report.rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length + 1} className="empty">
                {empty}
              </td>
            </tr>
          ) : (
            report.rows.map((row) => (
              <tr key={row.agent_id ?? row.department ?? ''} data-testid={`${testIdPrefix}-row`}>
                <th scope="row">{nameOf(row)}</th>
                {cells(row).map((c, i) => (
                  <td key={i}>{c}</td>
                ))}
              </tr>
            ))
          )}
        </tbody>
        {report.rows.length > 0 && (
          <tfoot>
            <tr data-testid={`${testIdPrefix}-total`}>
              <th scope="row">{t('All')}</th>
              {cells(report.total).map((c, i) => (
                <td key={i}>{c}</td>
              ))}
            </tr>
          </tfoot>
        )}
      </table>
    </div>
  );
}
