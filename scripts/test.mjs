// Runs every test file under test/ with node's test runner, on the TypeScript compiled once to a mirror of the checkout (below; TEST_TSX=1: loaded by tsx).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

// The browser tests and the page tests serve the built apps: build them once,
// here, so test files running side by side never race to write web/dist.
const built = spawnSync(process.execPath, ['scripts/build-web.mjs', '--if-stale'], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

// The longest files start first, so the two lanes end together instead of
// one lane starting a long file when the other is done. Then the browser
// files (each starts a server and Chromium), then the rest. The list is the
// slowest files of the fresh-clone CI of 2026-11-26 06:21 UTC (quiet, AMD
// EPYC, 745 s in all; 20-40 s each); `npm test` ends with the slowest
// files, to keep this list true (docs/testing.md).
const LONGEST = [
  'test/integration/crash.test.ts',
  'test/e2e/admin.test.ts',
  'test/e2e/attachments.test.ts',
  'test/integration/simulate.test.ts',
  'test/e2e/desk-live.test.ts',
  'test/integration/simulate-routing-examples.test.ts',
  'test/e2e/accessibility.test.ts',
  'test/e2e/ratings.test.ts',
  'test/integration/rapidpro-endpoints.test.ts',
  'test/e2e/dashboard.test.ts',
  'test/e2e/web.test.ts',
  'test/e2e/email.test.ts',
  'test/integration/outage.test.ts',
  'test/integration/security-mqtt.test.ts',
  'test/integration/engine-property.test.ts',
  'test/integration/qiscus-allocation.test.ts',
  'test/e2e/languages.test.ts',
  'test/e2e/identity.test.ts',
  'test/integration/concurrency-shared-routing.test.ts',
];
const rank = (file) => {
  const i = LONGEST.indexOf(file);
  return i >= 0 ? i : file.startsWith('test/e2e/') ? LONGEST.length : LONGEST.length + 1;
};
const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort().sort((a, b) => rank(a) - rank(b));

// The test files run as JavaScript compiled once here, not through tsx.
// tsx compiles nothing twice (it keeps a cache), but every test process
// loaded its few hundred modules through tsx's loader, which answers each
// import from a worker thread: 2.0–2.2 s of CPU a process before its first
// test, against 1.2–1.4 s for the same modules compiled (about 140 files,
// and the server processes they start). esbuild (tsx's own compiler, so the
// same output) writes every .ts under src/, test/, bench/ and web/ as .js to
// a mirror of the checkout in the temporary directory; everything else there
// is a link to the checkout (SQL, JSON, web/dist, docs), so paths relative
// to a module resolve as before. TEST_TSX=1 runs the files through tsx.
const COMPILED = ['src', 'test', 'bench', 'web'];
function mirrorCheckout() {
  // a run stopped half way (Ctrl-C) leaves its mirror: removed a day later
  for (const name of readdirSync(tmpdir())) {
    const old = join(tmpdir(), name);
    if (name.startsWith('switchboard-test-js-') && Date.now() - (statSync(old, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 24 * 3600 * 1000) rmSync(old, { recursive: true, force: true });
  }
  const mirror = mkdtempSync(join(tmpdir(), 'switchboard-test-js-'));
  const entries = [];
  const walk = (dir) => {
    mkdirSync(join(mirror, dir), { recursive: true });
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name === 'node_modules' || name === 'dist') symlinkSync(resolve(path), join(mirror, path));
        else walk(path);
      } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) entries.push(path);
      else symlinkSync(resolve(path), join(mirror, path));
    }
  };
  for (const name of readdirSync('.')) {
    if (COMPILED.includes(name)) walk(name);
    else if (name !== '.git') symlinkSync(resolve(name), join(mirror, name));
  }
  // tsx's esbuild, whichever folder npm put it in
  const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'))('esbuild');
  esbuild.buildSync({
    entryPoints: entries,
    outdir: mirror,
    outbase: '.',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    sourcesContent: false,
    keepNames: true,
    tsconfig: 'tsconfig.json',
    logLevel: 'warning',
  });
  return mirror;
}

// scripts/test-files.mjs runs them in this order, two at a time (why not
// `node --test`: there).
let result;
if (process.env.TEST_TSX === '1') {
  result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test-files.mjs', ...files], { stdio: 'inherit' });
} else {
  const mirror = mirrorCheckout();
  try {
    const compiled = files.map((file) => join(mirror, relative('.', resolve(file)).replace(/\.ts$/, '.js')));
    result = spawnSync(process.execPath, ['--enable-source-maps', 'scripts/test-files.mjs', ...compiled], {
      stdio: 'inherit',
      env: { ...process.env, SWITCHBOARD_TEST_MIRROR: mirror },
    });
  } finally {
    rmSync(mirror, { recursive: true, force: true });
  }
}
process.exit(result.status ?? 1);
