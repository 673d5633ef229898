import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, useProblem, CopyValue, FieldError, useFormErrors, when, type AdminProps } from './admin-kit';
// types only (erased from the bundle): the API's own shape
import type { Ticketer } from '../../../src/channels/rapidpro/ticketers';

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
  const remove = async (t: Ticketer) => {
    if (!confirm(`Delete the ticketer ${t.name ?? t.uuid}? RapidPro's calls to it stop working, its open conversations are abandoned and its waiting callbacks cancelled.`)) return;
    setProblem(null);
    try {
      await api('DELETE', `/api/v1/ticketers/${t.uuid}`, token);
      await load();
    } catch (e) {
      fail(e);
    }
  };

  return (
    <main className="admin">
      <h2>RapidPro ticketers</h2>
      <p className="hint">In RapidPro, add a ticketing service of this kind and give it a ticketer’s base URL and secret. RapidPro then sets its callback URL here.</p>
      <Alert>{problem}</Alert>
      {ticketers?.length === 0 && <p className="empty">No ticketers yet.</p>}
      <ul className="cards" data-testid="ticketers">
        {ticketers?.map((t) => (
          <li key={t.uuid} className="card" data-testid="ticketer">
            <h3>{t.name ?? 'Unnamed ticketer'}</h3>
            <dl>
              <dt>Base URL</dt>
              <dd>
                <CopyValue label={`Base URL of ${t.name ?? t.uuid}`} value={t.base_url} testId="base-url" />
              </dd>
              <dt>Secret</dt>
              <dd>
                {revealed === t.uuid ? (
                  <CopyValue label={`Secret of ${t.name ?? t.uuid}`} value={t.secret} testId="ticketer-secret" />
                ) : (
                  <button type="button" className="secondary" onClick={() => setRevealed(t.uuid)}>
                    Show secret<span className="visually-hidden"> of {t.name ?? t.uuid}</span>
                  </button>
                )}
              </dd>
              <dt>Callback URL</dt>
              <dd className="wrap">{t.callback_url ?? <em>not connected yet — RapidPro sets it when it first connects</em>}</dd>
              <dt>Created</dt>
              <dd>{when(t.created_at)}</dd>
            </dl>
            <button type="button" className="danger" onClick={() => void remove(t)}>
              Delete<span className="visually-hidden"> ticketer {t.name ?? t.uuid}</span>
            </button>
          </li>
        ))}
      </ul>
      <h3>New ticketer</h3>
      <form className="stack-form" onSubmit={create} noValidate>
        <div className="setting">
          <label htmlFor={`${ID}-name`}>Name (optional)</label>
          <input id={`${ID}-name`} maxLength={200} placeholder="Main RapidPro workspace" value={name} onChange={(e) => setName(e.target.value)} {...errors.describe('name')} />
          <FieldError errors={errors} field="name" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-secret`}>Secret (optional)</label>
          <input id={`${ID}-secret`} autoComplete="off" placeholder="generated when empty" value={secret} onChange={(e) => setSecret(e.target.value)} {...errors.describe('secret')} />
          <small>The secret RapidPro shows, if it shows one: 8–200 printable characters, no spaces.</small>
          <FieldError errors={errors} field="secret" idPrefix={ID} />
        </div>
        <Alert>{errors.general}</Alert>
        <div className="actions">
          <button type="submit" disabled={busy}>
            Add ticketer
          </button>
        </div>
      </form>
    </main>
  );
}
