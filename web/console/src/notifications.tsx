import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import type { Live } from './live';
import type { Agent, Conversation } from './types';
import { t } from '../../shared/i18n';

// Notifications while the console's tab is hidden: a new assignment or offer,
// or the customer writing in a conversation the agent holds, gives a short
// sound and a desktop notification (the Notification API), each as the
// agent's preferences on the server say (GET/PUT
// /api/v1/agents/me/notification-preferences). An offer counts as an
// assignment there: it is the same news (a new chat for you), only with a
// deadline, and an agent who never hears of it is set away after a few
// (docs/routing.md). A visible tab shows everything already and stays quiet.

export interface Channels {
  sound: boolean;
  desktop: boolean;
}

export interface Preferences {
  assignment: Channels;
  customer_message: Channels;
}

const PATH = '/api/v1/agents/me/notification-preferences';

/** What the server answers an agent who never chose (src/notifications): everything on. */
export const DEFAULT_PREFERENCES: Preferences = { assignment: { sound: true, desktop: true }, customer_message: { sound: true, desktop: true } };

/** The first retry of a failed read of the preferences, doubled at each failure up to a minute. */
const PREFS_RETRY_MS = 5_000;
const PREFS_RETRY_MAX_MS = 60_000;

/**
 * The agent's preferences as the server has them; null until read. A read
 * that fails is shown once and tried again, less and less often, until it
 * answers: meanwhile the desk notifies as the defaults say (useDeskNotifications),
 * since an agent who never hears of an offer is set away.
 */
export function usePreferences(token: string, onError: (e: unknown) => void): [Preferences | null, (next: Preferences) => Promise<void>] {
  const [prefs, setPrefs] = useState<Preferences | null>(null);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = (failures: number) =>
      void api<Preferences>('GET', PATH, token).then(
        (answer) => !stopped && setPrefs(answer),
        (e: unknown) => {
          if (stopped) return;
          if (failures === 0) onError(e);
          timer = setTimeout(() => read(failures + 1), Math.min(PREFS_RETRY_MAX_MS, PREFS_RETRY_MS * 2 ** failures));
        },
      );
    read(0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [token, onError]);
  const save = useCallback(
    async (next: Preferences) => {
      setPrefs(await api<Preferences>('PUT', PATH, token, next));
    },
    [token],
  );
  return [prefs, save];
}

/** A short two-tone beep, made on the spot: no sound file to serve or to fail loading. */
let audio: AudioContext | undefined;
function beep(): void {
  try {
    audio ??= new AudioContext();
    const at = audio.currentTime;
    for (const [i, frequency] of [880, 660].entries()) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.15, at + i * 0.15);
      gain.gain.exponentialRampToValueAtTime(0.001, at + i * 0.15 + 0.14);
      tone.connect(gain).connect(audio.destination);
      tone.start(at + i * 0.15);
      tone.stop(at + i * 0.15 + 0.15);
    }
  } catch {
    // no audio device or not allowed yet: the desktop notification still tells
  }
}

const canNotify = () => typeof Notification !== 'undefined' && Notification.permission === 'granted';

interface Notice {
  kind: keyof Preferences;
  conversationId: string;
  title: string;
  body: string;
  /** where a click on it takes the tab */
  path: string;
}

const customerName = (c: { customer?: { name?: string | null; id?: string } }): string => c.customer?.name ?? c.customer?.id ?? t('A customer');

/**
 * Listens on the agent's assignment topic and inbox (offers, and a
 * customer's message in a conversation they hold, src/realtime/publisher.ts)
 * and, while the tab is hidden, plays and shows what `prefs` allows.
 * Clicking a notification brings the tab back on that conversation, or on
 * the desk's offers for an offer. `offers`: the desk's last reading of the
 * conversations offered to the agent.
 */
