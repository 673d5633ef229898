import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, errorText, isApiError } from '../../shared/util';
import { formatDate, formatTime } from '../../shared/format';
import { t } from '../../shared/i18n';
import { stateName } from './states';

import { useLatestAnswer } from './latest-answer';
import type { Live } from './live';
import type { Conversation } from './types';
import './customer.css';

// Parts of the customer panel: whether the customer's identity is verified,
// the customer's statistics from their own service (GET
// /api/v1/customers/:id/statistics, which Switchboard asks server-side),
// "send external message" (POST …/external-messages, which webhooks
// subscribed to send_external_message carry out) and the customer's past
// conversations (GET …/customer-history). An unverified conversation claims
// its customer id without proof: the panel shows none of that id's past or
// statistics, and the server would give none either.

/** Why the id is not vouched for depends on where it came from: a site signs its widget's ids; other channels vouch or not by themselves. */
export const unverifiedNote = (channel: string) =>
  channel === 'widget'
    ? t('Unverified customer: your site did not sign this customer id, so anyone could have typed it. Past conversations, contact details from earlier chats and statistics are not shown.')
    : t('Unverified customer: the channel this conversation came through does not vouch for this customer id, so anyone could have given it. Past conversations, contact details from earlier chats and statistics are not shown.');

/** The customer's identity as the host site, a channel or a supervisor vouched for it, or not. */
export function IdentityBadge({ verified }: { verified: boolean }) {
  return (
    <span
      className={`identity ${verified ? 'verified' : 'unverified'}`}
      data-testid="identity"
      title={verified ? t('The customer id is vouched for by your site, the channel or a supervisor') : t('The customer id was not verified: it may be anyone')}
    >
      {verified ? `✓ ${t('Verified')}` : t('Unverified')}
    </span>
  );
}

type Link = { url: string; label: string };
type Point = { x: string | number; y: number };
type Value = string | Link[] | Point[];
interface Item {
  label: string;
  value: Value;
}
type Range = { ok: true; items: Item[]; start_date_time: string; end_date_time: string } | { ok: false; error: string; start_date_time: string; end_date_time: string };
type Statistics = { configured: false } | { configured: true; last_24_hours: Range; last_7_days: Range };

const ranges = () =>
  [
    ['last_24_hours', t('Last 24 hours')],
    ['last_7_days', t('Last 7 days')],
  ] as const;

const isLinks = (v: Value): v is Link[] => Array.isArray(v) && v.length > 0 && 'url' in (v[0] as object);
const isPoints = (v: Value): v is Point[] => Array.isArray(v) && v.length > 0 && 'y' in (v[0] as object);
/** Only web links become links: a javascript: or data: URL from the service stays text. */
const safeUrl = (url: string) => /^https?:\/\//i.test(url);

export function CustomerStatistics({ customerId, token }: { customerId: string; token: string }) {
  const [stats, setStats] = useState<Statistics | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    setBusy(true);
    try {
      setStats(await api<Statistics>('GET', `/api/v1/customers/${encodeURIComponent(customerId)}/statistics`, token));
      setProblem(null);
    } catch (e) {
      setStats(null);
      setProblem(isApiError(e) && e.status === 403 ? t('Statistics are shown only for verified customers of conversations routed to you.') : t('Statistics could not be loaded: {reason}', { reason: errorText(e) }));
    } finally {
      setBusy(false);
    }
  }, [customerId, token]);

  useEffect(() => {
    void load();
  }, [load]);

  // nothing to show when no statistics service is configured
  if (stats && !stats.configured) return null;

  return (
    <section className="stats" aria-labelledby="stats-title" data-testid="statistics">
      <div className="stats-head">
        <h3 id="stats-title">{t('Statistics')}</h3>
        <button type="button" className="link-button" onClick={() => void load()} disabled={busy}>
          {busy ? t('Loading…') : t('Refresh')}
        </button>
      </div>
      {problem && (
        <p className="stats-note" role="status">
          {problem}
        </p>
      )}
      {stats?.configured &&
        ranges().map(([key, title]) => {
          const range = stats[key];
          return (
            <div key={key} className="stats-range" data-testid={`stats-${key}`}>
              <h4>{title}</h4>
              {range.ok ? (
                range.items.length === 0 ? (
                  <p className="stats-empty">{t('Nothing to show.')}</p>
                ) : (
                  <dl>
                    {range.items.map((item, i) => (
                      <div key={i} className="field">
                        <dt>{item.label}</dt>
                        <dd>
                          <StatValue label={item.label} value={item.value} />
                        </dd>
                      </div>
                    ))}
                  </dl>
                )
              ) : (
                <p className="stats-note" role="status">
                  {t('Statistics unavailable: {reason}', { reason: range.error })}
                </p>
              )}
            </div>
          );
        })}
    </section>
  );
}

