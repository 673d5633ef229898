// The Dockerfile checked without a container engine: what the runtime stage
// runs as, how it is health-checked and stopped, that it installs nothing
// (the staged tree it copies was pruned of dev dependencies by
// scripts/stage.sh, which staged-image.test.ts runs), and what it starts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execForm, readDockerfile, runtimeStage, stageEnv, type Stage } from '../helpers/dockerfile.js';
import { REPO_ROOT } from '../helpers/process-server.js';

const stages = readDockerfile();
const runtime = runtimeStage(stages);
const build = stages.find((s) => s.name === 'build');
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const one = (stage: Stage, keyword: string) => {
  const found = all(stage, keyword);
  assert.equal(found.length, 1, `one ${keyword} in the ${stage.name ?? 'runtime'} stage, found ${found.length}`);
  return found[0]!;
};

/** An ARG's default, as `FROM ${NAME}` before any stage sees it. */
function argDefault(name: string): string | undefined {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  return new RegExp(`^ARG ${name}=(\\S+)`, 'm').exec(text)?.[1];
}
const image = (from: string) => from.replace(/^\$\{?([A-Z_]+)\}?$/, (_m, name: string) => argDefault(name) ?? from);

describe('Dockerfile', () => {
  it('builds in a stage of its own with npm ci and scripts/stage.sh, the script the staged-image test runs', () => {
    assert.ok(build, 'a stage named build');
    assert.ok(stages.length >= 2 && runtime !== build, 'multi-stage: the runtime stage is not the build stage');
    const runs = all(build, 'RUN').map((i) => i.args);
    const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r));
    const stage = runs.findIndex((r) => /scripts\/stage\.sh\s+\/out\b/.test(r));
    assert.ok(ci >= 0 && stage > ci, `npm ci, then scripts/stage.sh /out: ${runs.join(' | ')}`);
  });

  it('runs on an official Node 20 slim image', () => {
    for (const stage of stages) assert.match(image(stage.from), /^node:20(\.\d+)*-[a-z]*-?slim$|^node:20-slim$/, stage.from);
  });

  it('copies only the staged tree into the runtime stage and installs nothing there, so no dev dependency gets in', () => {
    const copies = all(runtime, 'COPY').map((i) => i.args);
    assert.deepEqual(copies.map((c) => c.replace(/--chown=\S+\s*/, '')), ['--from=build /out /app']);
    for (const { args } of all(runtime, 'RUN')) {
      assert.doesNotMatch(args, /\b(npm|npx|yarn|pnpm|corepack)\b|\bapt-get install\b|\bcurl\b|\bwget\b/, `the runtime stage installs or downloads: ${args}`);
    }
    assert.equal(one(runtime, 'WORKDIR').args, '/app');
  });

  it('runs as a non-root user, and only /data is theirs', () => {
    const user = all(runtime, 'USER').at(-1)?.args;
    assert.ok(user, 'a USER in the runtime stage');
    assert.doesNotMatch(user, /^(root|0)(:|$)/);
    const userAt = runtime.instructions.findIndex((i) => i.keyword === 'USER');
    const cmdAt = runtime.instructions.findIndex((i) => i.keyword === 'CMD');
    assert.ok(userAt < cmdAt, 'USER before CMD');
    assert.doesNotMatch(all(runtime, 'COPY').map((i) => i.args).join(' '), /--chown/, 'the program stays root-owned, read-only to the user');
  });

  it('keeps the embedded store in the /data volume, listens on 0.0.0.0:3000 and exposes it', () => {
    const env = stageEnv(runtime);
    assert.equal(env.DATA_DIR, '/data');
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.PORT, '3000');
    assert.match(one(runtime, 'VOLUME').args, /"\/data"|^\/data$/);
    assert.equal(one(runtime, 'EXPOSE').args, env.PORT);
  });

  it('has a HEALTHCHECK that fetches /healthz on the image\'s port, without curl (the slim image has none)', () => {
    const check = one(runtime, 'HEALTHCHECK').args;
    const command = execForm(check);
    assert.ok(command, `exec form: ${check}`);
    assert.equal(command[0], 'node');
    assert.match(command.join(' '), /127\.0\.0\.1:.*process\.env\.PORT.*\/healthz/);
    assert.match(check, /--start-period=\d+s/, 'a start period covering migrations');
  });

  it('starts `switchboard serve` directly, as PID 1, stopped with SIGTERM', () => {
    assert.deepEqual(execForm(one(runtime, 'CMD').args), ['node', 'bin/switchboard.js', 'serve']);
    assert.equal(all(runtime, 'ENTRYPOINT').length, 0, 'no shell or wrapper between the runtime and the signal');
    assert.equal(one(runtime, 'STOPSIGNAL').args, 'SIGTERM');
    // nothing built or downloaded at start: `npm start` would build the web apps
    assert.doesNotMatch(one(runtime, 'CMD').args, /npm|build/);
  });

  it('carries OCI labels', () => {
    const labels = all(runtime, 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'version', 'licenses', 'revision']) assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`));
  });

  it('.dockerignore keeps installs, builds, data and secrets out of the build context', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const entry of ['.git', 'node_modules', 'data', 'web/dist', '.env']) assert.ok(ignored.includes(entry), entry);
    // what stage.sh needs stays in
    for (const needed of ['src', 'bin', 'web', 'scripts', 'package.json', 'package-lock.json']) assert.ok(!ignored.includes(needed), needed);
  });
});
