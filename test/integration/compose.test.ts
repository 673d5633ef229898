// compose.yaml and compose.embedded.yaml checked without Docker: they parse,
// Switchboard's configuration reads (and accepts) every variable they set on
// it, the replicas share the store and the broker, every health check points
// at a route that answers, and Caddy sends each path where it belongs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { findAll, readCaddyfile, type Directive } from '../helpers/caddyfile.js';
import { loadCompose, readEnvFile, requiredVariables, serviceEnv, switchboardServices, variablesRead, type ComposeFile } from '../helpers/compose.js';
import { execForm, readDockerfile, runtimeStage } from '../helpers/dockerfile.js';
import { REPO_ROOT } from '../helpers/process-server.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

/** .env.example as a user fills it in: the blanks get a value (letters and digits, as it asks). */
function filledEnvExample(): Record<string, string> {
  const env = readEnvFile(join(REPO_ROOT, '.env.example'));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === '' ? `filled${key.toLowerCase().replace(/_/g, '')}1234` : value]));
}

/** The image's HEALTHCHECK path: the URL its command fetches. */
function imageHealthPath(): string {
  const check = runtimeStage(readDockerfile()).instructions.find((i) => i.keyword === 'HEALTHCHECK');
  assert.ok(check, 'the image has a HEALTHCHECK');
  const command = execForm(check.args)?.join(' ') ?? check.args;
  const path = /https?:\/\/[^/'"]+(\/[A-Za-z0-9/_-]*)/.exec(command)?.[1] ?? /\+'(\/[A-Za-z0-9/_-]*)'/.exec(command)?.[1];
  assert.ok(path, `no URL path in the HEALTHCHECK command: ${command}`);
  return path;
}

describe('compose.yaml: the scale-out stack', () => {
  const text = read('compose.yaml');
  const env = filledEnvExample();
  const compose: ComposeFile = loadCompose('compose.yaml', env);
  const replicas = switchboardServices(compose);
  const caddy = readCaddyfile(join(REPO_ROOT, 'deploy/compose/Caddyfile'));

  it('parses, and .env.example names every variable it requires', () => {
    assert.equal(typeof compose.services, 'object');
    const example = Object.keys(readEnvFile(join(REPO_ROOT, '.env.example')));
    assert.deepEqual(requiredVariables(text).filter((name) => !example.includes(name)), [], 'required by compose.yaml, missing from .env.example');
    // without them it must refuse to start, not run with empty secrets
    assert.throws(() => loadCompose('compose.yaml', { ...env, POSTGRES_PASSWORD: '' }), /POSTGRES_PASSWORD/);
  });

  it('runs two Switchboard replicas from this repository\'s Dockerfile', () => {
    assert.deepEqual(replicas.map(([name]) => name).sort(), ['switchboard-1', 'switchboard-2']);
    for (const [name, service] of replicas) {
      assert.equal(service.init, true, `${name}: an init process forwards SIGTERM and reaps`);
      assert.ok(String(service.stop_grace_period ?? '').length > 0, `${name}: a grace period for the graceful shutdown`);
    }
  });

  it('sets on the replicas only variables Switchboard\'s configuration reads, with values it accepts', () => {
    for (const [name, service] of replicas) {
      const vars = serviceEnv(service);
      const read = variablesRead(vars);
      assert.deepEqual(Object.keys(vars).filter((key) => !read.has(key)), [], `${name} sets variables the configuration never reads`);
    }
  });

  it('gives both replicas one environment: the same DATABASE_URL (PostgreSQL of the stack) and MQTT_URL (its broker)', () => {
    const [first, second] = replicas.map(([, service]) => serviceEnv(service));
    assert.deepEqual(first, second);
    const config = loadConfig(first!);
    assert.ok(config.databaseUrl && config.realtime.mqttUrl, 'PostgreSQL and an external broker, not the embedded ones');
    const database = new URL(config.databaseUrl);
    const broker = new URL(config.realtime.mqttUrl);
    assert.match(compose.services[database.hostname]?.image ?? '', /^postgres:/, `DATABASE_URL names the stack's PostgreSQL (${database.hostname})`);
    assert.match(compose.services[broker.hostname]?.image ?? '', /^emqx\/emqx:5\./, `MQTT_URL names the stack's EMQX (${broker.hostname})`);
    // the database keeps its data in a named volume
    assert.ok(compose.services[database.hostname]!.volumes?.some((v) => String(v).startsWith('postgres:/var/lib/postgresql/data')));
    for (const [name, service] of replicas) {
      const dependsOn = service.depends_on as Record<string, { condition: string }>;
      assert.equal(dependsOn[database.hostname]?.condition, 'service_healthy', `${name} waits for PostgreSQL`);
    }
  });

  describe('health checks and hooks point at routes that answer', () => {
    let store: TestStore;
    let server: Running;
    before(async () => {
      store = await openTestStore('pglite');
      server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'silent', ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password' }), { db: store.db, keepDb: true });
    });
    after(async () => {
      await server?.close();
      await store?.close();
    });

    it('the image\'s HEALTHCHECK and Caddy\'s health_uri answer 200 on a healthy server', async () => {
      const paths = new Set([imageHealthPath(), ...findAll(caddy, 'health_uri').map((d) => d.args[0]!)]);
      assert.deepEqual([...paths], ['/healthz']);
      for (const path of paths) assert.equal((await fetch(`${server.url}${path}`)).status, 200, path);
      // the replicas have no healthcheck of their own: the image's applies, which Caddy's depends_on waits for
      for (const [name, service] of replicas) assert.equal(service.healthcheck, undefined, name);
      const dependsOn = compose.services.caddy!.depends_on as Record<string, { condition: string }>;
      for (const [name] of replicas) assert.equal(dependsOn[name]?.condition, 'service_healthy');
    });

    it('the broker hooks EMQX calls exist: POST /mqtt/auth and /mqtt/acl answer a decision', async () => {
      const emqx = read('deploy/compose/emqx.conf');
      const hooks = [...emqx.matchAll(/url = "(http:\/\/[^"]+)"/g)].map((m) => new URL(m[1]!));
      assert.deepEqual(hooks.map((u) => u.pathname).sort(), ['/mqtt/acl', '/mqtt/auth']);
      for (const hook of hooks) {
        const response = await fetch(`${server.url}${hook.pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'nobody', password: 'sbt_nothing', topic: 'switchboard/events/queue', action: 'subscribe' }) });
        assert.equal(response.status, 200, hook.pathname);
        assert.deepEqual(await response.json(), { result: 'deny' });
      }
    });
  });

  describe('Caddy: one origin for browsers, the hooks only inside', () => {
    const sites = caddy.filter((d) => d.name !== '' && d.block.length > 0);
    const publicSite = sites.find((d) => d.name === '{$SWITCHBOARD_DOMAIN}');
    const replicaUpstreams = replicas.map(([name, service]) => `${name}:${serviceEnv(service).PORT ?? '3000'}`).sort();

    /** What the site does with a request for `path`: the handle Caddy picks (the most specific path matcher, else the bare one). */
    function routeOf(site: Directive, path: string): { upstreams: string[]; responds: boolean } {
      const matchers = new Map(site.block.filter((d) => d.name.startsWith('@')).map((d) => [d.name, d.args[0] === 'path' ? d.args.slice(1) : []]));
      const patterns = (handle: Directive) => (handle.args.length === 0 ? [] : handle.args[0]!.startsWith('@') ? (matchers.get(handle.args[0]!) ?? []) : handle.args);
      const matches = (pattern: string) => (pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern);
      const handles = site.block.filter((d) => d.name === 'handle');
      const chosen =
        handles
          .filter((h) => patterns(h).some(matches))
          .sort((a, b) => Math.max(...patterns(b).map((p) => p.length)) - Math.max(...patterns(a).map((p) => p.length)))[0] ?? handles.find((h) => h.args.length === 0);
      assert.ok(chosen, `no handle for ${path}`);
      const proxy = chosen.block.find((d) => d.name === 'reverse_proxy');
      return { upstreams: (proxy?.args ?? []).slice().sort(), responds: chosen.block.some((d) => d.name === 'respond') };
    }

    it('serves the domain MQTT_WS_URL names, with automatic TLS (no tls off, ports 80 and 443 published)', () => {
      assert.ok(publicSite, 'a site for {$SWITCHBOARD_DOMAIN}');
      const wsUrl = new URL(serviceEnv(replicas[0]![1]).MQTT_WS_URL!);
      assert.equal(wsUrl.protocol, 'wss:');
      assert.equal(wsUrl.hostname, env.SWITCHBOARD_DOMAIN);
      assert.equal(serviceEnv(compose.services.caddy!).SWITCHBOARD_DOMAIN, env.SWITCHBOARD_DOMAIN, 'Caddy gets the domain its site is named by');
      assert.equal(findAll(caddy, 'tls').filter((d) => d.args[0] === 'off' || d.args[0] === 'internal').length, 0);
      const ports = (compose.services.caddy!.ports ?? []).map(String);
      assert.ok(ports.includes('80:80') && ports.includes('443:443'), ports.join(', '));
    });

    it('sends the API, the console, the widget and /session to both replicas, health-checked', () => {
      for (const path of ['/', '/api/v1/conversations', '/api/v1/auth/login', '/session', '/widget.js', '/widget/frame', '/assets/console.js', '/docs', '/healthz', '/conversations/123']) {
        assert.deepEqual(routeOf(publicSite!, path).upstreams, replicaUpstreams, path);
      }
      const proxies = findAll(publicSite!.block, 'reverse_proxy').filter((p) => p.args.some((a) => replicaUpstreams.includes(a)));
      for (const proxy of proxies) {
        assert.ok(proxy.block.some((d) => d.name === 'health_uri'), 'an active health check');
        assert.ok(proxy.block.some((d) => d.name === 'lb_policy'), 'a load-balancing policy');
      }
    });

    it('sends /mqtt (the WebSocket browsers open) to EMQX\'s WebSocket listener, and never /mqtt/auth or /mqtt/acl', () => {
      const wsPath = new URL(serviceEnv(replicas[0]![1]).MQTT_WS_URL!).pathname;
      const [upstream, ...others] = routeOf(publicSite!, wsPath).upstreams;
      assert.equal(others.length, 0);
      const [host, port] = upstream!.split(':');
      assert.match(compose.services[host!]?.image ?? '', /^emqx\/emqx:/);
      // EMQX's default WebSocket listener: port 8083, path /mqtt; the stack's emqx.conf leaves it alone
      assert.equal(port, '8083');
      assert.equal(wsPath, '/mqtt');
      assert.doesNotMatch(read('deploy/compose/emqx.conf'), /listeners\.ws|mqtt_path/);
      for (const path of ['/mqtt/auth', '/mqtt/acl', '/metrics']) {
        assert.deepEqual(routeOf(publicSite!, path), { upstreams: [], responds: true }, `${path} must not be reachable from the internet`);
      }
    });

    it('lets EMQX reach /mqtt/auth and /mqtt/acl on either replica through an unpublished internal listener', () => {
      const emqx = read('deploy/compose/emqx.conf');
      const hooks = [...emqx.matchAll(/url = "(http:\/\/[^"]+)"/g)].map((m) => new URL(m[1]!));
      for (const hook of hooks) {
        assert.ok(compose.services[hook.hostname], `${hook.hostname} is a service of the stack`);
        const site = sites.find((d) => d.name === `http://:${hook.port}`);
        assert.ok(site, `Caddy listens on ${hook.port} for the hooks`);
        assert.deepEqual(routeOf(site, hook.pathname).upstreams, replicaUpstreams, hook.pathname);
        assert.equal(routeOf(site, '/api/v1/agents').responds, true, 'the internal listener serves the hooks only');
        assert.ok(!(compose.services[hook.hostname]!.ports ?? []).map(String).some((p) => p.includes(hook.port)), 'the hooks port is not published');
      }
    });
  });
});

describe('compose.embedded.yaml: one container, one volume', () => {
  const compose = loadCompose('compose.embedded.yaml', { ADMIN_PASSWORD: 'a long admin password' });
  const services = switchboardServices(compose);

  it('runs one Switchboard with its embedded store in a named volume at the image\'s /data', () => {
    assert.equal(Object.keys(compose.services).length, 1);
    assert.equal(services.length, 1);
    const [, service] = services[0]!;
    const volumes = (service.volumes ?? []).map(String);
    assert.deepEqual(volumes, ['data:/data']);
    assert.ok(compose.volumes && 'data' in compose.volumes);
    const vars = serviceEnv(service);
    assert.equal(vars.DATABASE_URL, undefined);
    assert.equal(vars.MQTT_URL, undefined);
    const read = variablesRead(vars);
    assert.deepEqual(Object.keys(vars).filter((key) => !read.has(key)), []);
    // the published port reaches the image's PORT
    assert.ok((service.ports ?? []).map(String).every((p) => p.endsWith(':3000')));
  });

  it('refuses to start without an admin password rather than print a generated one into container logs', () => {
    assert.throws(() => loadCompose('compose.embedded.yaml', {}), /ADMIN_PASSWORD/);
  });
});
