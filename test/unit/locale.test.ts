// Which language the apps pick from the browser's tags and the widget's data-locale.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchLocale, pickLocale } from '../../web/shared/locale.js';

describe('locale choice', () => {
  it('reads any Portuguese as Brazilian, any Spanish as the neutral one, id and in as Indonesian', () => {
    assert.equal(matchLocale('pt'), 'pt-BR');
    assert.equal(matchLocale('pt-PT'), 'pt-BR');
    assert.equal(matchLocale('pt_BR'), 'pt-BR');
    assert.equal(matchLocale('es-MX'), 'es');
    assert.equal(matchLocale('ES'), 'es');
    assert.equal(matchLocale('id-ID'), 'id');
    assert.equal(matchLocale('in'), 'id');
    assert.equal(matchLocale('en-GB'), 'en');
    assert.equal(matchLocale('fr-FR'), undefined);
    assert.equal(matchLocale(''), undefined);
    assert.equal(matchLocale(null), undefined);
  });

  it('takes the first supported tag in order, else English', () => {
    assert.equal(pickLocale([undefined, 'fr-FR', 'es-AR', 'pt-BR']), 'es');
    assert.equal(pickLocale(['id', 'en-US']), 'id', 'data-locale comes first');
    assert.equal(pickLocale(['de', 'fr']), 'en');
    assert.equal(pickLocale([]), 'en');
  });
});
