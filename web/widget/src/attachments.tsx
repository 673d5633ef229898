import { useRef, useState } from 'react';
import { uploadFile } from '../../shared/attachments';
import { errorText } from '../../shared/util';
import { t } from '../../shared/i18n';

// The customer sends a file: picked, uploaded with the session token, then
// sent over MQTT as a message that refers to it by id. A refused file (too
// big, a type the team does not accept) is explained, and nothing is sent.

interface Props {
  conversationId: string;
  token: string;
  disabled: boolean;
  /** publishes the message carrying the uploaded file; false when not connected */
  onUploaded: (id: string) => boolean;
  onProblem: (message: string | null) => void;
}

export function SendFileButton({ conversationId, token, disabled, onUploaded, onProblem }: Props) {
  const input = useRef<HTMLInputElement | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async (file: File) => {
    onProblem(null);
    setBusy(true);
    try {
      const uploaded = await uploadFile(conversationId, token, file);
      if (!onUploaded(uploaded.id)) onProblem(t('Not connected: the file was not sent. Please try again.'));
    } catch (error) {
      onProblem(t('Could not send {file}: {reason}', { file: file.name, reason: errorText(error) }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className="secondary" disabled={disabled || busy} onClick={() => input.current?.click()}>
        {busy ? t('Uploading…') : t('Attach a file')}
      </button>
      <input
        ref={input}
        type="file"
        hidden
        aria-label={t('File to send')}

        data-testid="send-file"
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = '';
          if (file) void send(file);
        }}
      />
    </>
  );
}
