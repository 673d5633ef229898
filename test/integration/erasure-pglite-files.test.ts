// Erasing a conversation on embedded PGlite in a data directory leaves
// nothing of it in the table and index files (base/). PGlite is one backend
// and runs no autovacuum: a deleted row, and the old version of every row
// the erasure rewrote (events, webhook deliveries, the rating), stayed in
// DATA_DIR for good, and in every copy of it taken as a backup; `strings`
// found an erased message, the customer's name and a file's bytes there
// (found by review). A plain VACUUM is not enough: it frees the space, and
// the bytes stay in the page until a new row lands on them (this test, with
// conversations written before and after the erased one, still found the name
// and the message in the conversations and outbound_requests heaps after one).
// PGlite only: on PostgreSQL autovacuum does this (docs/operations.md).
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { eraseConversation } from '../../src/erasure/erase.js';
import { fanOut } from '../../src/events/webhooks/fanout.js';
import { removeUnsentFiles } from '../../src/files/deletions.js';
import { OUTBOUND_TABLES, pruneOutboundHistory } from '../../src/retention/prune.js';
import { startSession } from '../../src/realtime/sessions.js';
import { seedSettings } from '../../src/settings/settings.js';
import type { Db } from '../../src/store/db.js';
import { openPglite } from '../../src/store/pglite.js';
import { vacuumOnPglite } from '../../src/store/vacuum.js';
import { kitFor } from '../helpers/api-kit.js';
import { testApp } from '../helpers/app.js';
import { multipartFile, PDF } from '../helpers/multipart.js';
import { migratedDataDir } from '../helpers/pglite-template.js';
import { openTestStore, TEST_DEFAULTS, type TestStore } from '../helpers/stores.js';

/** What only the erased conversation holds: its customer's name, a message, a file's bytes, the rating's comment. */
const SECRETS = ['Quillon Vantablack', 'my locker code is 55-QX-8712', 'PAYLOAD-OF-A-FILE-8c1e', 'Slow, said Quillon'];

/** The files under `dir` whose bytes hold `needle`, relative to it. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path)).includes(needle)) found.push(path.slice(dir.length + 1));
  }
  return found;
}

/** A suite's app over PGlite in a data directory of its own (one test each: no reset), and that directory and store. */
function pgliteInADirectory(prefix: string) {
  const at = { dir: '', db: undefined as unknown as Awaited<ReturnType<typeof openPglite>> };
  let store: TestStore;
  const k = kitFor(() => store, {
    before: (fn) =>
      before(async () => {
        at.dir = await migratedDataDir(prefix);
        const db = (at.db = await openPglite(at.dir));
        await seedSettings(db, TEST_DEFAULTS, new Date());
        store = { kind: 'pglite', db, reset: () => Promise.reject(new Error('one test only')), close: () => db.close() };
        await fn();
      }),
    after: (fn) =>
      after(async () => {
        await fn();
        await store?.close();
        await rm(at.dir, { recursive: true, force: true });
      }),
  });
  return { k, at };
}

