import { useState } from 'react';
import { type ApiError } from '../../shared/util';
import { GroupedTable, PeriodForm, periodText, usePeriodReport, type GroupedReport } from './period-report';
import { formatNumber, formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';

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

interface Report extends GroupedReport<Figures> {
  from: string;
  to: string;
}

const seconds = (s: number | null) => (s === null ? '—' : formatWait(s));
const columns = () => [t('Resolved'), t('First response (mean)'), t('First response (median)'), t('Resolution (mean)'), t('Resolution (median)'), t('Messages per conversation')];
const cells = (f: Figures) => [
  formatNumber(f.conversations),
  seconds(f.first_response_s),
  seconds(f.first_response_median_s),
  seconds(f.resolution_s),
  seconds(f.resolution_median_s),
  f.messages === null ? '—' : formatNumber(f.messages),
];

export function Reports({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const period = usePeriodReport<Report>('/api/v1/reports', token, onError);
  const { query, report, from, to, group, errors } = period;
  const [busy, setBusy] = useState(false);

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
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel-box reports" aria-labelledby="reports-title">
      <h3 id="reports-title">{t('Reports')}</h3>
      <PeriodForm period={period} testIdPrefix="report" groupLabel={t('One row per')}>
        <button type="button" className="secondary" onClick={() => void download()} disabled={busy || !query}>
          {t('Download CSV')}
        </button>
      </PeriodForm>
      <p className="hint">{t('Conversations resolved in the period, by the agent who held them then (or their department). First response: from creation to the first agent message.')}</p>
      {report && (
        <GroupedTable
          report={report}
          caption={group === 'agent' ? t('Report per agent, {from} to {to}', periodText(from, to)) : t('Report per department, {from} to {to}', periodText(from, to))}
          columns={columns()}
          cells={cells}
          empty={t('No conversation was resolved in this period.')}
          testIdPrefix="report"
        />
      )}
    </section>
  );
}
