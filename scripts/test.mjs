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
// one lane starting a five-minute file when the other is done. Then the
// browser files (each starts a server and Chromium), then the rest. Measured
// (the CI of 2026-11-25 at load 15-35, and alone after this session's
// speed-ups): the simulator files are CPU-bound on PGlite (240-340 s each),
// the property files run to their time box; `npm test` ends with the
// slowest files, to keep this list true (docs/testing.md).
const LONGEST = [
  'test/integration/simulate.test.ts',
  'test/integration/simulate-routing-examples.test.ts',
  'test/integration/simulate-policies.test.ts',
  'test/integration/engine-property.test.ts',
  'test/integration/qiscus-allocation.test.ts',
  'test/integration/rapidpro-endpoints.test.ts',
  'test/integration/routing-sticky-aging-sla.test.ts',
  'test/integration/routing-skills.test.ts',
  'test/integration/security-mqtt.test.ts',
  'test/integration/engine-property-modes.test.ts',
  'test/integration/routing.test.ts',
  'test/integration/crash.test.ts',
  'test/integration/engine-property-sticky-aging.test.ts',
  'test/e2e/email.test.ts',
  'test/e2e/widget-look.test.ts',
  'test/integration/fuzz.test.ts',
  'test/integration/staged-image.test.ts',
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
