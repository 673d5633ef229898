import type { Ctx } from '../../context.js';
import { OUTBOX_CHANNEL, type Listening } from '../../store/db.js';
import { claim, record, type AttemptRecord, type ClaimedRow, type ClaimSlots, type OutboundRow, type Recorded } from './outbox.js';
import { MAX_ATTEMPTS, retryDelay } from './retry.js';
import { send, type SendOutcome, type SendRequest } from './send.js';

// What empties the outbox: three small loops ("lanes") that run side by side
// on their own connections, so none waits for another — feed (new events
// become deliveries), claim (due rows up to the free slots, in one statement,
// each sent on its own), and record (finished attempts, a batch per
// statement). Commits wake the feed and claim lanes at once: this process's
// own through onCommitted; outbound requests, every process's, through NOTIFY
// (migration 0027; events do not notify: see docs/architecture.md), which
// PostgreSQL delivers as the writer commits, and so does a cancel that frees
// a row waiting on its ordering key (migration 0075). A poll is the safety net.
// A producer whose own transaction makes the requests (the Qiscus
// allocator's assign_agent) may insert them leased (migration 0063) and
// hand them over as it commits (HandOver): they skip the wake-up and the
// claim altogether; those past the free slots are held, leased, until a
// slot frees (launchHeld). A slow receiver holds its slots, never a lane,
// and never more than its destination's cap.

/** What one kind of outbound request adds to the generic machinery. */
export interface Producer {
  /**
   * Reads what signing needs (secrets), once a claim or feed has rows of
   * this producer to send (never for nothing). Returns a function giving
   * the per-attempt headers of claimed rows, by row id. A row missing from
   * its answer is not sent and is cancelled with `cancelled`'s reason (its
   * endpoint was disabled or deleted meanwhile), after a fresh signer is
   * asked about it once more, unless the answer is `final` (read for these
   * very rows: a fresh one would say the same). `rows` are this producer's
   * rows about to be signed, for a producer that drops some as they go.
   */
  prepare(ctx: Ctx, rows?: readonly OutboundRow[]): Promise<(rows: readonly OutboundRow[], attemptAt: Date) => Signed>;
  /** After a batch is recorded: endpoint health, disabling on 410. Failures here are logged, never retried. */
  settle?(ctx: Ctx, results: readonly SettledAttempt[]): Promise<void>;
  /**
   * Classifies an answer when the default (2xx delivered, 410 final, the
   * rest retried on the webhook schedule) does not fit this receiver; return
   * undefined to keep the default. A retry is timed from `answeredAt`, when
   * the attempt ended: a receiver that took 14 s to ask for 10 s more is
   * given them.
   */
  decide?(row: OutboundRow, outcome: SendOutcome, answeredAt: Date): Pick<AttemptRecord, 'outcome' | 'nextAttemptAt'> | undefined;
  /** Its targets are configured by the operator (not by API users), so the SSRF guard does not apply. */
  trustedTargets?: boolean;
  /**
   * Its attempts' own deadline instead of the worker's, shorter or longer (a
   * mail relay may take its time to answer the end of DATA: cut short, the
   * attempt is retried and the email may arrive twice). The lease a claim
   * takes covers the longest of them (leaseMs).
   */
  timeoutMs?: number;
  /**
   * Makes one attempt by another means than HTTP (email goes by SMTP): the
   * row is still claimed, leased, retried and logged like any other. The
   * outcome's `status` is the protocol's own code (SMTP's 250, 451, 550).
   */
  transport?: (request: SendRequest) => Promise<SendOutcome>;
  /**
   * Given, while the worker runs, the way to send rows this producer enqueues
   * and claims itself (claimNew, in the transaction that enqueued them)
   * without waiting for a claim: undefined again when the worker stops.
   */
  attach?(handOver: HandOver | undefined): void;
}

/** A signer's answer (Producer.prepare). */
export interface Signed {
  headers: Map<number, Record<string, string>>;
  /** what to send instead of a row's queued body, by row id (the headers sign it: fresh file links) */
  bodies?: Map<number, Buffer>;
  cancelled?: string;
  /** a row it leaves out is cancelled at once, without asking a fresh signer */
  final?: boolean;
}

