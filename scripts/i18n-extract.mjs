// `npm run i18n:extract`: brings web/i18n's catalogs in line with the source.
// Each area's en.json lists every t('…') id its files use; each other
// language's file gains the new ids with an empty translation (to fill in)
// and loses the ids no file uses any more. The catalog test
// (test/unit/i18n-catalogs.test.ts) fails until every translation is filled.
import { writeFileSync } from 'node:fs';
import { AREAS, TRANSLATED, catalogFile, extract, readCatalog } from '../web/i18n/catalogs.mjs';

const { ids, dynamic } = extract();
if (dynamic.length > 0) {
  console.error(`t() needs a literal English text as its first argument:\n  ${dynamic.join('\n  ')}`);
  process.exit(1);
}
const write = (area, locale, messages) => writeFileSync(catalogFile(area, locale), `${JSON.stringify(messages, null, 2)}\n`);
for (const area of AREAS) {
  const used = [...ids.get(area).keys()].sort();
  write(area, 'en', Object.fromEntries(used.map((id) => [id, id])));
  for (const locale of TRANSLATED) {
    const old = readCatalog(area, locale);
    const next = Object.fromEntries(used.map((id) => [id, old[id] ?? '']));
    write(area, locale, next);
    const empty = used.filter((id) => !next[id]).length;
    console.log(`${area}/${locale}.json: ${used.length} messages${empty ? `, ${empty} to translate` : ''}`);
  }
}
