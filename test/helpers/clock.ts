/** A clock the test moves by hand: the engine reads time only through `now`. */
export function fakeClock(start = Date.parse('2026-01-05T09:00:00Z')) {
  let t = start;
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}
