// What "one line of text" refuses, defined once: the schema pattern the API
// validates names with (src/http/schemas.ts), the mending of names a channel's
// platform sends (src/customers/name.ts) and the pre-chat rules the widget
// shares (src/prechat/rules.ts) must agree, or a name one accepts forges a
// line where another shows it. No imports, so the widget can bundle it.

/** C0 controls, DEL and every line break: NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR. */
const LINE_BREAKING = String.raw`\u0000-\u001f\u007f\u0085\u2028\u2029`;

/** One line of text: no control characters and no line break of any kind. */
export const ONE_LINE_PATTERN = `^[^${LINE_BREAKING}]+$`;
/** ONE_LINE_PATTERN, or empty (a name left blank). */
export const ONE_LINE_OR_EMPTY_PATTERN = `^[^${LINE_BREAKING}]*$`;
/** Any one character ONE_LINE_PATTERN refuses. */
export const LINE_BREAKING_CHARACTER = new RegExp(`[${LINE_BREAKING}]`);
/** Each run of characters ONE_LINE_PATTERN refuses. */
export const LINE_BREAKING_RUNS = new RegExp(`[${LINE_BREAKING}]+`, 'g');