function StatValue({ label, value }: { label: string; value: Value }) {
  if (typeof value === 'string') return <>{value}</>;
  if (value.length === 0) return <>—</>;
  if (isLinks(value)) {
    return (
      <ul className="stats-links">
        {value.map((link, i) => (
          <li key={i}>
            {safeUrl(link.url) ? (
              <a href={link.url} target="_blank" rel="noopener noreferrer">
                {link.label || link.url}
              </a>
            ) : (
              `${link.label} (${link.url})`
            )}
          </li>
        ))}
      </ul>
    );
  }
  if (isPoints(value)) return <Sparkline label={label} points={value} />;
  return <>—</>;
}

/** A small line of the points in order, with the last value beside it; the numbers are in its accessible name. */
export function Sparkline({ label, points, width = 120, height = 28 }: { label: string; points: Point[]; width?: number; height?: number }) {
  const ys = points.map((p) => p.y);
  const min = Math.min(...ys);
  const max = Math.max(...ys);
  const pad = 2;
  const x = (i: number) => (points.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (points.length - 1));
  const y = (v: number) => (max === min ? height / 2 : pad + ((max - v) * (height - 2 * pad)) / (max - min));
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
  const summary = `${label}: ${points.map((p) => `${p.x} ${p.y}`).join(', ')}`;
  const last = points[points.length - 1]!;
  return (
    <span className="spark">
      <svg role="img" aria-label={summary} width={width} height={height} viewBox={`0 0 ${width} ${height}`} data-testid="sparkline">
        <title>{summary}</title>
        <path d={path} fill="none" stroke="#2457c5" strokeWidth="1.5" strokeLinejoin="round" strokeLinecap="round" />
        <circle cx={x(points.length - 1)} cy={y(last.y)} r="2" fill="#2457c5" />
      </svg>
      <span className="spark-last">{last.y}</span>
    </span>
  );
}

export function ExternalMessage({ conversationId, token }: { conversationId: string; token: string }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    if (!value) return;
    setBusy(true);
    try {
      const answer = await api<{ requested_at: string }>('POST', `/api/v1/conversations/${conversationId}/external-messages`, token, { text: value });
      setText('');
      setOutcome({ ok: true, text: t('Handed to the integrations at {time}.', { time: formatTime(answer.requested_at) }) });
    } catch (e) {
      setOutcome({ ok: false, text: t('Not sent: {reason}', { reason: errorText(e) }) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={send} className="stack">
      <label>
        {t('External message')}
        <textarea rows={2} maxLength={10000} value={text} onChange={(e) => setText(e.target.value)} placeholder={t('Sent by your integrations (SMS, e-mail…)')} />
      </label>
      <button type="submit" disabled={busy || !text.trim()}>
        {t('Send external message')}
      </button>
      {outcome && (
        <p className={outcome.ok ? 'sent-note' : 'error'} role={outcome.ok ? 'status' : 'alert'} data-testid="external-outcome">
          {outcome.text}
        </p>
      )}
    </form>
  );
}

/** gathers the events of one change (its inbox, assign and supervisor topics) into one read */
const PAST_DEBOUNCE_MS = 150;

/**
 * The customer's other verified conversations, with the contact details
 * they were opened with. Read again only when one of them changes (live
 * events carry the conversation, customer included): what happens to the
 * conversation shown, a transfer say, leaves this list as it was.
 */
export function PastConversations({ customerId, conversationId, token, live }: { customerId: string; conversationId: string; token: string; live: Live | null }) {
  const [past, setPast] = useState<Conversation[]>([]);
  const latest = useLatestAnswer(customerId);

  const load = useCallback(() => {
    const fresh = latest(customerId);
    void api<{ customer_verified: boolean; conversations: Conversation[] }>('GET', `/api/v1/conversations/${conversationId}/customer-history?limit=20`, token).then(
      (history) => {
        if (fresh()) setPast(history.conversations);
      },
      () => undefined,
    );
  }, [customerId, conversationId, token, latest]);

  useEffect(load, [load]);

  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    if (!live) return;
    const off = live.on((_topic, data) => {
      const changed = data.conversation as Partial<Conversation> | undefined;
      if (changed?.customer?.id !== customerId || !changed.customer_verified || changed.id === conversationId) return;
      clearTimeout(pending.current);
      pending.current = setTimeout(load, PAST_DEBOUNCE_MS);
    });
    return () => {
      off();
      clearTimeout(pending.current);
    };
  }, [live, customerId, conversationId, load]);

  if (past.length === 0) return null;
  return (
    <>
      <h3>{t('Past conversations')}</h3>

      <ul className="past" data-testid="past-conversations">
        {past.map((p) => {
          const contact = [p.customer.email, p.customer.phone].filter(Boolean).join(', ');
          return (
            <li key={p.id}>
              {formatDate(p.created_at)} · {p.channel} · {stateName(p.state)}
              {contact ? ` · ${contact}` : ''}
              {p.note ? ` — ${p.note}` : ''}
            </li>
          );
        })}
      </ul>
    </>
  );
}
