import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, errorText, isApiError } from '../../shared/util';
import { t } from '../../shared/i18n';

// After a resolved chat, the customer's satisfaction rating (CSAT): the
// question and the thank-you come from the server's settings, asked once.
// GET …/rating says whether to ask (the setting is on, the chat was resolved
// and not rated yet); the server refuses a second rating anyway.

interface Status {
  can_rate: boolean;
  rating: { score: number } | null;
  csat: { enabled: boolean; question: string; thanks: string };
}

// The server's default wording (src/settings/settings.ts) reads in the customer's
// language; wording an admin wrote is shown as written.
const defaultWords = (): Record<string, string> => ({
  'How would you rate this conversation?': t('How would you rate this conversation?'),
  'Thank you for your feedback!': t('Thank you for your feedback!'),
});
const words = (text: string) => defaultWords()[text] ?? text;

const labels = () => [t('Very bad'), t('Bad'), t('Okay'), t('Good'), t('Excellent')];

export function RatingPrompt({ sessionId, token }: { sessionId: string; token: string }) {
  const [status, setStatus] = useState<Status | null>(null);
  const [score, setScore] = useState<number | null>(null);
  const [comment, setComment] = useState('');
  const [sending, setSending] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const url = `/api/v1/conversations/${sessionId}/rating`;

  useEffect(() => {
    let stale = false;
    api<Status>('GET', url, token).then(
      (s) => !stale && setStatus(s),
      () => undefined, // no question when the server cannot be asked: the chat has ended anyway
    );
    return () => {
      stale = true;
    };
  }, [url, token]);

  if (!status) return null;
  if (done) {
    return (
      <p className="rating-thanks" role="status" data-testid="rating-thanks">
        {words(status.csat.thanks)}
      </p>
    );
  }
  if (!status.can_rate) return null;

  const LABELS = labels();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (score === null || sending) return;
    setSending(true);
    setError(null);
    try {
      await api('POST', url, token, { score, ...(comment.trim() ? { comment: comment.trim() } : {}) });
      setDone(true);
    } catch (e) {
      // rated already (another tab): the answer is in, which is what the customer wanted
      if (isApiError(e) && e.code === 'SB_RATING_EXISTS') setDone(true);
      else if (isApiError(e) && e.code === 'SB_CSAT_DISABLED') setStatus({ ...status, can_rate: false });
      else setError(t('Your rating was not sent: {reason}', { reason: errorText(e) }));
    } finally {
      setSending(false);
    }
  };

  return (
    <form className="rating" onSubmit={submit} data-testid="rating">
      <fieldset>
        <legend id={`${id}-q`}>{words(status.csat.question)}</legend>

        <div className="scores" role="radiogroup" aria-labelledby={`${id}-q`}>
          {LABELS.map((label, i) => (
            <label key={label} className={score === i + 1 ? 'chosen' : ''} title={label}>
              <input type="radio" name="score" value={i + 1} checked={score === i + 1} onChange={() => setScore(i + 1)} aria-label={t('{score} of 5: {label}', { score: i + 1, label })} />
              <span aria-hidden="true">{i + 1}</span>
            </label>
          ))}
        </div>
        <p className="scale" aria-hidden="true">
          <span>{LABELS[0]}</span>
          <span>{LABELS[4]}</span>
        </p>
        <label className="comment">
          {t('Comment (optional)')}
          <textarea name="comment" rows={2} maxLength={1000} value={comment} onChange={(e) => setComment(e.target.value)} />
        </label>
      </fieldset>
      {error && (
        <p className="notice" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={score === null || sending}>
          {t('Send rating')}

        </button>
      </div>
    </form>
  );
}
