import type { Ctx } from '../../context.js';
import { IS_OPEN } from '../../conversations/model.js';
import type { OutboundRow } from '../../events/outbound/outbox.js';
import type { HandOver, Producer, SettledAttempt } from '../../events/outbound/worker.js';
import { performance } from 'node:perf_hooks';
import { send, type SendOutcome, type SendRequest } from '../../events/outbound/send.js';
import { QiscusError, QiscusLoginError, type QiscusClient } from './client.js';
import { ASSIGN_AGENT, conversationOfMessage, conversationOfSync, MARK_AS_RESOLVED, MARK_AS_RESOLVED_PATH, REMOVE_AGENT } from './constants.js';
import { qiscusErrorMessage, saysAgentNotInRoom, saysAlreadyResolved, saysRoomHasAgent, saysRoomResolved } from './error-body.js';
import { closeAssignment, noteAssignment, noteSyncFailed, refusalsOf, requeueRoom } from './rooms.js';

// What assign_agent and remove_agent calls add to the generic outbox: Qiscus
// authentication at each attempt (secrets and login tokens never sit in the
// outbox), a retry schedule measured in seconds — a customer is waiting, not
// a server — and what each final answer means for the room.

export const USER_AGENT = 'Switchboard-Qiscus/0.1';
/** delay after the 1st, 2nd, … failed attempt; with 6 attempts a room is given up after about a minute */
export const ASSIGN_RETRY_MS: readonly number[] = [1_000, 3_000, 10_000, 20_000, 30_000];
/** attempts of a call before it is given up (assign_agent: the room is failed) */
export const ASSIGN_MAX_ATTEMPTS = ASSIGN_RETRY_MS.length + 1;
/**
 * Closing a room in Qiscus (mark_as_resolved, the release of a room given
 * up on) has no customer waiting on it, but is lost if given up early: it
 * waits out an outage of about an hour and a half before it is given up.
 */
export const RESOLVE_RETRY_MS: readonly number[] = [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];
export const RESOLVE_MAX_ATTEMPTS = RESOLVE_RETRY_MS.length + 1;
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** a refused login is not retried at every claim */
const LOGIN_COOLDOWN_MS = 5_000;
/** refusals of assign_agent (a 4xx about the agent) before the room is failed */
export const ASSIGN_REFUSALS_BEFORE_FAILING = 3;
/**
 * How long a refused room stays out of allocation passes, by refusal: the
 * first goes back at once (another agent can usually take it), the next
 * waits, in case Qiscus still lists an agent who cannot take rooms.
 */
const REFUSAL_BACKOFF_MS: readonly number[] = [0, 5_000];

export interface ProducerHooks {
  /** a slot was freed (a room failed or was found resolved): the queue may move */
  onFreed(): void;
  /** a room was given up */
  onFailed?(roomId: string, reason: string): void;
  /** Qiscus would not remove an agent from a room for a reason other than their not being in it */
  onRemoveFailed?(roomId: string, agentId: string, reason: string): void;
  /** a room closed in Switchboard could not be closed in Qiscus (refused, or attempts exhausted) */
  onSyncFailed?(roomId: string, call: string, reason: string): void;
  random?: () => number;
  /** the longest a refused room is kept out of allocation (the poll interval picks it up anyway) */
  maxBackoffMs?: number;
  /** the worker's hand-over, given when it starts and taken back when it stops (the allocator sends through it) */
  attach?(handOver: HandOver | undefined): void;
  /** epoch ms, for the login's cool-down: the clock the worker schedules retries by (default Date.now) */
  now?: () => number;
}

const formOf = (row: OutboundRow) => new URLSearchParams(row.body.toString('utf8'));

/** Worth the same call again: no answer, a 5xx, 429, 408, or 401 (in login mode the token expired; see decide). */
const transient = (status: number | null) => status === null || status === 401 || status === 408 || status === 429 || status >= 500;

