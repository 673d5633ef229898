import { useCallback, useRef } from 'react';

/**
 * Keeps a view's reads from going back in time. A view reads again when its
 * filter or period changes, on a timer and on live events, and the answers
 * need not come back in the order they were asked: a slow answer for a
 * filter the user has since left would overwrite the one they chose.
 *
 * `key` is what the view shows now (its filter, its period). `ask(key)` is
 * called as a read starts, with what that read is for; it returns the check
 * to make when the answer comes: true (apply it) only while that key is
 * still shown and no later read's answer has been applied.
 *
 * Not "the last read only": with reads every few seconds and a server slower
 * than that, each answer would arrive after the next read started and none
 * would ever be shown.
 */
export function useLatestAnswer(key: string): (asked: string) => () => boolean {
  const shown = useRef(key);
  shown.current = key;
  const started = useRef(0);
  const applied = useRef(0);
  return useCallback((asked: string) => {
    const ticket = ++started.current;
    return () => {
      if (asked !== shown.current || ticket < applied.current) return false;
      applied.current = ticket;
      return true;
    };
  }, []);
}
