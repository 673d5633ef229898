import { useCallback, useEffect, useState } from 'react';
import { AppLink } from './app-link';
import { api } from '../../shared/util';
import { formatNumber, formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';

// The Customers tab: customers with an open conversation, online (their
// widget page is open) or offline, from GET /api/v1/customers. Presence is
// not an event, so the list is read again every few seconds while shown.

interface CustomerPresence {
  customer: { id: string; name: string | null; email: string | null };
  customer_verified: boolean;
  conversation_id: string;
  channel: string;
  state: 'queued' | 'assigned';
  department: string | null;
  online: boolean;
  last_seen_at: string | null;
}

interface Props {
  token: string;
  /** bumps when the conversation lists were re-read */
  version: number;
  openId: string | undefined;
  now: number;
  onOpen: (path: string) => void;
  onError: (e: unknown) => void;
}

export function CustomersList({ token, version, openId, now, onOpen, onError }: Props) {
  const [rows, setRows] = useState<CustomerPresence[] | null>(null);
  const load = useCallback(() => api<CustomerPresence[]>('GET', '/api/v1/customers', token).then(setRows, onError), [token, onError]);
  useEffect(() => {
    void load();
  }, [load, version]);
  useEffect(() => {
    const timer = setInterval(() => void load(), 5_000);
    return () => clearInterval(timer);
  }, [load]);

  if (!rows) return <p className="empty">{t('Loading…')}</p>;
  const groups = [
    { key: 'online', title: t('Online'), rows: rows.filter((r) => r.online) },
    { key: 'offline', title: t('Offline'), rows: rows.filter((r) => !r.online) },
  ];
  return (
    <div data-testid="customers">
      {groups.map((g) => (
        <section key={g.key} aria-labelledby={`customers-${g.key}`}>
          <h3 className="group-title" id={`customers-${g.key}`}>
            {g.title} ({formatNumber(g.rows.length)})
          </h3>
          <ul className="items" data-testid={`customers-${g.key}`}>
            {g.rows.length === 0 && <li className="empty">{g.key === 'online' ? t('Nobody on the widget right now.') : t('None.')}</li>}
            {g.rows.map((r) => (
              <li key={r.conversation_id}>
                <AppLink to={`/conversations/${r.conversation_id}`} go={onOpen} className={`item ${openId === r.conversation_id ? 'current' : ''}`} current={openId === r.conversation_id}>
                  <strong>
                    <span className={`dot ${r.online ? 'on' : 'off'}`} aria-hidden="true" /> {r.customer.name ?? r.customer.email ?? r.customer.id}
                    <span className="visually-hidden">, {r.online ? t('online') : t('offline')}</span>
                  </strong>
                  <span>
                    {r.channel} · {r.state === 'queued' ? t('queued') : t('assigned')}
                    {r.customer_verified ? '' : ` · ${t('unverified')}`}
                    {r.department ? ` · ${r.department}` : ''}
                    {r.last_seen_at ? ` · ${t('seen {time} ago', { time: formatWait((now - Date.parse(r.last_seen_at)) / 1000) })}` : ''}
                  </span>
                </AppLink>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}
