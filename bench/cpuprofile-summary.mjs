// Where a CPU profile's time went, for PGlite-bound runs (bench/RESULTS.md,
// "Simulator on PGlite: where the time goes"):
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/simulate.ts 2000
//   node bench/cpuprofile-summary.mjs /tmp/prof/CPU.*.cpuprofile [rows=40]
//
// Self time per file and per function, and inclusive time per named frame.
// PGlite's WebAssembly has no name section, but it exports some 2,000 of
// PostgreSQL's functions (for extensions): wasm frames are named from that
// export table, so `ExecInsertIndexTuples` shows up instead of
// `wasm-function[10414]`. Only frames of the module that has those exports
// are named (PL/pgSQL is a second module, left unnamed).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const [file, rowsArg = '40'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-summary.mjs <file.cpuprofile> [rows]');
  process.exit(2);
}
const rows = Number(rowsArg);
const profile = JSON.parse(readFileSync(file, 'utf8'));

/** Function index → export name of a wasm binary (the export section, id 7). */
function exportedFunctionNames(bytes) {
  const names = new Map();
  let o = 8; // magic and version
  const leb = () => {
    let result = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[o++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return result >>> 0;
  };
  while (o < bytes.length) {
    const id = bytes[o++];
    const size = leb();
    const end = o + size;
    if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const length = leb();
        const name = bytes.subarray(o, o + length).toString();
        o += length;
        const kind = bytes[o++];
        const index = leb();
        if (kind === 0) names.set(index, name);
      }
    }
    o = end;
  }
  return names;
}

const pgliteDir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
const wasmNames = exportedFunctionNames(readFileSync(join(pgliteDir, 'pglite.wasm')));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const fileOf = (n) => (n.callFrame.url || '(native)').replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|test)\//, '$1/');

// The module whose self time is largest is PostgreSQL's; the names belong to it.
const selfByNode = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
  total += dt;
});
const wasmModules = new Map();
for (const [id, t] of selfByNode) {
  const url = byId.get(id).callFrame.url;
  if (url.startsWith('wasm://')) wasmModules.set(url, (wasmModules.get(url) ?? 0) + t);
}
const postgres = [...wasmModules].sort((a, b) => b[1] - a[1])[0]?.[0];
const named = (n) => {
  const m = /^wasm-function\[(\d+)\]$/.exec(n.callFrame.functionName);
  if (!m) return `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n)}`;
  const name = n.callFrame.url === postgres ? wasmNames.get(Number(m[1])) : undefined;
  return name === undefined ? null : `pg:${name}`;
};

const add = (map, key, t) => map.set(key, (map.get(key) ?? 0) + t);
const selfFile = new Map();
const selfFunction = new Map();
for (const [id, t] of selfByNode) {
  const n = byId.get(id);
  add(selfFile, fileOf(n), t);
  add(selfFunction, named(n) ?? `${n.callFrame.functionName} ${fileOf(n)}`, t);
}
const inclusive = new Map();
profile.samples.forEach((leaf, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const seen = new Set();
  for (let id = leaf; id !== undefined; id = parent.get(id)) {
    const name = named(byId.get(id));
    if (name !== null && !seen.has(name)) {
      seen.add(name);
      add(inclusive, name, dt);
    }
  }
});

const table = (title, map) => {
  console.log(`--- ${title}`);
  for (const [key, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${(t / 1000).toFixed(0).padStart(8)} ms ${((100 * t) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
};
console.log(`${(total / 1000).toFixed(0)} ms sampled`);
table('self time per file', selfFile);
table('self time per function', selfFunction);
table('inclusive time per named frame', inclusive);