/**
 * A removal is done when its agent is no longer in the room, whoever took
 * them out: Qiscus saying they are not in it (or the agent or room is
 * unknown: 404), or that the room is resolved, is success, not an error.
 */
function removalDone(outcome: SendOutcome): boolean {
  const status = outcome.status;
  if (status === null || status < 400 || status >= 500 || transient(status)) return false;
  const message = qiscusErrorMessage(outcome.excerpt);
  return status === 404 || saysAgentNotInRoom(message) || saysRoomResolved(message);
}

/** What went wrong with an attempt, for reasons and logs: `HTTP 400 <Qiscus' message>` or the network error. */
function describe(record: SettledAttempt['record']): string {
  const message = qiscusErrorMessage(record.excerpt);
  return record.status === null ? (record.error ?? 'no answer') : `HTTP ${record.status}${message ? ` ${message}` : ''}`;
}

/**
 * Every Qiscus call the outbox makes, as one attempt within the attempt's
 * deadline (a row is leased for the worker's timeout + 30 s on the promise
 * that its attempt ends by then): in login mode a login for a token first
 * (cached: most attempts find one), for mark_as_resolved a read of the room's
 * last comment id, then the call with what is left of the deadline.
 *
 * The login was the producer's prepare, before the attempt's clock started:
 * a Qiscus that hung on it held the attempt (and every row claimed with it)
 * past its lease, and another process sent the same call beside it.
 *
 * mark_as_resolved wants the room's last comment id: it is read at each
 * attempt, so a retry an hour later sends the id as it is then. A failed read
 * is the attempt's outcome (its status, or no answer), retried or given up
 * like a failed call.
 */
