import { useSyncExternalStore } from 'react';
import { FRAME_READY, HIDDEN, SHOWN, TOLD_PARAM, unseenMessage } from '../../shared/frame-messages';

// Whether the loader (widget.js) shows this frame. The loader minimises the
// chat by hiding its iframe, and a hidden iframe's document still says
// `visibilityState === 'visible'`: without this the widget sent read receipts
// for agent messages the customer could not see (found by review). The
// loader tells the frame SHOWN / HIDDEN whenever it opens or closes it, and
// answers FRAME_READY with how it stands, since a message sent before this
// listener existed is lost (the words: web/shared/frame-messages.ts).
//
// A frame this loader made (`visibility=told` in its address) counts as
// hidden until the loader says otherwise: a receipt sent too early cannot be
// taken back, one sent late costs nothing. Any other frame — opened on its
// own, framed by a site directly, or made by a loader from before this (a
// tab opened before an upgrade) — is never told, and counts as shown.

const embedded = window.parent !== window;
const told = embedded && new URLSearchParams(location.search).get(TOLD_PARAM.name) === TOLD_PARAM.value;
let shown = !told;
const listeners = new Set<() => void>();

if (told) {
  window.addEventListener('message', (event) => {
    // only the page that embeds this frame decides, and it controls the frame anyway
    if (event.source !== window.parent) return;
    if (event.data !== SHOWN && event.data !== HIDDEN) return;
    const next = event.data === SHOWN;
    if (next === shown) return;
    shown = next;
    for (const listener of listeners) listener();
  });
  window.parent.postMessage(FRAME_READY, '*');
}

const subscribe = (listener: () => void) => {
  listeners.add(listener);
  return () => void listeners.delete(listener);
};

/** whether the loader shows this frame (always, without a loader) */
export const useShownByLoader = (): boolean => useSyncExternalStore(subscribe, () => shown);

let unseenTold = 0;
/**
 * How many messages from the agent the customer has not seen: the loader
 * shows the number on its launcher while the chat is minimised. Told only
 * when it changes.
 */
export function tellUnseen(count: number): void {
  if (!told || count === unseenTold) return;
  unseenTold = count;
  window.parent.postMessage(unseenMessage(count), '*');
}
