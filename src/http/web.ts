import fastifyStatic from '@fastify/static';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App, AppDeps } from './deps.js';

// The two web apps, built by `npm run build:web` (scripts/build-web.mjs) into
// web/dist: the agents' console at / (a single-page app: any other GET path
// that is not the API's gets its index.html) and the customer widget, whose
// loader /widget.js opens /widget/frame in an iframe. Hashed files under
// /assets/ are cached for a year; the HTML and the loader are revalidated.
// Without a build the server runs the API alone and says so.

/** Paths that belong to the API or the channels: never answered with the console. */
const NOT_THE_CONSOLE = /^\/(api|session|mqtt|docs|healthz|metrics|rapidpro|qiscus|assets|widget)(\/|$|\?)/;

/** The repository root: the nearest folder above this file with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export function webDistDir(): string {
  return resolve(packageRoot(), 'web', 'dist');
}

const NO_CACHE = 'no-cache';
const IMMUTABLE = 'public, max-age=31536000, immutable';

export async function webRoutes(app: App, { config }: AppDeps, distDir = webDistDir()): Promise<void> {
  const consoleHtml = join(distDir, 'console', 'index.html');
  if (!existsSync(consoleHtml)) {
    app.log.info({ distDir }, 'web apps not built: serving the API only (run `npm run build:web`, or `npm start`, which builds them)');
    return;
  }
  // The pages learn the MQTT base topic and the broker's WebSocket URL from
  // meta tags, filled in here once. Without MQTT_WS_URL the apps use
  // ws(s)://<their host>/mqtt, which is the embedded broker's.
  const { baseTopic, mqttUrl, mqttWsUrl } = config.realtime;
  if (mqttUrl !== undefined && mqttWsUrl === undefined) {
    app.log.warn('MQTT_URL is set but MQTT_WS_URL is not: /mqtt answers 403, so the console and the widget have no broker to connect to; set MQTT_WS_URL to the broker\'s WebSocket URL as browsers reach it');
  }
  const page = (path: string) =>
    readFileSync(join(distDir, path), 'utf8')
      .replace('<meta name="sb-base-topic" content="switchboard"', `<meta name="sb-base-topic" content="${escapeAttr(baseTopic)}"`)
      .replace('<meta name="sb-mqtt-url" content=""', `<meta name="sb-mqtt-url" content="${escapeAttr(mqttWsUrl ?? '')}"`);
  const pages = { console: page('console/index.html'), frame: page('widget/index.html'), demo: page('widget/demo.html') };
  const loader = readFileSync(join(distDir, 'widget.js'), 'utf8');

  await app.register(async (web) => {
    await web.register(fastifyStatic, {
      root: join(distDir, 'assets'),
      prefix: '/assets/',
      cacheControl: false,
      etag: true,
      lastModified: false,
      setHeaders: (res) => res.setHeader('cache-control', IMMUTABLE),
    });

    const html = (body: string) => (_request: unknown, reply: { header(k: string, v: string): unknown; type(t: string): unknown; send(b: string): unknown }) => {
      reply.header('cache-control', NO_CACHE);
      reply.type('text/html; charset=utf-8');
      return reply.send(body);
    };
    const hide = { schema: { hide: true } };
    web.get('/widget.js', hide, async (_request, reply) => reply.header('cache-control', NO_CACHE).type('text/javascript; charset=utf-8').send(loader));
    web.get('/widget/frame', hide, html(pages.frame) as never);
    web.get('/widget/demo', hide, html(pages.demo) as never);
    web.get('/', hide, html(pages.console) as never);
    // The console's own routes (/conversations/…, /admin/…): its index.html.
    web.get('/*', hide, async (request, reply) => {
      const path = request.url.split('?')[0]!;
      const last = path.slice(path.lastIndexOf('/') + 1);
      if (NOT_THE_CONSOLE.test(path) || last.includes('.')) return reply.callNotFound();
      return reply.header('cache-control', NO_CACHE).type('text/html; charset=utf-8').send(pages.console);
    });
  });
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
