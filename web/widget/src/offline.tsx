import { useEffect, useState, type FormEvent } from 'react';
import { api, errorText } from '../../shared/util';
import { formatDateTime, formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';


// When nobody is there (outside business hours, or no agent of the
// department online, as the offline_when setting says), the widget shows a
// form to leave a message instead of a live chat. The message becomes a
// queued conversation and an email to the team (POST /api/v1/offline-messages).

export interface Availability {
  open: boolean;
  reason: 'outside_hours' | 'holiday' | 'no_agent_online' | null;
  next_open_at: string | null;
  expected_wait_seconds: number | null;
}

/**
 * The availability of `department` when the widget opens and at each new
 * chat (`asked` changes); null while asking. When the question fails, the
 * live chat is offered: a chat that waits in the queue beats no way to write.
 */
export function useAvailability(department: string | null, asked: number): Availability | null | 'unknown' {
  const [availability, setAvailability] = useState<Availability | null | 'unknown'>(null);
  useEffect(() => {
    let live = true;
    setAvailability(null);
    api<Availability>('GET', `/api/v1/availability${department ? `?department=${encodeURIComponent(department)}` : ''}`).then(
      (a) => live && setAvailability(a),
      () => live && setAvailability('unknown'),
    );
    return () => {
      live = false;
    };
  }, [department, asked]);
  return availability;
}

function whyClosed(a: Availability): string {
  const opens = a.next_open_at
    ? ` ${t('We open again {when}.', { when: formatDateTime(a.next_open_at, { weekday: 'long', hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short' }) })}`
    : '';
  if (a.reason === 'holiday') return `${t('We are closed today.')}${opens}`;
  if (a.reason === 'outside_hours') return `${t('We are closed right now.')}${opens}`;
  return t('Nobody is available to chat right now.');
}

export function OfflineForm({ availability, department, profile }: { availability: Availability; department: string | null; profile: { name?: string; email?: string } | null }) {
  const [name, setName] = useState(profile?.name ?? '');
  const [email, setEmail] = useState(profile?.email ?? '');
  const [message, setMessage] = useState('');
  const [state, setState] = useState<{ busy?: boolean; sent?: { wait: number | null }; error?: string }>({});

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || !email.trim() || !message.trim()) return;
    setState({ busy: true });
    try {
      const conversation = await api<{ expected_wait_seconds: number | null }>('POST', '/api/v1/offline-messages', null, {
        name: name.trim(),
        email: email.trim(),
        message: message.trim(),
        ...(department ? { department } : {}),
      });
      setState({ sent: { wait: conversation.expected_wait_seconds } });
    } catch (error) {
      setState({ error: t('Your message was not sent: {reason}', { reason: errorText(error) }) });
    }
  };

  if (state.sent) {
    return (
      <div className="start offline-thanks" role="status" data-testid="offline-thanks">
        <p>
          <strong>{t('Thank you, {name}!', { name: name.trim() })}</strong> {t('We have your message and will answer at {email}.', { email: email.trim() })}
        </p>
        {state.sent.wait !== null && <p>{t('Expected wait for an answer: {wait}.', { wait: formatWait(state.sent.wait) })}</p>}
      </div>
    );
  }
  return (
    <form className="start" onSubmit={submit} aria-labelledby="offline-title" data-testid="offline-form">
      <p id="offline-title">
        {whyClosed(availability)} {t('Leave us a message and we will get back to you by email.')}
      </p>
      <label>
        {t('Name')}
        <input name="name" autoComplete="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        {t('Email')}
        <input name="email" type="email" autoComplete="email" required maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        {t('Message')}
        <textarea name="message" required rows={4} maxLength={10000} value={message} onChange={(e) => setMessage(e.target.value)} />
      </label>
      {state.error && (
        <p className="notice" role="alert">
          {state.error}
        </p>
      )}
      <button type="submit" disabled={state.busy}>
        {t('Send message')}
      </button>
    </form>
  );
}
