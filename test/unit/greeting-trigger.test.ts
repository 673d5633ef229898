// The greeting trigger's page rules (src/greetings/trigger.ts), which the
// loader runs in visitors' pages: a glob, matched whole, in bounded time
// whatever the pattern — no ReDoS — and the first-visit condition.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPattern, globMatch, pageMatches } from '../../src/greetings/trigger.js';

describe('globMatch', () => {
  it('matches the whole text, * standing for any run of characters and everything else literal', () => {
    const cases: [string, string, boolean][] = [
      ['/pricing', '/pricing', true],
      ['/pricing', '/pricing/pro', false],
      ['/pricing*', '/pricing/pro?x=1', true],
      ['/pricing*', '/about/pricing', false],
      ['*checkout*', '/shop/checkout?step=2', true],
      ['*checkout', '/shop/checkout?step=2', false],
      ['/a*b*c', '/aXXbYYc', true],
      ['/a*b*c', '/aXXbYY', false],
      ['/docs/*.html', '/docs/intro.html', true],
      ['/docs/*.html', '/docs/introXhtml', false],
      ['/(a+)+$', '/(a+)+$', true],
      ['/(a+)+$', '/aaaa', false],
      ['*', '', true],
      ['/p?plan=*', '/p?plan=pro', true],
    ];
    for (const [pattern, text, expected] of cases) assert.equal(globMatch(pattern, text), expected, `${pattern} on ${text}`);
  });

  it('stays fast on the patterns that make backtracking regular expressions hang', () => {
    const text = `/${'a'.repeat(2000)}`;
    const started = performance.now();
    assert.equal(globMatch(`/${'*a'.repeat(99)}b`, text), false);
    assert.equal(globMatch(`/${'a*'.repeat(99)}`, text), true);
    assert.ok(performance.now() - started < 500, `took ${(performance.now() - started).toFixed(0)} ms`);
  });
});

describe('pageMatches', () => {
  const trigger = { after_seconds: null, url_pattern: '/pricing*', first_visit: true };
  it('needs every condition: the page pattern and, when asked, the first visit', () => {
    assert.equal(pageMatches(trigger, { path: '/pricing', firstVisit: true }), true);
    assert.equal(pageMatches(trigger, { path: '/pricing', firstVisit: false }), false);
    assert.equal(pageMatches(trigger, { path: '/about', firstVisit: true }), false);
    assert.equal(pageMatches({ after_seconds: 5, url_pattern: null, first_visit: false }, { path: '/anything', firstVisit: false }), true);
  });

  it('matches an address with letters beyond ASCII, which browsers give percent-encoded, as the admin typed it', () => {
    const accented = { after_seconds: null, url_pattern: '/preços*', first_visit: false };
    // location.pathname of https://shop.example/preços?x=1
    assert.equal(pageMatches(accented, { path: '/pre%C3%A7os?x=1', firstVisit: false }), true);
    assert.equal(pageMatches(accented, { path: '/pre%C3%A7o', firstVisit: false }), false);
    // typed encoded, it still matches the address as given
    assert.equal(pageMatches({ ...accented, url_pattern: '/pre%C3%A7os*' }, { path: '/pre%C3%A7os', firstVisit: false }), true);
    // a malformed escape is matched as given, never thrown
    assert.equal(pageMatches({ ...accented, url_pattern: '/100%*' }, { path: '/100%', firstVisit: false }), true);
    // a space stays encoded: patterns cannot hold one, so /a%20b is not /a b
    assert.equal(pageMatches({ ...accented, url_pattern: '/a%20b' }, { path: '/a%20b', firstVisit: false }), true);
  });
});

describe('checkPattern', () => {
  it('says what is wrong with a pattern an admin typed', () => {
    assert.equal(checkPattern('/pricing*'), null);
    assert.equal(checkPattern('*checkout*'), null);
    assert.match(checkPattern('pricing') ?? '', /must start with \//);
    assert.match(checkPattern('/a b') ?? '', /spaces/);
    assert.match(checkPattern('') ?? '', /1 to 200/);
    assert.match(checkPattern(`/${'x'.repeat(200)}`) ?? '', /1 to 200/);
  });
});
