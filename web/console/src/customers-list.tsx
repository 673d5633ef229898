import { useCallback, useEffect, useState } from 'react';
import { AppLink } from './app-link';
import { api } from '../../shared/util';
import { formatNumber, formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';
import { useLatestAnswer } from './latest-answer';
import { stateName } from './states';

// The Customers tab: customers with an open conversation, online (their
// widget page is open) or offline, from GET /api/v1/customers. Presence is
// not an event, so the list is read again every few seconds while shown.
// Each group is asked for on its own (online=true, online=false): split here
// from one list of the newest, an online customer behind 200 newer open
// conversations fell out of both.

/** What each group holds at most: the API's default page. */
const GROUP_LIMIT = 200;

interface CustomerPresence {
  customer: { id: string; name: string | null; email: string | null };
  customer_verified: boolean;
  conversation_id: string;
  channel: string;
  state: 'queued' | 'offered' | 'assigned';
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
  const [groupsRead, setGroupsRead] = useState<{ online: CustomerPresence[]; offline: CustomerPresence[] } | null>(null);
  // reads every 5 s and on every list change: a slow answer must not put back what a newer one cleared
  const latest = useLatestAnswer('customers');
  const load = useCallback(async () => {
    const fresh = latest('customers');
    try {
      const [online, offline] = await Promise.all(
        [true, false].map((on) => api<CustomerPresence[]>('GET', `/api/v1/customers?online=${on}&limit=${GROUP_LIMIT}`, token)),
      );
      if (fresh()) setGroupsRead({ online: online!, offline: offline! });
    } catch (e) {
      onError(e);
    }
  }, [token, onError, latest]);
  useEffect(() => {
    void load();
  }, [load, version]);
  useEffect(() => {
    const timer = setInterval(() => void load(), 5_000);
    return () => clearInterval(timer);
  }, [load]);

  if (!groupsRead) return <p className="empty">{t('Loading…')}</p>;
  const groups = [
    { key: 'online', title: t('Online'), rows: groupsRead.online },
    { key: 'offline', title: t('Offline'), rows: groupsRead.offline },
  ];
  return (
    <div data-testid="customers">
      {groups.map((g) => (
        <section key={g.key} aria-labelledby={`customers-${g.key}`}>
          <h3 className="group-title" id={`customers-${g.key}`}>
            {g.title} ({formatNumber(g.rows.length)}
            {g.rows.length >= GROUP_LIMIT ? '+' : ''})
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
                    {r.channel} · {stateName(r.state)}
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
