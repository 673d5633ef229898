// `npm start` rebuilds the web apps only when they are stale: when a file under
// web/ or a server module the bundle was made of changed since the last build.
// The server modules are the ones the build itself recorded, not a hand-kept list.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
// @ts-expect-error: a plain .mjs build script without type declarations
import { isStale, sourcesOutsideWeb } from '../../scripts/build-web.mjs';

const checkout = mkdtempSync(join(tmpdir(), 'sb-build-web-'));
after(() => rmSync(checkout, { recursive: true, force: true }));

function file(path: string, at: number, text = '') {
  const full = join(checkout, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
  utimesSync(full, at, at);
}

describe('scripts/build-web.mjs --if-stale', () => {
  it('records the server modules the bundle was made of: not web/, not node_modules, not virtual modules', () => {
    const results = [
      { output: [{ moduleIds: [join(checkout, 'web/console/src/main.tsx'), join(checkout, 'src/files/limit-rules.ts'), join(checkout, 'node_modules/react/index.js'), '\0vite/preload-helper'] }] },
      [{ output: [{ moduleIds: [join(checkout, 'src/events/webhooks/catalog.ts?used')] }, { fileName: 'console.css' }] }],
    ];
    file('web/console/src/main.tsx', 1_000);
    file('src/files/limit-rules.ts', 1_000);
    file('src/events/webhooks/catalog.ts', 1_000);
    file('node_modules/react/index.js', 1_000);
    assert.deepEqual(sourcesOutsideWeb(results, checkout), ['src/events/webhooks/catalog.ts', 'src/files/limit-rules.ts']);
  });

  it('is stale when a recorded server module changed or is gone, or a web/ file changed; not otherwise', () => {
    file('web/console/src/main.tsx', 1_000);
    file('web/dist/widget.js', 2_000);
    file('src/files/limit-rules.ts', 1_000);
    file('web/dist/.built', 2_000, '2026-11-25T10:00:00.000Z\nsrc/files/limit-rules.ts\n');
    assert.equal(isStale(checkout), false, 'nothing newer than the build');

    utimesSync(join(checkout, 'src/files/limit-rules.ts'), 3_000, 3_000);
    assert.equal(isStale(checkout), true, 'a bundled server module changed after the build');

    utimesSync(join(checkout, 'src/files/limit-rules.ts'), 1_000, 1_000);
    file('src/unrelated.ts', 3_000);
    assert.equal(isStale(checkout), false, 'a server module the apps do not bundle changed');

    rmSync(join(checkout, 'src/files/limit-rules.ts'));
    assert.equal(isStale(checkout), true, 'a bundled server module is gone');

    file('src/files/limit-rules.ts', 1_000);
    file('web/console/src/main.tsx', 3_000);
    assert.equal(isStale(checkout), true, 'a web/ source changed');
  });

  it('is stale without a build', () => {
    rmSync(join(checkout, 'web/dist/.built'));
    assert.equal(isStale(checkout), true);
  });
});
