// What the routing tests set up before each test: a store emptied, a clock
// the test moves, and either a bare context on them or a whole test app.
// Registered in the describe it is called from; the made values reach the
// test through `made` (the test's own `let`s), so its closures keep reading
// plain variables.
import { afterEach, beforeEach } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { testApp, type TestApp } from './app.js';
import { fakeClock } from './clock.js';
import type { TestStore } from './stores.js';

export type FakeClock = ReturnType<typeof fakeClock>;

/** Before each test: the store emptied, a fresh clock and a context on both (no listeners, no app). */
export function eachTestOnClock(store: () => TestStore, made: (fresh: { clock: FakeClock; ctx: Ctx }) => void): void {
  beforeEach(async () => {
    await store().reset();
    const clock = fakeClock();
    made({ clock, ctx: { db: store().db, now: clock.now } });
  });
}

/** Before each test: the store emptied, a fresh clock and a test app on it; the app closed after. */
export function eachTestOnClockedApp(store: () => TestStore, made: (fresh: { clock: FakeClock; t: TestApp; ctx: Ctx }) => void): void {
  let t: TestApp | undefined;
  beforeEach(async () => {
    await store().reset();
    const clock = fakeClock();
    t = await testApp(store(), { now: clock.now });
    made({ clock, t, ctx: t.ctx });
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
}

/** Whether `work` settles within `ms`: false while it waits on a lock. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true), waited]);
  } finally {
    clearTimeout(timer);
  }
}