describe('erasure on PGlite in a data directory', () => {
  const { k, at } = pgliteInADirectory('sb-erasure-files-');

  it('leaves nothing of the erased conversation in the files under base/ once checkpointed', async () => {
    const { db, dir } = at;
    const admin = await k.user('admin');
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const hook = await k.call('POST', '/api/v1/webhooks', { token: admin.token, body: { url: 'https://93.184.215.14/hook', events: ['message.created', 'conversation.rated'] } });
    assert.equal(hook.statusCode, 201, hook.body);
    const ok = (res: { statusCode: number; body: string }, status = 201) => assert.equal(res.statusCode, status, res.body);
    const resolveAndRate = async (id: string, token: string, comment: string) => {
      ok(await k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: agent.token, body: {} }), 200);
      ok(await k.call('POST', `/api/v1/conversations/${id}/rating`, { token, body: { score: 2, comment } }));
    };
    // conversations kept, written before and after the erased one, sharing its pages
    const kept = async (n: number) => {
      const { conversation, token } = await startSession(k.t.ctx, { customer: { id: `kept-${n}`, name: `Kim Kept ${n}` } }, 3600);
      ok(await k.call('POST', `/api/v1/conversations/${conversation.id}/messages`, { token: admin.token, body: { sender: 'customer', text: `an ordinary question ${n}` } }));
      await resolveAndRate(conversation.id, token, `fine ${n}`);
    };
    for (let n = 0; n < 3; n++) await kept(n);
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: 'quillon', name: SECRETS[0]! } }, 3600);
    const id = conversation.id;
    ok(await k.call('POST', `/api/v1/conversations/${id}/messages`, { token: admin.token, body: { sender: 'customer', text: SECRETS[1] } }));
    const { body, headers } = multipartFile('file', 'notes.pdf', 'application/pdf', Buffer.concat([PDF, Buffer.from(`% ${SECRETS[2]}\n`)]));
    ok(await k.call('POST', `/api/v1/conversations/${id}/attachments`, { token: agent.token, body, headers }));
    await resolveAndRate(id, token, SECRETS[3]!);
    for (let n = 3; n < 6; n++) await kept(n);
    while ((await fanOut(k.t.ctx)).events > 0);

    await db.pglite.exec('checkpoint');
    for (const secret of SECRETS) assert.notDeepEqual(await filesHolding(join(dir, 'base'), secret), [], `${secret} is in the files before the erasure`);

    ok(await k.call('DELETE', `/api/v1/conversations/${id}`, { token: admin.token }), 200);
    await db.pglite.exec('checkpoint');
    for (const secret of SECRETS) assert.deepEqual(await filesHolding(join(dir, 'base'), secret), [], `${secret} is gone from the table files`);
    // (the write-ahead log, pg_wal/, may still hold them until its segments are reused: docs/operations.md)

    // the kept conversations are whole, and every rating is still counted
    const [counts] = await db.query("select (select count(*)::int from messages where text like 'an ordinary question %') as messages, (select count(*)::int from ratings) as ratings");
    assert.deepEqual(counts, { messages: 6, ratings: 7 });
  });
});

