// What the page's loader (widget.js) and the widget's frame say to each other
// through postMessage, spelled once for both sides: a word changed on one side
// only would be dropped silently by the other, with nothing failing.

/** frame → loader: the visitor minimised the chat */
export const CLOSE = 'switchboard:close';
/** frame → loader: the frame listens now; the loader answers with SHOWN or HIDDEN */
export const FRAME_READY = 'switchboard:frame-ready';
/** loader → frame: the chat is on screen */
export const SHOWN = 'switchboard:shown';
/** loader → frame: the chat is minimised (its document still says visible) */
export const HIDDEN = 'switchboard:hidden';

/** In the frame's address: this loader tells the frame SHOWN and HIDDEN. */
export const TOLD_PARAM = { name: 'visibility', value: 'told' } as const;

const UNSEEN_PREFIX = 'switchboard:unseen:';

/** frame → loader: how many agent messages the visitor has not seen, for the launcher's badge */
export const unseenMessage = (count: number): string => `${UNSEEN_PREFIX}${count}`;

/** The count an unseen message carries, or undefined for any other message. */
export function unseenCount(data: unknown): number | undefined {
  if (typeof data !== 'string' || !data.startsWith(UNSEEN_PREFIX)) return undefined;
  const digits = data.slice(UNSEEN_PREFIX.length);
  // digits only: Number('') and Number(' ') are 0, Number('0x1f') is 31
  if (!/^[0-9]{1,6}$/.test(digits)) return undefined;
  return Number(digits);
}

/**
 * frame → loader, once per greeting the loader asked for: shown (drawn on the
 * start form), closed (the offline form instead), skipped (not drawn), chat
 * (a chat is going on; the loader shows it).
 */
export type GreetingAnswer = 'shown' | 'closed' | 'skipped' | 'chat';
const GREETING_ANSWERS: readonly GreetingAnswer[] = ['shown', 'closed', 'skipped', 'chat'];
const GREETING_PREFIX = 'switchboard:greeting-';

export const greetingMessage = (answer: GreetingAnswer): string => `${GREETING_PREFIX}${answer}`;

/** The answer a greeting message carries, or undefined for any other message. */
export function greetingAnswer(data: unknown): GreetingAnswer | undefined {
  if (typeof data !== 'string' || !data.startsWith(GREETING_PREFIX)) return undefined;
  const answer = data.slice(GREETING_PREFIX.length) as GreetingAnswer;
  return GREETING_ANSWERS.includes(answer) ? answer : undefined;
}