export function qiscusTransport(client: QiscusClient, sendFn: (request: SendRequest) => Promise<SendOutcome> = send, now: () => number = Date.now) {
  let loginRetryAt = 0;
  let loginError = '';
  return async (request: SendRequest): Promise<SendOutcome> => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const late = (what: string): SendOutcome => ({ status: null, excerpt: null, error: `timeout: ${what} took over ${request.timeoutMs} ms`, retryAfterMs: null, durationMs: elapsed() });
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), request.timeoutMs)));
    // No token, no call: sent without one it could only get a 401, retried at once, and a room's
    // attempts went in milliseconds while the login failed. The attempt ends with no answer instead,
    // tried again no sooner than the next login; and skipped, so that it uses up none of the call's
    // attempts, however long the login fails (decide).
    const noLogin = (why: string): SendOutcome => ({
      status: null,
      excerpt: null,
      error: `no call: ${why}`,
      retryAfterMs: Math.max(0, loginRetryAt - now()),
      durationMs: elapsed(),
      skipped: true,
    });
    /**
     * The credentials for a call, logging in if need be, within the attempt's deadline; or why there are none.
     * `renewing`: again for this attempt, after a 401 refused() judged an expiry.
     */
    const credentials = async (renewing = false): Promise<Record<string, string> | SendOutcome> => {
      // a renewal after a send that took the whole deadline: no login to blame, the next attempt logs in
      const budget = request.timeoutMs - elapsed();
      if (budget <= 0) return { ...late('the call'), error: "no call: the attempt's time ran out before it could log in again", retryAfterMs: 0, skipped: true };
      if (now() < loginRetryAt) return noLogin(`the Qiscus login failed less than ${LOGIN_COOLDOWN_MS / 1000} s ago (${loginError})`);
      const cooling = client.credentialsCooling(renewing);
      if (cooling > 0) return { ...noLogin('Qiscus refused the credentials (HTTP 401) a moment ago'), retryAfterMs: cooling };
      try {
        const headers = await Promise.race([client.authHeaders(), outOfTime]);
        if (headers !== 'timeout') return headers;
        // A renewal left with a sliver of the attempt's time says nothing of the login: the next attempt
        // logs in with its own (found by review: every attempt waited 5 s for a login that never had a chance).
        if (budget < request.timeoutMs / 2) return { ...late('logging in to Qiscus again'), retryAfterMs: 0, skipped: true };
        // the next attempts do not each wait out a login that hangs
        loginRetryAt = now() + LOGIN_COOLDOWN_MS;
        loginError = `the login took over ${request.timeoutMs} ms`;
        return { ...late('logging in to Qiscus'), retryAfterMs: LOGIN_COOLDOWN_MS, skipped: true };
      } catch (error) {
        loginRetryAt = now() + LOGIN_COOLDOWN_MS;
        loginError = error instanceof Error ? error.message : String(error);
        return noLogin(loginError);
      }
    };
    const isOutcome = (got: Record<string, string> | SendOutcome): got is SendOutcome => typeof (got as SendOutcome).durationMs === 'number';
    try {
      let auth = await credentials();
      if (isOutcome(auth)) return auth;
      let body = request.body;
      if (new URL(request.url).pathname.endsWith(MARK_AS_RESOLVED_PATH)) {
        const form = new URLSearchParams(request.body.toString('utf8'));
        let lastComment: string | null;
        const read = async (): Promise<string | null | 'timeout' | QiscusError> => {
          try {
            return await Promise.race([client.lastCommentId(form.get('room_id') ?? ''), outOfTime]);
          } catch (error) {
            if (!(error instanceof QiscusError)) throw error;
            return error;
          }
        };
        let got = await read();
        if (got instanceof QiscusError && got.status === 401 && client.api.auth.mode === 'login') {
          // The SDK server refused the secret key the login gave (rotated in Qiscus; lastCommentId forgot it): a
          // fresh login brings the current one, within this attempt.
          const renewed = await credentials(true);
          if (isOutcome(renewed)) return renewed;
          auth = renewed;
          got = await read();
        }
        if (got === 'timeout') return late("reading the room's last comment id");
        if (got instanceof QiscusLoginError && got.waitMs > 0) {
          // The SDK server refused QISCUS_SECRET (secret mode; the client logged it): refused credentials, as
          // for a Multichannel call (below), not the resolve's fault. Found by review: each read used up an
          // attempt, and with a wrong secret every resolve was given up unsynced after its eight, unexplained.
          const error = `refused: reading the room's last comment id: ${got.message}; waiting for QISCUS_SECRET to be mended`;
          return { status: null, excerpt: JSON.stringify({ errors: error }), error, retryAfterMs: got.waitMs, durationMs: elapsed(), skipped: true };
        }
        if (got instanceof QiscusError) {
          // Not Multichannel's answer: a 401 here is no expired token of the call's, to retry at once (decide);
          // the read failed, and the call waits its schedule like one that got no answer.
          const why = `reading the room's last comment id failed: ${got.message}`;
          return { status: got.status === 401 ? null : got.status, excerpt: JSON.stringify({ errors: why }), error: why, retryAfterMs: null, durationMs: elapsed() };
        }
        lastComment = got;
        // A room without comments has no id to give: Qiscus takes the call without one.
        if (lastComment !== null) form.set('last_comment_id', lastComment);
        body = Buffer.from(form.toString());
      }
      const sendWith = (headers: Record<string, string>) => sendFn({ ...request, headers: { ...request.headers, ...headers }, body, timeoutMs: Math.max(1, request.timeoutMs - elapsed()) });
      let outcome = await sendWith(auth);
      if (outcome.status === 401) {
        const what = `Qiscus ${request.method} ${new URL(request.url).pathname}`;
        let verdict = client.refused(auth.authorization, what);
        if (verdict.renew) {
          // A token that worked before expired (forgotten by refused): the call goes again at once, in this
          // attempt, with a fresh login's, so that a renewal costs no attempt of its own.
          // Without a token (the login failed, or the attempt's time ran out), nothing more is sent: the attempt
          // ends as the login's, using up none of the call's attempts.
          const renewed = await credentials(true);
          if (isOutcome(renewed)) return renewed;
          auth = renewed;
          outcome = await sendWith(auth);
          if (outcome.status === 401) verdict = client.refused(auth.authorization, what);
        }
        if (outcome.status === 401 && !verdict.renew) {
          // Credentials refused outright (a token never taken, the secret key) are nobody's call's fault: the
          // call waits for them to be mended, using up none of its attempts, as it does while the login fails.
          const message = qiscusErrorMessage(outcome.excerpt);
          const error = `refused: Qiscus refused the credentials (HTTP 401${message ? ` ${message}` : ''}); waiting for them to be mended`;
          return { status: null, excerpt: outcome.excerpt, error, retryAfterMs: verdict.waitMs, durationMs: elapsed(), skipped: true };
        }
      }
      if (outcome.status !== null) client.answered(auth.authorization, outcome.status);
      return { ...outcome, durationMs: elapsed() };
    } finally {
      clearTimeout(timer);
    }
  };
}

