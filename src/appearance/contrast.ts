// Which text colour is readable on the widget's chosen colour, by WCAG 2.1's
// definitions (relative luminance, contrast ratio). The one copy of the rule:
// the server (the text_color it hands the widget), the loader and the
// console's live preview import this file. No imports, no Node or DOM API: it
// compiles under both tsconfigs.

export const HEX_COLOR = /^#[0-9a-fA-F]{6}$/;

/**
 * The two text colours the widget uses. Black rather than a softer near-black:
 * on a mid grey only pure black and white still reach 4.5:1 (#1c1c1c on
 * #777777 gives 3.8:1, white 4.48:1).
 */
export const LIGHT_TEXT = '#ffffff';
export const DARK_TEXT = '#000000';

/** WCAG AA for normal text. */
export const AA_RATIO = 4.5;

const channel = (byte: number): number => {
  const c = byte / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
};

/** Relative luminance of a #rrggbb colour, 0 (black) to 1 (white). */
export function luminance(hex: string): number {
  const n = Number.parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 0xff) + 0.7152 * channel((n >> 8) & 0xff) + 0.0722 * channel(n & 0xff);
}

/** Contrast ratio of two #rrggbb colours, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * The text colour for labels on `background`: whichever of white and
 * near-black contrasts more. One of them always reaches AA (4.5:1): the
 * worst background, a mid grey (luminance 0.18), still gives 4.58:1 against one of them.
 */
export function textColorOn(background: string): string {
  return contrastRatio(background, LIGHT_TEXT) >= contrastRatio(background, DARK_TEXT) ? LIGHT_TEXT : DARK_TEXT;
}
