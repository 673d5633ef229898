import { useCallback, useEffect, useId, useState } from 'react';
import { api, formatWait, type ApiError } from '../../shared/util';
import { FieldError, TableHead, useFormErrors } from './admin-kit';
import { useLatestAnswer } from './latest-answer';

// The dashboard's Reports section: GET /api/v1/reports for a period and a
// grouping, as a table, and the same rows as a CSV download. The download
// is fetched with the console's token and handed to the browser as a Blob,
// so the token never goes into a URL (history, logs, a shared link).

interface Figures {
  conversations: number;
  responded: number;
  first_response_s: number | null;
  first_response_median_s: number | null;
  first_response_p90_s: number | null;
  resolution_s: number | null;
  resolution_median_s: number | null;
  resolution_p90_s: number | null;
  messages: number | null;
  messages_total: number;
}

interface Report {
  group: Group;
  from: string;
  to: string;
  rows: (Figures & { agent_id?: string | null; agent_name?: string | null; department?: string | null })[];
  total: Figures;
}

type Group = 'agent' | 'department';

const DAY_MS = 86_400_000;
const FIELDS = ['from', 'to', 'group'] as const;

/** A local calendar day as the date input writes it. */
export function isoDay(t: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
}

/** The console's days are the user's local days: the start of `day`, as an instant the API reads. */
export function startOfDay(day: string, plusDays = 0): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y!, m! - 1, d! + plusDays).toISOString();
}

const seconds = (s: number | null) => (s === null ? '—' : formatWait(s));

export function Reports({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const today = isoDay(new Date());
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 6 * DAY_MS)));
  const [to, setTo] = useState(today);
  const [group, setGroup] = useState<Group>('agent');
  const [report, setReport] = useState<Report | null>(null);
  const [busy, setBusy] = useState(false);
  const idPrefix = useId();
  const errors = useFormErrors(onError, idPrefix, FIELDS);
  const { clear, fail } = errors;

  // "to" is a whole day in the form, the end of the API's half-open period
  const query = from && to ? `group=${group}&from=${encodeURIComponent(startOfDay(from))}&to=${encodeURIComponent(startOfDay(to, 1))}` : null;
  const latest = useLatestAnswer(query ?? '');

  const load = useCallback(async () => {
    if (!query) return;
    const fresh = latest(query);
    try {
      const next = await api<Report>('GET', `/api/v1/reports?${query}`, token);
      if (!fresh()) return;
      clear();
      setReport(next);
    } catch (e) {
      if (!fresh()) return;
      setReport(null);
      fail(e);
    }
  }, [query, token, latest, clear, fail]);

  useEffect(() => {
    void load();
  }, [load]);

  const download = async () => {
    if (!query) return;
    setBusy(true);
    try {
      const response = await fetch(`/api/v1/reports?${query}&format=csv`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) {
        const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string; field?: string } } | null;
        throw { status: response.status, code: body?.error?.code ?? 'SB_HTTP', message: body?.error?.message ?? response.statusText, ...(body?.error?.field ? { field: body.error.field } : {}) } satisfies ApiError;
      }
      const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'switchboard-report.csv';
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      // the browser has taken the file once the click's task has run
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  };

  const label = group === 'agent' ? 'Agent' : 'Department';
  const nameOf = (row: Report['rows'][number]) => (group === 'agent' ? (row.agent_name ?? 'No agent (closed from the queue)') : (row.department ?? 'No department'));
  const cells = (f: Figures) => [
    String(f.conversations),
    seconds(f.first_response_s),
    seconds(f.first_response_median_s),
    seconds(f.resolution_s),
    seconds(f.resolution_median_s),
    f.messages === null ? '—' : String(f.messages),
  ];

  return (
    <section className="panel-box reports" aria-labelledby="reports-title">
      <h3 id="reports-title">Reports</h3>
      <form
        className="report-form"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          From
          <input type="date" value={from} max={to || today} onChange={(e) => setFrom(e.target.value)} required {...errors.describe('from')} data-testid="report-from" />
        </label>
        <label>
          To (included)
          <input type="date" value={to} onChange={(e) => setTo(e.target.value)} required {...errors.describe('to')} data-testid="report-to" />
        </label>
        <div role="group" aria-label="One row per" className="report-group">
          {(['agent', 'department'] as const).map((g) => (
            <button key={g} type="button" className={group === g ? '' : 'secondary'} aria-pressed={group === g} onClick={() => setGroup(g)}>
              Per {g}
            </button>
          ))}
        </div>
        <button type="button" className="secondary" onClick={() => void download()} disabled={busy || !query}>
          Download CSV
        </button>
      </form>
      {FIELDS.map((f) => (
        <FieldError key={f} errors={errors} field={f} idPrefix={idPrefix} />
      ))}
      {errors.general && (
        <p className="error" role="alert">
          {errors.general}
        </p>
      )}
      <p className="hint">Conversations resolved in the period, by the agent who held them then (or their department). First response: from creation to the first agent message.</p>
      {report && (
        <div className="table-wrap">
          <table data-testid="report-table">
            <caption className="visually-hidden">
              {`Report per ${group}, ${from} to ${to}`}
            </caption>
            <TableHead columns={[label, 'Resolved', 'First response (mean)', 'First response (median)', 'Resolution (mean)', 'Resolution (median)', 'Messages per conversation']} />
            <tbody>
              {report.rows.length === 0 ? (
                <tr>
                  <td colSpan={7} className="empty">
                    No conversation was resolved in this period.
                  </td>
                </tr>
              ) : (
                report.rows.map((row) => (
                  <tr key={row.agent_id ?? row.department ?? ''} data-testid="report-row">
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
                <tr data-testid="report-total">
                  <th scope="row">All</th>
                  {cells(report.total).map((c, i) => (
                    <td key={i}>{c}</td>
                  ))}
                </tr>
              </tfoot>
            )}
          </table>
        </div>
      )}
    </section>
  );
}
