// A small seeded pseudo-random generator, so a simulation is reproducible:
// the same seed gives the same arrivals, handle times and patience.
//
// xoshiro128** (Blackman & Vigna), seeded through splitmix32. Each random
// quantity (arrivals, handle times, patience, department choice) draws from
// its own named stream: changing one option — say, the number of agents —
// does not shift the numbers another part of the model sees, which keeps
// compared runs (`switchboard plan`) on common random numbers.

export interface Rng {
  /** Uniform on the open interval (0, 1): never 0, so `-log(u)` is finite. */
  next(): number;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a: turns a stream name into 32 bits mixed into the seed. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function createRng(seed: number, stream = ''): Rng {
  const init = splitmix32((seed ^ hashName(stream)) >>> 0);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  if ((a | b | c | d) === 0) a = 1;
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const next32 = () => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return {
    next() {
      // 53 random bits, shifted by half a step so 0 never comes out
      const hi = next32() >>> 5;
      const lo = next32() >>> 6;
      return (hi * 67_108_864 + lo + 0.5) / 9_007_199_254_740_992;
    },
  };
}
