import { useState, type FormEvent } from 'react';
import { api, errorText } from '../../shared/util';
import { t } from '../../shared/i18n';

// "Send transcript": emails the conversation, as the customer saw it, to the
// customer (the address is prefilled) or to any address the agent types. The
// server answers once the email is in the outbox; the delivery log
// (Admin → Email) shows when it left.

export function SendTranscript({ conversationId, customerEmail, token }: { conversationId: string; customerEmail: string | null; token: string }) {
  const [email, setEmail] = useState(customerEmail ?? '');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      const answer = await api<{ to: string }>('POST', `/api/v1/conversations/${conversationId}/transcript`, token, email.trim() ? { email: email.trim() } : {});
      setOutcome({ ok: true, text: t('Transcript queued for {email}.', { email: answer.to }) });
    } catch (e) {
      setOutcome({ ok: false, text: t('Not sent: {reason}', { reason: errorText(e) }) });

    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={send} className="stack" aria-label={t('Send transcript')}>
      <label>
        {t('Transcript to')}
        <input type="email" name="transcript-email" maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} placeholder="customer@example.com" />
      </label>
      <button type="submit" disabled={busy}>
        {t('Send transcript')}
      </button>
      {outcome && (
        <p className={outcome.ok ? 'sent-note' : 'error'} role={outcome.ok ? 'status' : 'alert'} data-testid="transcript-outcome">
          {outcome.text}
        </p>
      )}
    </form>
  );
}
