// Which invisible format characters (Unicode Cf) a name typed by a person may
// hold: one definition for label names (src/labels/labels.ts, which refuses
// any other) and uploaded files' names (src/files/limits.ts, which drops any
// other).

/**
 * The scripts whose letters join (Arabic, Syriac, N'Ko, Mongolian) or take a
 * virama (the Indic scripts), where a zero-width non-joiner between two
 * letters changes what is drawn.
 */
const JOINING = String.raw`\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Gurmukhi}\p{Script=Gujarati}\p{Script=Oriya}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Malayalam}\p{Script=Sinhala}`;

/**
 * The format characters a name may hold, each in the one context it belongs
 * to (matched in one pass, so every context is read as typed): a
 * subdivision flag's tag sequence, U+1F3F4, one to six tag letters or
 * digits, the cancel tag U+E007F (other tags draw a plain 🏴, a lookalike);
 * a zero-width joiner right after an emoji (which may carry U+FE0F or a
 * skin tone) and before another; a zero-width non-joiner between two
 * letters (the first may carry marks: the Indic virama) of a script whose
 * letters join or take a virama, where it changes what is drawn (between
 * Latin, Cyrillic or Han letters it changes nothing: a lookalike).
 * A match is the whole sequence (a flag's 🏴 included); global, for replace.
 */
export const ALLOWED_FORMAT = new RegExp(
  String.raw`\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{1,6}\u{E007F}` +
    String.raw`|(?<=\p{Extended_Pictographic}[\u{FE0F}\p{Emoji_Modifier}]?)\u{200D}(?=\p{Extended_Pictographic})` +
    `|(?<=[${JOINING}][\\p{M}]*)\\u{200C}(?=[${JOINING}])`,
  'gu',
);

/** The viramas of the Indic scripts above (Canonical_Combining_Class 9, which JavaScript's \p{} cannot name). */
const VIRAMA = String.raw`\u{094D}\u{09CD}\u{0A4D}\u{0ACD}\u{0B4D}\u{0BCD}\u{0C4D}\u{0CCD}\u{0D3B}\u{0D3C}\u{0D4D}\u{0DCA}`;

/**
 * A zero-width joiner right after the virama of an Indic letter, which asks
 * for a half form (क्‍ष beside the conjunct क्ष), the eyelash ra (र्‍य) or a
 * chillu (ന്‍): the one joiner IDNA's CONTEXTJ rule allows outside emoji.
 * File names keep it (ALLOWED_FILE_NAME_FORMAT); label names do not allow
 * it yet (docs/api.md, labels).
 */
const VIRAMA_JOINER = `(?<=[${JOINING}]\\p{M}*[${VIRAMA}])\\u{200D}`;

/** What a file's name keeps of Unicode Cf: ALLOWED_FORMAT, and the joiner after a virama. */
export const ALLOWED_FILE_NAME_FORMAT = new RegExp(`${ALLOWED_FORMAT.source}|${VIRAMA_JOINER}`, 'gu');
