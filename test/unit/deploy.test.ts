// deploy/ checked without systemd or a cluster: the unit and the manifests
// start what the image starts, set only variables Switchboard reads (with
// values it accepts), probe a route that exists, and their selectors meet.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { readEnvFile, variablesRead } from '../helpers/compose.js';
import { execForm, readDockerfile, runtimeStage, stageEnv } from '../helpers/dockerfile.js';
import { REPO_ROOT } from '../helpers/process-server.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

/** A systemd unit's `Key=value` settings per section; a key may repeat. */
function readUnit(path: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> = {};
  for (const raw of read(path).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = sections[section[1]!] ??= {};
      continue;
    }
    const at = line.indexOf('=');
    assert.ok(at > 0, `not a setting: ${line}`);
    (current[line.slice(0, at)] ??= []).push(line.slice(at + 1));
  }
  return sections;
}

const IMAGE_CMD = execForm(runtimeStage(readDockerfile()).instructions.find((i) => i.keyword === 'CMD')!.args)!;
const IMAGE_PORT = stageEnv(runtimeStage(readDockerfile())).PORT!;
/** The path the image's HEALTHCHECK fetches, which test/integration/compose.test.ts shows answers 200. */
const HEALTH_PATH = '/healthz';

describe('deploy/systemd', () => {
  const unit = readUnit('deploy/systemd/switchboard.service');
  const service = unit.Service!;
  const one = (key: string) => {
    assert.equal(service[key]?.length, 1, `one ${key}=`);
    return service[key]![0]!;
  };

  it('starts the command the image starts, as an unprivileged user, from the staged tree', () => {
    const [node, ...args] = one('ExecStart').split(/\s+/);
    assert.match(node!, /^\/.*\/node$/, 'an absolute path to node');
    assert.deepEqual(args, IMAGE_CMD.slice(1));
    assert.doesNotMatch(one('User'), /^(root|0)$/);
    assert.match(read('deploy/systemd/switchboard.service'), /scripts\/stage\.sh \/opt\/switchboard/);
    assert.equal(one('WorkingDirectory'), '/opt/switchboard');
  });

  it('restarts on failure, stops with SIGTERM and a bounded wait, reads an EnvironmentFile', () => {
    assert.match(one('Restart'), /^(on-failure|always|on-abnormal)$/);
    assert.equal(one('KillSignal'), 'SIGTERM');
    assert.match(one('TimeoutStopSec'), /^\d+s?$/);
    assert.match(one('EnvironmentFile'), /^-?\/etc\/switchboard\//);
    assert.equal(unit.Install?.WantedBy?.[0], 'multi-user.target');
  });

  it('is hardened, without the one option that breaks V8', () => {
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes', RestrictSUIDSGID: 'yes', CapabilityBoundingSet: '' })) {
      assert.equal(one(key), value, key);
    }
    assert.notEqual(service.MemoryDenyWriteExecute?.[0], 'yes', 'V8 JIT-compiles into writable, executable memory');
    // ProtectSystem=strict makes everything read-only: the embedded store needs its state directory
    const dataDir = one('Environment').match(/DATA_DIR=(\S+)/)?.[1];
    assert.ok(dataDir?.startsWith(`/var/lib/${one('StateDirectory')}/`), `DATA_DIR ${dataDir} is inside the state directory`);
  });

  it('its EnvironmentFile example sets only variables Switchboard reads, with values it accepts', () => {
    const env = readEnvFile(join(REPO_ROOT, 'deploy/systemd/switchboard.env.example'));
    const filled = { ...env, ADMIN_PASSWORD: env.ADMIN_PASSWORD || 'a long admin password' };
    const readVars = variablesRead(filled);
    assert.deepEqual(Object.keys(filled).filter((key) => !readVars.has(key)), []);
    // the commented-out ones too, once uncommented
    const commented = Object.fromEntries([...read('deploy/systemd/switchboard.env.example').matchAll(/^# ([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    assert.ok(Object.keys(commented).length >= 3);
    const all = { ...filled, ...commented };
    const allRead = variablesRead(all);
    assert.deepEqual(Object.keys(all).filter((key) => !allRead.has(key)), []);
  });
});

describe('deploy/kubernetes', () => {
  const files = ['deployment.yaml', 'service.yaml', 'pdb.yaml', 'secret.example.yaml'];
  const objects = files.flatMap((file) =>
    parseAllDocuments(read(`deploy/kubernetes/${file}`)).map((doc) => {
      assert.deepEqual(doc.errors, [], file);
      return doc.toJS() as any;
    }),
  );
  const byKind = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    assert.equal(found.length, 1, `one ${kind}`);
    return found[0];
  };
  const deployment = byKind('Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const secret = byKind('Secret');

  it('runs at least two replicas, rolling one at a time, kept by a PodDisruptionBudget', () => {
    assert.ok(deployment.spec.replicas >= 2);
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
    const pdb = byKind('PodDisruptionBudget');
    assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < deployment.spec.replicas);
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  });

  it('probes readiness, liveness and start-up on /healthz at the container\'s port', () => {
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    assert.equal(String(ports.http), IMAGE_PORT);
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      assert.equal(container[probe]?.httpGet?.path, HEALTH_PATH, probe);
      assert.ok(container[probe].httpGet.port in ports, `${probe} names a declared port`);
    }
    // liveness gives up later than readiness: a database outage takes the pod out of the Service first
    const patience = (p: { periodSeconds: number; failureThreshold: number }) => p.periodSeconds * p.failureThreshold;
    assert.ok(patience(container.livenessProbe) > patience(container.readinessProbe));
  });

  it('runs as a non-root user on a read-only root filesystem, with a writable /tmp', () => {
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
    assert.notEqual(pod.spec.securityContext.runAsUser, 0);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.ok(container.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/tmp'));
    assert.ok(pod.spec.terminationGracePeriodSeconds >= 30);
  });

  it('takes PostgreSQL and the broker as external services, from the Secret, and sets only variables Switchboard reads', () => {
    assert.deepEqual(container.envFrom, [{ secretRef: { name: secret.metadata.name } }]);
    const env = { ...secret.stringData, ...Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value])) } as Record<string, string>;
    assert.match(env.DATABASE_URL!, /^postgres(ql)?:\/\//);
    assert.match(env.MQTT_URL!, /^mqtts?:\/\//);
    const readVars = variablesRead(env);
    assert.deepEqual(Object.keys(env).filter((key) => !readVars.has(key)), []);
    // nothing in the manifests runs PostgreSQL or a broker
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
  });

  it('puts the pods behind a Service on their http port', () => {
    const service = byKind('Service');
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(pod.metadata.labels[key], value);
    assert.ok(service.spec.ports.some((p: { targetPort: string }) => container.ports.some((c: { name: string }) => c.name === p.targetPort)));
  });
});
