// The business-hours arithmetic (src/business-hours/schedule.ts), checked
// against a second, naive reading of the same schedule: the local weekday,
// date and time of an instant as Intl spells them, compared as strings.
// Zones with daylight saving (including Lord Howe's half hour and Chatham's
// 45-minute offset, and Santiago's changes at local midnight) and instants
// near their changes. Also what it costs: the Intl calls of one request's
// worth of questions, counted (not timed, so the bounds hold on any machine).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkBusinessHours, checkSchedule, scheduleFor, type BusinessHours, type ScheduleInput } from '../../src/business-hours/rules.js';
import { compile, isHolidayAt, isOpenAt, nextClosing, nextOpening, OpenTimeline, WEEKDAYS, type Schedule } from '../../src/business-hours/schedule.js';
import { waitEstimator, type QueueLoad } from '../../src/business-hours/wait.js';

// Every Intl reading of a local time goes through formatToParts: counted while `counted` runs.
let intlCalls = 0;
const formatToParts = Intl.DateTimeFormat.prototype.formatToParts;
Intl.DateTimeFormat.prototype.formatToParts = function (this: Intl.DateTimeFormat, d?: Date | number) {
  intlCalls += 1;
  return formatToParts.call(this, d);
};
function counted<T>(f: () => T): { value: T; calls: number; ms: number } {
  const before = intlCalls;
  const t0 = performance.now();
  const value = f();
  return { value, calls: intlCalls - before, ms: Math.round((performance.now() - t0) * 10) / 10 };
}

const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Sao_Paulo', 'Pacific/Chatham', 'Asia/Jakarta', 'America/St_Johns', 'Europe/London', 'America/Santiago'];
/** DST changes in 2026 (UTC) of some of those zones, so instants near them are drawn often (Santiago's: local midnight, 04-05 and 09-06). */
const CHANGES = ['2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z', '2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z', '2026-04-04T15:00:00Z', '2026-10-03T15:30:00Z', '2026-04-05T14:00:00Z', '2026-09-26T14:00:00Z', '2026-04-05T03:00:00Z', '2026-09-06T04:00:00Z'].map(Date.parse);
const MINUTE = 60_000;
const DAY = 86_400_000;