export function qiscusProducer(client: QiscusClient, timeoutMs: number, hooks: ProducerHooks): Producer {
  const random = hooks.random ?? Math.random;
  return {
    trustedTargets: true,
    timeoutMs,
    attach: hooks.attach,
    transport: qiscusTransport(client, send, hooks.now),

    // The credentials are the transport's to add, within the attempt's deadline. A resolve whose room
    // is open again is not signed, so not sent: the worker cancels it (reopened, below). Final: read
    // for these very rows, a fresh signer would read the rooms again to say the same.
    async prepare(ctx, rows = []) {
      const dropped = await reopened(ctx, rows);
      return (signing) => ({
        headers: new Map(signing.filter((row) => !dropped.has(Number(row.id))).map((row) => [row.id, { 'user-agent': USER_AGENT, 'qiscus-app-id': client.api.appId }])),
        cancelled: REOPENED,
        final: true,
      });
    },

    decide(row, outcome, answeredAt) {
      // Nothing was sent (no token: the login fails or hangs): no attempt is used up, and the next waits for the login's cool-down.
      if (outcome.skipped) return { outcome: 'retry', nextAttemptAt: new Date(answeredAt.getTime() + (outcome.retryAfterMs ?? LOGIN_COOLDOWN_MS)) };
      const status = outcome.status;
      if (status !== null && status >= 200 && status < 300) return { outcome: 'delivered', nextAttemptAt: null };
      if (row.name === REMOVE_AGENT && removalDone(outcome)) return { outcome: 'delivered', nextAttemptAt: null };
      // Resolved already (by an agent in Qiscus meanwhile): what the call was for is done.
      if (row.name === MARK_AS_RESOLVED && !transient(status) && saysAlreadyResolved(qiscusErrorMessage(outcome.excerpt))) return { outcome: 'delivered', nextAttemptAt: null };
      if (!transient(status) || row.attempts + 1 >= row.max_attempts) return { outcome: 'failed', nextAttemptAt: null };
      const schedule = conversationOfSync(row.message_id) === null ? ASSIGN_RETRY_MS : RESOLVE_RETRY_MS;
      // 401 in login mode: the token expired; the next attempt logs in again, at once. With the secret key
      // there is nothing to renew: a retry at once would only be refused again, and a call's attempts went at once.
      const base = status === 401 && client.api.auth.mode === 'login' ? 0 : schedule[Math.min(row.attempts, schedule.length - 1)]!;
      const jittered = Math.round(base * (0.9 + 0.2 * random()));
      const delay = outcome.retryAfterMs === null ? jittered : Math.max(jittered, Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS));
      return { outcome: 'retry', nextAttemptAt: new Date(answeredAt.getTime() + delay) };
    },

    async settle(ctx, results) {
      const confirmed = results.filter((r) => r.row.name === ASSIGN_AGENT && r.record.outcome === 'delivered');
      if (confirmed.length > 0) {
        await ctx.db.query(
          `update qiscus_rooms set confirmed_at = $3, reason = null, updated_at = $3
            where conversation_id = any ($1::uuid[]) and outbound_id = any ($2::bigint[])`,
          [confirmed.map((r) => conversationOfMessage(r.row.message_id)), confirmed.map((r) => r.row.id), ctx.now()],
        );
      }
      for (const result of results) {
        const synced = conversationOfSync(result.row.message_id);
        if (synced !== null) {
          if (result.record.outcome === 'failed') await settleSyncFailure(ctx, hooks, synced, result);
          else if (result.record.outcome === 'retry' && result.row.name === MARK_AS_RESOLVED) await dropIfReopened(ctx, result.row);
        } else if (result.row.name === REMOVE_AGENT) {
          if (result.record.outcome === 'failed') {
            const form = formOf(result.row);
            hooks.onRemoveFailed?.(form.get('room_id') ?? '', form.get('agent_id') ?? '', describe(result.record));
          }
        } else if (result.record.outcome === 'retry' || result.record.outcome === 'failed') {
          await settleProblem(ctx, hooks, result);
        }
      }
    },
  };
}

