// Runs the test files named on the command line in that order, two at a
// time, TAP on stdout. Started by scripts/test.mjs as
// `node --enable-source-maps scripts/test-files.mjs <files>` on the files
// compiled to JavaScript in a mirror of the checkout (SWITCHBOARD_TEST_MIRROR),
// or with TEST_TSX=1 as `node --import tsx scripts/test-files.mjs <files>`:
// each file's process inherits those options.
//
// Not `node --test <files>`: Node 20 sorts the files it is given by name, so
// the order scripts/test.mjs chooses (longest first) was lost and the
// longest files, named late in the alphabet, started last. `run()` keeps it.
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { relative, resolve } from 'node:path';

const files = process.argv.slice(2).map((file) => resolve(file));
// The timeout only catches a file that hangs. It is not a speed check: the
// simulator files are CPU-bound on PGlite and took up to 290 s of their 300
// when the machine was loaded (load 30), so a busy CI runner failed them.
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const stream = run({ files, concurrency, timeout: 900_000 });
// As `node --test` does: a failed test fails the run, a failed `todo` does not.
// Each failure is named again at the very end: CI keeps only the tail of a
// long TAP stream, and a failure reported mid-stream was lost there once.
const failures = [];
stream.on('test:fail', (data) => {
  if (data.todo !== undefined && data.todo !== false) return;
  process.exitCode = 1;
  const error = data.details?.error;
  // a suite fails with its failed tests: those are named, not the suite
  if (error?.failureType === 'subtestsFailed') return;
  const cause = error?.cause ?? error;
  const message = String(cause?.message ?? cause ?? '').split('\n').slice(0, 6).join('\n#     ');
  failures.push({ name: data.name, file: data.file, message });
});
// Each file's time (its top-level tests and suites, one after another), for
// the LONGEST list in scripts/test.mjs: Node 20's TAP has no line per file.
// A suite made by a helper (describeEachStore) names the helper's file, so
// it is counted for the test file its own tests are in: those are reported
// just before it.
const perFile = new Map();
const isTestFile = (file) => typeof file === 'string' && /\.test\.[cm]?[jt]s$/.test(file);
let innerFile;
const count = (data) => {
  if (data.nesting !== 0) {
    if (isTestFile(data.file)) innerFile = data.file;
    return;
  }
  const file = isTestFile(data.file) ? data.file : innerFile;
  innerFile = undefined;
  if (file !== undefined) perFile.set(file, (perFile.get(file) ?? 0) + (data.details?.duration_ms ?? 0));
};
stream.on('test:pass', count);
stream.on('test:fail', count);
// the reporters `node --test` picks: spec on a terminal, TAP otherwise (CI)
const out = stream.compose(process.stdout.isTTY ? new spec() : tap);
out.pipe(process.stdout, { end: false });
out.on('end', () => {
  const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, 20);
  process.stdout.write('# the slowest files (the sum of their top-level tests and suites):\n');
  // a compiled file is named by its source
  const mirror = process.env.SWITCHBOARD_TEST_MIRROR;
  const source = (file) => (mirror && file.startsWith(`${mirror}/`) ? relative(mirror, file).replace(/\.js$/, '.ts') : relative(process.cwd(), file));
  for (const [file, ms] of slowest) process.stdout.write(`# file ${(ms / 1000).toFixed(1).padStart(7)} s ${source(file)}\n`);
  if (failures.length > 0) {
    process.stdout.write(`# FAILED (${failures.length}):\n`);
    for (const f of failures) process.stdout.write(`# not ok ${f.file ? source(f.file) : '?'}: ${f.name}\n#     ${f.message}\n`);
  }
});
