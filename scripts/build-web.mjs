// Builds the web apps (web/console, web/widget) into web/dist, which the
// server serves. `--if-stale` (used by `npm start`) builds only when web/dist
// is missing or older than a source under web/ or a server module the apps
// bundle, so a start stays fast.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const web = join(root, 'web');
const dist = join(web, 'dist');
const stamp = join(dist, '.built');

function newest(dir) {
  let latest = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'dist' || name === 'node_modules') continue;
    const path = join(dir, name);
    const stat = statSync(path);
    latest = Math.max(latest, stat.isDirectory() ? newest(path) : stat.mtimeMs);
  }
  return latest;
}

/**
 * The server's own modules the apps bundle (src/prechat/rules.ts, the webhook
 * catalog, …), as the last build recorded them after its date line: a hand-kept
 * list went stale once (src/files/limit-rules.ts was missing from it).
 */
function bundledFromOutsideWeb(checkout, stampFile) {
  return readFileSync(stampFile, 'utf8').split('\n').slice(1).filter(Boolean).map((path) => join(checkout, path));
}

/** `checkout`: the project's root (tests pass a scratch one). */
export function isStale(checkout = root) {
  const webDir = join(checkout, 'web');
  const stampFile = join(webDir, 'dist', '.built');
  if (!existsSync(stampFile) || !existsSync(join(webDir, 'dist', 'widget.js'))) return true;
  const built = statSync(stampFile).mtimeMs;
  if (newest(webDir) > built) return true;
  return bundledFromOutsideWeb(checkout, stampFile).some((file) => !existsSync(file) || statSync(file).mtimeMs > built);
}

/** Every file outside web/ and node_modules that a build's chunks were made of (type-only imports are not). */
export function sourcesOutsideWeb(results, checkout = root) {
  const files = new Set();
  for (const result of results.flatMap((r) => [r].flat())) {
    for (const item of result.output ?? []) {
      for (const id of item.moduleIds ?? []) {
        const file = id.split('?')[0];
        if (!isAbsolute(file) || file.includes('/node_modules/') || !existsSync(file)) continue;
        const path = relative(checkout, file);
        if (!path.startsWith('..') && !path.startsWith('web/')) files.add(path);
      }
    }
  }
  return [...files].sort();
}

/** Vite is a dev dependency: a checkout installed with --omit=dev cannot build. */
async function loadVite() {
  try {
    return await import('vite');
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw Object.assign(new Error(
      'building the web apps needs Vite, a dev dependency: install with `npm install` (or `npm ci`) without --omit=dev, ' +
        'or run a tree built by scripts/stage.sh, which holds the built apps (docs/deployment.md)',
    ), { code: 'NO_VITE' });
  }
}

export async function buildWeb({ quiet = false } = {}) {
  const { build } = await loadVite();
  const logLevel = quiet ? 'warn' : 'info';
  const started = Date.now();
  const apps = await build({ configFile: join(web, 'vite.config.mjs'), logLevel });
  // the loader: one classic script, its name fixed, since pages embed it by name
  const loader = await build({
    configFile: false,
    root: web,
    logLevel,
    publicDir: false,
    build: {
      outDir: dist,
      emptyOutDir: false,
      minify: true,
      lib: { entry: join(web, 'widget', 'loader.ts'), formats: ['iife'], name: 'SwitchboardWidget', fileName: () => 'widget.js' },
    },
  });
  writeFileSync(stamp, [new Date().toISOString(), ...sourcesOutsideWeb([apps, loader])].join('\n') + '\n');
  if (!quiet) console.log(`web apps built into web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale') && !isStale()) process.exit(0);
  if (process.argv.includes('--if-stale')) console.log('building the web apps (web/ changed or never built)…');
  try {
    await buildWeb();
  } catch (error) {
    if (error?.code !== 'NO_VITE') throw error;
    console.error(`build-web: ${error.message}`);
    process.exit(1);
  }
}
