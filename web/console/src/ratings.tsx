import { useCallback, useEffect, useId, useState } from 'react';
import { api } from '../../shared/util';
import { FieldError, TableHead, useFormErrors } from './admin-kit';
import { useLatestAnswer } from './latest-answer';
import { isoDay, startOfDay } from './reports';

// Customer satisfaction in the console: a conversation's rating where the
// conversation is shown, and the dashboard's Satisfaction section
// (GET /api/v1/reports/satisfaction) per agent or department over a period.

export interface Rating {
  score: number;
  comment: string | null;
  created_at: string;
}

const stars = (score: number) => '★'.repeat(score) + '☆'.repeat(5 - score);

/** The customer's rating of one conversation, or that none was given. */
export function RatingView({ rating }: { rating: Rating | null | undefined }) {
  return (
    <div className="rating-view" data-testid="conversation-rating">
      <h4>Customer rating</h4>
      {rating ? (
        <>
          <p>
            <span className="stars" aria-hidden="true">
              {stars(rating.score)}
            </span>{' '}
            <strong data-testid="rating-score">{rating.score}/5</strong>
          </p>
          {rating.comment && (
            <blockquote className="rating-comment" data-testid="rating-comment">
              {rating.comment}
            </blockquote>
          )}
        </>
      ) : (
        <p className="hint">Not rated.</p>
      )}
    </div>
  );
}

interface Figures {
  ratings: number;
  average: number | null;
  csat: number | null;
  scores: number[];
}

interface Satisfaction {
  group: Group;
  rows: (Figures & { agent_id?: string | null; agent_name?: string | null; department?: string | null })[];
  total: Figures;
  days: (Figures & { day: string })[];
}

type Group = 'agent' | 'department';
const DAY_MS = 86_400_000;
const FIELDS = ['from', 'to', 'group'] as const;

const cells = (f: Figures) => [
  String(f.ratings),
  f.average === null ? '—' : f.average.toFixed(2),
  f.csat === null ? '—' : `${f.csat.toFixed(1)} %`,
  f.scores.join(' / '),
];
const COLUMNS = ['Ratings', 'Average (1–5)', 'CSAT (4–5)', 'Scores 1 / 2 / 3 / 4 / 5'];

export function SatisfactionSection({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const today = isoDay(new Date());
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 6 * DAY_MS)));
  const [to, setTo] = useState(today);
  const [group, setGroup] = useState<Group>('agent');
  const [report, setReport] = useState<Satisfaction | null>(null);
  const idPrefix = useId();
  const errors = useFormErrors(onError, idPrefix, FIELDS);
  const { clear, fail } = errors;

  // days are the user's local days; "to" is included, the API's end excluded
  const query = from && to ? `group=${group}&from=${encodeURIComponent(startOfDay(from))}&to=${encodeURIComponent(startOfDay(to, 1))}` : null;
  const latest = useLatestAnswer(query ?? '');

  const load = useCallback(async () => {
    if (!query) return;
    const fresh = latest(query);
    try {
      const next = await api<Satisfaction>('GET', `/api/v1/reports/satisfaction?${query}`, token);
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

  const label = group === 'agent' ? 'Agent' : 'Department';
  const nameOf = (row: Satisfaction['rows'][number]) => (group === 'agent' ? (row.agent_name ?? 'No agent (closed from the queue)') : (row.department ?? 'No department'));

  return (
    <section className="panel-box reports satisfaction" aria-labelledby="satisfaction-title">
      <h3 id="satisfaction-title">Satisfaction</h3>
      <form
        className="report-form"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          From
          <input type="date" value={from} max={to || today} onChange={(e) => setFrom(e.target.value)} required {...errors.describe('from')} data-testid="satisfaction-from" />
        </label>
        <label>
          To (included)
          <input type="date" value={to} onChange={(e) => setTo(e.target.value)} required {...errors.describe('to')} data-testid="satisfaction-to" />
        </label>
        <div role="group" aria-label="Satisfaction: one row per" className="report-group">
          {(['agent', 'department'] as const).map((g) => (
            <button key={g} type="button" className={group === g ? '' : 'secondary'} aria-pressed={group === g} onClick={() => setGroup(g)}>
              Per {g}
            </button>
          ))}
        </div>
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
      <p className="hint">Ratings customers gave in the period (1–5, after a resolved chat), by the agent and department of the conversation. CSAT: the share of 4 and 5.</p>
      {report && (
        <>
          <div className="table-wrap">
            <table data-testid="satisfaction-table">
              <caption className="visually-hidden">{`Satisfaction per ${group}, ${from} to ${to}`}</caption>
              <TableHead columns={[label, ...COLUMNS]} />
              <tbody>
                {report.rows.length === 0 ? (
                  <tr>
                    <td colSpan={5} className="empty">
                      No rating was given in this period.
                    </td>
                  </tr>
                ) : (
                  report.rows.map((row) => (
                    <tr key={row.agent_id ?? row.department ?? ''} data-testid="satisfaction-row">
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
                  <tr data-testid="satisfaction-total">
                    <th scope="row">All</th>
                    {cells(report.total).map((c, i) => (
                      <td key={i}>{c}</td>
                    ))}
                  </tr>
                </tfoot>
              )}
            </table>
          </div>
          {report.days.length > 0 && (
            <details className="as-table">
              <summary>By day (UTC)</summary>
              <div className="table-wrap">
                <table data-testid="satisfaction-days">
                  <TableHead columns={['Day', ...COLUMNS]} />
                  <tbody>
                    {report.days.map((d) => (
                      <tr key={d.day}>
                        <th scope="row">{d.day}</th>
                        {cells(d).map((c, i) => (
                          <td key={i}>{c}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          )}
        </>
      )}
    </section>
  );
}
