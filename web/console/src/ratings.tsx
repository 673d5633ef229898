import { TableHead } from './admin-kit';
import { GroupedTable, PeriodForm, usePeriodReport, type GroupedReport } from './period-report';
import { t } from '../../shared/i18n';
import { formatNumber } from '../../shared/format';

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
      <h4>{t('Customer rating')}</h4>
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
        <p className="hint">{t('Not rated.')}</p>
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

interface Satisfaction extends GroupedReport<Figures> {
  days: (Figures & { day: string })[];
}

const cells = (f: Figures) => [
  String(f.ratings),
  f.average === null ? '—' : formatNumber(f.average, { maximumFractionDigits: 2, minimumFractionDigits: 2 }),
  f.csat === null ? '—' : `${formatNumber(f.csat, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} %`,

  f.scores.join(' / '),
];
const columns = () => [t('Ratings'), t('Average (1–5)'), t('CSAT (4–5)'), t('Scores 1 / 2 / 3 / 4 / 5')];

export function SatisfactionSection({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const period = usePeriodReport<Satisfaction>('/api/v1/reports/satisfaction', token, onError);
  const { report, from, to, group } = period;
  const COLUMNS = columns();

  return (
    <section className="panel-box reports satisfaction" aria-labelledby="satisfaction-title">
      <h3 id="satisfaction-title">{t('Satisfaction')}</h3>
      <PeriodForm period={period} testIdPrefix="satisfaction" groupLabel={t('Satisfaction: one row per')}>
        <button type="submit" className="secondary">
          {t('Refresh')}
        </button>
      </PeriodForm>
      <p className="hint">{t('Ratings customers gave in the period (1–5, after a resolved chat), by the agent and department of the conversation. CSAT: the share of 4 and 5.')}</p>
      {report && (
        <>
          <GroupedTable report={report} caption={t('Satisfaction per {group}, {from} to {to}', { group, from, to })} columns={COLUMNS} cells={cells} empty={t('No rating was given in this period.')} testIdPrefix="satisfaction" />
          {report.days.length > 0 && (
            <details className="as-table">
              <summary>{t('By day (UTC)')}</summary>
              <div className="table-wrap">
                <table data-testid="satisfaction-days">
                  <TableHead columns={[t('Day'), ...COLUMNS]} />
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
