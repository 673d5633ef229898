import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/store/db.js';
import { vacuumOnPglite } from '../../src/store/vacuum.js';

// Erasures on PGlite rewrite the tables they changed (VACUUM FULL, seconds
// on a big store). Several at once share the passes: each caller waits for
// a pass that starts after its call, and the tables asked for while a pass
// waits join it, so four erasures rewrite `messages` twice, not four times.

/**
 * A PGlite store that records each rewrite and holds it until released;
 * `noted` plays unreclaimed_tables (a table's name and when it was noted),
 * and `forgotten` lists the names a pass took off it.
 */
function recordingStore(kind: Db['kind'] = 'pglite', noted = new Map<string, Date>()) {
  const statements: string[] = [];
  const held: (() => void)[] = [];
  const forgotten: string[] = [];
  const db = {
    kind,
    query: async (text: string, params: unknown[] = []) => {
      if (text.startsWith('select noted_at from unreclaimed_tables')) {
        const at = noted.get(params[0] as string);
        return at ? [{ noted_at: at }] : [];
      }
      if (text.startsWith('delete from unreclaimed_tables')) {
        const [name, upTo] = params as [string, Date];
        if ((noted.get(name)?.getTime() ?? Infinity) <= upTo.getTime()) {
          noted.delete(name);
          forgotten.push(name);
        }
        return [];
      }
      statements.push(text);
      await new Promise<void>((resolve) => held.push(resolve));
      if (text.includes('broken')) throw new Error('no space left on device');
      return [];
    },
  } as unknown as Db;
  /** lets the VACUUMs waiting go on, and waits until the next is waiting (or none comes) */
  const release = async () => {
    for (const go of held.splice(0)) go();
    for (let i = 0; i < 20 && held.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { db, statements, release, held, forgotten, noted };
}

describe('VACUUM FULL after erasures on PGlite', () => {
  it('shares passes between callers: the tables asked for while one runs are rewritten once, in the next', async () => {
    const { db, statements, release, forgotten } = recordingStore('pglite', new Map([['messages', new Date(1)], ['ratings', new Date(2)]]));
    const done: string[] = [];
    const first = vacuumOnPglite(db, ['messages', 'events'], { full: true }).then(() => done.push('first'));
    await release(); // (nothing held yet: the first pass starts on the next turn)
    assert.deepEqual(statements, ['vacuum full messages']);
    const others = [
      vacuumOnPglite(db, ['messages', 'ratings'], { full: true }).then(() => done.push('second')),
      vacuumOnPglite(db, ['messages', 'events'], { full: true }).then(() => done.push('third')),
      vacuumOnPglite(db, ['conversations'], { full: true }).then(() => done.push('fourth')),
    ];
    await release();
    assert.deepEqual(statements, ['vacuum full messages', 'vacuum full events']);
    await release();
    assert.deepEqual(done, ['first'], 'each waits for a pass started after its call');
    while (statements.length < 6) await release();
    await release();
    await Promise.all([first, ...others]);
    assert.deepEqual(statements.slice(2), ['vacuum full messages', 'vacuum full ratings', 'vacuum full events', 'vacuum full conversations']);
    assert.deepEqual(done, ['first', 'second', 'third', 'fourth']);
    // a table noted as holding rows deleted before is forgotten once rewritten
    assert.deepEqual(forgotten, ['messages', 'ratings']);
  });

  it('fails the callers of a pass that failed, and the next pass still runs', async () => {
    const { db, statements, release, noted } = recordingStore('pglite', new Map([['broken', new Date(1)]]));
    const broken = vacuumOnPglite(db, ['broken'], { full: true }).then(() => 'done', (error: Error) => error.message);
    await release();
    const after = vacuumOnPglite(db, ['messages'], { full: true });
    await release();
    assert.equal(await broken, 'no space left on device');
    await release();
    await after;
    assert.deepEqual(statements, ['vacuum full broken', 'vacuum full messages']);
    assert.deepEqual([...noted.keys()], ['broken'], 'not rewritten: still noted, for the next erasure');
  });

  it('does nothing on PostgreSQL', async () => {
    const { db, statements } = recordingStore('postgres');
    await vacuumOnPglite(db, ['messages'], { full: true });
    assert.deepEqual(statements, []);
  });
});