export function useDeskNotifications(live: Live | null, me: Agent, prefs: Preferences | null, offers: readonly Conversation[], open: (path: string) => void): void {
  const prefsRef = useRef(prefs);
  prefsRef.current = prefs;
  const openRef = useRef(open);
  openRef.current = open;
  const offersRef = useRef(offers);
  offersRef.current = offers;

  useEffect(() => {
    if (!live) return;
    const assign = `${live.base}/client/attendants/assign/${me.id}`;
    const inbox = `${live.base}/agents/${me.id}/events`;
    // Whether each conversation is only offered to the agent, from the inbox's conversation events
    // since the console connected; for one without any, the desk's reading of the offers. The
    // server tells the offered agent of its customer's messages too, but the conversation is not
    // theirs until accepted: the offer's own notification is the news.
    const offered = new Map<string, boolean>();
    const onlyOffered = (id: string) => offered.get(id) ?? offersRef.current.some((c) => c.id === id);
    const tell = (notice: Notice) => {
      // not read yet (or the read failing): the defaults, everything on, rather than silence
      const channels = (prefsRef.current ?? DEFAULT_PREFERENCES)[notice.kind];
      if (document.visibilityState !== 'hidden') return;
      if (channels.sound) beep();
      if (channels.desktop && canNotify()) {
        // one notification per conversation: a newer one replaces it rather than piling up
        const shown = new Notification(notice.title, { body: notice.body, tag: `switchboard-${notice.conversationId}` });
        shown.onclick = () => {
          window.focus();
          openRef.current(notice.path);
          shown.close();
        };
      }
    };
    return live.on((topic, data) => {
      if (topic === inbox && typeof data.type === 'string' && data.type.startsWith('conversation.') && typeof data.conversation?.id === 'string') {
        offered.set(data.conversation.id, data.conversation.state === 'offered' && data.conversation.agent_id === me.id);
      }
      if (topic === assign && typeof data.conversation?.id === 'string') {
        const c = data.conversation;
        tell({ kind: 'assignment', conversationId: c.id, title: t('New conversation'), body: t('{name} is assigned to you', { name: customerName(c) }), path: `/conversations/${c.id}` });
      } else if (topic === inbox && data.type === 'conversation.offered' && data.conversation?.agent_id === me.id && typeof data.conversation.id === 'string') {
        const c = data.conversation;
        // the offers are on the desk, not in the conversation's page, which is not the agent's yet
        tell({ kind: 'assignment', conversationId: c.id, title: t('Conversation offered'), body: t('{name} is offered to you: accept it before the offer runs out', { name: customerName(c) }), path: '/' });
      } else if (topic === inbox && data.type === 'message.created' && data.message?.sender === 'customer' && typeof data.conversation_id === 'string' && !onlyOffered(data.conversation_id)) {
        const text = typeof data.message.text === 'string' ? data.message.text : t('sent an attachment');
        tell({ kind: 'customer_message', conversationId: data.conversation_id, title: t('New message'), body: text.length > 140 ? `${text.slice(0, 139)}…` : text, path: `/conversations/${data.conversation_id}` });
      }
    });
  }, [live, me.id]);
}

const kinds = (): { key: keyof Preferences; label: string }[] => [
  { key: 'assignment', label: t('A conversation is assigned or offered to me') },
  { key: 'customer_message', label: t('A customer writes in a conversation I hold') },
];

/** The agent's own preferences, and the browser's permission for desktop notifications. */
export function NotificationsPage({ prefs, save, onError }: { prefs: Preferences | null; save: (next: Preferences) => Promise<void>; onError: (e: unknown) => void }) {
  const [draft, setDraft] = useState<Preferences | null>(null);
  const [saved, setSaved] = useState(false);
  const [permission, setPermission] = useState(() => (typeof Notification === 'undefined' ? 'unsupported' : Notification.permission));
  useEffect(() => setDraft(prefs), [prefs]);

  if (!draft) return <main className="admin">{t('Loading…')}</main>;
  const toggle = (kind: keyof Preferences, channel: keyof Channels) => (e: { target: { checked: boolean } }) => {
    setSaved(false);
    setDraft({ ...draft, [kind]: { ...draft[kind], [channel]: e.target.checked } });
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await save(draft);
      setSaved(true);
    } catch (e) {
      onError(e);
    }
  };
  const ask = async () => setPermission(await Notification.requestPermission());
  const wantsDesktop = draft.assignment.desktop || draft.customer_message.desktop;

  return (
    <main className="admin" aria-labelledby="notifications-title">
      <h2 id="notifications-title">{t('Notifications')}</h2>
      <p>{t('While this tab is hidden, the console can play a sound and show a desktop notification. Your choices are kept on the server and follow you to any browser.')}</p>
      <form onSubmit={submit} className="stack" data-testid="notification-preferences">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('When')}</th>
              <th scope="col">{t('Sound')}</th>
              <th scope="col">{t('Desktop')}</th>
            </tr>
          </thead>
          <tbody>
            {kinds().map(({ key, label }) => (
              <tr key={key}>
                <th scope="row">{label}</th>
                <td>
                  <input type="checkbox" aria-label={t('{label}: sound', { label })} checked={draft[key].sound} onChange={toggle(key, 'sound')} />
                </td>
                <td>
                  <input type="checkbox" aria-label={t('{label}: desktop notification', { label })} checked={draft[key].desktop} onChange={toggle(key, 'desktop')} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p data-testid="notification-permission">
          {permission === 'granted' && t('This browser shows desktop notifications.')}
          {permission === 'denied' && t('This browser blocks desktop notifications for this site: allow them in its site settings.')}
          {permission === 'unsupported' && t('This browser has no desktop notifications.')}

          {permission === 'default' && wantsDesktop && (
            <>
              {t('This browser has not been asked yet.')}{' '}
              <button type="button" className="secondary" onClick={() => void ask()}>
                {t('Allow desktop notifications')}
              </button>
            </>
          )}
        </p>
        <div>
          <button type="submit">{t('Save')}</button> {saved && <span role="status">{t('Saved.')}</span>}
        </div>
      </form>
    </main>
  );
}
