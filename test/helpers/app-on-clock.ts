// The app of a describeEachStore block whose tests move time by hand: built
// once for the block on the store's db, with a clock the test sets; before
// each test the clock is back at its start and the store emptied.
import { after, before, beforeEach } from 'node:test';
import type { InjectOptions } from 'fastify';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { buildApp, type App } from '../../src/http/app.js';
import { createMetrics } from '../../src/stats/metrics.js';
import { fakeClock } from './clock.js';
import type { TestStore } from './stores.js';

export function appOnClock(store: () => TestStore, start: number) {
  const clock = fakeClock(start);
  const ctx: () => Ctx = () => ({ db: store().db, now: clock.now, onCommitted: () => undefined });
  let app: App | undefined;
  before(async () => {
    const c = ctx();
    app = await buildApp({ ctx: c, config: { ...loadConfig({}), logLevel: 'silent' as const }, metrics: createMetrics(c.db, c.now) });
    await app.ready();
  });
  after(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    clock.set(start);
    await store().reset();
  });
  return { clock, ctx, inject: (options: InjectOptions) => app!.inject(options) };
}
