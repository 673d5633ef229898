import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { erlangB, erlangC, erlangMeanWait, erlangServiceLevel, erlangSlotsFor, erlangSummary } from '../../src/simulate/erlang.js';
import { erlangAgents } from '../../src/simulate/plan.js';

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected} ± ${tolerance}, got ${actual}`);

/** Erlang C straight from its textbook definition, summing the series: an independent check of the recurrence. */
function erlangCBySeries(a: number, c: number): number {
  let term = 1;
  let sum = 0;
  for (let k = 0; k < c; k++) {
    sum += term;
    term = (term * a) / (k + 1);
  }
  const tail = (term * c) / (c - a); // A^c / c! · c / (c − A)
  return tail / (sum + tail);
}

describe('Erlang B', () => {
  it('matches exact small cases: B(1, 1) = 1/2, B(2, 2) = 2/5', () => {
    close(erlangB(1, 1), 0.5, 1e-15, 'B(1,1)');
    close(erlangB(2, 2), 0.4, 1e-15, 'B(2,2)');
  });

  it('matches published Erlang B table entries', () => {
    // Erlang B tables (e.g. Cooper, Introduction to Queueing Theory, table I)
    close(erlangB(10, 10), 0.2146, 5e-5, 'B(10,10)');
    close(erlangB(5, 5), 0.2849, 5e-5, 'B(5,5)');
    close(erlangB(20, 30), 0.0085, 5e-5, 'B(20,30)');
  });
});

describe('Erlang C', () => {
  it('gives the textbook value for 10 Erlangs on 11 servers: P(wait) ≈ 0.682', () => {
    close(erlangC(10, 11), 0.6821, 5e-5, 'C(10,11)');
  });

  it('matches the classic call-centre worked example: 100 calls per half hour, 3 min handle time, 20 s target', () => {
    // A = 100 / 1800 s × 180 s = 10 Erlangs. Published figures for 12, 13 and 14 agents:
    // P(wait) 44.9 %, 28.5 %, 17.4 %; service level 64.0 %, 79.6 %, 88.8 %; ASA 7.8 s at 14.
    const a = (100 / 1800) * 180;
    close(erlangC(a, 12), 0.449, 5e-4, 'P(wait), 12 agents');
    close(erlangC(a, 13), 0.285, 5e-4, 'P(wait), 13 agents');
    close(erlangC(a, 14), 0.174, 5e-4, 'P(wait), 14 agents');
    close(erlangServiceLevel(a, 12, 180, 20), 0.640, 5e-4, 'service level, 12 agents');
    close(erlangServiceLevel(a, 13, 180, 20), 0.796, 5e-4, 'service level, 13 agents');
    close(erlangServiceLevel(a, 14, 180, 20), 0.888, 5e-4, 'service level, 14 agents');
    close(erlangMeanWait(a, 14, 180), 7.8, 0.05, 'mean wait, 14 agents');
    assert.equal(erlangSlotsFor(a, 180, 20, 0.8), 14, '80 % in 20 s needs 14 agents');
  });

  it('is exact for M/M/1 (C = ρ, Wq = ρ/(1−ρ)·h) and for M/M/3 at 2 Erlangs (C = 4/9)', () => {
    for (const rho of [0.1, 0.5, 0.9, 0.99]) {
      close(erlangC(rho, 1), rho, 1e-12, `C(${rho},1)`);
      close(erlangMeanWait(rho, 1, 300), (rho / (1 - rho)) * 300, 1e-9, `Wq(${rho},1)`);
    }
    close(erlangC(2, 3), 4 / 9, 1e-12, 'C(2,3)');
    close(erlangC(1, 2), 1 / 3, 1e-12, 'C(1,2)');
  });

  it('agrees with the series definition across loads and sizes', () => {
    for (const c of [1, 2, 5, 10, 40, 100]) {
      for (const rho of [0.05, 0.5, 0.8, 0.95, 0.999]) {
        close(erlangC(rho * c, c), erlangCBySeries(rho * c, c), 1e-9, `C(${rho * c},${c})`);
      }
    }
  });

  it('stays finite and accurate for large systems where the series overflows', () => {
    const c = erlangC(900, 1000);
    assert.ok(c > 0 && c < 1, `C(900,1000) = ${c}`);
    assert.ok(erlangC(950, 1000) > c, 'more load, more waiting');
  });

  it('says everyone waits, forever, when the load reaches the number of servers', () => {
    assert.equal(erlangC(10, 10), 1);
    assert.equal(erlangMeanWait(12, 10, 60), Infinity);
    assert.equal(erlangServiceLevel(12, 10, 60, 20), 0);
  });

  it('refuses nonsense inputs with a message', () => {
    assert.throws(() => erlangC(-1, 3), /offered load/);
    assert.throws(() => erlangC(1, 0), /servers/);
    assert.throws(() => erlangC(1, 2.5), /servers/);
  });

  it('summarises a system given as arrivals per hour, handle time and slots', () => {
    const s = erlangSummary({ arrivalsPerHour: 200, handleS: 180, slots: 11, targetS: 20 });
    close(s.offered_load_erlangs, 10, 1e-12, 'A');
    close(s.occupancy, 10 / 11, 1e-12, 'occupancy');
    close(s.p_wait, 0.6821, 5e-5, 'p_wait');
  });
});

describe('staffing by Erlang C', () => {
  it('finds the fewest agents at a capacity: slots = agents × capacity', () => {
    // 10 Erlangs, 180 s, 80 % in 20 s needs 14 slots: 14 agents at capacity 1, 7 at capacity 2, 5 at capacity 3 (15 slots)
    const target = { seconds: 20, share: 0.8 };
    assert.equal(erlangAgents(10, 1, 180, target, 100), 14);
    assert.equal(erlangAgents(10, 2, 180, target, 100), 7);
    assert.equal(erlangAgents(10, 3, 180, target, 100), 5);
    assert.equal(erlangAgents(10, 1, 180, target, 12), null, 'none within the limit');
  });
});
