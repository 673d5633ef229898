// Signed file links checked against the key kept in the database: a link the
// key held refuses sends the process to the database again, but not for
// every forged link, and not into a 500 when the database is away.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FAILED_LINK_RECHECK_MS, openFileLinks } from '../../src/files/links.js';
import type { Queryable } from '../../src/store/db.js';

/** A store holding one key row; `reads` counts key reads, `away` makes them fail. */
function keyStore() {
  const state = { secret: randomBytes(32), reads: 0, away: false };
  const db: Queryable = {
    async query<Row>(text: string) {
      if (!/^select secret/.test(text.trim())) return [] as Row[];
      state.reads += 1;
      if (state.away) throw new Error('connection refused');
      return [{ secret: state.secret }] as Row[];
    },
    async exec() {},
  };
  return { db, state };
}

describe('file links against the key in the database', () => {
  const now = new Date('2026-11-29T12:00:00Z');
  const sigOf = (path: string) => new URL(path, 'http://x').searchParams;

  it('reads the key again for a failing link at most every so often, and refuses while the database is away', async () => {
    const { db, state } = keyStore();
    const links = await openFileLinks(db, undefined, 3_600_000);
    try {
      const readsAtStart = state.reads;
      const forged = sigOf(links.sign('f', now, 600)).get('sig')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
      const expires = Number(sigOf(links.sign('f', now, 600)).get('expires'));
      for (let i = 0; i < 50; i++) assert.equal(await links.accepts('f', expires, forged, now), false);
      assert.equal(state.reads - readsAtStart, 1, 'fifty forged links one after another: one read');

      // another key is stored (the row deleted, a new process made one): the link that process signs is taken
      state.secret = randomBytes(32);
      const newer = await openFileLinks(db, undefined, 3_600_000);
      newer.close();
      const signed = sigOf(newer.sign('f', now, 600));
      await new Promise((resolve) => setTimeout(resolve, FAILED_LINK_RECHECK_MS + 20));
      assert.equal(await links.accepts('f', Number(signed.get('expires')), signed.get('sig')!, now), true);

      await new Promise((resolve) => setTimeout(resolve, FAILED_LINK_RECHECK_MS + 20));
      state.away = true;
      assert.equal(await links.accepts('f', expires, forged, now), false, 'the database away: refused, not thrown');
    } finally {
      links.close();
    }
  });
});