/**
 * Fresh rows straight to the sender (see Producer.attach): the producer
 * leases them in its own transaction within `slots` (inserting them leased,
 * or claimNew), and calls `send` once that transaction has committed. Rows it
 * leased but never sends (the process died, the commit failed) are due
 * again when their lease ends.
 */
export interface HandOver {
  /** what a claim may take now */
  slots(now: Date): ClaimSlots;
  /** starts sending rows claimed in a transaction that has committed */
  send(rows: readonly ClaimedRow[]): Promise<void>;
}

export interface SettledAttempt {
  row: OutboundRow;
  /** the attempt as RECORD took it: its outcome and next attempt are the ones recorded (Taken) */
  record: AttemptRecord;
  /**
   * RECORD took its 410 Gone as the endpoint's (the attempt went to the URL
   * the row still has) and cancelled the endpoint's pending rows. A 410 from
   * a URL the row has left since is not: it is an ordinary failure.
   */
  gone?: boolean;
}

/**
 * Moves new work into the outbox (the webhook fan-out, a channel's callbacks);
 * returns how much it read, and the new rows it claimed (leased until
 * `leaseUntil`, at most `limit`) for the worker to send at once.
 */
export type Feed = (ctx: Ctx, claim: ClaimSlots) => Promise<FeedResult>;

export interface FeedResult {
  read: number;
  claimed: ClaimedRow[];
  /** committed events past what it read are not final yet: it looks again in a moment (WAITING_RETRY_MS) */
  waiting?: boolean;
  /**
   * How many rows it enqueued, claimed or not. Given, the claim runs only
   * when some were left unclaimed; absent, after every read, in case.
   */
  enqueued?: number;
  /**
   * Whether more may be behind what it read (a full page). Given (and
   * `waiting` with it), the feed runs again only then; absent, after every
   * read, so that a page short of the end is followed by one that finds it.
   */
  more?: boolean;
}

/**
 * How soon a feed looks again when committed events are not final yet (an
 * older transaction is still open, src/events/log.ts): the commit that
 * woke it may be the last one for a while.
 */
const WAITING_RETRY_MS = 5;
/** tick() (tests) waits at most this long for such events to become final. */
const WAITING_TICK_LIMIT_MS = 60_000;

export interface WorkerOptions {
  producers: Record<string, Producer>;
  /** run one after another on the feed lane, each with the slots the previous left */
  feeds?: readonly Feed[];
  /** requests in flight at once */
  concurrency: number;
  /** requests in flight at once to one destination (a webhook endpoint, a server); default `concurrency` */
  perDestination?: number;
  timeoutMs: number;
  /** the safety net: catches events other processes committed and what a lost listening connection missed */
  pollMs: number;
  allowPrivate: boolean;
  onError?: (error: unknown) => void;
  /**
   * The wake-up connection (LISTEN) was lost or could not be made again; it is
   * retried, and the poll covers meanwhile. Not a failed delivery: default onError.
   */
  onListenError?: (error: unknown) => void;
  random?: () => number;
  /** real time for webhook-timestamp, whatever ctx.now says (receivers check it against theirs) */
  wallClock?: () => Date;
  /** stands in for node:http in tests */
  sendFn?: (request: SendRequest) => Promise<SendOutcome>;
}

export interface TickResult {
  delivered: number;
  retried: number;
  failed: number;
  cancelled: number;
}

export interface OutboundWorker {
  /** Runs feed, claim, send and record in turn until nothing is due (tests drive this on a fake clock). */
  tick(): Promise<TickResult>;
  /** Something may be due now: run the loop soon. */
  wake(): void;
  /**
   * This process committed events: the feeds look at once. Not the claim: a
   * commit that wrote outbound requests notifies (migration 0027), which
   * wakes it, and a feed that read something kicks it; claiming after every
   * event commit found nothing almost always and cost a round trip a few
   * milliseconds apart under load.
   */
  committed(): void;
  /** Starts the background loop. */
  start(): void;
  /** Stops the loop and waits for requests in flight to be recorded. */
  stop(): Promise<void>;
}

