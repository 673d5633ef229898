import { useEffect } from 'react';
import type { Live } from './live';
import type { Message } from './types';

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
      🔒 Private note · {authorName}
      {note.updated_at ? ' · edited' : ''}
    </span>
  );
}
