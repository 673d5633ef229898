// A customer's name heads each of their lines in a transcript ("[09:02 UTC]
// Bob (customer):"), where a line break in it would begin a forged line. The
// API refuses such a name (ONE_LINE_PATTERN, src/http/schemas.ts: the same
// characters as BREAKS); a channel's platform cannot be asked to send another
// name, so what it sends is mended instead, the same way for every channel.

/** Line breaks and control characters, as ONE_LINE_PATTERN refuses them. */
const BREAKS = /[\u0000-\u001f\u007f\u0085\u2028\u2029]+/g;

/** The name on one line: each run of line breaks or control characters one space, no blanks at either end ('' when nothing else was left). */
export const oneLineName = (name: string): string => name.replace(BREAKS, ' ').trim();
