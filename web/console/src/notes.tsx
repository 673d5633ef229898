import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import type { Live } from './live';
import type { Message } from './types';
import { t } from '../../shared/i18n';

// Private notes in the console: they come among the messages of GET
// .../messages (private: true) and live on the agents' own topics — never on
// the conversation's, which the customer's widget reads. Shown apart from
// the chat, in their own colour, with who wrote them.

/**
 * Follows note.created/updated/deleted of conversation `id` on the topics
 * the console already listens to (the agent's events; a supervisor's
 * events/conversations).
 */
export function useLiveNotes(live: Live | null, id: string, merge: (notes: Message[]) => void, remove: (noteId: number) => void): void {
  useEffect(() => {
    if (!live) return;
    return live.on((_topic, data) => {
      if (typeof data?.type !== 'string' || !data.type.startsWith('note.') || data.conversation_id !== id) return;
      const note = data.note as Message | undefined;
      if (!note || typeof note.id !== 'number') return;
      if (data.type === 'note.deleted') remove(note.id);
      else merge([{ ...note, private: true }]);
    });
  }, [live, id, merge, remove]);
}

export function NoteHeading({ note, authorName }: { note: Message; authorName: string }) {
  return (
    <span className="note-heading" data-testid="note-heading">
      🔒 {t('Private note')} · {authorName}
      {note.updated_at ? ` · ${t('edited')}` : ''}

    </span>
  );
}

/** Edit and Delete under a note of one's own (the API refuses anyone else's). */
export function NoteActions(props: { note: Message; token: string; onSaved: (note: Message) => void; onDeleted: (id: number) => void; onError: (e: unknown) => void }) {
  const { note, token, onSaved, onDeleted, onError } = props;
  const [draft, setDraft] = useState<string | null>(null);
  const url = `/api/v1/conversations/${note.conversation_id}/notes/${note.id}`;
  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (!draft?.trim()) return;
    try {
      onSaved(await api<Message>('PATCH', url, token, { text: draft.trim() }));
      setDraft(null);
    } catch (e) {
      onError(e);
    }
  };
  const remove = async () => {
    if (!confirm(t('Delete this note?'))) return;

    try {
      await api('DELETE', url, token);
      onDeleted(note.id);
    } catch (e) {
      onError(e);
    }
  };
  if (draft !== null) {
    return (
      <form className="note-edit" onSubmit={save}>
        <label className="visually-hidden" htmlFor={`note-${note.id}`}>
          {t('Edit note')}
        </label>
        <textarea id={`note-${note.id}`} rows={2} maxLength={10000} value={draft} autoFocus onChange={(e) => setDraft(e.target.value)} />
        <button type="submit">{t('Save note')}</button>
        <button type="button" className="secondary" onClick={() => setDraft(null)}>
          {t('Cancel')}
        </button>
      </form>
    );
  }
  return (
    <span className="note-actions">
      <button type="button" className="link-button" onClick={() => setDraft(note.text ?? '')}>
        {t('Edit')}
      </button>{' '}
      <button type="button" className="link-button" onClick={() => void remove()}>
        {t('Delete')}
      </button>
    </span>
  );
}
