// The translation catalogs (docs/web.md, "Languages"): one folder per area of
// the apps, so two people translating different areas never edit one file,
// and one JSON file per language in each, mapping the English text (the
// message id, as written in the source) to its translation in ICU
// MessageFormat ("{name}", "{count, plural, one {…} other {…}}").
// English has no file: the id is the English. This module is plain Node so
// the Vite plugin, the extract script and the catalog test share it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileMessage } from '@lingui/message-utils/compileMessage';

export const webRoot = fileURLToPath(new URL('..', import.meta.url));
export const catalogRoot = fileURLToPath(new URL('.', import.meta.url));

/** The languages besides English; `web/shared/i18n.ts` lists the same. */
export const TRANSLATED = ['id', 'pt-BR', 'es'];

/** Console files whose strings live in the admin catalog (the rest of the console is the desk's). */
const ADMIN_FILE = /^console\/src\/(admin[^/]*|dashboard|reports|period-report|greetings-report|customers-list)\.tsx?$/;

/** The area a source file (relative to web/, with /) belongs to, or undefined for files that are no app source. */
export function areaOf(file) {
  if (file.startsWith('widget/') || file.startsWith('shared/')) return 'widget';
  if (ADMIN_FILE.test(file)) return 'admin';
  if (file.startsWith('console/src/')) return 'desk';
  return undefined;
}
export const AREAS = ['widget', 'desk', 'admin'];

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'dist' || name === 'node_modules' || name === 'i18n' ? [] : sources(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

// t('…') and t("…") with a literal first argument: the only form the apps use,
// so ids can be read without a parser (the catalog test fails on any other call of t).
const CALL = /\bt\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
const ANY_CALL = /\bt\(\s*(?!['"])/g;

const unescape = (s) => s.replace(/\\(.)/g, '$1');

/** The message ids the source uses, per area: Map<area, Map<id, files[]>>; and calls of t whose id is no literal. */
export function extract() {
  const ids = new Map(AREAS.map((a) => [a, new Map()]));
  const dynamic = [];
  for (const path of sources(webRoot)) {
    const file = relative(webRoot, path).split(sep).join('/');
    const area = areaOf(file);
    if (!area) continue;
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(CALL)) {
      const id = unescape(m[1] ?? m[2]);
      const seen = ids.get(area);
      seen.set(id, [...(seen.get(id) ?? []), file]);
    }
    for (const m of text.matchAll(ANY_CALL)) dynamic.push(`${file}: ${text.slice(m.index, m.index + 40)}`);
  }
  return { ids, dynamic };
}

export const catalogFile = (area, locale) => join(catalogRoot, area, `${locale}.json`);

export function readCatalog(area, locale) {
  try {
    return JSON.parse(readFileSync(catalogFile(area, locale), 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return {};
    throw error;
  }
}

/**
 * A catalog as the apps load it: each message compiled for @lingui/core, and
 * the ones that are plain text equal to their id left out (the apps show a
 * missing id as itself), so English ships only its messages with values.
 */
export function compileCatalog(messages) {
  const compiled = {};
  for (const [id, message] of Object.entries(messages)) {
    const value = compileMessage(message || id);
    const plain = value.length === 1 && typeof value[0] === 'string' ? value[0] : undefined;
    if (plain === id) continue;
    compiled[id] = plain ?? value;
  }
  return compiled;
}

const CATALOG_FILE = /[\\/]web[\\/]i18n[\\/](widget|desk|admin)[\\/]([A-Za-z-]+)\.json$/;

/** Vite plugin: a catalog imported from web/i18n arrives compiled (still JSON, so Vite's JSON handling applies). */
export function i18nCatalogs() {
  return {
    name: 'switchboard-i18n-catalogs',
    enforce: 'pre',
    load(id) {
      if (!CATALOG_FILE.test(id)) return null;
      this.addWatchFile(id);
      return JSON.stringify(compileCatalog(JSON.parse(readFileSync(id, 'utf8'))));
    },
  };
}
