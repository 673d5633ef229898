// How long a label's name may be, defined once for the label routes and the
// filters that name a label (search, the conversation list). No imports, so
// src/http/schemas.ts can use it without a cycle through src/labels/schemas.ts.

/** The stored name: characters once in Unicode NFC (the column holds this many). */
export const LABEL_NAME_MAX = 50;
/**
 * As sent, before composing: with accents decomposed (e + U+0301) a
 * 45-character Vietnamese name is 60, so the schema lets more through and
 * the name is counted again once composed.
 */
export const LABEL_NAME_AS_SENT = 200;
