// Transcripts, found by review: a transcript held every message of its
// conversation, however many (read, rendered under the conversation's lock
// and stored whole, then base64, in the outbox); the delivery log read every
// email's body to show none of it; a transcript's file links were signed for
// ATTACHMENT_OUTBOUND_LINK_TTL (as short as 60 s), once, and retries never
// sign them again; without PUBLIC_URL they point at the address listened on.
// Against a real SMTP server (smtp-server, parsed by mailparser), on both
// stores.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { AgentRow } from '../../src/agents/model.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { Ctx } from '../../src/context.js';
import { addMessage } from '../../src/conversations/messages.js';
import { listEmailDeliveries } from '../../src/email/deliveries.js';
import { TRANSCRIPT_MAX_BYTES, TRANSCRIPT_MAX_MESSAGES } from '../../src/email/transcript.js';
import { buildApp } from '../../src/http/app.js';
import { startSession } from '../../src/realtime/sessions.js';
import { createMetrics } from '../../src/stats/metrics.js';
import type { Db, Queryable } from '../../src/store/db.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { multipartFile, PDF } from '../helpers/multipart.js';
import { emailWorker, startSmtpReceiver, type SmtpReceiver, TEST_EMAIL_FROM } from '../helpers/smtp-receiver.js';
import { describeEachStore } from '../helpers/stores.js';

const actorOf = (agent: AgentRow) => ({ id: agent.id, role: agent.role });

/** `db`, with every statement it and its transactions run pushed to `statements`. */
function recording(db: Db, statements: string[]): Db {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, prop) {
        const value = Reflect.get(object, prop, object) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'query') return (sql: string, ...rest: unknown[]) => (statements.push(sql), (value as (...a: unknown[]) => unknown).call(object, sql, ...rest));
        if (prop === 'transaction') {
          return (fn: (tx: Queryable) => unknown, ...rest: unknown[]) => (value as (...a: unknown[]) => unknown).call(object, (tx: Queryable) => fn(wrap(tx)), ...rest);
        }
        return (value as (...a: unknown[]) => unknown).bind(object);
      },
    });
  return wrap(db);
}
const DAY_MS = 86_400_000;
/** the lines of a text part that head a message */
const heads = (text: string) => text.split('\n').filter((l) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d UTC\] /.test(l));

