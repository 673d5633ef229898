// Which of the apps' languages a visitor reads, from BCP 47 tags. Apart from
// i18n.ts so the widget's loader (widget.js, a tiny classic script) can use it
// without the i18n library.

export const LOCALES = ['en', 'id', 'pt-BR', 'es'] as const;
export type Locale = (typeof LOCALES)[number];

/** The supported language a tag asks for: any Portuguese reads Brazilian, any Spanish the neutral one, `in` is Indonesian's old code. */
export function matchLocale(tag: string | null | undefined): Locale | undefined {
  if (!tag) return undefined;
  const language = tag.toLowerCase().split(/[-_]/)[0];
  if (language === 'en') return 'en';
  if (language === 'id' || language === 'in') return 'id';
  if (language === 'pt') return 'pt-BR';
  if (language === 'es') return 'es';
  return undefined;
}

/** The first of the preferred tags that is supported, else English. */
export function pickLocale(preferred: readonly (string | null | undefined)[]): Locale {
  for (const tag of preferred) {
    const locale = matchLocale(tag);
    if (locale) return locale;
  }
  return 'en';
}
