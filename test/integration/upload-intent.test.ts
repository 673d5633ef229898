// An S3 upload's key in the removal queue (src/files/upload-intent.ts)
// against the file sweeper (removeDeletedFiles), step by step: the sweeper
// leaves it alone for the upload's hour; past it, the row may not commit,
// even when a sweeper whose bucket did not answer gave the key back (the
// bucket may have deleted the object all the same); and an upload that
// fails after a sweeper removed its key queues it again, since its object
// may have arrived after that removal.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { removeDeletedFiles } from '../../src/files/deletions.js';
import type { FileStore } from '../../src/files/store.js';
import { claimUploadIntent, recordUploadIntent, settleUploadIntent, UPLOAD_GRACE_MS } from '../../src/files/upload-intent.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = new Date('2026-03-02T09:00:00Z');
const after = (ms: number) => new Date(T0.getTime() + ms);

describeEachStore('files: an upload in the removal queue', (store) => {
  /** A bucket that records what it is asked to delete; `answer` says how it answers; `meanwhile` runs while it is asked. */
  function bucket(answer: 'removed' | 'lost' = 'removed', meanwhile: (asked: number) => Promise<void> = async () => {}) {
    const asked: string[][] = [];
    const files: FileStore = {
      kind: 's3',
      stage: () => Promise.reject(new Error('not used')),
      read: () => Promise.resolve(undefined),
      remove: async (keys) => {
        asked.push([...keys]);
        await meanwhile(asked.length);
        if (answer === 'lost') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        return [];
      },
    };
    return { files, asked };
  }
  const queue = async () =>
    (await store().db.query<{ key: string; next_attempt_at: Date | null }>('select key, next_attempt_at from attachment_deletions order by key')).map((r) => [
      r.key,
      r.next_attempt_at?.toISOString() ?? null,
    ]);

  it('is left alone for the upload’s hour and leaves the queue with the row', async () => {
    await store().reset();
    const intent = await recordUploadIntent(store().db, 'k-upload', T0);
    assert.deepEqual(await queue(), [['k-upload', after(UPLOAD_GRACE_MS).toISOString()]]);
    const { files, asked } = bucket();
    assert.equal(await removeDeletedFiles(store().db, files, 500, after(UPLOAD_GRACE_MS - 1)), 0);
    assert.deepEqual(asked, [], 'not asked for while the upload may be under way');
    const claimed = await store().db.transaction((tx) => claimUploadIntent(tx, intent, after(30_000)));
    assert.equal(claimed, true);
    assert.deepEqual(await queue(), []);
  });

  it('past its hour the row may not commit, though a sweeper whose bucket did not answer gave the key back as it was', async () => {
    await store().reset();
    const intent = await recordUploadIntent(store().db, 'k-slow', T0);
    const { files, asked } = bucket('lost');
    await assert.rejects(removeDeletedFiles(store().db, files, 500, after(UPLOAD_GRACE_MS + 1)), /socket hang up/);
    assert.deepEqual(asked, [['k-slow']]);
    assert.deepEqual(await queue(), [['k-slow', after(UPLOAD_GRACE_MS).toISOString()]], 'given back as it was');
    // the object may be gone: the upload's row is refused, and the key stays for the next pass
    assert.equal(await store().db.transaction((tx) => claimUploadIntent(tx, intent, after(UPLOAD_GRACE_MS + 2))), false);
    assert.deepEqual(await queue(), [['k-slow', after(UPLOAD_GRACE_MS).toISOString()]]);
    // the upload then takes its object back: the key leaves the queue
    await settleUploadIntent(store().db, intent, true);
    assert.deepEqual(await queue(), []);
  });

  it('an upload failing after a sweeper removed its key queues it again, due at once; one taken back while a sweeper holds it leaves it to the sweeper', async () => {
    await store().reset();
    const intent = await recordUploadIntent(store().db, 'k-late', T0);
    const { files, asked } = bucket('removed');
    // a sweeper past the hour removes the key (the object not there yet: nothing to delete)
    assert.equal(await removeDeletedFiles(store().db, files, 500, after(UPLOAD_GRACE_MS + 1)), 1);
    assert.deepEqual(await queue(), []);
    // then the object arrives and the upload fails, not taking it back: queued again, due at once
    await settleUploadIntent(store().db, intent, false);
    assert.deepEqual(await queue(), [['k-late', null]]);
    assert.equal(await removeDeletedFiles(store().db, files, 500, after(UPLOAD_GRACE_MS + 2)), 1);
    assert.deepEqual(asked, [['k-late'], ['k-late']]);
    assert.deepEqual(await queue(), []);

    // a key a sweeper holds (its lease): the upload that took its object back leaves it to the sweeper
    const held = await recordUploadIntent(store().db, 'k-held', T0);
    const lease = after(UPLOAD_GRACE_MS + 300_000).toISOString();
    await store().db.query('update attachment_deletions set next_attempt_at = $2 where key = $1', ['k-held', lease]);
    await settleUploadIntent(store().db, held, true);
    assert.deepEqual(await queue(), [['k-held', lease]]);
    await store().db.query('delete from attachment_deletions');
  });

  it('an upload failing while a sweeper asks the bucket for its key keeps the key queued past that pass (the object may land after the ask)', async () => {
    await store().reset();
    const intent = await recordUploadIntent(store().db, 'k-race', T0);
    // the bucket deletes nothing yet (the PUT has not landed); meanwhile the upload fails, its object not taken back
    const { files, asked } = bucket('removed', async (n) => {
      if (n === 1) await settleUploadIntent(store().db, intent, false);
    });
    assert.equal(await removeDeletedFiles(store().db, files, 500, after(UPLOAD_GRACE_MS + 1)), 1);
    assert.deepEqual(await queue(), [['k-race', null]], 'still queued, due at once');
    assert.equal(await removeDeletedFiles(store().db, files, 500, after(UPLOAD_GRACE_MS + 2)), 1);
    assert.deepEqual(asked, [['k-race'], ['k-race']]);
    assert.deepEqual(await queue(), []);
  });
});
