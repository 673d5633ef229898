// Where a CPU profile's time went, for PGlite-bound runs (bench/RESULTS.md,
// "Simulator on PGlite: where the time goes"):
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/simulate.ts 2000
//   node bench/cpuprofile-summary.mjs [--top=40] /tmp/prof/CPU.*.cpuprofile
//
// Self time per file and per function, and inclusive time per named frame,
// summed over every profile given (a glob names one per process or thread).
// PGlite's WebAssembly has no name section, but it exports some 2,000 of
// PostgreSQL's functions (for extensions): wasm frames are named from that
// export table, so `ExecInsertIndexTuples` shows up instead of
// `wasm-function[10414]`. Only frames of the module that has those exports
// are named (PL/pgSQL is a second module, left unnamed).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const USAGE = 'usage: node bench/cpuprofile-summary.mjs [--top=N] <file.cpuprofile>...';
const files = [];
let rows = 40;
for (const arg of process.argv.slice(2)) {
  const top = /^--top=(\d+)$/.exec(arg);
  if (top) rows = Number(top[1]);
  else if (arg.startsWith('-')) {
    console.error(`unknown option ${arg} (--top takes a whole number: --top=20)\n${USAGE}`);
    process.exit(2);
  } else if (/^\d+$/.test(arg) && !existsSync(arg)) {
    console.error(`${arg}: no such file; the number of rows is --top=${arg}\n${USAGE}`);
    process.exit(2);
  } else files.push(arg);
}
if (files.length === 0) {
  console.error(USAGE);
  process.exit(2);
}

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

const fileOf = (n) => (n.callFrame.url || '(native)').replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|test)\//, '$1/');
const add = (map, key, t) => map.set(key, (map.get(key) ?? 0) + t);
const selfFile = new Map();
const selfFunction = new Map();
const inclusive = new Map();
let total = 0;

/** Adds one profile's samples to the tables: node ids are the profile's own, names are shared. */
function addProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // The module whose self time is largest is PostgreSQL's; the names belong to it.
  const selfByNode = new Map();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    add(selfByNode, id, dt);
    total += dt;
  });
  const wasmModules = new Map();
  for (const [id, t] of selfByNode) {
    const url = byId.get(id).callFrame.url;
    if (url.startsWith('wasm://')) add(wasmModules, url, t);
  }
  const postgres = [...wasmModules].sort((a, b) => b[1] - a[1])[0]?.[0];
  const named = (n) => {
    const m = /^wasm-function\[(\d+)\]$/.exec(n.callFrame.functionName);
    if (!m) return `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n)}`;
    const name = n.callFrame.url === postgres ? wasmNames.get(Number(m[1])) : undefined;
    return name === undefined ? null : `pg:${name}`;
  };

  for (const [id, t] of selfByNode) {
    const n = byId.get(id);
    add(selfFile, fileOf(n), t);
    add(selfFunction, named(n) ?? `${n.callFrame.functionName} ${fileOf(n)}`, t);
  }
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
}

for (const file of files) {
  let profile;
  try {
    profile = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`${file}: not a readable CPU profile (${err.message})`);
    process.exit(2);
  }
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
    console.error(`${file}: not a CPU profile (no nodes, samples and timeDeltas)`);
    process.exit(2);
  }
  addProfile(profile);
}

const table = (title, map) => {
  console.log(`--- ${title}`);
  for (const [key, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${(t / 1000).toFixed(0).padStart(8)} ms ${((100 * t) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
};
console.log(`${(total / 1000).toFixed(0)} ms sampled in ${files.length} profile${files.length === 1 ? '' : 's'}`);
table('self time per file', selfFile);
table('self time per function', selfFunction);
table('inclusive time per named frame', inclusive);
