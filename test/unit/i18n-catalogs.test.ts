// The translation catalogs are complete: every text the apps pass to t() is in
// its area's catalogs, translated into every language, with the same
// placeholders as the English, and each translation is valid ICU
// MessageFormat. (Fix a failure with `npm run i18n:extract`, then translate.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileMessage } from '@lingui/message-utils/compileMessage';
import { AREAS, TRANSLATED, extract, readCatalog } from '../../web/i18n/catalogs.mjs';

/** the {placeholders} a message uses, plurals' included; compiling it first checks its syntax */
function placeholders(message: string): string[] {
  compileMessage(message);
  return [...new Set([...message.matchAll(/\{\s*([A-Za-z_]\w*)\s*[,}]/g)].map((m) => m[1]!))].sort();
}

describe('translation catalogs', () => {
  const { ids, dynamic } = extract();

  it('reads every t() call: its first argument is a literal English text', () => {
    assert.deepEqual(dynamic, []);
  });

  for (const area of AREAS) {
    const used = [...ids.get(area)!.keys()].sort();
    it(`${area}: en.json lists exactly the texts the source uses`, () => {
      assert.deepEqual(Object.keys(readCatalog(area, 'en')).sort(), used, 'run npm run i18n:extract');
    });
    for (const locale of TRANSLATED) {
      it(`${area}: ${locale} translates every text, keeping its placeholders`, () => {
        const catalog = readCatalog(area, locale) as Record<string, string>;
        const untranslated = used.filter((id) => typeof catalog[id] !== 'string' || catalog[id]!.trim() === '');
        assert.deepEqual(untranslated, [], `untranslated in web/i18n/${area}/${locale}.json`);
        const wrong = used.filter((id) => placeholders(catalog[id]!).join() !== placeholders(id).join());
        assert.deepEqual(wrong, [], `placeholders differ from the English in web/i18n/${area}/${locale}.json`);
        assert.deepEqual(Object.keys(catalog).filter((id) => !ids.get(area)!.has(id)), [], 'texts no source uses: run npm run i18n:extract');
      });
    }
  }
});
