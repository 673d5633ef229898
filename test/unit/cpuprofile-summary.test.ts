import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

// bench/cpuprofile-summary.mjs: several profiles (a glob, one per process)
// summed, and the number of rows given apart, as --top=N.

const SCRIPT = new URL('../../bench/cpuprofile-summary.mjs', import.meta.url).pathname;
const run = promisify(execFile);

/** A CPU profile of one function, `name` in bench/`file`, sampled every 1 ms for `ms`. */
function profile(name: string, file: string, ms: number) {
  return {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [2] },
      { id: 2, callFrame: { functionName: name, url: `file:///work/bench/${file}` } },
    ],
    samples: Array.from({ length: ms }, () => 2),
    timeDeltas: Array.from({ length: ms }, () => 1000),
  };
}

/** The rows of one table of the summary, as [ms, label]. */
function table(out: string, title: string): [number, string][] {
  const lines = out.split('\n');
  const start = lines.indexOf(`--- ${title}`);
  assert.notEqual(start, -1, `no table "${title}" in:\n${out}`);
  const rows: [number, string][] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^\s*(\d+) ms\s+[\d.]+ %\s+(.*)$/.exec(line);
    if (!m) break;
    rows.push([Number(m[1]), m[2]!]);
  }
  return rows;
}

describe('bench/cpuprofile-summary.mjs', () => {
  let dir: string;
  let first: string;
  let second: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-cpuprofile-'));
    first = join(dir, 'CPU.1.cpuprofile');
    second = join(dir, 'CPU.2.cpuprofile');
    await writeFile(first, JSON.stringify(profile('decide', 'a.mjs', 30)));
    // the second process also spent 50 ms in a function the first never ran
    const other = profile('send', 'b.mjs', 50);
    const both = profile('decide', 'a.mjs', 20);
    await writeFile(second, JSON.stringify({
      nodes: [{ ...both.nodes[0]!, children: [2, 3] }, both.nodes[1]!, { id: 3, callFrame: other.nodes[1]!.callFrame }],
      samples: [...both.samples, ...other.samples.map(() => 3)],
      timeDeltas: [...both.timeDeltas, ...other.timeDeltas],
    }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('sums every profile given, by function name across profiles', async () => {
    const { stdout } = await run('node', [SCRIPT, first, second]);
    assert.match(stdout, /^100 ms sampled in 2 profiles$/m);
    assert.deepEqual(table(stdout, 'self time per function'), [[50, 'decide bench/a.mjs'], [50, 'send bench/b.mjs']]);
    assert.deepEqual(table(stdout, 'self time per file'), [[50, 'bench/a.mjs'], [50, 'bench/b.mjs']]);
  });

  it('shows --top=N rows of each table, wherever the option stands', async () => {
    for (const args of [['--top=1', first, second], [first, second, '--top=1']]) {
      const { stdout } = await run('node', [SCRIPT, ...args]);
      assert.match(stdout, /^100 ms sampled in 2 profiles$/m, args.join(' '));
      assert.equal(table(stdout, 'self time per function').length, 1, args.join(' '));
      assert.equal(table(stdout, 'inclusive time per named frame').length, 1, args.join(' '));
    }
  });

  it('refuses a bare row count, an unknown option and a file that is no profile, naming what is wrong', async () => {
    const refused = async (args: string[], message: RegExp) => {
      await assert.rejects(run('node', [SCRIPT, ...args]), (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, message);
        return true;
      });
    };
    await refused([first, '40'], /40: no such file; the number of rows is --top=40/);
    await refused(['--rows=3', first], /unknown option --rows=3/);
    await refused([join(dir, 'missing.cpuprofile')], /missing\.cpuprofile: not a readable CPU profile/);
    const notProfile = join(dir, 'other.json');
    await writeFile(notProfile, '{"hello": 1}');
    await refused([notProfile], /other\.json: not a CPU profile/);
    await refused([], /usage:/);
  });
});
