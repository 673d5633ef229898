import { useCallback, useEffect, useRef, useState } from 'react';
import { HEX_COLOR, textColorOn } from '../../../src/appearance/contrast';
import { api } from '../../shared/util';
import { t } from '../../shared/i18n';
import { greetingMessage, type GreetingAnswer } from '../../shared/frame-messages';

// The chat window's look and its greeting, from GET /api/v1/widget-settings:
// the admin's colour (or the page's data-color, passed by the loader) as CSS
// variables with the readable text colour on it, agents' initials when
// avatars are on, and the greeting the loader opened the chat with — shown
// above the form, only while a live chat is offered, and reported (shown,
// then opened when the visitor starts the chat) with the loader's visitor
// id, which the database counts once.

interface Settings {
  color: string;
  text_color: string;
  show_agent_avatars: boolean;
  greetings: { id: string; message: string }[];
}

const params = new URLSearchParams(location.search);
const embedded = new URLSearchParams(location.hash.slice(1));
const pageColor = HEX_COLOR.test(params.get('color') ?? '') ? params.get('color')! : null;
const greetingId = params.get('greeting');
const visitorId = embedded.get('visitor');

function paint(color: string, text: string) {
  document.documentElement.style.setProperty('--sb-accent', color);
  document.documentElement.style.setProperty('--sb-on-accent', text);
}

// The greeting shown in this tab, kept in the frame's sessionStorage: a
// visitor who closes the greeted chat and starts one after a reload still
// counts as opened by it.
const SHOWN_KEY = 'switchboard-greeting-shown';

function greetedHere(): string | null {
  try {
    return sessionStorage.getItem(SHOWN_KEY);
  } catch {
    return null;
  }
}

const report = (id: string | null, kind: 'shown' | 'opened') => {
  if (!id || !visitorId) return;
  if (kind === 'shown') {
    try {
      sessionStorage.setItem(SHOWN_KEY, id);
    } catch {
      // then only this page view's chat counts as opened
    }
  }
  // a count that cannot be made is not the customer's problem
  api('POST', `/api/v1/greetings/${encodeURIComponent(id)}/events`, null, { kind, visitor_id: visitorId }).catch(() => undefined);
};

export interface Look {
  showAvatars: boolean;
  /** the greeting this chat opened with, once known */
  greeting: string | null;
  /** the visitor started a chat: counts the greeting as having opened one */
  chatStarted(): void;
}

/**
 * The loader (widget.js) keeps a greeting's frame hidden until the frame
 * says whether it drew the greeting; only then does it open the chat and
 * mark the greeting as done in the site's storage. The frame always
 * answers, once: a frame that never did would stay hidden for the page
 * view, resuming a chat (and its MQTT link) where the visitor cannot see it.
 *   shown    drawn above a live chat's start form: the loader opens the chat
 *   closed   outside the hours (the offline form): nothing pops open
 *   skipped  not drawn: the settings could not be read, the greeting is
 *            gone, or the chat kept in storage turned out to be over (resolved
 *            or expired while the visitor was away: the ended screen is not
 *            popped open, and the greeting stays for a later page view, whose
 *            frame starts at the form)
 *   chat     not drawn: a chat is going on (resumed, and the server said it
 *            is queued or with an agent): the loader shows it
 */
const tellLoader = (what: GreetingAnswer) => {
  if (parent !== window) parent.postMessage(greetingMessage(what), '*');
};

/**
 * The look applied to the page. `where`: 'form' when the start form of a
 * live chat is showing (the greeting is drawn there and reported shown);
 * 'closed' when the offline form shows instead (outside the hours: the
 * greeting is neither drawn nor reported, and stays armed for a later
 * visit); 'chat' while a chat is going on (confirmed live); 'ended' on the
 * screen of a chat that is over; 'other' while loading or connecting.
 */
export function useLook(where: 'form' | 'closed' | 'chat' | 'ended' | 'other'): Look {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [unreadable, setUnreadable] = useState(false);
  const shown = useRef(false);
  // the loader was told the greeting is not drawn: it is not drawn later in this frame either
  const declined = useRef(false);
  useEffect(() => {
    if (pageColor) paint(pageColor, textColorOn(pageColor));
    api<Settings>('GET', '/api/v1/widget-settings').then(
      (s) => {
        if (!pageColor && HEX_COLOR.test(s.color)) paint(s.color, textColorOn(s.color));
        setSettings(s);
      },
      () => setUnreadable(true),
    );
  }, []);
  const message = greetingId ? (settings?.greetings.find((g) => g.id === greetingId)?.message ?? null) : null;
  const greeting = (where === 'form' && !declined.current) || shown.current ? message : null;
  useEffect(() => {
    if (greeting && !shown.current) {
      shown.current = true;
      report(greetingId, 'shown');
      tellLoader('shown');
    }
  }, [greeting]);
  useEffect(() => {
    if (!greetingId || shown.current || declined.current) return;
    const answer: GreetingAnswer | null =
      where === 'chat' ? 'chat' : where === 'closed' ? 'closed' : where === 'ended' ? 'skipped' : where === 'form' && (unreadable || (settings !== null && message === null)) ? 'skipped' : null;
    if (answer) {
      declined.current = true;
      tellLoader(answer);
    }
  }, [where, settings, unreadable]);
  const chatStarted = useCallback(() => {
    report(shown.current ? greetingId : greetedHere(), 'opened');
  }, []);
  return { showAvatars: settings?.show_agent_avatars ?? false, greeting, chatStarted };
}

/** Up to two initials of a name, for the avatar. */
export const initials = (name: string) =>
  name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => [...w][0]!.toUpperCase())
    .join('') || '?';

export function Avatar({ name }: { name: string }) {
  return (
    <span className="avatar" aria-hidden="true" data-testid="avatar">
      {initials(name)}
    </span>
  );
}

export function Greeting({ message }: { message: string }) {
  return (
    <div className="greeting" data-testid="greeting" role="note" aria-label={t('Greeting')}>
      <p>{message}</p>
    </div>
  );
}
