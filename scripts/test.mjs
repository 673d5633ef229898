// Runs every test file under test/ with node's test runner, TypeScript loaded by tsx.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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
// one lane starting a three-minute browser file when the other is done
// (measured: docs/testing.md). Then the other browser files (each starts a
// server and Chromium), then the rest.
const LONGEST = [
  'test/e2e/admin.test.ts',
  'test/integration/engine-property.test.ts',
  'test/integration/crash.test.ts',
  'test/integration/access-matrix.test.ts',
  'test/integration/simulate.test.ts',
  'test/integration/fuzz.test.ts',
];
const rank = (file) => {
  const i = LONGEST.indexOf(file);
  return i >= 0 ? i : file.startsWith('test/e2e/') ? LONGEST.length : LONGEST.length + 1;
};
const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort().sort((a, b) => rank(a) - rank(b));
// scripts/test-files.mjs runs them in this order, two at a time (why not
// `node --test`: there).
const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test-files.mjs', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