const naive = new Map<string, Intl.DateTimeFormat>();
/** The local weekday, date and HH:MM of instant t in `zone`, read by Intl in another way than the module does. */
function wallClock(zone: string, t: number): { weekday: string; date: string; time: string } {
  let f = naive.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'long', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    naive.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  return { weekday: p.weekday!.toLowerCase(), date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}:${p.second}` };
}

/** Open at t, by string comparison of the local time with the intervals. */
function naiveOpen(s: Schedule, t: number): boolean {
  const w = wallClock(s.time_zone, t);
  if (s.holidays.some((h) => h.date === w.date)) return false;
  return s.weekly[w.weekday as keyof Schedule['weekly']].some((iv) => `${iv.start}:00` <= w.time && (iv.end === '24:00' || w.time < `${iv.end}:00`));
}

const hhmm = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** Up to 3 non-overlapping intervals on a 15-minute grid (some at midnight), sorted. */
const dayHours = fc.uniqueArray(fc.integer({ min: 0, max: 96 }), { minLength: 0, maxLength: 6 }).map((cuts) => {
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: { start: string; end: string }[] = [];
  for (let i = 0; i + 1 < sorted.length; i += 2) if (sorted[i]! < sorted[i + 1]!) out.push({ start: hhmm(sorted[i]! * 15), end: sorted[i + 1] === 96 ? '24:00' : hhmm(sorted[i + 1]! * 15) });
  return out;
});

/** An instant in 2026, often within a day of a DST change, on a whole minute. */
const instant = fc.oneof(
  fc.integer({ min: Date.parse('2026-01-01T00:00:00Z') / MINUTE, max: Date.parse('2026-12-31T00:00:00Z') / MINUTE }).map((m) => m * MINUTE),
  fc.tuple(fc.constantFrom(...CHANGES), fc.integer({ min: -24 * 60, max: 24 * 60 })).map(([c, m]) => c + m * MINUTE),
);

/** A schedule, with holidays around `t` so they matter. */
const scheduleNear = (t: number) =>
  fc
    .record({
      time_zone: fc.constantFrom(...ZONES),
      weekly: fc.tuple(...WEEKDAYS.map(() => dayHours)),
      holidays: fc.uniqueArray(fc.integer({ min: -3, max: 10 }), { maxLength: 4 }),
    })
    .map(({ time_zone, weekly, holidays }): Schedule => {
      const checked = checkSchedule(
        {
          time_zone,
          weekly: Object.fromEntries(WEEKDAYS.map((d, i) => [d, weekly[i]!])),
          holidays: holidays.map((k) => ({ date: new Date(t + k * DAY).toISOString().slice(0, 10) })),
        },
        'default',
      );
      if ('problem' in checked) throw new Error(JSON.stringify(checked.problem));
      return checked.schedule;
    });

const withSchedule = instant.chain((t) => scheduleNear(t).map((s) => ({ t, s })));

/** The first whole minute ≥ t that is open by the naive reading, scanning at most `days`. */
function naiveNextOpening(s: Schedule, t: number, days: number): number | null {
  if (naiveOpen(s, t)) return t;
  for (let m = Math.ceil(t / MINUTE) * MINUTE; m < t + days * DAY; m += MINUTE) if (naiveOpen(s, m)) return m;
  return null;
}

const everyDay = (iv: { start: string; end: string }[]) => Object.fromEntries(WEEKDAYS.map((d) => [d, iv])) as Schedule['weekly'];
const ALL_DAY = everyDay([{ start: '00:00', end: '24:00' }]);

/** What GET /api/v1/availability asks of the schedules (src/business-hours/availability.ts): open now, else since when and why, and the expected wait. */
function availabilityOf(hours: BusinessHours, department: string, now: Date, load: QueueLoad) {
  const s = scheduleFor(hours, department);
  const c = s ? compile(s) : null;
  const t = now.getTime();
  const within = c ? isOpenAt(c, t) : true;
  return {
    within,
    next: c && !within ? nextOpening(c, t) : null,
    holiday: c && !within ? isHolidayAt(c, t) : false,
    wait: waitEstimator(hours, now)(department, load),
  };
}

// Each case on a zone no other test here uses, so its first question finds
// nothing cached, as the first request of a process does. Before the fix
// (counted the same way): 3,439 calls for a schedule open around the clock,
// 6,811 for one without hours, 31,140 for 20 departments on a default open
// until a holiday in December; the bounds are well under a tenth of those.
describe('business hours: what a question costs, in Intl calls', () => {
  const now = new Date('2026-01-05T09:00:00Z');
  /** the same questions 40 ms later, as the waiting list asks after the next queue change */
  const soon = new Date(now.getTime() + 40);
  // Intl's first use in a process loads ICU's zone data: not part of what is measured here
  new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Tokyo', hour: 'numeric' }).formatToParts(now);

  it('a schedule open around the clock: the 300 s wait is placed without walking the calendar to its end', () => {
    const hours: BusinessHours = { default: null, departments: { around: { time_zone: 'Europe/Berlin', weekly: ALL_DAY, holidays: [] } } };
    const load = { position: 1, handleS: 300, onlineSlots: 1, teamSlots: 1 };
    const cold = counted(() => availabilityOf(hours, 'around', now, load));
    const warm = counted(() => availabilityOf(hours, 'around', soon, load));
    console.log(`around the clock: ${cold.calls} calls, ${cold.ms} ms; again: ${warm.calls} calls, ${warm.ms} ms`);
    assert.deepEqual(cold.value, { within: true, next: null, holiday: false, wait: 300 });
    assert.deepEqual(warm.value, cold.value);
    assert.ok(cold.calls <= 100, `${cold.calls} formatToParts calls (3,439 before the fix)`);
    assert.ok(warm.calls <= 2, `${warm.calls} formatToParts calls once the zone's offsets are known`);
  });

  it('a schedule without hours: "never opens" at once, without walking 800 days', () => {
    const hours: BusinessHours = { default: null, departments: { closed: { time_zone: 'Europe/Madrid', weekly: everyDay([]), holidays: [] } } };
    const load = { position: 1, handleS: 300, onlineSlots: 0, teamSlots: 2 };
    const cold = counted(() => availabilityOf(hours, 'closed', now, load));
    console.log(`without hours: ${cold.calls} calls, ${cold.ms} ms`);
    assert.deepEqual(cold.value, { within: false, next: null, holiday: false, wait: null });
    assert.ok(cold.calls <= 10, `${cold.calls} formatToParts calls (6,811 before the fix)`);
  });

  it('20 departments on one default open until a holiday months away: one timeline, placed as far as the work goes', () => {
    const hours: BusinessHours = { default: { time_zone: 'Europe/Rome', weekly: ALL_DAY, holidays: [{ date: '2026-12-25', name: 'Christmas' }] }, departments: {} };
    const departments = Array.from({ length: 20 }, (_, i) => `d${i}`);
    const refresh = (at: Date) => {
      const estimate = waitEstimator(hours, at);
      return departments.map((d) => estimate(d, { position: 1, handleS: 300, onlineSlots: 1, teamSlots: 1 }));
    };
    const cold = counted(() => refresh(now));
    const warm = counted(() => refresh(soon));
    console.log(`20 departments, one default: ${cold.calls} calls, ${cold.ms} ms; again: ${warm.calls} calls, ${warm.ms} ms`);
    assert.deepEqual(new Set(cold.value), new Set([300]));
    assert.deepEqual(warm.value, cold.value);
    assert.ok(cold.calls <= 100, `${cold.calls} formatToParts calls (31,140 before the fix)`);
    assert.ok(warm.calls <= 2, `${warm.calls} formatToParts calls once the zone's offsets are known`);
    // and the work past the holiday is still counted right: 355 days of open time from 2026-01-05 10:00 (Rome) ends after Christmas, a day later
    const far = waitEstimator(hours, now)('d0', { position: 355 * 288, handleS: 300, onlineSlots: 1, teamSlots: 1 });
    assert.equal(far, 356 * 86_400);
  });
});

