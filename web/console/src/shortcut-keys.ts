// Which key press is which of the console's shortcuts (shortcuts.tsx shows
// and runs them). Kept apart from the React code, with no imports, so the
// rule for what Alt types can be tested in plain Node.

export type ShortcutAction = 'next' | 'previous' | 'reply' | 'resolve' | 'transfer' | 'canned' | 'search' | 'help';

/** KeyboardEvent.code → the action it takes with Alt held (the key's place, not the character it types). */
const ALT_CODES: Readonly<Record<string, ShortcutAction>> = {
  ArrowDown: 'next',
  KeyJ: 'next',
  ArrowUp: 'previous',
  KeyK: 'previous',
  KeyR: 'reply',
  KeyC: 'canned',
  KeyE: 'resolve',
  KeyT: 'transfer',
  KeyS: 'search',
};

/** Whether this is a Mac, where ⌥ Option with a letter types a character of its own. */
const onMac = () => typeof navigator !== 'undefined' && /Mac|iPhone|iPad|iPod/.test(navigator.platform);

/**
 * Whether Alt with a letter key writes something: a dead key (an accent to
 * come), or on a Mac a character of its own (⌥C ç, ⌥S ß, ⌥R ®). On Windows
 * and Linux Alt writes nothing (AltGr arrives as Ctrl+Alt) and `key` is the
 * layout's own letter, whatever it is: Turkish F's Alt+E reports ğ, BÉPO's
 * Alt+T è, and those are the shortcuts.
 */
function altTypes({ code, key }: Pick<KeyboardEvent, 'code' | 'key'>, mac: boolean): boolean {
  if (key === 'Dead') return true;
  if (!mac || !code.startsWith('Key') || [...key].length !== 1) return false;
  return !/^[a-z]$/i.test(key);
}

/** The shortcut a key press means, if any; `typing`: in a text field. `mac`: whether ⌥ types characters here (this browser's platform unless given). */
export function shortcutOf(
  event: Pick<KeyboardEvent, 'altKey' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'code' | 'key'>,
  typing: boolean,
  mac: boolean = onMac(),
): ShortcutAction | null {
  if (event.ctrlKey || event.metaKey) return null;
  if (event.altKey) return typing && altTypes(event, mac) ? null : (ALT_CODES[event.code] ?? null);
  // a question mark typed into a field is text
  return event.key === '?' && !typing ? 'help' : null;
}
