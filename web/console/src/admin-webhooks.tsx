import { Fragment, useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { Alert, CopyValue, deliveryState, EmptyRow, FieldError, TableHead, useFormErrors, useProblem, when, type AdminProps } from './admin-kit';
// What an endpoint may subscribe to is the server's own list (bundled: scripts/build-web.mjs rebuilds when it changes)
import { SUBSCRIBABLE_EVENTS } from '../../../src/events/webhooks/catalog';
// types only (erased from the bundle): the API's own shapes
import type { DeliveryView as Delivery } from '../../../src/events/webhooks/deliveries';
import type { Endpoint } from '../../../src/events/webhooks/endpoints';
import { formatDateTime, formatNumber } from '../../shared/format';
import { t } from '../../shared/i18n';

// Admin: webhook endpoints (docs/webhooks.md) — add, ping, enable/disable,
// rotate the secret, delete — and one endpoint's delivery log with every
// attempt and a Redeliver button.

const ID = 'webhook';
const FIELDS = ['url', 'events', 'app_code', 'secret'] as const;

export function WebhooksAdmin({ token, onError }: AdminProps) {
  const [endpoints, setEndpoints] = useState<Endpoint[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ id: string; value: string; rotated: boolean } | null>(null);
  const { problem, setProblem, fail } = useProblem(onError);
  const [deliveriesVersion, setDeliveriesVersion] = useState(0);

  const load = useCallback(() => api<Endpoint[]>('GET', '/api/v1/webhooks', token).then(setEndpoints, fail), [token, fail]);
  useEffect(() => {
    void load();
  }, [load]);

  const act = async (work: () => Promise<unknown>) => {
    setProblem(null);
    try {
      await work();
      await load();
    } catch (e) {
      fail(e);
    }
  };
  const ping = (endpoint: Endpoint) =>
    act(async () => {
      await api('POST', `/api/v1/webhooks/${endpoint.id}/ping`, token);
      setSelected(endpoint.id);
      setDeliveriesVersion((v) => v + 1);
    });
  const toggle = (endpoint: Endpoint) => {
    if (endpoint.enabled && !confirm(t('Disable {url}? Its waiting deliveries are cancelled (they can be redelivered later).', { url: endpoint.url }))) return;
    return act(() => api('PATCH', `/api/v1/webhooks/${endpoint.id}`, token, { enabled: !endpoint.enabled }));
  };
  const rotate = (endpoint: Endpoint) => {
    // One old secret signs beside the new one: rotating again within its
    // grace would cut it short (the server refuses that), so a second
    // rotation drops every old secret, and says so.
    const graceEnds = endpoint.previous_secret_expires_at;
    const inGrace = graceEnds !== null && Date.parse(graceEnds) > Date.now();
    const question = inGrace
      ? t('The secret of {url} was rotated lately: its previous secret still signs until {time}. Rotate again? Every old secret stops signing at once; update the receiver right away.', { url: endpoint.url, time: formatDateTime(graceEnds) })
      : t('Rotate the secret of {url}? The old one keeps signing for 24 hours; update the receiver before then.', { url: endpoint.url });
    if (!confirm(question)) return;
    return act(async () => {
      const answer = await api<{ secret: string }>('POST', `/api/v1/webhooks/${endpoint.id}/rotate-secret`, token, inGrace ? { grace_seconds: 0 } : {});
      setSecret({ id: endpoint.id, value: answer.secret, rotated: true });
    });
  };
  const remove = (endpoint: Endpoint) => {
    if (!confirm(t('Delete the endpoint {url} and its whole delivery log?', { url: endpoint.url }))) return;
    return act(async () => {
      await api('DELETE', `/api/v1/webhooks/${endpoint.id}`, token);
      if (selected === endpoint.id) setSelected(null);
      if (secret?.id === endpoint.id) setSecret(null);
    });
  };

  const current = endpoints?.find((e) => e.id === selected) ?? null;

  return (
    <main className="admin">
      <h2>{t('Webhooks')}</h2>
      <Alert>{problem}</Alert>
      {secret && (
        <div className="secret-box" role="status" data-testid="webhook-secret">
          <p>
            <strong>{secret.rotated ? t('New signing secret') : t('Signing secret')}</strong> — {t('shown this once; store it with the receiver.')}
          </p>
          <CopyValue label={t('Signing secret')} value={secret.value} />
          <button type="button" className="link-button" onClick={() => setSecret(null)}>
            {t('I stored it')}
          </button>
        </div>
      )}
      <div className="table-wrap">
        <table data-testid="webhooks">
          <caption className="visually-hidden">{t('Webhook endpoints')}</caption>
          <TableHead columns={['URL', t('Events'), t('State')]} actions />
          <tbody>
            {endpoints?.length === 0 && (
              <EmptyRow columns={4}>{t('No endpoints yet.')}</EmptyRow>
            )}
            {endpoints?.map((e) => (
              <tr key={e.id} className={e.id === selected ? 'current' : ''}>
                <td className="wrap">
                  {e.url}
                  {e.app_code && <small> · {t('app {code}', { code: e.app_code })}</small>}
                  {!e.verify_ssl && <small> · {t('TLS not verified')}</small>}
                </td>
                <td className="wrap">{e.events.join(', ')}</td>
                <td>
                  {e.enabled ? t('enabled') : t('disabled')}
                  {e.disabled_reason && <small className="block">{e.disabled_reason}</small>}
                  {e.failing_since && <small className="block warn">{t('failing since {time}', { time: when(e.failing_since) })}</small>}
                </td>
                <td className="row-actions">
                  <button type="button" className="secondary" aria-pressed={e.id === selected} onClick={() => setSelected(e.id === selected ? null : e.id)}>
                    {t('Deliveries')}
                    <span className="visually-hidden"> {t('of {url}', { url: e.url })}</span>
                  </button>
                  <button type="button" className="secondary" disabled={!e.enabled} onClick={() => void ping(e)}>
                    {t('Ping')}
                    <span className="visually-hidden"> {e.url}</span>
                  </button>
                  <button type="button" className="secondary" onClick={() => void toggle(e)}>
                    {e.enabled ? t('Disable') : t('Enable')}
                    <span className="visually-hidden"> {e.url}</span>
                  </button>
                  <button type="button" className="secondary" onClick={() => void rotate(e)}>
                    {t('Rotate secret')}
                    <span className="visually-hidden"> {t('of {url}', { url: e.url })}</span>
                  </button>
                  <button type="button" className="danger" onClick={() => void remove(e)}>
                    {t('Delete')}
                    <span className="visually-hidden"> {e.url}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {current && <DeliveryLog key={current.id} endpoint={current} token={token} version={deliveriesVersion} onError={onError} />}
      <NewEndpoint
        token={token}
        onError={onError}
        onCreated={(id, value) => {
          setSecret({ id, value, rotated: false });
          void load();
        }}
      />
    </main>
  );
}

function NewEndpoint({ token, onError, onCreated }: { token: string; onError: (e: unknown) => void; onCreated: (id: string, secret: string) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>([]);
  const [appCode, setAppCode] = useState('');
  const [verifySsl, setVerifySsl] = useState(true);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(onError, ID, FIELDS);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setBusy(true);
    try {
      const created = await api<Endpoint & { secret: string }>('POST', '/api/v1/webhooks', token, {
        url: url.trim(),
        events,
        verify_ssl: verifySsl,
        ...(appCode.trim() ? { app_code: appCode.trim() } : {}),
      });
      setUrl('');
      setEvents([]);
      setAppCode('');
      setVerifySsl(true);
      onCreated(created.id, created.secret);
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h3>{t('New endpoint')}</h3>
      <form className="stack-form" onSubmit={submit} noValidate>
        <div className="setting">
          <label htmlFor={`${ID}-url`}>URL</label>
          <input id={`${ID}-url`} type="url" placeholder="https://crm.example.com/switchboard" value={url} onChange={(e) => setUrl(e.target.value)} {...errors.describe('url')} />
          <FieldError errors={errors} field="url" idPrefix={ID} />
        </div>
        <fieldset className="events" {...errors.describe('events')}>
          <legend>{t('Events')}</legend>
          {SUBSCRIBABLE_EVENTS.map((name) => (
            <label key={name} className="check">
              <input type="checkbox" checked={events.includes(name)} onChange={(e) => setEvents(e.target.checked ? [...events, name] : events.filter((n) => n !== name))} />
              {name}
            </label>
          ))}
          <FieldError errors={errors} field="events" idPrefix={ID} />
        </fieldset>
        <div className="setting">
          <label htmlFor={`${ID}-app_code`}>{t('App code (optional)')}</label>
          <input id={`${ID}-app_code`} maxLength={200} value={appCode} onChange={(e) => setAppCode(e.target.value)} {...errors.describe('app_code')} />
          <FieldError errors={errors} field="app_code" idPrefix={ID} />
        </div>
        <label className="check">
          <input type="checkbox" checked={verifySsl} onChange={(e) => setVerifySsl(e.target.checked)} />
          {t('Verify the TLS certificate')}
        </label>
        <Alert>{errors.general}</Alert>
        <div className="actions">
          <button type="submit" disabled={busy}>
            {t('Add endpoint')}
          </button>
        </div>
      </form>
    </>
  );
}

function DeliveryLog({ endpoint, token, version, onError }: { endpoint: Endpoint; token: string; version: number; onError: (e: unknown) => void }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const { problem, setProblem, fail } = useProblem(onError);
  const [more, setMore] = useState(false);
  // a refresh re-reads the newest page; rows paged in with "Older" stay below it
  const pagedOlder = useRef(false);
  const load = useCallback(
    () =>
      api<Delivery[]>('GET', `/api/v1/webhooks/${endpoint.id}/deliveries?limit=50`, token).then(
        (rows) => {
          setProblem(null);
          if (!pagedOlder.current) {
            setDeliveries(rows);
            setMore(rows.length === 50);
            return;
          }
          const oldest = rows.at(-1)?.id ?? Infinity;
          setDeliveries((shown) => [...rows, ...(shown ?? []).filter((d) => d.id < oldest)]);
        },
        fail,
      ),
    [endpoint.id, token, fail, setProblem],
  );
  useEffect(() => {
    void load();
  }, [load, version]);
  // attempts happen in the background: follow them while some are pending
  const pending = deliveries?.some((d) => d.state === 'pending') ?? false;
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => void load(), 2_000);
    return () => clearInterval(timer);
  }, [pending, load]);

  const older = async () => {
    const last = deliveries?.at(-1);
    if (!last) return;
    try {
      const rows = await api<Delivery[]>('GET', `/api/v1/webhooks/${endpoint.id}/deliveries?limit=50&before=${last.id}`, token);
      pagedOlder.current = true;
      setDeliveries((shown) => [...(shown ?? []), ...rows]);
      setMore(rows.length === 50);
    } catch (e) {
      fail(e);
    }
  };
  const redeliver = async (delivery: Delivery) => {
    setProblem(null);
    try {
      await api('POST', `/api/v1/deliveries/${delivery.id}/redeliver`, token);
      await load();
    } catch (e) {
      fail(e);
    }
  };

  return (
    <section className="deliveries" aria-labelledby="deliveries-title">
      <div className="section-head">
        <h3 id="deliveries-title">{t('Deliveries to {url}', { url: endpoint.url })}</h3>
        <button type="button" className="secondary" onClick={() => void load()}>
          {t('Refresh')}
        </button>
      </div>
      <Alert>{problem}</Alert>
      <div className="table-wrap">
        <table data-testid="deliveries">
          <TableHead columns={['#', t('Event'), t('State'), t('Attempts'), t('Last answer'), t('Created')]} actions />
          <tbody>
            {deliveries?.length === 0 && (
              <EmptyRow columns={7}>{t('Nothing sent yet. Ping the endpoint to try it.')}</EmptyRow>
            )}
            {deliveries?.map((d) => (
              <Fragment key={d.id}>
                <tr data-testid="delivery">
                  <td>
                    {d.id}
                    {d.redelivery_of !== null && <small className="block">{t('again of #{id}', { id: d.redelivery_of })}</small>}
                  </td>
                  <td>{d.event}</td>
                  <td>
                    <span className={`badge ${d.state}`}>{deliveryState(d.state)}</span>
                    {d.next_attempt_at && <small className="block">{t('next try {time}', { time: when(d.next_attempt_at) })}</small>}
                  </td>
                  <td>{d.attempts}</td>
                  <td className="wrap">
                    {d.last_status !== null ? `HTTP ${d.last_status}` : ''}
                    {d.last_error && <small className="block">{d.last_error}</small>}
                  </td>
                  <td>{when(d.created_at)}</td>
                  <td>
                    <button type="button" className="secondary" disabled={!endpoint.enabled} onClick={() => void redeliver(d)}>
                      {t('Redeliver')}
                      <span className="visually-hidden"> #{d.id}</span>
                    </button>
                  </td>
                </tr>
                {d.attempt_log.length > 0 && (
                  <tr className="attempts">
                    <td colSpan={7}>
                      <details>
                        <summary>{t('Attempts of #{id}', { id: d.id })}</summary>
                        <ol>
                          {d.attempt_log.map((a) => (
                            <li key={a.attempt}>
                              {when(a.at)} · {a.status !== null ? `HTTP ${a.status}` : t('no answer')} · {formatNumber(a.duration_ms)} ms
                              {a.error ? ` · ${a.error}` : ''}
                              {a.response_excerpt ? <pre>{a.response_excerpt}</pre> : null}
                            </li>
                          ))}
                        </ol>
                      </details>
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      </div>
      {more && (
        <button type="button" className="secondary" onClick={() => void older()}>
          {t('Older deliveries')}
        </button>
      )}
    </section>
  );
}