describeEachStore('transcripts: size and file links', (store) => {
  const clock = fakeClock();
  let smtp: SmtpReceiver;
  let t: TestApp | undefined;
  beforeEach(async () => {
    await store().reset();
    clock.set(Date.parse('2026-01-05T09:00:00Z'));
    smtp = await startSmtpReceiver();
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await smtp.close();
  });
  const start = async (env: Record<string, string> = {}, beforeApp?: (ctx: Ctx) => void) => {
    t = await testApp(store(), { now: clock.now, env: { SMTP_URL: smtp.url, EMAIL_FROM: TEST_EMAIL_FROM, ...env }, beforeApp });
    return t;
  };

  /** A chat with an agent, and `n` customer messages "m 1"… of `text` written by SQL, one a second. */
  async function longChat(app: TestApp, n: number, text = '') {
    const agent = await app.user('agent', { status: 'online', capacity: 5, name: 'Bob Agent' });
    const session = await startSession(app.ctx, { customer: { id: `long-${Math.random()}`, name: 'Ann', email: 'ann@example.test' } }, 3600);
    const id = session.conversation.id;
    await app.ctx.db.query(
      `insert into messages (conversation_id, sender, sender_id, text, attachments, created_at)
       select $1, 'customer', 'c', 'm ' || i || $3, '[]', $4::timestamptz + i * interval '1 second'
         from generate_series(1, $2::int) as i`,
      [id, n, text, clock.now()],
    );
    return { id, agent, token: session.token };
  }

  async function sendAndReceive(app: TestApp, id: string, token: string) {
    const res = await app.call('POST', `/api/v1/conversations/${id}/transcript`, { token, body: { email: 'ann@example.test' } });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal((await emailWorker(app.ctx, smtp, TEST_EMAIL_FROM).tick()).delivered, 1);
    const [mail] = await smtp.waitFor(1);
    const [row] = await app.ctx.db.query<{ n: number }>('select octet_length(body)::int as n from outbound_requests where id = $1', [res.json().delivery_id]);
    return { text: mail!.parsed.text ?? '', html: String(mail!.parsed.html), bytes: row!.n };
  }

  it(`holds the newest ${TRANSCRIPT_MAX_MESSAGES} messages of a longer conversation, and says how many were left out`, async () => {
    const app = await start();
    const c = await longChat(app, TRANSCRIPT_MAX_MESSAGES + 20);
    clock.advance(10 * 60_000);
    await addMessage(app.ctx, c.id, { sender: 'agent', sender_id: c.agent.agent.id, text: 'the last word' }, actorOf(c.agent.agent));
    // a note is no message of the transcript's, and is not counted in it
    assert.equal((await app.call('POST', `/api/v1/conversations/${c.id}/notes`, { token: c.agent.token, body: { text: 'private' } })).statusCode, 201);
    // the 520, the agent's, and what the chat's start wrote
    const [{ total } = { total: 0 }] = await app.ctx.db.query<{ total: number }>('select count(*)::int as total from messages where conversation_id = $1 and not private', [c.id]);
    assert.ok(total >= TRANSCRIPT_MAX_MESSAGES + 21);
    const mail = await sendAndReceive(app, c.id, c.agent.token);
    const lines = heads(mail.text);
    assert.equal(lines.length, TRANSCRIPT_MAX_MESSAGES);
    const note = `Earlier messages are left out: this transcript holds the last ${TRANSCRIPT_MAX_MESSAGES} of the conversation's ${total} messages.`;
    assert.ok(mail.text.includes(`\n\n${note}\n\n`), mail.text.slice(0, 300));
    assert.ok(mail.html.includes(note.replace("'", '&#39;')), 'the HTML part says so too');
    // the newest: the last 499 of the 520, then the agent's last word
    const texts = mail.text.split('\n').filter((l) => /^ {2}m \d+$/.test(l)).map((l) => l.trim());
    assert.deepEqual([texts[0], texts.at(-1), texts.length], ['m 22', `m ${TRANSCRIPT_MAX_MESSAGES + 20}`, TRANSCRIPT_MAX_MESSAGES - 1]);
    assert.ok(mail.text.trimEnd().endsWith('  the last word'));
    assert.ok(!mail.text.includes('private'));
  });

  it('holds only the newest messages that fit its byte budget, and says how many were left out', async () => {
    const app = await start();
    const c = await longChat(app, 150, ` ${'x'.repeat(9_990)}`);
    const mail = await sendAndReceive(app, c.id, c.agent.token);
    const kept = heads(mail.text).length;
    assert.ok(kept > 10 && kept < 150, `${kept} messages kept`);
    assert.ok(mail.text.includes(`this transcript holds the last ${kept} of the conversation's 150 messages.`));
    assert.ok(mail.text.trimEnd().endsWith(`m 150 ${'x'.repeat(9_990)}`), 'the newest is there');
    assert.ok(mail.text.includes(`m ${150 - kept + 1} x`) && !mail.text.includes(`m ${150 - kept} x`), 'the newest that fit, none older');
    assert.ok(Buffer.byteLength(mail.text) + Buffer.byteLength(mail.html) <= TRANSCRIPT_MAX_BYTES + 2_000, 'within the budget, besides the heading');
    assert.ok(mail.bytes < TRANSCRIPT_MAX_BYTES * 1.4 + 10_000, `${mail.bytes} bytes stored, base64 included`);
  });

  it('reads and renders the messages before it locks the conversation, whose new messages wait while it is locked', async () => {
    const statements: string[] = [];
    const app = await start({}, (ctx) => {
      ctx.db = recording(ctx.db, statements);
    });
    const c = await longChat(app, 3);
    statements.length = 0;
    assert.equal((await app.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} })).statusCode, 202);
    const readsMessages = (sql: string) => /from messages\b[\s\S]*not (m\.)?private[\s\S]*order by/.test(sql);
    const messagesRead = statements.findIndex(readsMessages);
    const locked = statements.findIndex((sql) => /from conversations where id = \$1 for update/.test(sql));
    assert.ok(messagesRead >= 0 && locked >= 0, statements.join('\n'));
    assert.ok(messagesRead < locked, statements.join('\n'));
    assert.equal(statements.filter(readsMessages).length, 1, 'read once');
  });

  it('the delivery log reads no email’s body', async () => {
    const app = await start();
    const c = await longChat(app, 3);
    assert.equal((await app.call('POST', `/api/v1/conversations/${c.id}/transcript`, { token: c.agent.token, body: {} })).statusCode, 202);
    const read: Record<string, unknown>[] = [];
    const db = { query: async (sql: string, params?: unknown[]) => { const rows = await app.ctx.db.query(sql, params); read.push(...(rows as Record<string, unknown>[])); return rows; } };
    const [delivery] = await listEmailDeliveries(db as typeof app.ctx.db, { limit: 50 });
    assert.equal(delivery?.kind, 'transcript');
    assert.deepEqual(delivery?.to, ['ann@example.test']);
    assert.ok(read.length > 0 && read.every((row) => !('body' in row)), `columns read: ${Object.keys(read[0] ?? {}).join(', ')}`);
  });

  it('signs a transcript’s file links for EMAIL_LINK_TTL (30 days), not the webhooks’ ATTACHMENT_OUTBOUND_LINK_TTL: they outlive the retries', async () => {
    const app = await start({ PUBLIC_URL: 'https://help.example.com/chat', ATTACHMENT_OUTBOUND_LINK_TTL: '60' });
    const agent = await app.user('agent', { status: 'online', capacity: 5 });
    const session = await startSession(app.ctx, { customer: { id: 'files-1', name: 'Ada', email: 'ada@example.test' } }, 3600);
    const { body, headers } = multipartFile('file', 'receipt.pdf', 'application/pdf', PDF);
    const file = (await app.call('POST', `/api/v1/conversations/${session.conversation.id}/attachments`, { token: agent.token, body, headers })).json();
    assert.equal((await app.call('POST', `/api/v1/conversations/${session.conversation.id}/messages`, { token: agent.token, body: { text: 'Your receipt', attachments: [{ id: file.id }] } })).statusCode, 201);
    // the relay refuses for now: the email goes on the schedule's later attempts
    smtp.refuseNext(3, 451);
    const res = await app.call('POST', `/api/v1/conversations/${session.conversation.id}/transcript`, { token: agent.token, body: {} });
    assert.equal(res.statusCode, 202, res.body);
    const worker = emailWorker(app.ctx, smtp, TEST_EMAIL_FROM);
    for (const wait of [0, 6_000, 6 * 60_000, 40 * 60_000]) {
      clock.advance(wait);
      await worker.tick();
    }
    const [mail] = await smtp.waitFor(1);
    const link = new RegExp(`https://help\\.example\\.com/chat(/api/v1/attachments/${file.id}\\?expires=(\\d+)&sig=[\\w-]+)`).exec(mail!.parsed.text ?? '');
    assert.ok(link, mail!.parsed.text);
    const accepted = Date.parse('2026-01-05T09:00:00Z') / 1000;
    assert.equal(Number(link[2]), accepted + 30 * 86_400);
    // delivered 46 minutes after it was accepted, read a week later: the file is there
    clock.advance(7 * DAY_MS);
    const got = await app.call('GET', link[1]!);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PDF);
  });

  it('EMAIL_LINK_TTL sets the links’ lifetime, at least 7 days, naming the variable otherwise', async () => {
    assert.equal(loadConfig({ SMTP_URL: smtp.url, EMAIL_FROM: TEST_EMAIL_FROM, EMAIL_LINK_TTL: '864000' }).email.linkTtlSeconds, 864_000);
    for (const bad of ['3600', '40000000', 'a week']) {
      assert.throws(() => loadConfig({ SMTP_URL: smtp.url, EMAIL_FROM: TEST_EMAIL_FROM, EMAIL_LINK_TTL: bad }), (e: ConfigError) => e.variable === 'EMAIL_LINK_TTL', bad);
    }
  });

  describe('PUBLIC_URL', () => {
    it('a server with email on and no PUBLIC_URL warns at start that transcripts’ file links point where readers cannot go', async () => {
      const warnings = async (env: Record<string, string>) => {
        const lines: { level: number; msg: string }[] = [];
        const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
        const ctx = { db: store().db, now: clock.now };
        const app = await buildApp({ ctx, config: { ...loadConfig(env), logLevel: 'warn' }, metrics: createMetrics(store().db, clock.now), logger });
        await app.ready();
        await app.close();
        return lines.filter((l) => /PUBLIC_URL/.test(l.msg));
      };
      const [warning, ...more] = await warnings({ SMTP_URL: smtp.url, EMAIL_FROM: TEST_EMAIL_FROM });
      assert.equal(more.length, 0);
      assert.equal(warning?.level, 40, 'a warning');
      assert.match(warning.msg, /SMTP_URL.*PUBLIC_URL is not set.*file links in transcripts/);
      assert.deepEqual(await warnings({ SMTP_URL: smtp.url, EMAIL_FROM: TEST_EMAIL_FROM, PUBLIC_URL: 'https://help.example.com' }), []);
      assert.deepEqual(await warnings({}), [], 'email off: no links to mail');
    });
  });
});