/** Adds `item` to its group: in place, since copying the group at each add made a batch of n cost n² (the claims are hundreds of rows under load). */
function groupInto<T>(groups: Map<string, T[]>, key: string, item: T): void {
  const group = groups.get(key);
  if (group) group.push(item);
  else groups.set(key, [item]);
}

/**
 * Rows a hand-over may claim past the free slots, held until one frees
 * (a pass of 128 rooms against a destination cap of 32), and how much of
 * its lease a held row must still have beyond its attempt's deadline to be
 * sent: one held longer is let go, and claimed again when its lease ends.
 */
const HELD_MAX = 128;
const HELD_LEASE_MARGIN_MS = 5_000;

/**
 * A signature (X-Hub-Signature, webhook-signature) is an HMAC over the body
 * as sent: kept in the attempt log, it would let whoever holds the endpoint's
 * secret confirm a guess of a body an erasure has since redacted
 * (src/erasure/erase.ts). The log never keeps one; `SIGNATURE_HEADERS_SQL` is
 * the same rule for a PostgreSQL `~*`.
 */
export const SIGNATURE_HEADERS_SQL = '(^|-)signature(-256)?$';
const SIGNATURE_HEADERS = new RegExp(SIGNATURE_HEADERS_SQL, 'i');

/** How long a claimed row stays leased: the deadline plus room to record the result. */
const leaseMs = (timeoutMs: number) => timeoutMs + 30_000;

/**
 * A loop that runs `work` while it is due; kicking it while it runs makes it
 * go round once more. `delayMs` gathers the kicks of a burst into one run, so
 * a hundred finished requests are one batch, not a hundred round trips.
 */
function lane(work: () => Promise<void>, onError: (error: unknown) => void, active: () => boolean, delayMs = 0) {
  let due = false;
  let running: Promise<void> | undefined;
  const pause = () => new Promise<void>((resolve) => (delayMs > 0 ? setTimeout(resolve, delayMs) : setImmediate(resolve)));
  const run = async () => {
    await pause();
    while (due && active()) {
      due = false;
      try {
        await work();
      } catch (error) {
        // no retry here: the next kick or poll comes soon enough, and a store
        // that is down is not hammered
        onError(error);
      }
      if (due) await pause();
    }
    running = undefined;
  };
  return {
    kick() {
      due = true;
      if (!running && active()) running = run();
    },
    idle: () => running ?? Promise.resolve(),
  };
}

