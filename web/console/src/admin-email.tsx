import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, deliveryState, EmptyRow, FieldError, TableHead, useFormErrors, useProblem, when, type AdminProps } from './admin-kit';
import { t } from '../../shared/i18n';

// Admin → Email: whether email is on (SMTP_URL), the team address offline
// messages go to (the offline_email_to setting), and the delivery log of
// recent emails with each SMTP attempt.

interface EmailStatus {
  enabled: boolean;
  relay: string | null;
  from: string | null;
  offline_email_to: string | null;
}

interface EmailDelivery {
  id: number;
  kind: string;
  to: string[];
  subject: string;
  state: 'pending' | 'delivered' | 'failed' | 'cancelled';
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  attempt_log: { attempt: number; at: string; status: number | null; error: string | null; response_excerpt: string | null }[];
}

const ID = 'email';

export function EmailAdmin({ token, onError }: AdminProps) {
  const [status, setStatus] = useState<EmailStatus | null>(null);
  const [deliveries, setDeliveries] = useState<EmailDelivery[]>([]);
  const [teamAddress, setTeamAddress] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const { problem, fail } = useProblem(onError);
  const errors = useFormErrors(onError, ID, ['offline_email_to']);

  const load = useCallback(async () => {
    try {
      const [s, d] = await Promise.all([api<EmailStatus>('GET', '/api/v1/email', token), api<EmailDelivery[]>('GET', '/api/v1/email/deliveries?limit=50', token)]);
      setStatus(s);
      setTeamAddress(s.offline_email_to ?? '');
      setDeliveries(d);
    } catch (e) {
      fail(e);
    }
  }, [token, fail]);
  useEffect(() => {
    void load();
  }, [load]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setNotice(null);
    try {
      await api('PATCH', '/api/v1/settings', token, { offline_email_to: teamAddress.trim() === '' ? null : teamAddress.trim() });
      setNotice(t('Saved.'));
      void load();
    } catch (e) {
      errors.fail(e);
    }
  };

  return (
    <main className="admin">
      <h2>{t('Email')}</h2>
      <Alert>{problem}</Alert>
      {status && (
        <p data-testid="email-status" className={status.enabled ? undefined : 'warn'}>
          {status.enabled
            ? t('Email is on: sent through {relay} as {from}.', { relay: status.relay, from: status.from })
            : t('Email is off: set SMTP_URL (and EMAIL_FROM) on the server to send transcripts and offline messages.')}
        </p>
      )}
      <form onSubmit={save} className="stack" aria-label={t('Offline messages')}>
        <label htmlFor={`${ID}-offline_email_to`}>{t('Offline messages are emailed to')}</label>
        <input
          id={`${ID}-offline_email_to`}
          name="offline_email_to"
          type="email"
          maxLength={254}
          value={teamAddress}
          placeholder={t('team@example.com (empty: not emailed)')}
          onChange={(e) => setTeamAddress(e.target.value)}
          {...errors.describe('offline_email_to')}
        />
        <FieldError errors={errors} field="offline_email_to" idPrefix={ID} />
        <Alert>{errors.general}</Alert>
        <button type="submit">{t('Save')}</button>
        {notice && <p role="status">{notice}</p>}
      </form>
      <h3>{t('Recent emails')}</h3>
      <button type="button" className="secondary" onClick={() => void load()}>
        {t('Refresh')}
      </button>
      <table data-testid="email-deliveries">
        <TableHead columns={['#', t('Kind'), t('To'), t('Subject'), t('State'), t('Attempts'), t('Created')]} />
        <tbody>
          {deliveries.length === 0 && <EmptyRow columns={7}>{t('No emails yet.')}</EmptyRow>}
          {deliveries.map((d) => (
            <tr key={d.id}>
              <td>{d.id}</td>
              <td>{d.kind}</td>
              <td>{d.to.join(', ')}</td>
              <td>{d.subject}</td>
              <td>
                {deliveryState(d.state)}
                {d.next_attempt_at && <small className="block">{t('next try {time}', { time: when(d.next_attempt_at) })}</small>}
                {d.last_error && <small className="block warn">{d.last_error}</small>}
              </td>
              <td>
                {d.attempt_log.map((a) => (
                  <small key={a.attempt} className="block">
                    {when(a.at)} · {a.status !== null ? `SMTP ${a.status}` : (a.error ?? t('no answer'))}
                  </small>
                ))}
              </td>
              <td>{when(d.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}