const REOPENED = 'the room is open again in Switchboard: resolving it in Qiscus would close the live room';

/**
 * The room (`room`: an SQL expression of its Qiscus id) has an open
 * conversation: one a resolve of it still waiting for Qiscus must not close
 * there (reopened, dropIfReopened).
 */
const ROOM_OPEN = (room: string) => /* sql */ `exists (
  select 1 from conversations c where c.channel = 'qiscus' and c.external_ref = ${room} and ${IS_OPEN('c')})`;

/**
 * The mark_as_resolved rows among `rows` whose room is open again in
 * Switchboard — the customer wrote, Qiscus' webhook opened a new conversation
 * — while the resolve waited for Qiscus (down a while): sent, it would close
 * the live room there. Checked as each attempt is about to go, with the
 * resolve still pending, so the new conversation's assign_agent still waits
 * behind it (cancelled, it is recorded before that call goes). Found by
 * review: the resolve was dropped only when an attempt failed again after
 * the reopening (dropIfReopened); had Qiscus been back by then, it went.
 */
async function reopened(ctx: Ctx, rows: readonly OutboundRow[]): Promise<Set<number>> {
  const resolves = rows.filter((row) => row.name === MARK_AS_RESOLVED);
  if (resolves.length === 0) return new Set();
  const open = await ctx.db.query<{ id: number | string }>(REOPENED_ROWS, [resolves.map((row) => row.id), resolves.map((row) => formOf(row).get('room_id') ?? '')]);
  return new Set(open.map((row) => Number(row.id)));
}

const REOPENED_ROWS = /* sql */ `select r.id from unnest($1::bigint[], $2::text[]) as r(id, room_id) where ${ROOM_OPEN('r.room_id')}`;

/**
 * Qiscus refused to close a room Switchboard closed (or never answered, all
 * attempts long): the conversation stays closed in Switchboard — its agent's
 * slot is free there — and the room shows as `unsynced` with the reason in
 * the admin listing, and in the error log, for an operator to close in
 * Qiscus by hand.
 */
async function settleSyncFailure(ctx: Ctx, hooks: ProducerHooks, conversationId: string, { row, record }: SettledAttempt): Promise<void> {
  const roomId = formOf(row).get('room_id') ?? '';
  const reason = `Qiscus ${record.attemptsBefore + 1 >= row.max_attempts && transient(record.status) ? `did not take ${row.name} in ${row.max_attempts} attempts` : `refused ${row.name}`}: ${describe(record)}`;
  await noteSyncFailed(ctx, conversationId, roomId, reason);
  hooks.onSyncFailed?.(roomId, row.name, reason);
}

