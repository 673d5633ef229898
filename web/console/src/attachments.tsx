import { useCallback, useRef, useState, type ClipboardEvent, type DragEvent } from 'react';
import { formatSize, uploadFile, type Uploaded } from '../../shared/attachments';
import { uploadName } from '../../shared/file-name';
import { t } from '../../shared/i18n';

// Files in the composer: picked with the attach button, dropped onto the
// chat, or pasted (a screenshot). Each uploads at once and waits, shown
// under the reply, until the message is sent with it; a refused one (size,
// type) is reported and not kept.

interface Pending {
  key: number;
  name: string;
  size: number;
  uploaded: Uploaded | null;
}

export function useComposerFiles(conversationId: string, token: string, onError: (e: unknown) => void) {
  const [pending, setPending] = useState<Pending[]>([]);
  const [dragging, setDragging] = useState(false);
  const next = useRef(0);

  const add = useCallback(
    (files: Iterable<File>) => {
      for (const file of files) {
        const key = ++next.current;
        setPending((p) => [...p, { key, name: uploadName(file.name, file.type), size: file.size, uploaded: null }]);
        uploadFile(conversationId, token, file).then(
          (uploaded) => setPending((p) => p.map((x) => (x.key === key ? { ...x, uploaded } : x))),
          (error) => {
            setPending((p) => p.filter((x) => x.key !== key));
            onError(error);
          },
        );
      }
    },
    [conversationId, token, onError],
  );

  return {
    pending,
    dragging,
    uploading: pending.some((p) => p.uploaded === null),
    /** what the message refers to: the uploaded files by id */
    ready: pending.flatMap((p) => (p.uploaded ? [{ id: p.uploaded.id }] : [])),
    add,
    remove: (key: number) => setPending((p) => p.filter((x) => x.key !== key)),
    clear: () => setPending([]),
    dropZone: {
      onDragOver: (e: DragEvent) => {
        if (!e.dataTransfer.types.includes('Files')) return;
        e.preventDefault();
        setDragging(true);
      },
      onDragLeave: () => setDragging(false),
      onDrop: (e: DragEvent) => {
        if (e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        setDragging(false);
        add(Array.from(e.dataTransfer.files));
      },
    },
    onPaste: (e: ClipboardEvent) => {
      const files = Array.from(e.clipboardData.files);
      if (files.length === 0) return;
      e.preventDefault();
      add(files);
    },
  };
}

export type ComposerFiles = ReturnType<typeof useComposerFiles>;

export function AttachFileButton({ files }: { files: ComposerFiles }) {
  const input = useRef<HTMLInputElement | null>(null);
  return (
    <>
      <button type="button" className="secondary" onClick={() => input.current?.click()}>
        {t('Attach file')}
      </button>
      <input
        ref={input}
        type="file"
        multiple
        hidden
        aria-label={t('Files to send')}
        data-testid="attach-file"
        onChange={(e) => {
          files.add(Array.from(e.target.files ?? []));
          e.target.value = '';
        }}
      />
    </>
  );
}

export function PendingFiles({ files }: { files: ComposerFiles }) {
  if (files.pending.length === 0) return null;
  return (
    <ul className="pending-files" aria-label={t('Files to send')}>
      {files.pending.map((p) => (
        <li key={p.key} data-testid={p.uploaded ? 'pending-file' : 'uploading-file'}>
          {p.name} ({formatSize(p.size)}){p.uploaded ? '' : ` · ${t('uploading…')}`}
          <button type="button" className="link" aria-label={t('Remove {name}', { name: p.name })}
 onClick={() => files.remove(p.key)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}