describe('business hours: the arithmetic', () => {
  it('is open exactly when the local weekday, date and time say so', () => {
    fc.assert(
      fc.property(withSchedule, fc.integer({ min: 0, max: 59_999 }), ({ t, s }, jitter) => {
        assert.equal(isOpenAt(compile(s), t + jitter), naiveOpen(s, t + jitter));
      }),
      { numRuns: 1000 },
    );
  });

  it('next opening is open, nothing is open strictly between t and it, and it is the first open minute', () => {
    fc.assert(
      fc.property(withSchedule, ({ t, s }) => {
        const c = compile(s);
        const next = nextOpening(c, t);
        const expected = naiveNextOpening(s, t, 8);
        if (expected !== null) assert.equal(next, expected, `from ${new Date(t).toISOString()} in ${s.time_zone}`);
        if (next === null) {
          assert.ok(WEEKDAYS.every((d) => s.weekly[d].length === 0) || expected === null);
          return;
        }
        assert.ok(next >= t);
        assert.equal(isOpenAt(c, next), true);
        assert.equal(naiveOpen(s, next), true);
        if (next > t) assert.equal(naiveOpen(s, next - 1), false, 'the millisecond before the opening is closed');
        for (let k = 1; k <= 20; k++) {
          const between: number = t + Math.floor(((next - t) * k) / 21);
          if (between < next) assert.equal(naiveOpen(s, between), false, `open at ${new Date(between).toISOString()} before ${new Date(next).toISOString()}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('next closing is closed, and everything from an opening to it is open', () => {
    fc.assert(
      fc.property(withSchedule, ({ t, s }) => {
        const c = compile(s);
        const open = nextOpening(c, t);
        if (open === null) return;
        const close = nextClosing(c, open);
        assert.ok(close === null || close > open);
        if (close === null) return;
        assert.equal(naiveOpen(s, close), false);
        assert.equal(naiveOpen(s, close - 1), true);
        for (let k = 0; k <= 20; k++) assert.equal(naiveOpen(s, open + Math.floor(((close - open) * k) / 21)), true);
      }),
      { numRuns: 300 },
    );
  });

  it('counts open time: after(ms) is when exactly ms of open time have passed', () => {
    fc.assert(
      fc.property(withSchedule, fc.integer({ min: 0, max: 12 * 60 }), ({ t, s }, minutes) => {
        const c = compile(s);
        const at = new OpenTimeline(c, t).after(minutes * MINUTE);
        if (at === null) {
          assert.equal(nextOpening(c, t) === null || minutes > 0, true);
          return;
        }
        // whole minutes from t (t is on a minute): count the open ones up to `at`
        let open = 0;
        for (let m = t; m < at; m += MINUTE) if (naiveOpen(s, m)) open += 1;
        assert.equal(open, minutes, `from ${new Date(t).toISOString()} in ${s.time_zone}: ${open} open minutes before ${new Date(at).toISOString()}`);
        if (minutes > 0) assert.equal(naiveOpen(s, at - MINUTE), true, 'the last minute counted was open');
      }),
      { numRuns: 60 },
    );
  });

  // The same questions against a reading of every minute of three days, for
  // the shapes that take shortcuts (no hours at all, open around the clock
  // with and without holidays) as well as drawn hours, in zones whose changes
  // are drawn: Santiago (at local midnight), London, Lord Howe (half an
  // hour), New York, Chatham. One timeline answers several amounts of work
  // in any order, as an estimator's does for a queue, and each answer is the
  // one a fresh timeline gives.
  it('answers as a minute-by-minute reading: openings, closings, open time, shortcuts and cached offsets alike', () => {
    const WINDOW_MINUTES = 3 * 24 * 60;
    const DST_ZONES = ['America/Santiago', 'Europe/London', 'Australia/Lord_Howe', 'America/New_York', 'Pacific/Chatham'];
    const near = fc.tuple(fc.constantFrom(...CHANGES), fc.integer({ min: -36 * 60, max: 36 * 60 })).map(([c, m]) => c + m * MINUTE);
    const shaped = (t: number) =>
      fc
        .tuple(
          fc.constantFrom(...DST_ZONES),
          fc.oneof(
            { weight: 4, arbitrary: scheduleNear(t) },
            { weight: 1, arbitrary: scheduleNear(t).map((s) => ({ ...s, weekly: everyDay([]) })) },
            { weight: 1, arbitrary: scheduleNear(t).map((s) => ({ ...s, weekly: ALL_DAY })) },
            { weight: 1, arbitrary: scheduleNear(t).map((s) => ({ ...s, weekly: ALL_DAY, holidays: [] })) },
          ),
        )
        .map(([time_zone, s]): Schedule => ({ ...s, time_zone }));
    // whole minutes, or into a minute by whole seconds or a fraction of a ms (work ÷ slots need not be whole)
    const amounts = fc.array(fc.tuple(fc.integer({ min: 0, max: WINDOW_MINUTES + 60 }), fc.constantFrom(0, 0, 0, 1, 30, 59, 0.000_37, 12.5)), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(near.chain((t) => shaped(t).map((s) => ({ t, s }))), amounts, ({ t, s }, asked) => {
        const c = compile(s);
        const open = Array.from({ length: WINDOW_MINUTES }, (_, k) => naiveOpen(s, t + k * MINUTE));
        const end = t + WINDOW_MINUTES * MINUTE;
        const where = `from ${new Date(t).toISOString()} in ${s.time_zone}, ${JSON.stringify(s)}`;
        const first = (want: boolean) => {
          const k = open.indexOf(want);
          return k < 0 ? null : t + k * MINUTE;
        };
        const same = (got: number | null, expected: number | null, what: string) => {
          if (expected !== null) assert.equal(got, expected, `${what} ${where}`);
          else assert.ok(got === null || got >= end, `${what}: ${got} ${where}`);
        };
        same(nextOpening(c, t), first(true), 'next opening');
        same(nextClosing(c, t), first(false), 'next closing');
        if (WEEKDAYS.every((d) => s.weekly[d].length === 0)) assert.equal(nextOpening(c, t), null);
        if (s.holidays.length === 0 && s.weekly === ALL_DAY) assert.equal(nextClosing(c, t), null);
        for (let k = 0; k < WINDOW_MINUTES; k += 7) assert.equal(isOpenAt(c, t + k * MINUTE + 30_000), open[k], `open at minute ${k} ${where}`);
        // the k-th open minute (1-based), from the reading
        const openMinutes: number[] = [];
        open.forEach((o, k) => o && openMinutes.push(t + k * MINUTE));
        const timeline = new OpenTimeline(c, t);
        for (const [minutes, seconds] of asked) {
          const ms = minutes * MINUTE + seconds * 1000;
          const got = timeline.after(ms);
          assert.equal(got, new OpenTimeline(c, t).after(ms), `a timeline asked before answers as a fresh one, ${ms} ms ${where}`);
          // ms falls in the (whole + 1)-th open minute, or ends the whole-th one
          const expected = seconds > 0 ? (openMinutes[minutes] ?? null) : minutes === 0 ? first(true) : (openMinutes[minutes - 1] ?? null);
          const exact = expected === null ? null : seconds > 0 ? expected + seconds * 1000 : minutes === 0 ? expected : expected + MINUTE;
          // a fraction of a ms: equal but for the rounding of the sums
          if (exact !== null && got !== null && !Number.isInteger(ms)) assert.ok(Math.abs(got - exact) < 0.01, `after ${ms} ms: ${got} ≠ ${exact} ${where}`);
          else same(got, exact, `after ${ms} ms`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('follows daylight saving: 09:00 in Paris is 08:00Z before the change and 07:00Z after', () => {
    const day = [{ start: '09:00', end: '17:00' }];
    const c = compile({ time_zone: 'Europe/Paris', weekly: { monday: day, tuesday: day, wednesday: day, thursday: day, friday: day, saturday: [], sunday: [] }, holidays: [] });
    assert.equal(new Date(nextOpening(c, Date.parse('2026-03-27T18:00:00Z'))!).toISOString(), '2026-03-30T07:00:00.000Z');
    assert.equal(new Date(nextOpening(c, Date.parse('2026-10-23T18:00:00Z'))!).toISOString(), '2026-10-26T08:00:00.000Z');
    assert.equal(new Date(nextClosing(c, Date.parse('2026-03-30T07:00:00Z'))!).toISOString(), '2026-03-30T15:00:00.000Z');
  });

  it('opens a spring-forward night at the first local time that exists, and a fall-back hour twice', () => {
    const night = [{ start: '02:30', end: '04:00' }];
    const ny = compile({ time_zone: 'America/New_York', weekly: { monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: night }, holidays: [] });
    // 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00Z): 02:30 never happens, so it opens at 03:00 EDT
    assert.equal(new Date(nextOpening(ny, Date.parse('2026-03-08T05:00:00Z'))!).toISOString(), '2026-03-08T07:00:00.000Z');
    const early = [{ start: '01:15', end: '01:45' }];
    const fall = compile({ time_zone: 'America/New_York', weekly: { monday: [], tuesday: [], wednesday: [], thursday: [], friday: [], saturday: [], sunday: early }, holidays: [] });
    // 2026-11-01: 01:15 EDT (05:15Z), then again 01:15 EST (06:15Z)
    const first = nextOpening(fall, Date.parse('2026-11-01T04:00:00Z'))!;
    assert.equal(new Date(first).toISOString(), '2026-11-01T05:15:00.000Z');
    const second = nextOpening(fall, nextClosing(fall, first)!)!;
    assert.equal(new Date(second).toISOString(), '2026-11-01T06:15:00.000Z');
  });

  it('skips holidays in the local calendar, and never opens without hours', () => {
    const all = [{ start: '00:00', end: '24:00' }];
    const weekly = Object.fromEntries(WEEKDAYS.map((d) => [d, all])) as Schedule['weekly'];
    const c = compile({ time_zone: 'Asia/Jakarta', weekly, holidays: [{ date: '2026-12-25', name: 'Christmas' }] });
    // 2026-12-24T17:00Z is 00:00 on the 25th in Jakarta (UTC+7)
    assert.equal(isOpenAt(c, Date.parse('2026-12-24T16:59:59Z')), true);
    assert.equal(isOpenAt(c, Date.parse('2026-12-24T17:00:00Z')), false);
    assert.equal(new Date(nextOpening(c, Date.parse('2026-12-24T17:00:00Z'))!).toISOString(), '2026-12-25T17:00:00.000Z');
    assert.equal(nextClosing(c, Date.parse('2027-01-01T00:00:00Z')), null, 'always open until the horizon');
    const never = compile({ time_zone: 'UTC', weekly: Object.fromEntries(WEEKDAYS.map((d) => [d, [] as { start: string; end: string }[]])) as Schedule['weekly'], holidays: [] });
    assert.equal(nextOpening(never, Date.parse('2026-01-01T00:00:00Z')), null);
    assert.equal(new OpenTimeline(never, 0).after(1000), null);
  });
});

describe('business hours: the rules of a definition', () => {
  const good: ScheduleInput = { time_zone: 'Europe/Paris', weekly: { monday: [{ start: '13:00', end: '17:00' }, { start: '09:00', end: '12:00' }] }, holidays: [{ date: '2026-12-25', name: ' Christmas ' }, { date: '2026-01-01' }] };

  it('stores every day, intervals and holidays in order, names trimmed', () => {
    const checked = checkSchedule(good, 'default');
    assert.ok('schedule' in checked);
    assert.deepEqual(checked.schedule.weekly.monday, [{ start: '09:00', end: '12:00' }, { start: '13:00', end: '17:00' }]);
    assert.deepEqual(checked.schedule.weekly.sunday, []);
    assert.deepEqual(checked.schedule.holidays, [{ date: '2026-01-01', name: null }, { date: '2026-12-25', name: 'Christmas' }]);
  });

  const problemOf = (input: ScheduleInput) => {
    const checked = checkBusinessHours({ departments: { sales: input } });
    assert.ok('problem' in checked, 'expected a problem');
    return checked.problem;
  };

  it('names the field at fault', () => {
    assert.equal(problemOf({ ...good, time_zone: 'Mars/Olympus' }).field, 'departments.sales.time_zone');
    assert.equal(problemOf({ ...good, time_zone: '' }).field, 'departments.sales.time_zone');
    assert.equal(problemOf({ ...good, weekly: { friday: [{ start: '9:00', end: '17:00' }] } }).field, 'departments.sales.weekly.friday[0].start');
    assert.equal(problemOf({ ...good, weekly: { friday: [{ start: '09:00', end: '24:30' }] } }).field, 'departments.sales.weekly.friday[0].end');
    assert.equal(problemOf({ ...good, weekly: { friday: [{ start: '17:00', end: '09:00' }] } }).field, 'departments.sales.weekly.friday[0].end');
    assert.equal(problemOf({ ...good, weekly: { friday: [{ start: '09:00', end: '09:00' }] } }).field, 'departments.sales.weekly.friday[0].end');
    const overlap = problemOf({ ...good, weekly: { friday: [{ start: '09:00', end: '12:00' }, { start: '11:00', end: '14:00' }] } });
    assert.equal(overlap.field, 'departments.sales.weekly.friday[1]');
    assert.match(overlap.message, /overlaps 09:00–12:00/);
    assert.equal(problemOf({ ...good, weekly: { friday: [{ start: '11:00', end: '14:00' }, { start: '09:00', end: '12:00' }] } }).field, 'departments.sales.weekly.friday[1]');
    assert.equal(problemOf({ ...good, holidays: [{ date: '2026-02-30' }] }).field, 'departments.sales.holidays[0].date');
    assert.equal(problemOf({ ...good, holidays: [{ date: '25/12/2026' }] }).field, 'departments.sales.holidays[0].date');
    assert.equal(problemOf({ ...good, holidays: [{ date: '2026-12-25' }, { date: '2026-12-25' }] }).field, 'departments.sales.holidays[1].date');
    // one line: the console lists holidays one a line
    const broken = problemOf({ ...good, holidays: [{ date: '2026-12-25', name: 'Christmas\n2026-12-26 Boxing' }] });
    assert.deepEqual(broken, { field: 'departments.sales.holidays[0].name', message: 'must be one line of text, without control characters' });
    // a region's zone, not an abbreviation that passes for one
    const est = problemOf({ ...good, time_zone: 'EST' });
    assert.equal(est.field, 'departments.sales.time_zone');
    assert.match(est.message, /region name/);
    // adjacent intervals do not overlap
    assert.ok('hours' in checkBusinessHours({ default: { ...good, weekly: { friday: [{ start: '09:00', end: '12:00' }, { start: '12:00', end: '24:00' }] } } }));
  });

  it('gives a department its own schedule, else the default, else none', () => {
    const checked = checkBusinessHours({ default: { time_zone: 'UTC', weekly: {} }, departments: { sales: good } });
    assert.ok('hours' in checked);
    assert.equal(scheduleFor(checked.hours, 'sales')!.time_zone, 'Europe/Paris');
    assert.equal(scheduleFor(checked.hours, 'billing')!.time_zone, 'UTC');
    assert.equal(scheduleFor(checked.hours, null)!.time_zone, 'UTC');
    assert.equal(scheduleFor({ default: null, departments: {} }, 'sales'), null);
  });
});
