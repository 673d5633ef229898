import { useCallback, useEffect, useId, useState } from 'react';
import { api } from '../../shared/util';
import { FieldError, TableHead, useFormErrors } from './admin-kit';
import { useLatestAnswer } from './latest-answer';
import { isoDay, startOfDay } from './reports';

// The dashboard's Greetings section (GET /api/v1/reports/greetings): per
// greeting, the visitors it was shown to in a period and how many of them
// then started a chat.

interface Figures {
  shown: number;
  opened: number;
  open_rate: number | null;
}

interface Report {
  rows: (Figures & { greeting_id: string; name: string; enabled: boolean })[];
  total: Figures;
}

const DAY_MS = 86_400_000;
const FIELDS = ['from', 'to'] as const;
const cells = (f: Figures) => [String(f.shown), String(f.opened), f.open_rate === null ? '—' : `${f.open_rate.toFixed(1)} %`];

export function GreetingsSection({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const today = isoDay(new Date());
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 6 * DAY_MS)));
  const [to, setTo] = useState(today);
  const [report, setReport] = useState<Report | null>(null);
  const idPrefix = useId();
  const errors = useFormErrors(onError, idPrefix, FIELDS);
  const { clear, fail } = errors;
  const query = from && to ? `from=${encodeURIComponent(startOfDay(from))}&to=${encodeURIComponent(startOfDay(to, 1))}` : null;
  const latest = useLatestAnswer(query ?? '');

  const load = useCallback(async () => {
    if (!query) return;
    const fresh = latest(query);
    try {
      const next = await api<Report>('GET', `/api/v1/reports/greetings?${query}`, token);
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

  return (
    <section className="panel-box reports greetings-report" aria-labelledby="greetings-report-title">
      <h3 id="greetings-report-title">Greetings</h3>
      <form
        className="report-form"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          From
          <input type="date" value={from} max={to || today} onChange={(e) => setFrom(e.target.value)} required {...errors.describe('from')} />
        </label>
        <label>
          To (included)
          <input type="date" value={to} onChange={(e) => setTo(e.target.value)} required {...errors.describe('to')} />
        </label>
        <button type="submit" className="secondary">
          Refresh
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
      <p className="hint">Visitors each greeting was shown to in the period, and of those, how many then started a chat.</p>
      {report && (
        <div className="table-wrap">
          <table data-testid="greetings-table">
            <caption className="visually-hidden">{`Greetings, ${from} to ${to}`}</caption>
            <TableHead columns={['Greeting', 'Shown', 'Opened a chat', 'Open rate']} />
            <tbody>
              {report.rows.length === 0 ? (
                <tr>
                  <td colSpan={4} className="empty">
                    No greetings defined.
                  </td>
                </tr>
              ) : (
                report.rows.map((row) => (
                  <tr key={row.greeting_id} data-testid="greetings-row">
                    <th scope="row">{row.name}</th>
                    {cells(row).map((c, i) => (
                      <td key={i}>{c}</td>
                    ))}
                  </tr>
                ))
              )}
            </tbody>
            {report.rows.length > 1 && (
              <tfoot>
                <tr>
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
