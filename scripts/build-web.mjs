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

export function isStale() {
  if (!existsSync(stamp) || !existsSync(join(dist, 'widget.js'))) return true;
  return newest(web) > statSync(stamp).mtimeMs;
}

export async function buildWeb({ quiet = false } = {}) {
  const { build } = await import('vite');
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
  await buildWeb();
}