describe('erasure on PGlite of a conversation whose rows others deleted before', () => {
  /** The customer's name in the pruned webhook bodies, a note's words before its edit and deletion, a file swept unsent. */
  const EARLIER = ['Quinta Obscura', 'her door code is 4471-ZZ', 'and her passport number 88K', 'UNSENT-ID-CARD-BYTES-5f2a'];
  const { k, at } = pgliteInADirectory('sb-erasure-earlier-');

  it('rewrites the tables that still hold them: the delivery log pruned, a note edited and deleted, a file swept unsent', async () => {
    const { db, dir } = at;
    const admin = await k.user('admin');
    const agent = await k.user('agent', { status: 'online', capacity: 10 });
    const ok = (res: { statusCode: number; body: string }, status = 201) => assert.equal(res.statusCode, status, res.body);
    ok(await k.call('POST', '/api/v1/webhooks', { token: admin.token, body: { url: 'https://93.184.215.14/hook', events: ['conversation.created', 'conversation.resolved'] } }));
    for (let n = 0; n < 3; n++) {
      const kept = await startSession(k.t.ctx, { customer: { id: `kept-${n}`, name: `Kim Kept ${n}` } }, 3600);
      ok(await k.call('POST', `/api/v1/conversations/${kept.conversation.id}/notes`, { token: agent.token, body: { text: `kept note ${n}` } }));
    }
    // a chat with no message of its own: all that is left of it later is elsewhere
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: 'quinta', name: EARLIER[0]! } }, 3600);
    const id = conversation.id;
    const note = await k.call('POST', `/api/v1/conversations/${id}/notes`, { token: agent.token, body: { text: EARLIER[1] } });
    ok(note);
    ok(await k.call('PATCH', `/api/v1/conversations/${id}/notes/${note.json().id as number}`, { token: agent.token, body: { text: EARLIER[2] } }), 200);
    ok(await k.call('DELETE', `/api/v1/conversations/${id}/notes/${note.json().id as number}`, { token: agent.token }), 204);
    const { body, headers } = multipartFile('file', 'id-card.pdf', 'application/pdf', Buffer.concat([PDF, Buffer.from(`% ${EARLIER[3]}\n`)]));
    ok(await k.call('POST', `/api/v1/conversations/${id}/attachments`, { token, body, headers }));
    ok(await k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: agent.token, body: {} }), 200);
    // kept rows written after its own, on the same pages: a plain VACUUM does not cut those pages off the files' end
    for (let n = 3; n < 6; n++) {
      const kept = await startSession(k.t.ctx, { customer: { id: `kept-${n}`, name: `Kim Kept ${n}` } }, 3600);
      const file = multipartFile('file', `kept-${n}.pdf`, 'application/pdf', Buffer.concat([PDF, Buffer.from(`% kept ${n}\n`)]));
      ok(await k.call('POST', `/api/v1/conversations/${kept.conversation.id}/attachments`, { token: agent.token, body: file.body, headers: file.headers }));
      ok(await k.call('POST', `/api/v1/conversations/${kept.conversation.id}/notes`, { token: agent.token, body: { text: `kept note ${n}` } }));
    }
    while ((await fanOut(k.t.ctx)).events > 0);

    // a month on: its deliveries made and pruned, its file swept unsent, each followed by what the sweepers do on PGlite
    await db.query("update outbound_requests set state = 'delivered'");
    const later = new Date(Date.now() + 40 * 86_400_000);
    assert.ok((await pruneOutboundHistory(db, later, 1_000)) > 0);
    assert.equal(await removeUnsentFiles(db, later), 1);
    // (the retention sweeper's plain VACUUM of what it pruned; the file sweeper runs none)
    await vacuumOnPglite(db, OUTBOUND_TABLES);
    await db.pglite.exec('checkpoint');
    for (const secret of EARLIER) assert.notDeepEqual(await filesHolding(join(dir, 'base'), secret), [], `${secret} is in the files before the erasure`);

    const erased = await k.call('DELETE', `/api/v1/conversations/${id}`, { token: admin.token });
    ok(erased, 200);
    assert.deepEqual([erased.json().messages, erased.json().notes, erased.json().attachments], [0, 0, 0], 'nothing of it left for the erasure itself to delete');
    await db.pglite.exec('checkpoint');
    for (const secret of EARLIER) assert.deepEqual(await filesHolding(join(dir, 'base'), secret), [], `${secret} is gone from the table files`);
    assert.deepEqual(await db.query('select name from unreclaimed_tables'), [], 'each noted table rewritten');
    const [kept] = await db.query("select count(*)::int as notes from messages where text like 'kept note %'");
    assert.deepEqual(kept, { notes: 6 });
    assert.deepEqual(await db.query<{ n: number }>('select count(*)::int as n from attachment_bytes'), [{ n: 3 }], 'the kept files stay');
  });
});

describe('erasure on PGlite: the rewrite after commit failing', () => {
  it('leaves the erasure done, and says why', async () => {
    const store = await openTestStore('pglite');
    const t = await testApp(store);
    try {
      const { token: admin } = await t.user('admin');
      const { token } = await t.user('agent', { status: 'online', capacity: 5 });
      const opened = await t.call('POST', '/api/v1/conversations', { token: admin, body: { customer: { id: 'cust-1' } } });
      const id = opened.json().id as string;
      assert.equal((await t.call('POST', `/api/v1/conversations/${id}/messages`, { token: admin, body: { text: 'hi', sender: 'customer' } })).statusCode, 201);
      assert.equal((await t.call('POST', `/api/v1/conversations/${id}/resolve`, { token, body: {} })).statusCode, 200);
      const full: Db = { ...store.db, query: (text, params) => (/^vacuum/.test(text) ? Promise.reject(new Error('no space left on device')) : store.db.query(text, params)) };
      const failures: unknown[] = [];
      const erasure = await eraseConversation({ ...t.ctx, db: full }, id, SYSTEM, undefined, (error) => failures.push(error));
      assert.equal(erasure.messages, 1);
      assert.deepEqual(await store.db.query('select id from conversations where id = $1', [id]), []);
      assert.deepEqual(failures.map((e) => (e as Error).message), ['no space left on device']);
      // its tables stay noted: the next erasure rewrites them
      const noted = (await store.db.query<{ name: string }>('select name from unreclaimed_tables order by name')).map((r) => r.name);
      assert.deepEqual(noted, ['conversations', 'events', 'message_search', 'messages']);
    } finally {
      await t.close();
      await store.close();
    }
  });
});
