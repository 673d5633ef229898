// What "must not be blank" means, for the API's schemas (src/http/validation.ts)
// and the pre-chat rules the widget shares (src/prechat/rules.ts). No
// imports, so the widget can bundle it.

/**
 * Characters that show as nothing: white space (as \s has it, U+FEFF too),
 * format characters (U+200B zero-width space, U+200D joiner, U+2060 word
 * joiner, direction marks) and the other default-ignorable ones (soft
 * hyphen, combining grapheme joiner, Hangul fillers, variation selectors),
 * and U+2800 BRAILLE PATTERN BLANK, a symbol that draws an empty cell: with
 * the Hangul filler, the usual way to an "invisible" name.
 * String.prototype.trim() removes only the white space.
 */
const INVISIBLE = /[\s\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/**
 * Whether `text` would show as nothing: empty, spaces, or characters that
 * show as nothing (INVISIBLE). For the texts people are shown (a name, a
 * title, a question), which "must not be blank".
 */
export function isBlank(text: string): boolean {
  return text.replace(INVISIBLE, '') === '';
}
