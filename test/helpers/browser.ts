import { existsSync } from 'node:fs';
import { after, before, beforeEach } from 'node:test';
import { chromium, type Browser, type BrowserContext, type FrameLocator, type Locator, type Page, type Route, type WebSocketRoute } from 'playwright-core';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { PASSWORD } from './fixtures.js';
import type { TestStore } from './stores.js';

// The browser tests' Chromium: Debian's (installed by .ci/run), driven by
// playwright-core; never a downloaded browser.

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** Says once, on stderr, that `file`'s browser tests are skipped when there is no Chromium. */
export function noteMissingChromium(file: string): void {
  if (!haveChromium) process.stderr.write(`${file}: no Chromium at ${CHROMIUM} (apt-get install -y chromium): browser tests skipped\n`);
}

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });

// One Chromium for the whole file: its store halves (and a file's several
// suites) each used to launch their own. Every test still gets fresh
// browser contexts (no cookies, storage or pages shared), which is what
// kept the tests apart. Closed when the file is done: the hook is
// registered on the file's root as this module is first imported.
let shared: Promise<Browser> | undefined;
function sharedChromium(): Promise<Browser> {
  if (shared === undefined) {
    shared = launchChromium();
    shared.catch(() => (shared = undefined)); // the next suite tries again
  }
  return shared;
}
after(async () => {
  const browser = await shared?.catch(() => undefined);
  shared = undefined;
  await browser?.close();
});

/**
 * A page in a new context (added to `contexts`, for the caller to close)
 * whose console errors, page errors and dialogs (an alert would be an XSS)
 * are recorded in `problems`. With `acceptConfirms`, dialogs are expected
 * instead: each goes to `dialogs` (an unexpected one fails the caller's
 * count), confirmations are accepted and anything else dismissed.
 */
/** `locale` and `timezoneId`: the browser's languages (navigator.languages, Accept-Language) and time zone. */
export interface PageOptions {
  acceptConfirms?: boolean;
  locale?: string;
  timezoneId?: string;
}

export async function openPage(
  browser: Browser,
  contexts: BrowserContext[],
  viewport = { width: 1200, height: 800 },
  options: PageOptions = {},
): Promise<{ page: Page; problems: string[]; dialogs: string[] }> {
  const context = await browser.newContext({ viewport, ...(options.locale ? { locale: options.locale } : {}), ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}) });
  contexts.push(context);
  const page = await context.newPage();
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => {
    if (options.acceptConfirms) {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss());
    } else {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    }
  });
  page.setDefaultTimeout(10_000);
  return { page, problems, dialogs };
}

/** SAVE_SCREENSHOTS=1 refreshes docs/screenshots/`name`.png; otherwise nothing. */
/**
 * A field's value once the page shows `expected`, or its last value after
 * `timeoutMs`. inputValue() reads the field at once: right after a load or a
 * reload it can still hold what was shown before the page's data arrived
 * (an empty field, or the previous list), which a person would wait out.
 */
export async function valueOnceLoaded(field: Locator, expected: string, timeoutMs = 5_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let value = await field.inputValue();
  while (value !== expected && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await field.inputValue();
  }
  return value;
}

/**
 * The MQTT link of `page`'s context (the console's, or the widget's in its
 * frame) goes through a proxy the test can cut, and keep cut until it is
 * restored: what the page misses while it is down, it must read back.
 */
export async function cuttableLink(page: Page) {
  let down = false;
  const links: WebSocketRoute[] = [];
  await page.context().routeWebSocket(/\/mqtt$/, (ws) => {
    if (down) return void ws.close();
    ws.connectToServer();
    links.push(ws);
  });
  return {
    async cut() {
      down = true;
      await Promise.all(links.splice(0).map((ws) => ws.close()));
    },
    restore: () => void (down = false),
  };
}

export const shoot = (page: Page, name: string): Promise<void> =>
  process.env.SAVE_SCREENSHOTS ? page.screenshot({ path: `docs/screenshots/${name}.png` }).then(() => undefined) : Promise.resolve();

/**
 * Plays a slow server for one request: the next request of `page` whose URL
 * matches `url` (and whose method is `method`, when given) reaches the server at once (`asked` resolves when it has
 * answered), but the answer reaches the page only on `release()`. Later
 * requests pass untouched, so a test can make an earlier read answer after
 * a later one. `release()` resolves once the page has received the answer
 * and had time to apply it (what a test then checks is that it did not).
 */
