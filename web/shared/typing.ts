import { useCallback, useEffect, useMemo, useRef, useState } from 'react';

// Typing indicators, both apps (docs/realtime.md, "Typing"): the composer
// tells the other side over `conversations/<id>/typing`, throttled; the
// other side shows it until told otherwise, or until it goes quiet. Nothing
// here is stored: a signal lost is only an indicator shown a little late.

/** `{typing: true}` at most this often while keys are pressed (the broker drops more than 5 a second). */
export const TYPING_EVERY_MS = 2_000;
/** quiet this long after the last keystroke: `{typing: false}` */
export const TYPING_QUIET_MS = 3_000;
/** an indicator with no news for this long goes away (its `false` may have been lost) */
export const TYPING_SHOWN_MS = 6_000;

export interface TypingSender {
  /** a key was pressed in the composer */
  keystroke(): void;
  /** the message was sent or the composer left: the indicator goes at once */
  stop(): void;
}

/**
 * Throttles a composer's keystrokes into typing signals: one `true` when
 * typing starts and then at most every TYPING_EVERY_MS, one `false` after
 * TYPING_QUIET_MS of quiet or on stop(). `publish` undefined: nothing is
 * sent (not connected, or not allowed to publish here).
 */
export function useTypingSender(publish: ((typing: boolean) => void) | undefined): TypingSender {
  const publishRef = useRef(publish);
  publishRef.current = publish;
  const state = useRef({ active: false, lastSent: 0, timer: undefined as ReturnType<typeof setTimeout> | undefined });

  const stop = useCallback(() => {
    const s = state.current;
    clearTimeout(s.timer);
    if (!s.active) return;
    s.active = false;
    publishRef.current?.(false);
  }, []);

  const keystroke = useCallback(() => {
    const send = publishRef.current;
    if (!send) return;
    const s = state.current;
    const now = Date.now();
    if (!s.active || now - s.lastSent >= TYPING_EVERY_MS) {
      send(true);
      s.active = true;
      s.lastSent = now;
    }
    clearTimeout(s.timer);
    s.timer = setTimeout(stop, TYPING_QUIET_MS);
  }, [stop]);

  // leaving the conversation stops the indicator on the other side
  useEffect(() => stop, [stop]);
  return useMemo(() => ({ keystroke, stop }), [keystroke, stop]);
}

/** What the broker relays: rebuilt from the sender's identity (src/realtime/typing.ts). */
export interface TypingSignal {
  typing: boolean;
  sender: 'agent' | 'customer';
  name?: string;
}

export const isTypingSignal = (data: unknown): data is TypingSignal =>
  typeof data === 'object' && data !== null && typeof (data as TypingSignal).typing === 'boolean' && ((data as TypingSignal).sender === 'agent' || (data as TypingSignal).sender === 'customer');

/**
 * The other side's typing, as shown: `heard` takes each signal of `side`
 * (the caller's own side's echoes are ignored), `clear` hides it (a message
 * from that side arrived). Returns the signal being shown, or null.
 */
export function useTypingIndicator(side: TypingSignal['sender']): { shown: TypingSignal | null; heard: (data: unknown) => void; clear: () => void } {
  const [shown, setShown] = useState<TypingSignal | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const clear = useCallback(() => {
    clearTimeout(timer.current);
    setShown(null);
  }, []);
  const heard = useCallback(
    (data: unknown) => {
      if (!isTypingSignal(data) || data.sender !== side) return;
      clearTimeout(timer.current);
      if (!data.typing) return setShown(null);
      setShown(data);
      timer.current = setTimeout(() => setShown(null), TYPING_SHOWN_MS);
    },
    [side],
  );
  useEffect(() => () => clearTimeout(timer.current), []);
  return { shown, heard, clear };
}
