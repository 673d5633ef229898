import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readDockerfile, runtimeStage, stageEnv } from '../helpers/dockerfile.js';
import { httpJson } from '../helpers/http.js';
import { connectMqtt, type TestMqttClient } from '../helpers/mqtt.js';
import { REPO_ROOT, startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';

// The container image without a container engine: the committed sources
// (plus uncommitted changes to tracked files) in an empty directory, the
// dependencies as `npm ci` installs them, then scripts/stage.sh — the very
// script the Dockerfile's build stage runs — and the server started from
// what it staged, as the runtime stage starts it. A runtime that still needs
// a build tool, a dev dependency or a file the staging leaves out fails here.

const MQTT_URL = process.env.TEST_MQTT_URL;
const DATABASE_URL = process.env.TEST_DATABASE_URL;
const ADMIN = { email: 'admin@example.test', password: 'staged image admin' };

const scratch = mkdtempSync(join(tmpdir(), 'sb-staged-'));
// The image runs as an unprivileged user, its program owned by root. When
// the tests run as root (CI does), this one starts the server as nobody
// (65534) on the root-owned staged tree: a runtime that writes into its own
// tree (a cache in node_modules, a file under web/dist) fails here as it
// would in the container. (Only when nobody can run this node at all: not
// a node installed under /root.)
const UNPRIVILEGED =
  process.getuid?.() === 0 && spawnSync(process.execPath, ['-e', '0'], { uid: 65534, gid: 65534, cwd: '/' }).status === 0 ? 65534 : undefined;
if (UNPRIVILEGED !== undefined) chmodSync(scratch, 0o755);
const source = join(scratch, 'source');
const app = join(scratch, 'app');

function run(command: string, args: string[], cwd: string, input?: Buffer): Buffer {
  return execFileSync(command, args, { cwd, input, maxBuffer: 1 << 30, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

before(() => {
  mkdirSync(source);
  // `git stash create` commits the working tree without touching it (and
  // prints nothing when it is clean): the test then checks what is about to
  // be committed, not only HEAD. Untracked files are left out, as they would
  // be from a clone. (An identity is given because the stash is a commit
  // object; a CI clone may have none configured.)
  const stash = run('git', ['-c', 'user.name=staged-image test', '-c', 'user.email=staged-image@localhost', 'stash', 'create'], REPO_ROOT).toString().trim();
  run('tar', ['-x', '-C', source], scratch, run('git', ['archive', '--format=tar', stash || 'HEAD'], REPO_ROOT));
  // The build stage's `npm ci`: this checkout's install (CI ran `npm ci` from
  // the same lockfile just before), dev dependencies included. Copying it
  // takes a second and needs no registry; stage.sh prunes it to what
  // `npm ci --omit=dev` would install.
  run('cp', ['-a', `${realpathSync(join(REPO_ROOT, 'node_modules'))}/.`, join(source, 'node_modules')], scratch);
  run('sh', ['scripts/stage.sh', app], source);
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the staged runtime tree', () => {
  it('holds only what the runtime stage keeps: the program, the built web apps, production dependencies', () => {
    assert.deepEqual(readdirSync(app).sort(), ['bin', 'node_modules', 'package-lock.json', 'package.json', 'src', 'web']);
    assert.deepEqual(readdirSync(join(app, 'web')), ['dist']);
    assert.ok(existsSync(join(app, 'web', 'dist', 'console', 'index.html')), 'the console is built');
    assert.ok(existsSync(join(app, 'web', 'dist', 'widget.js')), 'the widget loader is built');
  });

  it('carries no package the lockfile marks as a dev dependency (vite, React, TypeScript, …)', () => {
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && entry.dev === true).map(([path]) => path);
    for (const name of ['vite', '@vitejs/plugin-react', 'react', 'react-dom', 'uplot', 'typescript', 'playwright-core', 'fast-check']) {
      assert.ok(devOnly.includes(`node_modules/${name}`), `${name} is a dev dependency in the lockfile`);
    }
    const present = devOnly.filter((path) => existsSync(join(app, path, 'package.json')));
    assert.deepEqual(present, [], 'dev dependencies left in the staged node_modules');
  });
});

/** The image's environment (ENV of the runtime stage), with /data in the scratch directory and a free local port. */
function imageEnv(dataDir: string): Record<string, string | undefined> {
  const env = stageEnv(runtimeStage(readDockerfile(join(source, 'Dockerfile'))));
  assert.equal(env.DATA_DIR, '/data', 'the image keeps its embedded store in the /data volume');
  return {
    ...env,
    DATA_DIR: dataDir,
    // inside a container 0.0.0.0 is private to it; on a test machine it would not be
    HOST: '127.0.0.1',
    PORT: '0',
    // nothing from this process may help the staged tree find a package
    NODE_PATH: undefined,
    NODE_OPTIONS: undefined,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
  };
}

interface Mode {
  name: string;
  skip: string | false;
  /** environment beyond the image's: the store and the broker */
  setup(): Promise<{ env: Record<string, string | undefined>; mqttUrl(serverUrl: string): string; baseTopic: string; cleanup(): Promise<void> }>;
}

const modes: Mode[] = [
  {
    name: 'embedded: PGlite in the data volume, the broker on /mqtt',
    skip: false,
    async setup() {
      return {
        env: { DATABASE_URL: undefined, MQTT_URL: undefined },
        mqttUrl: (serverUrl) => `${serverUrl.replace('http', 'ws')}/mqtt`,
        baseTopic: 'switchboard',
        cleanup: async () => undefined,
      };
    },
  },
  {
    name: 'scale-out: PostgreSQL and an external broker',
    skip: !MQTT_URL || !DATABASE_URL ? 'needs TEST_DATABASE_URL and TEST_MQTT_URL (.ci/run sets both when the services answer)' : false,
    async setup() {
      const database: ScratchDatabase = await createScratchDatabase(DATABASE_URL!, 'sb_staged');
      // a base topic of this run's own, so parallel runs on one broker do not meet
      const baseTopic = `sbstaged${process.pid}${Date.now().toString(36)}`;
      return {
        env: { DATABASE_URL: database.url, MQTT_URL: MQTT_URL!, MQTT_BASE_TOPIC: baseTopic },
        mqttUrl: () => MQTT_URL!,
        baseTopic,
        cleanup: () => database.drop(),
      };
    },
  },
];

for (const mode of modes) {
  describe(`the server started from the staged tree as the image starts it (${mode.name})`, { skip: mode.skip }, () => {
    let server: ServerProcess;
    let context: Awaited<ReturnType<Mode['setup']>>;
    const clients: TestMqttClient[] = [];

    before(async () => {
      context = await mode.setup();
      // the /data volume: the one directory that belongs to the user
      const dataDir = join(scratch, `data-${modes.indexOf(mode)}`);
      mkdirSync(dataDir);
      if (UNPRIVILEGED !== undefined) chownSync(dataDir, UNPRIVILEGED, UNPRIVILEGED);
      // the image's CMD: node bin/switchboard.js serve, in /app
      server = await startServerProcess({
        cwd: app,
        entry: ['bin/switchboard.js'],
        args: ['serve'],
        env: { ...imageEnv(dataDir), ...context.env, HOME: dataDir },
        ...(UNPRIVILEGED !== undefined ? { uid: UNPRIVILEGED, gid: UNPRIVILEGED } : {}),
      });
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      const code = await server?.kill();
      await context?.cleanup();
      // the image's STOPSIGNAL is SIGTERM: it must end in the graceful shutdown
      if (server) assert.equal(code, 0, `exit after SIGTERM\n${server.stderr.join('\n')}`);
    });

    const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(server.url, method, path, body, token);

    it('answers /healthz, the image\'s health check', async () => {
      const health = await http('GET', '/healthz');
      assert.equal(health.status, 200);
      assert.deepEqual(health.body, { status: 'ok', store: context.env.DATABASE_URL ? 'postgres' : 'pglite' });
    });

    it('serves the console page, every asset it loads, and the widget', async () => {
      const page = await fetch(`${server.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const html = await page.text();
      assert.match(html, /<div id="root">/);
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), `the page loads scripts and styles: ${assets.join(', ')}`);
      for (const asset of [...assets, '/widget.js', '/widget/frame']) {
        const response = await fetch(`${server.url}${asset}`);
        assert.equal(response.status, 200, asset);
        assert.ok((await response.arrayBuffer()).byteLength > 0, `${asset} is not empty`);
      }
    });

    it('logs the admin in, routes a conversation to an online agent, and relays the customer\'s message to the agent over MQTT', async () => {
      const admin = await http('POST', '/api/v1/auth/login', ADMIN);
      assert.equal(admin.status, 200, JSON.stringify(admin.body));
      const created = await http('POST', '/api/v1/agents', { name: 'Ada', email: 'ada@example.test', password: 'agent password', role: 'agent', capacity: 1 }, admin.body.token);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const agentId = created.body.id as string;
      const login = await http('POST', '/api/v1/auth/login', { email: 'ada@example.test', password: 'agent password' });
      const agentToken = login.body.token as string;
      assert.equal((await http('PATCH', '/api/v1/agents/me', { status: 'online' }, agentToken)).status, 200);

      const base = context.baseTopic;
      const agent = await connectMqtt(context.mqttUrl(server.url), agentToken, { username: agentId });
      clients.push(agent);
      await agent.subscribe(`${base}/client/attendants/assign/${agentId}`);

      const session = await http('POST', '/session', { customer: { id: 'cust-1', name: 'Bob' } });
      assert.equal(session.status, 201, JSON.stringify(session.body));
      const { sessionId, sessionTopic, token } = session.body as { sessionId: string; sessionTopic: string; token: string };
      assert.equal(session.body.state, 'assigned');
      const assigned = await agent.next(`${base}/client/attendants/assign/${agentId}`, (p) => p.conversation.id === sessionId);
      assert.equal(assigned.conversation.agent_id, agentId);

      const customer = await connectMqtt(context.mqttUrl(server.url), token, { username: sessionId });
      clients.push(customer);
      await customer.subscribe(`${sessionTopic}/#`);
      await customer.publish(`${base}/server/sessions/request`, { sessionId, sessionTopic, customerId: 'cust-1', requestID: 'r1' });
      await customer.next(`${sessionTopic}/client/control`, (p) => p.instruction === 'session/ready' && p.sessionInfo.agent.id === agentId);

      await agent.subscribe(`${sessionTopic}/messages`);
      await customer.publish(`${sessionTopic}/messages`, { message: { content: 'hello from the staged image' } });
      // the stored copy (with the server's id), not a raw relay
      const stored = await agent.next(`${sessionTopic}/messages`, (p) => p.message?.content === 'hello from the staged image' && typeof p.message.id === 'number');
      assert.equal(stored.message.sender, 'customer');
    });
  });
}
