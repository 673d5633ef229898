import { useState, type FormEvent } from 'react';
import { api, errorText } from '../../shared/util';
import { t } from '../../shared/i18n';

// After the chat: "Email me the transcript". The address is the one the
// customer started the chat with; the server sends only to the
// conversation's own address (or the one given here, once, when it had none).

export function TranscriptOffer({ conversationId, token, email: known }: { conversationId: string; token: string; email: string }) {
  const [email, setEmail] = useState(known);
  const [state, setState] = useState<{ busy?: boolean; done?: string; error?: string }>({});
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setState({ busy: true });
    try {
      const answer = await api<{ to: string }>('POST', `/api/v1/conversations/${conversationId}/transcript`, token, email.trim() ? { email: email.trim() } : {});
      setState({ done: t('The transcript is on its way to {email}.', { email: answer.to }) });
    } catch (error) {
      setState({ error: t('Could not send the transcript: {reason}', { reason: errorText(error) }) });
    }
  };
  if (state.done) return <p className="transcript" role="status">{state.done}</p>;
  return (
    <form className="transcript" onSubmit={submit}>
      <label>
        {t('Email')}
        <input name="transcript-email" type="email" autoComplete="email" maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit" disabled={state.busy}>
        {t('Email me the transcript')}

      </button>
      {state.error && (
        <p className="notice" role="alert">
          {state.error}
        </p>
      )}
    </form>
  );
}
