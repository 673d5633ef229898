import { useRef, useState } from 'react';
import { t } from '../../shared/i18n';
import { api, errorText } from '../../shared/util';

// "Erase conversation" (admins, closed conversations only): the right to
// erasure. It cannot be undone, so it asks first in a modal dialog that
// names what goes; the server refuses an open conversation anyway.

export function EraseConversation({ conversationId, token, onErased }: { conversationId: string; token: string; onErased: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);

  const erase = async () => {
    setBusy(true);
    setFailure(null);
    try {
      await api('DELETE', `/api/v1/conversations/${conversationId}`, token);
      dialog.current?.close();
      onErased();
    } catch (e) {
      setFailure(t('Not erased: {reason}', { reason: errorText(e) }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button type="button" className="danger" onClick={() => dialog.current?.showModal()} data-testid="erase">
        {t('Erase conversation')}
      </button>
      <dialog ref={dialog} className="confirm-dialog" aria-labelledby="erase-title" aria-describedby="erase-what">
        <h2 id="erase-title">{t('Erase this conversation?')}</h2>
        <p id="erase-what">
          {t("Its messages, notes, files, rating and the customer's details are deleted for good. Its events stay in the log with the personal data removed. This cannot be undone.")}
        </p>
        {failure && (
          <p className="error" role="alert">
            {failure}
          </p>
        )}
        <div className="row">
          <button type="button" className="danger" onClick={() => void erase()} disabled={busy} data-testid="erase-confirm">
            {t('Erase')}
          </button>
          <button type="button" onClick={() => dialog.current?.close()} autoFocus>
            {t('Cancel')}
          </button>
        </div>
      </dialog>
    </>
  );
}