export async function holdNextAnswer(page: Page, url: RegExp, method?: string): Promise<{ asked: Promise<void>; release(): Promise<void> }> {
  let held!: (route: Route) => void;
  const heldRoute = new Promise<Route>((resolve) => (held = resolve));
  let letGo!: () => void;
  const released = new Promise<void>((resolve) => (letGo = resolve));
  let taken = false;
  // (unrouting inside the handler would stop the interception and let the held request through)
  const hold = async (route: Route) => {
    if (taken || (method !== undefined && route.request().method() !== method)) return route.fallback();
    taken = true;
    const response = await route.fetch();
    held(route);
    await released;
    await route.fulfill({ response });
  };
  await page.route(url, hold);
  // Bounded like every Playwright wait: a request that never comes (the page
  // changed, or Chromium went away) fails the test by name instead of
  // stalling its file until the runner's timeout.
  const heldInTime = within(heldRoute, page, `no request matching ${url} reached the server`);
  const asked = heldInTime.then(() => undefined);
  asked.catch(() => undefined); // a test that never awaits `asked` gets the failure from release()
  return {
    asked,
    async release() {
      const route = await heldInTime;
      const finished = page.waitForEvent('requestfinished', { predicate: (request) => request === route.request() });
      letGo();
      await finished;
      await page.unroute(url, hold);
      // the page reads the body and renders in tasks of its own after the network is done
      await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
    },
  };
}

/** `promise`, or a rejection naming `what` after the page's default timeout (10 s, openPage). */
function within<T>(promise: Promise<T>, page: Page, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms${page.isClosed() ? ' (the page was closed)' : ''}`)), timeoutMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Logs in to the console at `baseUrl` with the fixtures' password and waits for the live link. */
export async function signIn(page: Page, baseUrl: string, email: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('● live').waitFor();
}

/**
 * On the demo shop at `baseUrl`: opens the widget and starts a chat as
 * `name`. Answers the widget's frame as soon as Start chat is pressed; the
 * caller waits for what it expects next (an agent, a queue place).
 */
export async function startWidgetChat(shop: Page, baseUrl: string, name: string, email = 'ada@example.test'): Promise<FrameLocator> {
  await shop.goto(`${baseUrl}/widget/demo`);
  await shop.getByRole('button', { name: 'Chat with us' }).click();
  const widget = shop.frameLocator('iframe[title="Chat with us"]');
  await widget.getByLabel('Name').fill(name);
  await widget.getByLabel('Email').fill(email);
  await widget.getByRole('button', { name: 'Start chat' }).click();
  return widget;
}

/**
 * For a describeEachStore suite: a Switchboard server on the suite's store,
 * started once (only when Chromium is there) and closed after, and the
 * file's Chromium; before each test the pages are closed and the store emptied. `env`
 * is read when the server starts, so services the suite started in its own
 * earlier `before` hook can be named in it; `now` is the server's clock,
 * for a test that moves time on instead of waiting for it.
 */
export function browserServer(store: () => TestStore, env: () => Record<string, string> = () => ({}), options: { now?: () => Date } = {}) {
  let server: Running | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  before(async () => {
    if (!haveChromium) return;
    server = await startServer(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
        ADMIN_EMAIL: 'admin@example.test',
        ADMIN_PASSWORD: 'admin password',
        SWEEP_INTERVAL: '60000',
        // every chat of these tests comes from 127.0.0.1: the per-address limits (session-limits.test.ts) are off
        SESSION_RATE_LIMIT: '0',
        SESSION_MAX_OPEN_PER_ADDRESS: '0',
        ...env(),
      }),
      { db: store().db, keepDb: true, ...(options.now ? { now: options.now } : {}) },
    );
    browser = await sharedChromium();
  });
  after(async () => {
    // this suite's pages, not the browser (the next suite's too)
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    await server?.close();
  });
  beforeEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    await store().reset();
  });
  return {
    get server(): Running {
      return server!;
    },
    openPage: (viewport?: { width: number; height: number }, options?: PageOptions) => openPage(browser!, contexts, viewport, options),

  };
}