/**
 * A resolve still waiting for Qiscus (down for a while) when the room is
 * open again in Switchboard — the customer wrote, Qiscus' webhook opened a
 * new conversation — must not go: it would resolve the live room, and the
 * new conversation's assign_agent waits behind it (a room's calls go in
 * order). It is cancelled, and the assignment goes at once.
 */
async function dropIfReopened(ctx: Ctx, row: OutboundRow): Promise<void> {
  await ctx.db.query(DROP_IF_REOPENED, [row.id, formOf(row).get('room_id') ?? '', REOPENED]);
}

const DROP_IF_REOPENED = /* sql */ `update outbound_requests set state = 'cancelled', last_error = $3
  where id = $1 and state = 'pending' and ${ROOM_OPEN('$2')}`;

async function settleProblem(ctx: Ctx, hooks: ProducerHooks, { row, record }: SettledAttempt): Promise<void> {
  const conversationId = conversationOfMessage(row.message_id);
  const form = formOf(row);
  const roomId = form.get('room_id') ?? '';
  const message = qiscusErrorMessage(record.excerpt);
  const what = describe(record);
  // Only the room's current assignment speaks for it: the room may have been resolved, or taken back
  // and assigned to someone else, while this one was retried or since it was recorded. Each change
  // below checks that in its own statement or transaction (rooms.ts), not in one before it.
  if (record.outcome === 'retry') {
    const note = record.skipped ? `assign_agent waiting (${what}); retrying` : `assign_agent attempt ${record.attemptsBefore + 1} of ${row.max_attempts} failed (${what}); retrying`;
    await noteAssignment(ctx, conversationId, row.id, note);
    return;
  }
  if (saysRoomHasAgent(message)) {
    // Usually our own earlier attempt, whose answer was lost: the room is served, the slot stays taken until it resolves.
    await noteAssignment(ctx, conversationId, row.id, `Qiscus says the room already has an agent (${what})`, { confirmed: true });
    return;
  }
  // Qiscus' refusal, not a 5xx page that happens to mention resolving (the attempts ran out on those)
  if (!transient(record.status) && saysRoomResolved(message)) {
    if (await closeAssignment(ctx, conversationId, row.id, { state: 'resolved', reason: 'qiscus_resolved', note: null })) hooks.onFreed();
    return;
  }
  let reason = `assign_agent failed after ${record.attemptsBefore + 1} attempt(s): ${what}`;
  const refused = !transient(record.status);
  if (refused) {
    // A 4xx that is not about the room is about the agent (gone, offline, refusing rooms): another pick may work.
    // This one included. Nothing else counts between the read and the count's increment below: only the
    // room's current assign_agent changes the count, and the change checks that this one still is.
    const refusals = (await refusalsOf(ctx, conversationId)) + 1;
    const agent = form.get('agent_id') ?? '?';
    if (refusals < ASSIGN_REFUSALS_BEFORE_FAILING) {
      const backoff = Math.min(REFUSAL_BACKOFF_MS[Math.min(refusals, REFUSAL_BACKOFF_MS.length) - 1]!, hooks.maxBackoffMs ?? Infinity);
      const note = `Qiscus refused agent ${agent} for the room (${what}); waiting for another agent (refusal ${refusals} of ${ASSIGN_REFUSALS_BEFORE_FAILING})`;
      if (await requeueRoom(ctx, conversationId, row.id, note, backoff > 0 ? new Date(ctx.now().getTime() + backoff) : null)) hooks.onFreed();
      return;
    }
    reason = `Qiscus refused assign_agent ${refusals} times, last for agent ${agent}: ${what}`;
  }
  if (await closeAssignment(ctx, conversationId, row.id, { state: 'abandoned', reason: 'qiscus_failed', note: reason }, { roomId, reason, refused })) {
    hooks.onFailed?.(roomId, reason);
    hooks.onFreed();
  }
}
