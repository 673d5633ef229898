import { useEffect, useState } from 'react';
import { api, errorText, isApiError } from '../../shared/util';
import { t } from '../../shared/i18n';
import type { Conversation, Waiting } from './types';

// The desk's part in two routing modes of issue #20 (docs/routing.md):
// offers the agent must accept before they run out, with a countdown, and
// the queue of manual-pick departments, where agents take conversations
// themselves.

/** Seconds left on an offer at `now` (never below 0: the sweep takes it back shortly). */
export const secondsLeft = (offer: Conversation, now: number): number =>
  offer.offer_expires_at ? Math.max(0, Math.ceil((Date.parse(offer.offer_expires_at) - now) / 1000)) : 0;

/** The conversations offered to the agent, each with its countdown and Accept/Decline. */
export function OffersPanel({
  token,
  offers,
  now,
  onAccepted,
  onChanged,
  onError,
}: {
  token: string;
  offers: Conversation[];
  now: number;
  onAccepted: (id: string) => void;
  onChanged: () => void;
  onError: (e: unknown) => void;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  if (offers.length === 0 && !note) return null;
  const answer = async (offer: Conversation, action: 'accept' | 'decline') => {
    setBusy(offer.id);
    setNote(null);
    try {
      await api('POST', `/api/v1/conversations/${offer.id}/${action}`, token, {});
      if (action === 'accept') onAccepted(offer.id);
    } catch (e) {
      // a late click: the offer ran out or was withdrawn meanwhile
      if (isApiError(e) && e.status === 409) setNote(errorText(e));
      else onError(e);
    } finally {
      setBusy(null);
      onChanged();
    }
  };
  return (
    <section className="offers" aria-label={t('Offers')} data-testid="offers">
      <h2>{t('Offered to you')}</h2>
      {note && (
        <p className="note" role="status">
          {note}
        </p>
      )}
      <ul className="items">
        {offers.map((offer) => {
          const left = secondsLeft(offer, now);
          const name = offer.customer.name ?? offer.customer.id;
          return (
            <li key={offer.id} className="offer" data-testid="offer">
              <div className="item">
                <strong>{name}</strong>
                <span>
                  {offer.channel}
                  {offer.department ? ` · ${offer.department}` : ''}
                </span>
                <span className="countdown" data-testid="offer-countdown" role="timer" aria-live="off">
                  {t('{seconds} s left to accept', { seconds: left })}
                </span>
                <div className="offer-actions">
                  <button type="button" disabled={busy === offer.id} onClick={() => void answer(offer, 'accept')} aria-label={t('Accept the chat with {name}', { name })}>
                    {t('Accept')}
                  </button>
                  <button type="button" className="secondary" disabled={busy === offer.id} onClick={() => void answer(offer, 'decline')} aria-label={t('Decline the chat with {name}', { name })}>
                    {t('Decline')}
                  </button>
                </div>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The routing mode of each department in `departments`, read once each (GET /api/v1/departments/:name/routing). */
export function useDepartmentModes(token: string, departments: readonly string[], version: number): Map<string, { mode: string; manual_order: string }> {
  const [modes, setModes] = useState(new Map<string, { mode: string; manual_order: string }>());
  const key = [...new Set(departments)].sort().join('\n');
  useEffect(() => {
    let live = true;
    const names = key ? key.split('\n') : [];
    void Promise.all(
      names.map(async (name) => {
        try {
          const settings = await api<{ mode: string; manual_order: string }>('GET', `/api/v1/departments/${encodeURIComponent(name)}/routing`, token);
          return [name, { mode: settings.mode, manual_order: settings.manual_order }] as const;
        } catch {
          return null;
        }
      }),
    ).then((entries) => {
      if (live) setModes(new Map(entries.filter((e) => e !== null)));
    });
    return () => {
      live = false;
    };
  }, [token, key, version]);
  return modes;
}

/** A Pick button for a waiting conversation of a manual-pick department. */
export function PickButton({ token, waiting, onPicked, onChanged, onRefused }: { token: string; waiting: Waiting; onPicked: (id: string) => void; onChanged: () => void; onRefused: (message: string) => void }) {
  const [busy, setBusy] = useState(false);
  const name = waiting.name ?? t('Customer');
  const pick = async () => {
    setBusy(true);
    try {
      await api('POST', `/api/v1/conversations/${waiting.id}/pick`, token, {});
      onPicked(waiting.id);
    } catch (e) {
      // someone else was faster, no room, not next: say so; the list refreshes
      onRefused(errorText(e));
    } finally {
      setBusy(false);
      onChanged();
    }
  };
  return (
    <button type="button" className="pick" disabled={busy} onClick={() => void pick()} aria-label={t('Pick the chat with {name}', { name })}>
      {t('Pick')}
    </button>
  );
}
