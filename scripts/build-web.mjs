// Builds the web apps (web/console, web/widget) into web/dist, which the
// server serves. `--if-stale` (used by `npm start`) builds only when web/dist
// is missing or older than a source under web/, so a start stays fast.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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

/** Sources outside web/ that the apps import: the widget runs the server's pre-chat rules as they are. */
const SHARED_FROM_SRC = [join(root, 'src', 'prechat', 'rules.ts'), join(root, 'src', 'appearance', 'contrast.ts'), join(root, 'src', 'greetings', 'trigger.ts')];

export function isStale() {
  if (!existsSync(stamp) || !existsSync(join(dist, 'widget.js'))) return true;
  const latest = Math.max(newest(web), ...SHARED_FROM_SRC.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
  return latest > statSync(stamp).mtimeMs;
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
  await build({ configFile: join(web, 'vite.config.mjs'), logLevel });
  // the loader: one classic script, its name fixed, since pages embed it by name
  await build({
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
  writeFileSync(stamp, new Date().toISOString() + '\n');
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
