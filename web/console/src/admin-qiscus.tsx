import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { AppLink } from './app-link';
import { api, isApiError } from '../../shared/util';
import { Alert, useProblem, EmptyRow, FieldError, TableHead, useFormErrors, when, type AdminProps } from './admin-kit';
import { useLatestAnswer } from './latest-answer';
// types only (erased from the bundle): the API's own shapes
import type { RoomEntry as Room, RoomStatus } from '../../../src/channels/qiscus/list-rooms';
import { t } from '../../shared/i18n';

// Admin: the Qiscus channel (docs/qiscus.md) — its rooms waiting, being
// assigned, assigned, failed, and closed here but refused by Qiscus
// (unsynced: to close in Qiscus by hand), with the reason, and rooms per agent
// (max_customers, through Qiscus' own route so the allocator runs at once).

const STATUSES: (RoomStatus | 'all')[] = ['all', 'waiting', 'assigning', 'assigned', 'failed', 'unsynced'];
const ID = 'qiscus';
const statusText = (s: RoomStatus | 'all') =>
  ({ all: t('all'), waiting: t('waiting'), assigning: t('assigning'), assigned: t('assigned'), failed: t('failed'), unsynced: t('unsynced') })[s] ?? s;
const noRooms = (s: RoomStatus | 'all') =>
  ({ all: t('No rooms.'), waiting: t('No waiting rooms.'), assigning: t('No assigning rooms.'), assigned: t('No assigned rooms.'), failed: t('No failed rooms.'), unsynced: t('No rooms Qiscus refused to close.') })[s] ?? t('No rooms.');

export function QiscusAdmin({ token, onError, go }: AdminProps) {
  const [status, setStatus] = useState<RoomStatus | 'all'>('all');
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const { problem, setProblem, fail } = useProblem(onError);

  const latest = useLatestAnswer(status);

  const load = useCallback(() => {
    const fresh = latest(status);
    return api<{ rooms: Room[] }>('GET', `/api/v1/qiscus/rooms?limit=1000${status === 'all' ? '' : `&status=${status}`}`, token).then(
      (r) => {
        if (!fresh()) return;
        // a timed reload that works clears the last one's error
        setProblem(null);
        setRooms(r.rooms);
      },
      (e: unknown) => {
        if (fresh()) fail(e);
      },
    );
  }, [token, status, fail, setProblem, latest]);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 5_000);
    return () => clearInterval(timer);
  }, [load]);

  return (
    <main className="admin">
      <h2>Qiscus</h2>
      <MaxCustomers token={token} onError={onError} />
      <div className="section-head">
        <h3 id="rooms-title">{t('Rooms')}</h3>
        <button type="button" className="secondary" onClick={() => void load()}>
          {t('Refresh')}
        </button>
      </div>
      <div role="radiogroup" aria-labelledby="rooms-title" className="filters">
        {STATUSES.map((s) => (
          <button key={s} type="button" role="radio" aria-checked={status === s} className={status === s ? '' : 'secondary'} onClick={() => setStatus(s)}>
            {statusText(s)}
          </button>
        ))}
      </div>
      <Alert>{problem}</Alert>
      <div className="table-wrap">
        <table data-testid="qiscus-rooms">
          <TableHead columns={[t('Room'), t('Customer'), t('Status'), t('Agent'), t('Reason'), t('Attempts'), t('Since')]} />
          <tbody>
            {rooms?.length === 0 && (
              <EmptyRow columns={7}>{noRooms(status)}</EmptyRow>
            )}
            {rooms?.map((r) => (
              <tr key={r.conversation_id}>
                <td>
                  <AppLink to={`/conversations/${r.conversation_id}`} go={go}>
                    {r.room_id}
                  </AppLink>
                </td>
                <td className="wrap">{r.customer.name ?? r.customer.email ?? r.customer.id}</td>
                <td>
                  <span className={`badge ${r.status}`}>{statusText(r.status)}</span>
                  {r.position !== null && <small className="block">{t('#{position} in line', { position: r.position })}</small>}
                </td>
                <td>{r.agent_name ?? '—'}</td>
                <td className="wrap">{r.reason ?? '—'}</td>
                <td>{r.assign_attempts ?? '—'}</td>
                <td>{when(r.unsynced_at ?? r.failed_at ?? r.assigned_at ?? r.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}

function MaxCustomers({ token, onError }: { token: string; onError: (e: unknown) => void }) {
  const [saved, setSaved] = useState<number | null>(null);
  const [value, setValue] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(onError, ID, ['max_customers']);

  useEffect(() => {
    api<{ data: { max_customers: number } }>('GET', '/api/v1/settings/max_customers', token).then((r) => {
      setSaved(r.data.max_customers);
      setValue(String(r.data.max_customers));
    }, errors.fail);
    // (errors.fail is new on every render: this loads once per token on purpose)
  }, [token]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setNotice(null);
    try {
      const r = await api<{ data: { max_customers: number } }>('POST', '/api/v1/settings/max_customers', token, { max_customers: value.trim() });
      setSaved(r.data.max_customers);
      setValue(String(r.data.max_customers));
      setNotice(t('Saved.'));
    } catch (e) {
      // Qiscus' envelope names no field, but this form has only one
      errors.fail(isApiError(e) ? { ...e, field: 'max_customers' } : e);
    }
  };

  return (
    <form className="inline-form" onSubmit={submit} noValidate>
      <div className="setting">
        <label htmlFor={`${ID}-max_customers`}>{t('Rooms per agent (max customers)')}</label>
        <span className="row">
          <input id={`${ID}-max_customers`} className="narrow" inputMode="numeric" value={value} onChange={(e) => setValue(e.target.value)} {...errors.describe('max_customers')} />
          <button type="submit" disabled={saved === null}>
            {t('Save')}
          </button>
        </span>
        <small>{t('The same setting as on the Settings page, for every channel.')}</small>
        <FieldError errors={errors} field="max_customers" idPrefix={ID} />
        {notice && (
          <span className="notice" role="status">
            {notice}
          </span>
        )}
      </div>
    </form>
  );
}
