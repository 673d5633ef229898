import { LINE_BREAKING_RUNS } from '../http/one-line.js';

// A customer's name heads each of their lines in a transcript ("[09:02 UTC]
// Bob (customer):"), where a line break in it would begin a forged line. The
// API refuses such a name (ONE_LINE_PATTERN, src/http/one-line.ts); a
// channel's platform cannot be asked to send another name, so what it sends is
// mended instead, the same way for every channel.

/** The name on one line: each run of line breaks or control characters one space, no blanks at either end ('' when nothing else was left). */
export const oneLineName = (name: string): string => name.replace(LINE_BREAKING_RUNS, ' ').trim();
