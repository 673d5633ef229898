// The apps' languages (docs/web.md, "Languages"): @lingui/core with the
// catalogs of web/i18n, compiled by the build (web/i18n/catalogs.mjs). The
// message id is the English text, so English needs no catalog but for its
// messages with values, and a page shows English, never an id, for any text
// a catalog lacks.
/// <reference types="vite/types/importMeta.d.ts" />
import { setupI18n, type Messages } from '@lingui/core';

import { type Locale } from './locale';

export { LOCALES, matchLocale, pickLocale, type Locale } from './locale';

/** Each language named in itself, for the console's picker. */
export const LANGUAGE_NAMES: Record<Locale, string> = { en: 'English', id: 'Bahasa Indonesia', 'pt-BR': 'Português (Brasil)', es: 'Español' };

export const i18n = setupI18n({ missing: (_locale, id) => id });

/** The active language's text for an English message; values fill its {placeholders}. Always call with a literal: the extract script reads them. */
export const t = (id: string, values?: Record<string, unknown>): string => i18n._(id, values);

export type CatalogLoader = (locale: Exclude<Locale, 'en'>) => Promise<{ default: unknown }>;

/**
 * Loads the catalogs of one language (English's are bundled, the others come
 * as their own small files) and makes it the active one, `<html lang>` too.
 */
export async function activateLocale(locale: Locale, english: readonly unknown[], loaders: readonly CatalogLoader[]): Promise<void> {
  const catalogs = locale === 'en' ? english : (await Promise.all(loaders.map((load) => load(locale)))).map((module) => module.default);
  i18n.load(locale, Object.assign({}, ...catalogs) as Messages);
  i18n.activate(locale);
  document.documentElement.lang = locale;
}

/** For useSyncExternalStore: re-render when the language changes. */
export const subscribeLocale = (onChange: () => void): (() => void) => i18n.on('change', onChange);
export const activeLocale = (): Locale => (i18n.locale || 'en') as Locale;
