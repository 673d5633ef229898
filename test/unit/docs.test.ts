// The documentation is checked against the code, so it cannot quietly drift:
// a new error code, environment variable, route or event type fails this test
// until docs/api.md or README.md describes it, and a documented one that the
// code no longer has fails it too. No database needed: it reads source text.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// the checkout (its package.json's real folder: `npm test` runs this file compiled in a mirror of it)
const ROOT = dirname(realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../package.json')));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    // .sql too: the routing functions (src/store/migrations/routing/functions.sql) return error codes the routes answer with
    return name.endsWith('.ts') || name.endsWith('.sql') ? [path] : [];
  });
}

const SRC = sourceFiles('src').map((path) => ({ path, text: read(path) }));
const README = read('README.md');
const API = read('docs/api.md');

function unique<T>(values: Iterable<T>): T[] {
  return [...new Set(values)].sort();
}

/** The text of a `## title` section, up to the next heading of the same level. */
function section(markdown: string, title: string): string {
  const start = markdown.search(new RegExp(`^## ${title}\\s*$`, 'm'));
  assert.ok(start >= 0, `README.md has no "## ${title}" section`);
  const rest = markdown.slice(start + 3);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** First-column backticked names of the markdown table rows in `text`. */
function firstColumnCodes(text: string, pattern: RegExp): string[] {
  return unique([...text.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1]!).filter((name) => pattern.test(name)));
}

describe('documentation matches the code', () => {
  it('lists every SB_ error code of src/ in the error table of docs/api.md, and no other', () => {
    const inCode = unique(SRC.flatMap(({ text }) => [...text.matchAll(/['"`](SB_[A-Z0-9_]+)['"`]/g)].map((m) => m[1]!)));
    assert.ok(inCode.length >= 10, `found only ${inCode.length} codes in src/: is the pattern still right?`);
    const table = firstColumnCodes(API, /^SB_/);
    assert.deepEqual(
      inCode.filter((code) => !table.includes(code)),
      [],
      'error codes used in src/ but missing from the error table of docs/api.md',
    );
    assert.deepEqual(
      table.filter((code) => !inCode.includes(code)),
      [],
      'error codes documented in docs/api.md that src/ no longer uses',
    );
  });

  it('documents every environment variable read in src/ in the README configuration table, and no other', () => {
    // the core, the channels and the real-time layer each read theirs (src/config.ts, src/**/config.ts)
    const inCode = unique(
      SRC.flatMap(({ text }) => [...text.matchAll(/\(\s*env\s*,\s*'([A-Z][A-Z0-9_]*)'/g), ...text.matchAll(/\benv(?:\.|\[')([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!)),
    );
    assert.ok(inCode.length >= 10, `found only ${inCode.length} variables in src/: is the pattern still right?`);
    const table = firstColumnCodes(section(README, 'Configuration'), /^[A-Z][A-Z0-9_]*$/);
    assert.deepEqual(
      inCode.filter((name) => !table.includes(name)),
      [],
      'environment variables read in src/ but missing from the README configuration table',
    );
    assert.deepEqual(
      table.filter((name) => !inCode.includes(name)),
      [],
      'environment variables in the README configuration table that src/ does not read',
    );
  });

  it('gives the two quick-start commands in the README', () => {
    const quickStart = section(README, 'Quick start');
    const commands = [...quickStart.matchAll(/^```\w*\n([\s\S]*?)^```/gm)].flatMap((m) => m[1]!.split('\n').map((l) => l.trim()).filter(Boolean));
    assert.ok(commands.includes('npm install && npm start'), `Quick start commands: ${JSON.stringify(commands)}`);
    assert.ok(commands.includes('npm test'), `Quick start commands: ${JSON.stringify(commands)}`);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    assert.ok(scripts.start && scripts.test, 'package.json must define the start and test scripts the README promises');
  });

  it('documents every route of src/ in docs/api.md and the README, and no other', () => {
    const inCode = unique(
      SRC.flatMap(({ text }) =>
        [...text.matchAll(/\bapp\.(get|post|put|patch|delete)\(\s*'([^']+)'/g)].map((m) => `${m[1]!.toUpperCase()} ${m[2]!}`),
      ),
    );
    assert.ok(inCode.length >= 20, `found only ${inCode.length} routes: is the pattern still right?`);
    const headings = unique([...API.matchAll(/^#{2,4} (GET|POST|PUT|PATCH|DELETE) (\/\S*)\s*$/gm)].map((m) => `${m[1]} ${m[2]}`));
    assert.deepEqual(
      inCode.filter((route) => !headings.includes(route)),
      [],
      'routes registered in src/ without a "#### METHOD /path" section in docs/api.md',
    );
    assert.deepEqual(
      headings.filter((route) => !inCode.includes(route)),
      [],
      'routes documented in docs/api.md that src/ does not register',
    );
    const overview = section(README, 'API overview');
    const rows = unique([...overview.matchAll(/^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`/gm)].map((m) => `${m[1]} ${m[2]}`));
    assert.deepEqual(
      inCode.filter((route) => !rows.includes(route)),
      [],
      'routes missing from the README API overview table',
    );
  });

  it('describes every event type the code emits in docs/api.md', () => {
    const emitted = unique(SRC.flatMap(({ text }) => [...text.matchAll(/\btype:\s*'([a-z_]+\.[a-z_]+)'/g)].map((m) => m[1]!)));
    assert.ok(emitted.length >= 8, `found only ${emitted.length} event types: is the pattern still right?`);
    const table = firstColumnCodes(API, /^[a-z_]+\.[a-z_]+$/);
    assert.deepEqual(
      emitted.filter((type) => !table.includes(type)),
      [],
      'event types emitted in src/ but missing from the event table of docs/api.md',
    );
    const requeueReasons = /export type RequeueReason\s*=([^;]+);/.exec(read('src/routing/requeue.ts'));
    assert.ok(requeueReasons, 'src/routing/requeue.ts no longer exports RequeueReason');
    for (const [, reason] of requeueReasons[1]!.matchAll(/'([a-z_]+)'/g)) {
      assert.ok(API.includes(`| \`${reason}\` |`), `re-queue reason ${reason} is not in the reason table of docs/api.md`);
    }
  });

  it('links only to documentation files that exist', () => {
    const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    for (const doc of docs) {
      for (const [, target] of read(doc).matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const path = join(dirname(doc), target!);
        // bench/RESULTS.md is produced by running the benchmarks.
        if (path === join('bench', 'RESULTS.md')) continue;
        assert.ok(existsSync(join(ROOT, path)), `${doc} links to ${target}, which does not exist`);
      }
    }
  });
});
