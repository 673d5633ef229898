// Every route's schemas, as the app registers them, checked for objects
// whose keys could escape their value schema. TypeBox writes
// Type.Record(Type.String(), V) as patternProperties {"^(.*)$": V}; `.`
// matches no line break, so a key with \n, \r, U+2028 or U+2029 was never
// checked against V (a 100 kB customer field was stored, a business-hours
// schedule of any shape failed with a 500) and the answer's serialiser left
// it out. Maps are StringMap (src/http/schemas.ts). No database needed: the
// app is built on a store that refuses every query, and nothing is called.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { loadFilesConfig } from '../../src/files/config.js';
import { buildApp, routesOf, type App } from '../../src/http/app.js';
import type { Realtime } from '../../src/realtime/index.js';
import type { Metrics } from '../../src/stats/metrics.js';

const EVERYTHING = '^(.*)$';

async function appWithEveryRoute(): Promise<App> {
  const refuse = () => {
    throw new Error('no database in this test');
  };
  const db = { query: refuse, transaction: refuse } as unknown as Ctx['db'];
  const ctx: Ctx = { db, now: () => new Date() };
  const config = { ...loadConfig({}), logLevel: 'silent' as const, files: loadFilesConfig({ ATTACHMENT_LINK_SECRET: 'x'.repeat(32) }) };
  // The chat-session and broker routes are registered with the real-time
  // layer only; their schemas are what matters here, not the layer.
  const realtime = { topics: {}, broker: {}, config: { ...config.realtime, mqttUrl: 'mqtt://broker.invalid' } } as unknown as Realtime;
  const app = await buildApp({ ctx, config, metrics: {} as Metrics, realtime });
  await app.ready();
  return app;
}

/** Paths (in `where`) of the object schemas under `schema` whose keys are not all checked. */
function uncheckedMaps(schema: unknown, where: string, found: string[] = [], seen = new Set<unknown>()): string[] {
  if (schema === null || typeof schema !== 'object' || seen.has(schema)) return found;
  seen.add(schema);
  const node = schema as Record<string, unknown>;
  const patterns = node.patternProperties as Record<string, unknown> | undefined;
  if (patterns !== undefined) {
    // A key that no pattern matches goes to additionalProperties: when that
    // is not false, it is accepted unchecked (and dropped from answers).
    if (Object.hasOwn(patterns, EVERYTHING)) found.push(`${where}: patternProperties "${EVERYTHING}" (Type.Record of free keys; use StringMap)`);
    else if (node.additionalProperties !== false) found.push(`${where}: patternProperties without additionalProperties: false`);
  }
  for (const [key, child] of Object.entries(node)) uncheckedMaps(child, `${where}/${key}`, found, seen);
  return found;
}

describe('map schemas', () => {
  it('check every key of every map in the route schemas, requests and answers: no patternProperties "^(.*)$"', async () => {
    const app = await appWithEveryRoute();
    try {
      const routes = routesOf(app);
      assert.ok(routes.length >= 100, `only ${routes.length} routes: is the chat-session layer registered?`);
      assert.ok(routes.some((r) => r.url === '/session' && r.method === 'POST'), 'POST /session is among the routes');
      const found = routes.flatMap((route) => uncheckedMaps(route.schema, `${route.method} ${route.url}`));
      assert.deepEqual(found, []);
      // and the OpenAPI document made from them (every schema, components too)
      const document = JSON.stringify(app.swagger());
      assert.ok(!document.includes(JSON.stringify(EVERYTHING)), 'the OpenAPI document has a patternProperties "^(.*)$"');
    } finally {
      await app.close();
    }
  });

  it('finds a Type.Record of free keys when there is one (the check can fail)', async () => {
    const { Type } = await import('@sinclair/typebox');
    const body = Type.Object({ fields: Type.Record(Type.String(), Type.String({ maxLength: 10 })) });
    assert.equal(uncheckedMaps(body, 'body').length, 1);
    const { StringMap } = await import('../../src/http/schemas.js');
    assert.deepEqual(uncheckedMaps(Type.Object({ fields: StringMap(Type.String({ maxLength: 10 })) }), 'body'), []);
  });
});