export function createOutboundWorker(ctx: Ctx, options: WorkerOptions): OutboundWorker {
  const sendFn = options.sendFn ?? send;
  const wallClock = options.wallClock ?? (() => new Date());
  const onError = options.onError ?? (() => {});
  const inflight = new Set<Promise<void>>();
  /** rows a hand-over claimed beyond the free slots, signed, in claim order (launchHeld) */
  const held: { row: ClaimedRow; headers: Record<string, string>; body: Buffer | undefined; leaseUntil: number }[] = [];
  /** requests in flight by destination, for the per-destination cap */
  const perDestination = new Map<string, number>();
  const cap = options.perDestination ?? options.concurrency;
  let listening: Promise<Listening | undefined> | undefined;
  let finished: SettledAttempt[] = [];
  let started = false;
  let poll: NodeJS.Timeout | undefined;
  let totals: TickResult = { delivered: 0, retried: 0, failed: 0, cancelled: 0 };
  const active = () => started;

  function decide(row: OutboundRow, outcome: SendOutcome, answeredAt: Date): Pick<AttemptRecord, 'outcome' | 'nextAttemptAt'> {
    const own = options.producers[row.producer]?.decide?.(row, outcome, answeredAt);
    if (own) return own;
    if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) return { outcome: 'delivered', nextAttemptAt: null };
    const delay = retryDelay(row.attempts + 1, outcome.retryAfterMs, row.max_attempts || MAX_ATTEMPTS, options.random);
    const retryAt = delay === null ? null : new Date(answeredAt.getTime() + delay);
    // 410 Gone: the receiver says it will never want these again, if it is still the receiver. An admin
    // may have moved the row elsewhere while the attempt went; RECORD, which sees the row's URL as it
    // is, then retries it as any other failure, at the time given here.
    if (outcome.status === 410) return { outcome: 'failed', nextAttemptAt: retryAt };
    if (retryAt === null) return { outcome: 'failed', nextAttemptAt: null };
    return { outcome: 'retry', nextAttemptAt: retryAt };
  }

  function finish(entry: SettledAttempt): void {
    finished.push(entry);
    recorder.kick();
  }

  /** The delivery log keeps what was sent, but never a credential: an attempt log is read by admins and backups. */
  const CREDENTIAL_HEADERS = /^(authorization|proxy-authorization|cookie|qiscus-secret-key|x-webhook-secret|x-api-key)$/i;
  const loggable = (headers: Record<string, string>) =>
    Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, CREDENTIAL_HEADERS.test(name) || SIGNATURE_HEADERS.test(name) ? '[redacted]' : value]));

  const timeoutOf = (row: OutboundRow) => options.producers[row.producer]?.timeoutMs ?? options.timeoutMs;

  function launch(row: ClaimedRow, headers: Record<string, string>, startedAt: Date, body: Buffer = row.body): void {
    perDestination.set(row.destination, (perDestination.get(row.destination) ?? 0) + 1);
    const requestHeaders = { ...row.headers, ...headers };
    const transport = options.producers[row.producer]?.transport ?? sendFn;
    const task = transport({
      url: row.url,
      method: row.method,
      headers: requestHeaders,
      body,
      verifyTls: row.verify_tls,
      timeoutMs: timeoutOf(row),
      allowPrivate: options.allowPrivate || options.producers[row.producer]?.trustedTargets === true,
    })
      .catch((error: unknown): SendOutcome => ({ status: null, excerpt: null, error: String(error), retryAfterMs: null, durationMs: 0 }))
      .then((outcome) =>
        finish({
          row,
          record: {
            id: row.id,
            attemptsBefore: row.attempts,
            startedAt,
            durationMs: outcome.durationMs,
            status: outcome.status,
            excerpt: outcome.excerpt,
            error: outcome.error ?? (outcome.status !== null && (outcome.status < 200 || outcome.status >= 300) ? `HTTP ${outcome.status}` : null),
            requestHeaders: loggable(requestHeaders),
            ...decide(row, outcome, ctx.now()),
            leaseUntil: new Date(row.next_attempt_at),
            url: row.url,
            ...(outcome.skipped ? { skipped: true } : {}),
          },
        }),
      )
      .finally(() => {
        const full = inflight.size >= options.concurrency || (perDestination.get(row.destination) ?? 0) >= cap;
        inflight.delete(task);
        const left = (perDestination.get(row.destination) ?? 1) - 1;
        if (left > 0) perDestination.set(row.destination, left);
        else perDestination.delete(row.destination);
        // A slot the claims (or a hand-over) were short of is free: what they left behind for want of it goes
        // now, not once this attempt is recorded (issue #22: a pass of 128 rooms hands 32 calls over, and the
        // rest went 32 at a time, each round after a record and a claim). The row itself stays leased until
        // recorded, and a room's next call still waits for it (the claim's ordering key).
        // A row a hand-over claimed beyond the free slots takes it first: it is leased here already.
        if (launchHeld() === 0 && full) claimer.kick();
      });
    inflight.add(task);
  }

  const underCaps = (destination: string) => inflight.size < options.concurrency && (perDestination.get(destination) ?? 0) < cap;

  /**
   * Launches held rows (a hand-over's, beyond the free slots) in claim order
   * while their destination and the worker have slots; returns how many.
   * A row whose lease no longer covers an attempt (held past
   * HELD_LEASE_MARGIN_MS of it) is let go unsent: due again when its lease
   * ends, it is claimed then like any other.
   */
  function launchHeld(): number {
    let launched = 0;
    for (let i = 0; i < held.length && inflight.size < options.concurrency; ) {
      const entry = held[i]!;
      const now = ctx.now();
      if (now.getTime() + timeoutOf(entry.row) + HELD_LEASE_MARGIN_MS > entry.leaseUntil) {
        held.splice(i, 1);
        continue;
      }
      if (!underCaps(entry.row.destination)) {
        i += 1;
        continue;
      }
      held.splice(i, 1);
      launch(entry.row, entry.headers, now, entry.body);
      launched += 1;
    }
    return launched;
  }

  /** Records finished attempts; true when there were any. */
  async function flush(): Promise<boolean> {
    if (finished.length === 0) return false;
    const batch = finished;
    finished = [];
    let recorded: Recorded;
    try {
      recorded = await record(ctx.db, batch.map((b) => b.record), ctx.now());
    } catch (error) {
      // Nothing was recorded: the rows are still leased; they come due again when the lease ends.
      onError(error);
      return true;
    }
    const { followed } = recorded;
    if (recorded.followError !== undefined) onError(recorded.followError);
    // The next delivery of a recorded row's key may go now. Only then: the slots these attempts held were
    // given back as each ended (launch), a retry has its timer (dueAt), and a claim after every flush found
    // nothing almost always (issue #22: one CLAIM per flush, a few milliseconds apart under load).
    if (followed) claimer.kick();
    // Only attempts RECORD took count: one whose lease ran out while it went (the row claimed and sent
    // again elsewhere, or cancelled meanwhile) no longer speaks for its row, and its settle could undo
    // the outcome of the attempt that does (a Qiscus room requeued after its assign_agent went through).
    // Each as RECORD took it: a 410 from a URL its row has left since is a retry, a retry of a row sent
    // elsewhere since is due at once, and only a 410 RECORD took as Gone disables the endpoint (settle).
    const took: SettledAttempt[] = batch.flatMap((b) => {
      const taken = recorded.taken.get(Number(b.record.id));
      return taken ? [{ row: b.row, record: { ...b.record, outcome: taken.outcome, nextAttemptAt: taken.nextAttemptAt }, gone: taken.gone }] : [];
    });
    for (const { record: r } of took) if (r.outcome === 'retry' && r.nextAttemptAt) dueAt(r.nextAttemptAt);
    for (const { record: r } of took) totals[r.outcome === 'retry' ? 'retried' : r.outcome] += 1;
    const byProducer = new Map<string, SettledAttempt[]>();
    for (const b of took) groupInto(byProducer, b.row.producer, b);
    for (const [name, results] of byProducer) {
      await options.producers[name]?.settle?.(ctx, results).catch(onError);
    }
    return true;
  }

  type Signer = (rows: readonly OutboundRow[], attemptAt: Date) => Signed;

  /**
   * The signers of the producers that have rows among `rows`: a producer's
   * prepare may read the store (webhook secrets, RapidPro tickets), and
   * asking every producer at every claim cost two queries per commit.
   */
  async function signers(rows: readonly OutboundRow[]): Promise<Map<string, Signer>> {
    const names = new Set(rows.map((row) => row.producer));
    const wanted = Object.entries(options.producers).filter(([name]) => names.has(name));
    return new Map(await Promise.all(wanted.map(async ([name, p]) => [name, await p.prepare(ctx, rows.filter((row) => row.producer === name))] as const)));
  }

  /**
   * Starts sending claimed rows. A row its signer does not know may belong to
   * an endpoint newer than the signer's snapshot: it is asked once more,
   * fresh, before the row is given up as cancelled (unless its answer was final).
   */
  async function sendClaimed(rows: readonly ClaimedRow[], sign: Map<string, Signer>, now: Date, retry = true, hold = false): Promise<void> {
    const unknown: ClaimedRow[] = [];
    const byProducer = new Map<string, ClaimedRow[]>();
    for (const row of rows) groupInto(byProducer, row.producer, row);
    for (const [name, group] of byProducer) {
      const signer = sign.get(name);
      if (!signer) {
        // A claim takes only this worker's producers' rows, so only a hand-over of another producer's rows
        // could get here. Cancelling them would lose work a process with that producer can do: they stay
        // leased and unsent, and are claimed again when the lease ends.
        onError(new Error(`no producer ${name} in this process: ${group.length} row(s) left unsent until their lease ends`));
        continue;
      }
      const prepared = signer(group, wallClock());
      for (const row of group) {
        const headers = prepared.headers.get(row.id);
        if (headers) {
          // A hand-over's rows past the caps wait here for a slot (launchHeld); a claimed row's next_attempt_at is its lease.
          const body = prepared.bodies?.get(row.id);
          if (hold && (held.length > 0 || !underCaps(row.destination))) held.push({ row, headers, body, leaseUntil: new Date(row.next_attempt_at).getTime() });
          else launch(row, headers, now, body);
        } else if (retry && prepared.final !== true) {
          unknown.push(row);
        } else {
          const error = prepared.cancelled ?? 'cancelled';
          const record: AttemptRecord = {
            id: row.id, attemptsBefore: row.attempts, startedAt: now, durationMs: 0, status: null, excerpt: null, error,
            requestHeaders: {}, outcome: 'cancelled', nextAttemptAt: null, skipped: true, leaseUntil: new Date(row.next_attempt_at),
          };
          finish({ row, record });
        }
      }
    }
    if (unknown.length > 0) await sendClaimed(unknown, await signers(unknown), now, false, hold);
    if (hold) launchHeld();
  }

  // One lease for every row a claim takes, whichever producer's: long enough for the longest deadline, so no
  // attempt still going is claimed and sent again beside it.
  const longestTimeoutMs = Math.max(options.timeoutMs, ...Object.values(options.producers).map((p) => p.timeoutMs ?? 0));
  const lease = (now: Date) => new Date(now.getTime() + leaseMs(longestTimeoutMs));
  const producers = Object.keys(options.producers);

  /** What a claim may take now: the free slots, each destination's cap less what is in flight to it, and only rows it can send. */
  const slots = (now: Date): ClaimSlots => ({
    limit: Math.max(0, options.concurrency - inflight.size),
    leaseUntil: lease(now),
    perDestination: cap,
    inFlight: perDestination,
    producers,
  });

  /** A destination at its cap may have left due rows unclaimed that other destinations' could have taken. */
  const capped = () => [...perDestination.values()].some((n) => n >= cap);

  /** Claims what is due, up to the free slots, and starts sending it. Returns how many were claimed. */
  async function claimAndSend(): Promise<number> {
    const now = ctx.now();
    const free = slots(now);
    if (free.limit <= 0) return 0;
    const wasCapped = capped();
    const rows = await claim(ctx.db, now, free);
    if (rows.length === 0) return 0;
    // A full batch means more may be due; so may a batch that filled a
    // destination's cap (the next claim passes it by), unless it was already full.
    if (rows.length === free.limit || (!wasCapped && capped())) claimer.kick();
    // Secrets are read once there is something to sign (signers): a round
    // trip after the claim for a producer whose prepare reads the store, but
    // none at every claim that finds nothing — most of them, under load.
    await sendClaimed(rows, await signers(rows), now);
    return rows.length;
  }

  /** hand-overs (HandOver.send) still signing their rows */
  const handing = new Set<Promise<void>>();

  let waiting = false;
  let waitingTimer: NodeJS.Timeout | undefined;
  let retryTimer: { at: number; timer: NodeJS.Timeout } | undefined;

  /**
   * A retry this process scheduled is claimed when it comes due, not at the
   * next poll after (nothing commits then to wake anyone). One timer, for
   * the earliest; each claim that follows looks at every due row anyway.
   */
  function dueAt(at: Date): void {
    if (!started || (retryTimer && retryTimer.at <= at.getTime())) return;
    if (retryTimer) clearTimeout(retryTimer.timer);
    const timer = setTimeout(() => {
      retryTimer = undefined;
      claimer.kick();
    }, Math.max(0, at.getTime() - ctx.now().getTime()));
    timer.unref();
    retryTimer = { at: at.getTime(), timer };
  }

  /** Moves new events into the outbox and sends what it claimed of them at once; returns how many events were read. */
  async function feed(): Promise<number> {
    let read = 0;
    waiting = false;
    let again = false;
    let unclaimed = false;
    for (const one of options.feeds ?? []) {
      const now = ctx.now();
      const fed = await one(ctx, slots(now));
      if (fed.claimed.length > 0) await sendClaimed(fed.claimed, await signers(fed.claimed), now);
      read += fed.read;
      waiting ||= fed.waiting === true;
      // A feed that says what it left behind saves, per commit, a claim that finds nothing and a second page
      // that finds nothing (issue #22: at 500 Qiscus rooms/s, those were a third of the store's statements).
      if (fed.read > 0) {
        again ||= fed.more ?? true;
        unclaimed ||= fed.enqueued === undefined || fed.enqueued > fed.claimed.length;
      }
    }
    if (waiting && !waitingTimer && started) {
      waitingTimer = setTimeout(() => {
        waitingTimer = undefined;
        feeder.kick();
      }, WAITING_RETRY_MS);
    }
    // a full page may have more behind it; rows not claimed here are the claimer's
    if (again) feeder.kick();
    if (unclaimed) claimer.kick();
    return read;
  }

  // Events to requests is the latency that matters: the feeder goes at once.
  // Recording and the follow-up claims (a freed slot, a row behind a recorded one) wait a moment to batch.
  const feeder = lane(async () => void (await feed()), onError, active);
  const claimer = lane(async () => void (await claimAndSend()), onError, active, 2);
  const recorder = lane(async () => void (await flush()), onError, active, 2);

  const wake = () => {
    feeder.kick();
    claimer.kick();
  };

  return {
    async tick() {
      totals = { delivered: 0, retried: 0, failed: 0, cancelled: 0 };
      const waitUntil = Date.now() + WAITING_TICK_LIMIT_MS;
      for (;;) {
        let fed = 0;
        for (;;) {
          if ((await feed()) > 0) fed += 1;
          else if (waiting && Date.now() < waitUntil) await new Promise((resolve) => setTimeout(resolve, WAITING_RETRY_MS));
          else break;
        }
        const claimed = await claimAndSend();
        while (inflight.size > 0) await Promise.all([...inflight]);
        const flushed = await flush();
        if (fed === 0 && claimed === 0 && !flushed) break;
      }
      return totals;
    },
    wake,
    committed: () => feeder.kick(),
    start() {
      if (started) return;
      started = true;
      // Rows claimed by their producer go out as soon as it has committed:
      // no NOTIFY, no claim lane and no claim statement on the way (issue #22).
      const handOver: HandOver = {
        // Past the free slots too, up to HELD_MAX held: a pass's calls beyond its destination's cap then wait
        // here for a slot instead of for a record and a claim each round (issue #22).
        slots: (now) => ({ limit: Math.max(0, options.concurrency - inflight.size) + Math.max(0, HELD_MAX - held.length), leaseUntil: lease(now), producers }),
        send: (rows) => {
          if (rows.length === 0 || !started) return Promise.resolve();
          // stop() waits for these as for the lanes: what they launch is then in flight and recorded.
          // The attempt starts now, not when it was claimed: its log and retry schedule count from here.
          const sending = signers(rows).then((sign) => sendClaimed(rows, sign, ctx.now(), true, true));
          handing.add(sending);
          return sending.finally(() => handing.delete(sending));
        },
      };
      for (const producer of Object.values(options.producers)) producer.attach?.(handOver);
      poll = setInterval(wake, options.pollMs);
      // After a lost listening connection is back, what was notified
      // meanwhile is gone: look at once rather than at the next poll.
      const onListenError = options.onListenError ?? onError;
      listening = ctx.db.listen(OUTBOX_CHANNEL, { notified: wake, reconnected: wake, onError: onListenError }).catch((error: unknown) => {
        onListenError(error);
        return undefined;
      });
      wake();
    },
    async stop() {
      started = false;
      for (const producer of Object.values(options.producers)) producer.attach?.(undefined);
      clearInterval(poll);
      const listener = await listening;
      listening = undefined;
      await listener?.close();
      clearTimeout(waitingTimer);
      waitingTimer = undefined;
      if (retryTimer) clearTimeout(retryTimer.timer);
      retryTimer = undefined;
      await Promise.all([feeder.idle(), claimer.idle(), recorder.idle(), ...handing]);
      // held rows go as slots free (launchHeld runs as each attempt ends): what was handed over is sent and recorded
      while (inflight.size > 0) await Promise.all([...inflight]);
      await flush().catch(onError);
    },
  };
}
