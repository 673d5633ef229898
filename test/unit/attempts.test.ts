// The in-memory attempt counter behind the login limits: counted before the
// work, handed back after a success, in fixed windows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attempts } from '../../src/http/attempts.js';

describe('attempts', () => {
  it('counts before the work: the attempt over the limit is refused until the window ends', () => {
    let now = 0;
    const counter = attempts({ max: 2, windowMs: 60_000, now: () => now });
    assert.equal(counter.take('a').ok, true);
    assert.equal(counter.take('a').ok, true);
    const refused = counter.take('a');
    assert.deepEqual(refused, { ok: false, retryAfterSeconds: 60 });
    now = 45_500;
    assert.deepEqual(counter.take('a'), { ok: false, retryAfterSeconds: 15 });
    assert.equal(counter.take('b').ok, true, 'another key has its own window');
    now = 60_000;
    assert.equal(counter.take('a').ok, true, 'a new window');
  });

  it('takes an attempt handed back, once, and only into the window it came from', () => {
    let now = 0;
    const counter = attempts({ max: 1, windowMs: 1_000, now: () => now });
    const first = counter.take('a');
    assert.ok(first.ok);
    first.giveBack();
    first.giveBack();
    const second = counter.take('a');
    assert.ok(second.ok);
    assert.equal(counter.take('a').ok, false, 'handing back twice freed one place, not two');
    now = 1_000;
    const third = counter.take('a');
    assert.ok(third.ok);
    second.giveBack(); // from the window before: owes this one nothing
    assert.equal(counter.take('a').ok, false);
  });

  it('forgets the windows that end first when it holds too many keys', () => {
    let now = 0;
    const counter = attempts({ max: 1, windowMs: 10_000, now: () => now, maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) {
      counter.take(key);
      now += 1;
    }
    counter.take('d');
    assert.equal(counter.take('a').ok, true, 'the oldest window was dropped');
    assert.equal(counter.take('d').ok, false);
  });
});
