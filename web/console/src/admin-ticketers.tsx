import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, useProblem, CopyValue, FieldError, useFormErrors, when, type AdminProps } from './admin-kit';
// types only (erased from the bundle): the API's own shape
import type { Ticketer } from '../../../src/channels/rapidpro/ticketers';
import { t } from '../../shared/i18n';

// Admin: RapidPro ticketers (docs/rapidpro.md). RapidPro is given a
// ticketer's base URL and secret; it sets the callback URL itself when it
// connects.

const ID = 'ticketer';
const FIELDS = ['name', 'secret'] as const;

export function TicketersAdmin({ token, onError }: AdminProps) {
  const [ticketers, setTicketers] = useState<Ticketer[] | null>(null);
  const { problem, setProblem, fail } = useProblem(onError);
  const [revealed, setRevealed] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(onError, ID, FIELDS);

  const load = useCallback(() => api<Ticketer[]>('GET', '/api/v1/ticketers', token).then(setTicketers, fail), [token, fail]);
  useEffect(() => {
    void load();
  }, [load]);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setBusy(true);
    try {
      const created = await api<Ticketer>('POST', '/api/v1/ticketers', token, {
        ...(name.trim() ? { name: name.trim() } : {}),
        ...(secret.trim() ? { secret: secret.trim() } : {}),
      });
      setName('');
      setSecret('');
      setRevealed(created.uuid);
      await load();
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (ticketer: Ticketer) => {
    if (!confirm(t("Delete the ticketer {name}? RapidPro's calls to it stop working, its open conversations are abandoned and its waiting callbacks cancelled.", { name: ticketer.name ?? ticketer.uuid }))) return;
    setProblem(null);
    try {
      await api('DELETE', `/api/v1/ticketers/${ticketer.uuid}`, token);
      await load();
    } catch (e) {
      fail(e);
    }
  };

  return (
    <main className="admin">
      <h2>{t('RapidPro ticketers')}</h2>
      <p className="hint">{t('In RapidPro, add a ticketing service of this kind and give it a ticketer’s base URL and secret. RapidPro then sets its callback URL here.')}</p>
      <Alert>{problem}</Alert>
      {ticketers?.length === 0 && <p className="empty">{t('No ticketers yet.')}</p>}
      <ul className="cards" data-testid="ticketers">
        {ticketers?.map((ticketer) => (
          <li key={ticketer.uuid} className="card" data-testid="ticketer">
            <h3>{ticketer.name ?? t('Unnamed ticketer')}</h3>
            <dl>
              <dt>{t('Base URL')}</dt>
              <dd>
                <CopyValue label={t('Base URL of {name}', { name: ticketer.name ?? ticketer.uuid })} value={ticketer.base_url} testId="base-url" />
              </dd>
              <dt>{t('Secret')}</dt>
              <dd>
                {revealed === ticketer.uuid ? (
                  <CopyValue label={t('Secret of {name}', { name: ticketer.name ?? ticketer.uuid })} value={ticketer.secret} testId="ticketer-secret" />
                ) : (
                  <button type="button" className="secondary" onClick={() => setRevealed(ticketer.uuid)}>
                    {t('Show secret')}
                    <span className="visually-hidden"> {t('of {name}', { name: ticketer.name ?? ticketer.uuid })}</span>
                  </button>
                )}
              </dd>
              <dt>{t('Callback URL')}</dt>
              <dd className="wrap">{ticketer.callback_url ?? <em>{t('not connected yet — RapidPro sets it when it first connects')}</em>}</dd>
              <dt>{t('Created')}</dt>
              <dd>{when(ticketer.created_at)}</dd>
            </dl>
            <button type="button" className="danger" onClick={() => void remove(ticketer)}>
              {t('Delete')}
              <span className="visually-hidden"> {t('ticketer {name}', { name: ticketer.name ?? ticketer.uuid })}</span>
            </button>
          </li>
        ))}
      </ul>
      <h3>{t('New ticketer')}</h3>
      <form className="stack-form" onSubmit={create} noValidate>
        <div className="setting">
          <label htmlFor={`${ID}-name`}>{t('Name (optional)')}</label>
          <input id={`${ID}-name`} maxLength={200} placeholder={t('Main RapidPro workspace')} value={name} onChange={(e) => setName(e.target.value)} {...errors.describe('name')} />
          <FieldError errors={errors} field="name" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-secret`}>{t('Secret (optional)')}</label>
          <input id={`${ID}-secret`} autoComplete="off" placeholder={t('generated when empty')} value={secret} onChange={(e) => setSecret(e.target.value)} {...errors.describe('secret')} />
          <small>{t('The secret RapidPro shows, if it shows one: 8–200 printable characters, no spaces.')}</small>
          <FieldError errors={errors} field="secret" idPrefix={ID} />
        </div>
        <Alert>{errors.general}</Alert>
        <div className="actions">
          <button type="submit" disabled={busy}>
            {t('Add ticketer')}
          </button>
        </div>
      </form>
    </main>
  );
}
