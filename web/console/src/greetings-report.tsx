import { TableHead } from './admin-kit';
import { PeriodForm, periodText, usePeriodReport } from './period-report';
import { formatNumber } from '../../shared/format';
import { t } from '../../shared/i18n';

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

const percent = (rate: number) => t('{rate} %', { rate: formatNumber(rate, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
const cells = (f: Figures) => [formatNumber(f.shown), formatNumber(f.opened), f.open_rate === null ? '—' : percent(f.open_rate)];

export function GreetingsSection({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const period = usePeriodReport<Report>('/api/v1/reports/greetings', token, onError, false);
  const { report, from, to } = period;

  return (
    <section className="panel-box reports greetings-report" aria-labelledby="greetings-report-title">
      <h3 id="greetings-report-title">{t('Greetings')}</h3>
      <PeriodForm period={period} testIdPrefix="greetings">
        <button type="submit" className="secondary">
          {t('Refresh')}
        </button>
      </PeriodForm>
      <p className="hint">{t('Visitors each greeting was shown to in the period, and of those, how many then started a chat.')}</p>
      {report && (
        <div className="table-wrap">
          <table data-testid="greetings-table">
            <caption className="visually-hidden">{t('Greetings, {from} to {to}', periodText(from, to))}</caption>
            <TableHead columns={[t('Greeting'), t('Shown'), t('Opened a chat'), t('Open rate')]} />
            <tbody>
              {report.rows.length === 0 ? (
                <tr>
                  <td colSpan={4} className="empty">
                    {t('No greetings defined.')}
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
                  <th scope="row">{t('All')}</th>
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
