import { useEffect, useRef } from 'react';
import { t } from '../../shared/i18n';
import { shortcutOf, type ShortcutAction } from './shortcut-keys';

// The console's keyboard workflow (issue #17, item 8). The actions an agent
// repeats all day take Alt and a letter, so they work while the reply box
// has the focus; `?` (outside a text field) shows them all. Letters are
// read from `event.code` (the key's place), not `event.key`: Alt+letter
// types a different character on a Mac or an AltGr layout. In a text field
// such a key is typing, though (⌥E starts an accent on a Mac, ⌥C is ç): only
// an Alt+letter that types nothing there is a shortcut.
//
// Resolve, transfer, reply and canned responses act on the open chat
// through the controls the chat shows (`data-shortcut` marks them), so a
// shortcut does exactly what the button does, with the same checks, and
// does nothing when the chat has no such control (a closed chat, a
// supervisor's read-only view).

interface Shortcut {
  action: ShortcutAction;
  keys: string[];
  what: () => string;
}

export const SHORTCUTS: Shortcut[] = [
  { action: 'next', keys: ['Alt', '↓'], what: () => t('Next conversation in the list') },
  { action: 'previous', keys: ['Alt', '↑'], what: () => t('Previous conversation in the list') },
  { action: 'reply', keys: ['Alt', 'R'], what: () => t('Write a reply in the open conversation') },
  { action: 'canned', keys: ['Alt', 'C'], what: () => t('Canned responses (or type / at the start of a reply)') },
  { action: 'resolve', keys: ['Alt', 'E'], what: () => t('Resolve the open conversation (with the note typed, if any)') },
  { action: 'transfer', keys: ['Alt', 'T'], what: () => t('Transfer the open conversation: choose where') },
  { action: 'search', keys: ['Alt', 'S'], what: () => t('Search conversations') },
  { action: 'help', keys: ['?'], what: () => t('Show these shortcuts') },
];

const isTyping = (target: EventTarget | null) =>
  target instanceof HTMLElement && (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || (target instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit'].includes(target.type)));

/** The control of the open chat that a shortcut uses (see `data-shortcut` in chat.tsx). */
export const chatControl = (name: 'reply' | 'resolve' | 'transfer') => document.querySelector<HTMLElement>(`[data-shortcut="${name}"]`);

/** Calls `act` for each shortcut pressed anywhere in the console. */
export function useShortcuts(act: (action: ShortcutAction) => void): void {
  const latest = useRef(act);
  latest.current = act;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.repeat) return;
      // a dialog open over the page (this help, a confirmation) keeps its keys
      if (document.querySelector('dialog[open]') && !(event.key === '?' && !isTyping(event.target))) return;
      const action = shortcutOf(event, isTyping(event.target));
      if (!action) return;
      event.preventDefault();
      latest.current(action);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}

/** The `?` overlay: every shortcut, in a modal dialog that Escape or its button closes. */
export function ShortcutHelp({ open, onClose }: { open: boolean; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={dialog} className="shortcut-help" aria-labelledby="shortcut-help-title" onClose={onClose} data-testid="shortcut-help">
      <h2 id="shortcut-help-title">{t('Keyboard shortcuts')}</h2>
      <table>
        <caption className="visually-hidden">{t('Keys and what they do')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('Keys')}</th>
            <th scope="col">{t('Does')}</th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.action}>
              <td>
                {s.keys.map((k, i) => (
                  <span key={k}>
                    {i > 0 && ' + '}
                    <kbd>{k}</kbd>
                  </span>
                ))}
              </td>
              <td>{s.what()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">{t('Alt shortcuts work while you type a reply. On a Mac, Alt is ⌥ Option; where ⌥ Option types a character (é, ç…), a text field gets the character, not the shortcut.')}</p>
      <button type="button" onClick={onClose} autoFocus>
        {t('Close')}
      </button>
    </dialog>
  );
}

/**
 * Opens the canned responses from the reply box: a `/` at the start, as if
 * the agent had typed it (React hears the input event), when the box is
 * empty; a reply being written is left as it is.
 */
export function startCannedSearch(reply: HTMLElement): void {
  if (!(reply instanceof HTMLTextAreaElement) || reply.value !== '') return;
  Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!.call(reply, '/');
  reply.dispatchEvent(new Event('input', { bubbles: true }));
}
