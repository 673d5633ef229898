import { useCallback, useEffect, useRef, useState } from 'react';
import { LabelStats } from './labels';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from '../../shared/util';
import { statusText, TableHead } from './admin-kit';
import { useLatestAnswer } from './latest-answer';
import type { Live } from './live';
import { GreetingsSection } from './greetings-report';
import { SatisfactionSection } from './ratings';
import { Reports } from './reports';
import type { Role, Status } from './types';
import './dashboard.css';
import { formatDateTime, formatNumber, formatTime, formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';

// The supervisor dashboard: GET /api/v1/stats, read again (debounced) when
// the live connection reports a change to the queue, an agent or a
// conversation, and on a slow timer in case the link missed something.

export interface Stats {
  at: string;
  queue: { length: number; longest_wait_seconds: number; offered: number; departments: { department: string | null; length: number; longest_wait_seconds: number; offered: number }[] };
  /** first-response SLA per department with a target (docs/routing.md, "Aging and SLAs") */
  sla: { departments: { department: string; target_seconds: number | null; met_today: number; breached_today: number; at_risk: number }[] };
  activity: { interval_seconds: number; since: string; assignments: number; resolutions: number; buckets: { start: string; assignments: number; resolutions: number }[] };
  agents: { id: string; name: string; role: Role; status: Status; load: number; capacity: number | null; effective_capacity: number; departments: string[] }[];
}

/** The periods to choose from; `note` is the period alone, under the totals. */
const WINDOWS = [
  { label: () => t('Last hour, per minute'), note: () => t('last hour'), interval: 60, hours: 1 },
  { label: () => t('Last 6 hours, per 5 minutes'), note: () => t('last 6 hours'), interval: 300, hours: 6 },
  { label: () => t('Last day, per hour'), note: () => t('last day'), interval: 3600, hours: 24 },
] as const;

/** gathers a burst of live events into one read… */
const DEBOUNCE_MS = 400;
/** …and a busy desk into one read every few seconds */
const MIN_GAP_MS = 2_000;
/** the fallback when the live link is down or missed something */
const POLL_MS = 30_000;
const ASSIGNED_COLOR = '#2457c5';
const RESOLVED_COLOR = '#1f8a4c';

interface Props {
  token: string;
  live: Live | null;
  linkUp: boolean;
  /** the console's clock (waits grow between reads) */
  now: number;
  onError: (e: unknown) => void;
}

export function Dashboard({ token, live, linkUp, now, onError }: Props) {
  const [windowIndex, setWindowIndex] = useState(0);
  const [stats, setStats] = useState<Stats | null>(null);
  const [receivedAt, setReceivedAt] = useState(0);
  const lastRead = useRef(0);
  const chosen = WINDOWS[windowIndex] ?? WINDOWS[0];
  const latest = useLatestAnswer(String(chosen.interval));

  const load = useCallback(async () => {
    lastRead.current = Date.now();
    const fresh = latest(String(chosen.interval));
    try {
      const since = new Date(Date.now() - chosen.hours * 3_600_000).toISOString();
      const next = await api<Stats>('GET', `/api/v1/stats?interval=${chosen.interval}&since=${encodeURIComponent(since)}`, token);
      if (!fresh()) return;
      setStats(next);
      setReceivedAt(Date.now());
    } catch (e) {
      if (fresh()) onError(e);
    }
  }, [token, chosen, onError, latest]);

  // first read, again whenever the link comes (back) up, and slowly meanwhile
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    return () => clearInterval(timer);
  }, [load, linkUp]);

  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    if (!live) return;
    const watched = [`${live.base}/events/queue`, `${live.base}/events/agents`, `${live.base}/events/conversations`];
    const off = live.on((topic) => {
      if (!watched.includes(topic)) return;
      // a read already planned covers this event too; planning stays put, so a steady stream of events cannot postpone it forever
      if (pending.current !== undefined) return;
      pending.current = setTimeout(() => {
        pending.current = undefined;
        void load();
      }, Math.max(DEBOUNCE_MS, lastRead.current + MIN_GAP_MS - Date.now()));
    });
    return () => {
      off();
      clearTimeout(pending.current);
      pending.current = undefined;
    };
  }, [live, load]);

  const aged = (seconds: number, waiting: number) => (waiting > 0 ? seconds + Math.max(0, Math.floor((now - receivedAt) / 1000)) : 0);

  return (
    <main className="dashboard" aria-labelledby="dashboard-title">
      <div className="dash-head">
        <h2 id="dashboard-title">{t('Dashboard')}</h2>
        <label>
          <span className="visually-hidden">{t('Period')}</span>
          <select value={windowIndex} onChange={(e) => setWindowIndex(Number(e.target.value))} data-testid="dashboard-window">
            {WINDOWS.map((w, i) => (
              <option key={w.interval} value={i}>
                {w.label()}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="secondary" onClick={() => void load()}>
          {t('Refresh')}
        </button>
        <span className="updated">
          {stats ? t('Updated {time}', { time: formatDateTime(receivedAt, { timeStyle: 'medium' }) }) : t('Loading…')}
        </span>
      </div>
      {stats && (
        <>
          <section className="figures" aria-label={t('Now and in this period')}>
            <Figure label={t('Waiting now')} value={formatNumber(stats.queue.length)} testId="queue-length" />
            <Figure label={t('Longest wait')} value={stats.queue.length > 0 ? formatWait(aged(stats.queue.longest_wait_seconds, stats.queue.length)) : '—'} testId="longest-wait" />
            <Figure label={t('Offered now')} value={formatNumber(stats.queue.offered)} testId="offered-now" />
            <Figure label={t('Assigned')} value={formatNumber(stats.activity.assignments)} testId="assignments-total" note={chosen.note()} />
            <Figure label={t('Resolved')} value={formatNumber(stats.activity.resolutions)} testId="resolutions-total" note={chosen.note()} />
          </section>
          {stats.queue.departments.length > 0 && (
            <section className="panel-box" aria-labelledby="queues-title">
              <h3 id="queues-title">{t('Queues')}</h3>
              <div className="table-wrap">
                <table data-testid="department-queues">
                  <TableHead columns={[t('Department'), t('Waiting'), t('Longest wait'), t('Offered')]} />
                  <tbody>
                    {stats.queue.departments.map((d) => (
                      <tr key={d.department ?? ''}>
                        <td>{d.department ?? t('No department')}</td>
                        <td>{formatNumber(d.length)}</td>
                        <td>{d.length > 0 ? formatWait(aged(d.longest_wait_seconds, d.length)) : '—'}</td>
                        <td>{formatNumber(d.offered)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}
          {stats.sla.departments.length > 0 && (
            <section className="panel-box" aria-labelledby="sla-title">
              <h3 id="sla-title">{t('First response SLA today (UTC)')}</h3>
              <div className="table-wrap">
                <table data-testid="department-sla">
                  <TableHead columns={[t('Department'), t('Target'), t('Met'), t('Breached'), t('At risk')]} />
                  <tbody>
                    {stats.sla.departments.map((d) => (
                      <tr key={d.department} data-department={d.department}>
                        <td>{d.department}</td>
                        <td>{d.target_seconds === null ? '—' : formatWait(d.target_seconds)}</td>
                        <td data-testid="sla-met">{formatNumber(d.met_today)}</td>
                        <td data-testid="sla-breached" className={d.breached_today > 0 ? 'sla-breached' : undefined}>{formatNumber(d.breached_today)}</td>
                        <td data-testid="sla-at-risk">{formatNumber(d.at_risk)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}
          <section className="panel-box" aria-labelledby="activity-title">
            <h3 id="activity-title">{t('Assignments and resolutions')}</h3>
            <ActivityChart activity={stats.activity} />
          </section>
          <LabelStats token={token} version={receivedAt} onError={onError} />
          <section className="panel-box" aria-labelledby="agents-title">
            <h3 id="agents-title">{t('Agents: load against capacity')}</h3>
            <AgentLoads agents={stats.agents} />
          </section>
        </>
      )}
      <Reports token={token} onError={onError} />
      <SatisfactionSection token={token} onError={onError} />
      <GreetingsSection token={token} onError={onError} />
    </main>
  );
}

function Figure({ label, value, testId, note }: { label: string; value: string; testId: string; note?: string }) {
  return (
    <div className="figure">
      <span className="figure-label">{label}</span>
      <strong data-testid={testId}>{value}</strong>
      {note && <span className="figure-note">{note}</span>}
    </div>
  );
}

/** One sentence a screen reader can take in instead of the chart. */
function summary(activity: Stats['activity']): string {
  const busiest = activity.buckets.reduce<Stats['activity']['buckets'][number] | null>((best, b) => (b.assignments > (best?.assignments ?? 0) ? b : best), null);
  const values = {
    interval: formatWait(activity.interval_seconds),
    since: formatTime(activity.since),
    assignments: activity.assignments,
    resolutions: activity.resolutions,
  };
  return busiest
    ? t('Bar chart, one pair of bars per {interval} since {since}: {assignments, plural, one {# assignment} other {# assignments}} and {resolutions, plural, one {# resolution} other {# resolutions}} in all; the most assignments, {most}, from {start}.',
        { ...values, most: formatNumber(busiest.assignments), start: formatTime(busiest.start) },
      )
    : t('Bar chart, one pair of bars per {interval} since {since}: {assignments, plural, one {# assignment} other {# assignments}} and {resolutions, plural, one {# resolution} other {# resolutions}} in all.',
        values,
      );
}

function ActivityChart({ activity }: { activity: Stats['activity'] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(activity);
  latest.current = activity;
  const [failed, setFailed] = useState(false);

  // each pair of bars stands around the middle of its bucket: assignments on the left, resolutions on the right
  const draw = useCallback(() => {
    const { buckets, interval_seconds } = latest.current;
    plot.current?.setData([buckets.map((b) => Date.parse(b.start) / 1000 + interval_seconds / 2), buckets.map((b) => b.assignments), buckets.map((b) => b.resolutions)]);
  }, []);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    let cleanup = () => {};
    let cancelled = false;
    // uPlot is loaded with the first chart: agents, who have no dashboard, never download it
    import('uplot').then(
      ({ default: UPlot }) => {
        if (cancelled) return;
        const bars = (align: -1 | 1) => UPlot.paths.bars!({ align, size: [0.45, 40], gap: 1 });
        const half = () => latest.current.interval_seconds / 2;
        const chart = new UPlot(
          {
            width: Math.max(260, element.clientWidth),
            height: 220,
            // the first and last bars stand half a bucket from the plot's edges
            scales: { x: { time: true, range: (_u, min, max) => [min - half(), max + half()] }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
            // the axes' times and counts in the console's language (uPlot's own are English)
            axes: [
              { values: (_u, splits) => splits.map((s) => formatTime(s * 1000)) },
              { label: t('conversations'), size: 50, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (_u, splits) => splits.map((s) => formatNumber(s)) },
            ],
            series: [
              { value: (_u, v) => (v === null ? '—' : formatTime(v * 1000)) },
              { label: t('Assigned'), stroke: ASSIGNED_COLOR, fill: ASSIGNED_COLOR, paths: bars(-1), points: { show: false }, value: (_u, v) => (v === null ? '—' : formatNumber(v)) },
              { label: t('Resolved'), stroke: RESOLVED_COLOR, fill: RESOLVED_COLOR, paths: bars(1), points: { show: false }, value: (_u, v) => (v === null ? '—' : formatNumber(v)) },
            ],
            legend: { show: true },
            cursor: { drag: { x: false, y: false } },
          },
          [[], [], []],
          element,
        );
        plot.current = chart;
        draw();
        const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(260, element.clientWidth), height: 220 }));
        resize.observe(element);
        cleanup = () => {
          resize.disconnect();
          chart.destroy();
          plot.current = null;
        };
      },
      () => setFailed(true),
    );
    return () => {
      cancelled = true;
      cleanup();
    };
  }, [draw]);

  useEffect(draw, [activity, draw]);

  const busy = activity.buckets.filter((b) => b.assignments > 0 || b.resolutions > 0);
  return (
    <>
      <div ref={box} className="chart" role="img" aria-label={summary(activity)} data-testid="activity-chart" />
      {failed && <p className="hint">{t('The chart could not be loaded; the table below has its figures.')}</p>}
      <details className="as-table" open={failed || undefined}>
        <summary>{t('Show as a table')}</summary>
        {busy.length === 0 ? (
          <p className="hint">{t('Nothing was assigned or resolved in this period.')}</p>
        ) : (
          <div className="table-wrap">
            <table data-testid="activity-table">
              <TableHead columns={[t('From'), t('Assigned'), t('Resolved')]} />
              <tbody>
                {busy.map((b) => (
                  <tr key={b.start}>
                    <td>{formatTime(b.start)}</td>
                    <td>{formatNumber(b.assignments)}</td>
                    <td>{formatNumber(b.resolutions)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </details>
    </>
  );
}

function AgentLoads({ agents }: { agents: Stats['agents'] }) {
  if (agents.length === 0) return <p className="hint">{t('No agents yet.')}</p>;
  return (
    <ul className="loads" data-testid="agent-loads">
      {agents.map((a) => {
        const share = a.effective_capacity > 0 ? Math.min(1, a.load / a.effective_capacity) : a.load > 0 ? 1 : 0;
        const full = a.effective_capacity > 0 && a.load >= a.effective_capacity;
        return (
          <li key={a.id} data-testid="agent-load">
            <span className="load-name">
              <span className={`status-dot ${a.status}`} aria-hidden="true" />
              {a.name}
              <span className="load-status"> · {statusText(a.status)}</span>
            </span>
            <span
              className="load-bar"
              role="meter"
              aria-valuemin={0}
              aria-valuemax={a.effective_capacity}
              aria-valuenow={a.load}
              aria-label={t('{name}: {load} of {capacity} conversations, {status}', { name: a.name, load: formatNumber(a.load), capacity: formatNumber(a.effective_capacity), status: statusText(a.status) })}
            >
              <span className={`load-fill ${full ? 'full' : ''}`} style={{ width: `${share * 100}%` }} />
            </span>
            <span className="load-text" data-testid="agent-load-text">
              {formatNumber(a.load)} / {formatNumber(a.effective_capacity)}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
