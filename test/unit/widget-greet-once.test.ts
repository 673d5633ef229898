// The widget's own "greet once" check (web/widget/loader-greetings.ts): the
// server leaves out greetings it recorded as shown, but that record comes
// after the greeting fired, so a second tab opened before it (or a record
// that failed) is kept from greeting again only by this browser's storage.
// The browser test (widget-look) covers reloads, where the server's filter
// alone would pass; these cover the cases only the widget can.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { armGreetings, type LoaderGreeting } from '../../web/widget/loader-greetings.js';

/** One site's localStorage, shared by the tabs of that site as in a browser. */
class MemoryStorage {
  private items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

const pricingHelp: LoaderGreeting = { id: 'g-pricing', message: 'Questions about our plans?', trigger: { after_seconds: 2, url_pattern: '/pricing*', first_visit: false } };
const page = { path: '/pricing', firstVisit: true };
const globals = globalThis as unknown as { localStorage?: unknown };

describe("the widget's greet-once check", () => {
  beforeEach(() => {
    globals.localStorage = new MemoryStorage();
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => {
    mock.timers.reset();
    delete globals.localStorage;
  });

  it('two tabs armed with the same greeting: the first to fire greets, the other stays quiet', () => {
    const shown: string[] = [];
    // both tabs received the greeting from the server before either showed it
    armGreetings([pricingHelp], page, () => true, (g) => shown.push(`tab 1: ${g.id}`));
    armGreetings([pricingHelp], page, () => true, (g) => shown.push(`tab 2: ${g.id}`));
    mock.timers.tick(1999);
    assert.deepEqual(shown, [], 'nothing before 2 s on the page');
    mock.timers.tick(1);
    assert.deepEqual(shown, ['tab 1: g-pricing']);
  });

  it('a greeting this browser already showed is not armed again, even when the server still sends it', () => {
    const shown: string[] = [];
    armGreetings([pricingHelp], page, () => true, (g) => shown.push(g.id));
    mock.timers.tick(2000);
    assert.deepEqual(shown, ['g-pricing']);
    // a later page view: the server had not recorded the greeting as shown
    armGreetings([pricingHelp], page, () => true, (g) => shown.push(`again: ${g.id}`));
    mock.timers.tick(10_000);
    assert.deepEqual(shown, ['g-pricing']);
  });

  it('another greeting still fires on a later page, once', () => {
    const shown: string[] = [];
    const welcome: LoaderGreeting = { id: 'g-welcome', message: 'Welcome!', trigger: { after_seconds: 1, url_pattern: null, first_visit: false } };
    armGreetings([pricingHelp], page, () => true, (g) => shown.push(g.id));
    mock.timers.tick(2000);
    armGreetings([pricingHelp, welcome], page, () => true, (g) => shown.push(g.id));
    mock.timers.tick(2000);
    armGreetings([pricingHelp, welcome], page, () => true, (g) => shown.push(g.id));
    mock.timers.tick(2000);
    assert.deepEqual(shown, ['g-pricing', 'g-welcome']);
  });

  it('no greeting when storage is unavailable: it could not stay "once"', () => {
    globals.localStorage = {
      getItem: () => null,
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    };
    const shown: string[] = [];
    armGreetings([pricingHelp], page, () => true, (g) => shown.push(g.id));
    mock.timers.tick(10_000);
    assert.deepEqual(shown, []);
  });
});
