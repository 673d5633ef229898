import { useSyncExternalStore } from 'react';
import { activateLocale, activeLocale, LANGUAGE_NAMES, LOCALES, pickLocale, subscribeLocale, t, type CatalogLoader, type Locale } from '../../shared/i18n';
import widgetEn from '../../i18n/widget/en.json';
import deskEn from '../../i18n/desk/en.json';
import adminEn from '../../i18n/admin/en.json';

// The console's language: the one the agent picked in this browser
// (localStorage), else the browser's. The console loads the three catalogs
// (the widget's covers the files the apps share).

const LOCALE_KEY = 'switchboard-console-locale';

// each language's catalogs as files of their own, loaded when picked (English is bundled above)
const translated = import.meta.glob<{ default: unknown }>(['../../i18n/*/*.json', '!../../i18n/*/en.json']);
const loaders: CatalogLoader[] = ['widget', 'desk', 'admin'].map((area) => (locale) => translated[`../../i18n/${area}/${locale}.json`]!());

function storedLocale(): string | null {
  try {
    return localStorage.getItem(LOCALE_KEY);
  } catch {
    return null;
  }
}

export const startLanguage = (): Promise<void> => switchTo(pickLocale([storedLocale(), ...navigator.languages]));

const switchTo = (locale: Locale) => activateLocale(locale, [widgetEn, deskEn, adminEn], loaders);

/** The active language; a component using it re-renders when the agent picks another. */
export const useLocale = (): Locale => useSyncExternalStore(subscribeLocale, activeLocale);

export function LanguagePicker() {
  const locale = useLocale();
  return (
    <label className="language">
      <span className="visually-hidden">{t('Language')}</span>
      <select
        value={locale}
        data-testid="language"
        onChange={(event) => {
          const next = event.target.value as Locale;
          try {
            localStorage.setItem(LOCALE_KEY, next);
          } catch {
            // storage may be disabled: the choice lasts until the page closes
          }
          void switchTo(next);
        }}
      >
        {LOCALES.map((l) => (
          <option key={l} value={l} lang={l}>
            {LANGUAGE_NAMES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}
