import type { Queryable } from '../../store/db.js';
import { storableText } from './send.js';

// The durable outbound-HTTP outbox: every request Switchboard owes someone
// (webhooks today; Qiscus and RapidPro callbacks later) is a row here before
// it is a socket. Rows are claimed with FOR UPDATE SKIP LOCKED, so several
// processes share the work, and leased by pushing next_attempt_at past the
// attempt's deadline: a process that dies mid-attempt leaves a row that is
// simply due again once the lease ends.

export type OutboundState = 'pending' | 'delivered' | 'failed' | 'cancelled';

export interface NewOutbound {
  producer: string;
  endpointId?: string | null;
  eventId?: number | null;
  messageId: string;
  name: string;
  orderingKey?: string | null;
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body: Buffer;
  verifyTls?: boolean;
  maxAttempts: number;
  redeliveryOf?: number | null;
}

export interface OutboundRow {
  id: number;
  producer: string;
  endpoint_id: string | null;
  event_id: number | null;
  message_id: string;
  name: string;
  ordering_key: string | null;
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  verify_tls: boolean;
  state: OutboundState;
  attempts: number;
  max_attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  redelivery_of: number | null;
  created_at: Date;
}

/** bytea arrives as a Buffer from `pg` and as a Uint8Array from PGlite. */
export function normalizeRow(row: OutboundRow): OutboundRow {
  const body = row.body as unknown as Uint8Array;
  return { ...row, body: Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
}

/** Appends requests, due at once, in one statement; returns their ids in input order. */
export async function enqueue(tx: Queryable, rows: readonly NewOutbound[], now: Date): Promise<number[]> {
  if (rows.length === 0) return [];
  const result = await tx.query<{ id: number }>(
    `insert into outbound_requests
       (producer, endpoint_id, event_id, message_id, name, ordering_key, url, method, headers, body,
        verify_tls, max_attempts, redelivery_of, next_attempt_at, created_at)
     select r.producer, r.endpoint_id, r.event_id, r.message_id, r.name, r.ordering_key, r.url, r.method, r.headers,
            decode(r.body, 'base64'), r.verify_tls, r.max_attempts, r.redelivery_of, $14, $14
       from unnest($1::text[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                   $9::jsonb[], $10::text[], $11::boolean[], $12::int[], $13::bigint[])
            with ordinality as r(producer, endpoint_id, event_id, message_id, name, ordering_key, url, method, headers,
                                 body, verify_tls, max_attempts, redelivery_of, n)
      order by r.n
     returning id`,
    [
      rows.map((r) => r.producer),
      rows.map((r) => r.endpointId ?? null),
      rows.map((r) => r.eventId ?? null),
      rows.map((r) => r.messageId),
      rows.map((r) => r.name),
      rows.map((r) => r.orderingKey ?? null),
      rows.map((r) => r.url),
      rows.map((r) => r.method ?? 'POST'),
      rows.map((r) => JSON.stringify(r.headers ?? {})),
      rows.map((r) => r.body.toString('base64')),
      rows.map((r) => r.verifyTls ?? true),
      rows.map((r) => r.maxAttempts),
      rows.map((r) => r.redeliveryOf ?? null),
      now,
    ],
  );
  return result.map((r) => r.id);
}

/**
 * Where a request goes, for the per-destination cap: its webhook endpoint,
 * else the origin of its URL (one Qiscus or RapidPro server), else its
 * producer (email's mailto: URLs all leave by one SMTP relay).
 */
export const DESTINATION = /* sql */ `coalesce(o.endpoint_id::text, substring(o.url from '(?i)^[a-z][a-z0-9+.-]*://[^/?#]+'), o.producer)`;

/** A claimed row and where it goes ({@link DESTINATION}). */
export type ClaimedRow = OutboundRow & { destination: string };

/** How much one claim may take. */
export interface ClaimSlots {
  /** rows at most (the worker's free slots) */
  limit: number;
  /** the lease: the row is not due again before this */
  leaseUntil: Date;
  /** requests in flight at once to one destination, at most; none when absent */
  perDestination?: number;
  /** this process's requests in flight now, by destination */
  inFlight?: ReadonlyMap<string, number>;
  /**
   * The producers this worker has: a claim takes only their rows. A process
   * without a channel (no SMTP_URL here) leaves that channel's rows to the
   * processes that have it, instead of claiming rows it cannot send.
   */
  producers: readonly string[];
}

/**
 * A pending row that may go now: due, its destination not at its cap ($4
 * per destination, less its requests in flight: $5 destinations, $6
 * counts; the walk passes over the rows of a destination already at its
 * cap, so one slow receiver with a deep backlog cannot fill every batch),
 * and no earlier pending row with the same ordering key still waiting,
 * whatever its producer (it may be in flight elsewhere or waiting for its
 * retry: either way this one waits).
 */
const CLAIMABLE = /* sql */ `
  o.state = 'pending' and o.next_attempt_at <= $1
  and ${DESTINATION} not in (select destination from busy where n >= $4)
  and (o.ordering_key is null or not exists (
        select 1 from outbound_requests p
         where p.ordering_key = o.ordering_key and p.state = 'pending' and p.id < o.id))`;

/**
 * The claim around a `due` step ({@link CLAIMABLE} rows of this worker's
 * producers, $7, at most $2, locked with SKIP LOCKED so processes claiming
 * at once take different rows): of those, each destination gets what its cap
 * leaves, in `order`. Each row claimed is leased until $3.
 */
const claimWith = (due: string, order: string) => /* sql */ `
  with busy as (
    select * from unnest($5::text[], $6::int[]) as b(destination, n)
  ), due as (${due}
  ), fair as (
    select d.id, d.destination from (
      select due.*, row_number() over (partition by due.destination order by ${order}) as k from due
    ) d
     where d.k + coalesce((select n from busy where busy.destination = d.destination), 0) <= $4
  )
  update outbound_requests o
     set next_attempt_at = $3, leased_until = $3
    from fair
   where o.id = fair.id
  returning o.*, fair.destination`;

/**
 * Due rows, oldest first, walked producer by producer (outbound_due_by_producer,
 * migration 0074) and merged: a producer no process has any more (email
 * once SMTP_URL is gone) leaves its rows pending, and one walk in due order
 * filtered by producer read past every one of them at every claim.
 *
 * In two steps, so that the claim locks no more than it takes. First, with
 * no lock, how many of the first $2 claimable rows each producer has (each
 * producer's walk stops at $2; the merge keeps the first $2). Then each
 * producer's walk again, locking with SKIP LOCKED just that many. Locking in
 * the first walks kept up to $2 rows a producer locked to the statement's
 * end, and a claim of another process running meanwhile skipped every one:
 * it came back short, and the rows let go waited for the poll (found by
 * review). Locked by another claim, a row is stepped over and the next of
 * the same producer taken, as one walk in due order with SKIP LOCKED did.
 */
const CLAIM_MERGED = claimWith(
  /* sql */ `
    select d.* from (
      select f.producer, count(*)::int as n from (
        select w.producer, c.next_attempt_at, c.id from (select distinct unnest($7::text[])) as w(producer)
         cross join lateral (
           select o.next_attempt_at, o.id from outbound_requests o
            where o.producer = w.producer and ${CLAIMABLE}
            order by o.next_attempt_at, o.id
            limit $2
         ) c
         order by c.next_attempt_at, c.id
         limit $2
      ) f
       group by f.producer
    ) k
     cross join lateral (
       select o.id, o.next_attempt_at, ${DESTINATION} as destination from outbound_requests o
        where o.producer = k.producer and ${CLAIMABLE}
        order by o.next_attempt_at, o.id
        limit k.n
        for update skip locked
     ) d
     -- never more (the counts add up to $2 at most): the bound tells the planner the batch is small
     limit $2`,
  'due.next_attempt_at, due.id',
);

/** A worker with one producer walks it once, locking as it goes. */
const CLAIM_ONE = claimWith(
  /* sql */ `
    select o.id, o.next_attempt_at, ${DESTINATION} as destination from outbound_requests o
     where o.producer = ($7::text[])[1] and ${CLAIMABLE}
     order by o.next_attempt_at, o.id
     limit $2
     for update skip locked`,
  'due.next_attempt_at, due.id',
);

/** Every statement a claim may send (tests count claims by their text). */
export const CLAIM_STATEMENTS: ReadonlySet<string> = new Set([CLAIM_ONE, CLAIM_MERGED]);

/** The claim for these producers: {@link CLAIM_ONE} for one, else {@link CLAIM_MERGED}. */
export const claimStatement = (producers: readonly string[]) => (new Set(producers).size === 1 ? CLAIM_ONE : CLAIM_MERGED);

/**
 * The same claim restricted to rows just enqueued in this transaction ($8),
 * found by their ids: a producer hands fresh work straight to its sender,
 * saving the claim's round trip on the way from event to request.
 */
export const CLAIM_NEW = claimWith(
  /* sql */ `
    select o.id, o.next_attempt_at, ${DESTINATION} as destination from outbound_requests o
     where o.id = any($8::bigint[]) and o.producer = any($7::text[]) and ${CLAIMABLE}
     order by o.id
     limit $2
     for update skip locked`,
  'due.id',
);

/** No cap: more than any batch can hold. */
const UNCAPPED = 2 ** 31 - 1;

/**
 * What a producer that leases rows as it inserts them (src/channels/qiscus/allocate.ts)
 * may lease under `slots`, as a claim would take them: the row limit, the lease's
 * end, the per-destination cap and this process's requests in flight by destination.
 */
export function leaseParams(slots: Omit<ClaimSlots, 'producers'>): [number, Date, number, string[], number[]] {
  const inFlight = [...(slots.inFlight ?? new Map<string, number>())];
  return [Math.max(0, slots.limit), slots.leaseUntil, slots.perDestination ?? UNCAPPED, inFlight.map(([d]) => d), inFlight.map(([, n]) => n)];
}

function claimParams(now: Date, slots: ClaimSlots): unknown[] {
  return [now, ...leaseParams(slots), [...new Set(slots.producers)]];
}

const claimed = (rows: ClaimedRow[]) => rows.map((r) => ({ ...normalizeRow(r), destination: r.destination })).sort((a, b) => a.id - b.id);

export async function claimNew(tx: Queryable, ids: readonly number[], now: Date, slots: ClaimSlots): Promise<ClaimedRow[]> {
  if (slots.limit <= 0 || ids.length === 0) return [];
  return claimed(await tx.query<ClaimedRow>(CLAIM_NEW, [...claimParams(now, slots), ids]));
}

/** Claims up to `slots.limit` due rows in one statement. */
export async function claim(db: Queryable, now: Date, slots: ClaimSlots): Promise<ClaimedRow[]> {
  if (slots.limit <= 0) return [];
  return claimed(await db.query<ClaimedRow>(claimStatement(slots.producers), claimParams(now, slots)));
}

export type Outcome = 'delivered' | 'retry' | 'failed' | 'cancelled';

export interface AttemptRecord {
  id: number;
  /** the attempts count the row had when claimed: a stale record (lease lost) changes nothing */
  attemptsBefore: number;
  startedAt: Date;
  durationMs: number;
  status: number | null;
  excerpt: string | null;
  error: string | null;
  requestHeaders: Record<string, string>;
  outcome: Outcome;
  /**
   * for `retry`; for a 410's `failed`, when it would be retried as an
   * ordinary failure (null: no attempt left), should RECORD find its row
   * sent elsewhere since (see RECORD)
   */
  nextAttemptAt: Date | null;
  /**
   * no request was made (cancelled before sending, or the transport could
   * not send it: SendOutcome.skipped): kept on its row (last_error, the next
   * attempt's time), not in outbound_attempts, and not counted as an attempt
   */
  skipped?: boolean;
  /**
   * the URL the attempt went to: a retry of a row sent elsewhere since (a
   * RapidPro ticketer's new callback URL, a webhook endpoint's) is due at
   * once, not after its back-off, since the reason it failed may be gone
   */
  url?: string;
  /**
   * the row's lease as claimed (its next_attempt_at then): the attempts
   * count tells that another claim's attempt was recorded since, only the
   * lease that another claim took the row while its attempt is in flight
   */
  leaseUntil?: Date;
}

/**
 * Logs a batch of attempts and moves their rows on, in one statement (so one
 * round trip, atomic without a transaction). A row whose attempts count or
 * lease has moved since the claim was re-claimed after a lost lease: the
 * stale result is logged but changes nothing. The count alone missed a
 * claim whose attempt is still in flight (or a skipped attempt, which counts
 * nothing): the stale record moved that claim's lease to its own retry time,
 * and a third claim could send the row beside it. Returns the ids whose row was updated, with
 * the ordering key of each that is no longer pending (FOLLOWED then looks
 * behind it), the state and next attempt time each was given, and whether
 * its 410 was taken as Gone (`gone`: the attempt went to the URL its row
 * still has; from a URL it has left since, a 410 is an ordinary failure,
 * retried at once when AttemptRecord.nextAttemptAt gives a retry, unless
 * another attempt of the batch took the endpoint as Gone: a row the batch
 * would leave pending for that endpoint is cancelled with its other rows,
 * which the `gone` step, passing the batch's own rows by, could not do).
 *
 * Lock order. Every statement that locks several outbound rows takes them
 * in id order (`locked` here; the erasure, webhook endpoint and RapidPro
 * ticketer changes, a Qiscus room's close): a batch comes in the order its
 * attempts ended, and a record holding a conversation's second email while
 * it waited for the first met an erasure holding the first and waiting for
 * the second, a deadlock (found by review;
 * test/integration/outbound-lock-order.test.ts). Beside the batch's rows
 * `locked` takes a 410's, the rows of its endpoint the gone step cancels:
 * through an array computed once (empty without a 410, then no row is
 * read), where a semi-join let the planner walk every pending row of the
 * outbox for each record (11.9 ms against 6.2 ms with 5,000 pending).
 * The attempt is logged from `locked` too: locking returns the row as its
 * last writer committed it, so a row erased while its attempt was in
 * flight (migration 0085, `erased`) is seen erased, even by a record that
 * waited for the erasure's lock, and the receiver's reply (which may echo
 * what it was sent) is not kept; read in `logged`'s own snapshot, it was
 * (found by review). A row deleted since (its endpoint's) is not locked,
 * so its attempt is not logged.
 * No comment in the SQL: tests find this statement waiting by its text in
 * pg_stat_activity, which keeps only its first 1,024 bytes.
 */
export const RECORD = /* sql */ `
  with r as (
    select * from unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::int[],
                         $8::text[], $9::text[], $10::jsonb[], $11::boolean[], $13::timestamptz[], $14::text[])
           as r(id, attempts_before, outcome, next_attempt_at, started_at, duration_ms, status, excerpt, error, headers, skipped, lease_until, url)
  ), locked as (
    select o.id, o.erased, o.url, o.endpoint_id, o.state, o.attempts, o.next_attempt_at from outbound_requests o
     where o.id in (select r.id from r
                    union all
                    select p.id from outbound_requests p
                     where p.endpoint_id = any (array(select q.endpoint_id from outbound_requests q join r on r.id = q.id where r.status = 410 and not r.skipped))
                       and p.state = 'pending')
     order by o.id
       for update
  ), logged as (
    insert into outbound_attempts (request_id, attempt, started_at, duration_ms, status, response_excerpt, error, request_headers)
    select r.id, r.attempts_before + 1, r.started_at, r.duration_ms, r.status, case when l.erased then null else r.excerpt end, r.error, r.headers
      from r join locked l on l.id = r.id
     where not r.skipped
  ), t as (
    select r.*, l.endpoint_id, l.url is distinct from coalesce(r.url, l.url) as elsewhere,
           l.state = 'pending' and l.attempts = r.attempts_before
             and (r.lease_until is null or date_trunc('milliseconds', l.next_attempt_at) = r.lease_until) as taken,
           r.outcome = 'retry'
             or (r.outcome = 'failed' and coalesce(r.status = 410, false) and not r.skipped and r.next_attempt_at is not null
                 and l.url is distinct from coalesce(r.url, l.url)) as again
      from r join locked l on l.id = r.id
  ), g as (
    select t.*, t.taken and coalesce(t.status = 410, false) and not t.skipped and not t.elsewhere as gone from t
  ), a as (
    select g.*, g.again and exists (select 1 from g x where x.gone and x.endpoint_id = g.endpoint_id) as ended from g
  ), moved as (
    update outbound_requests o
       set state = case when a.ended then 'cancelled' when a.again then 'pending' else a.outcome end,
           attempts = o.attempts + case when a.skipped then 0 else 1 end,
           next_attempt_at = case when a.ended or not a.again then o.next_attempt_at
                                  when a.elsewhere then least(a.next_attempt_at, $12::timestamptz)
                                  else coalesce(a.next_attempt_at, o.next_attempt_at) end,
           last_attempt_at = case when a.skipped then o.last_attempt_at else a.started_at end,
           last_status = case when a.skipped then o.last_status else a.status end,
           last_error = case when a.ended then 'the receiver answered 410 Gone' else a.error end,
           delivered_at = case when a.outcome = 'delivered' then $12::timestamptz else o.delivered_at end,
           leased_until = null
      from a
     where o.id = a.id and o.state = 'pending' and o.attempts = a.attempts_before
       and (a.lease_until is null or date_trunc('milliseconds', o.next_attempt_at) = a.lease_until)
    returning o.id, o.state, o.ordering_key, o.endpoint_id, o.next_attempt_at, a.gone
  ), gone as (
    -- 410 Gone: nothing more goes to that endpoint, decided in the same
    -- statement, so no concurrent claim can slip the next delivery out. Only
    -- for an attempt taken here: a stale one (its lease ran out, its row sent
    -- again elsewhere) speaks for nothing, and its settle does not disable
    -- the endpoint either. Only from the URL the row still has (a.gone): the
    -- one it has left since (an admin moved the endpoint while the attempt
    -- went) speaks for that URL, not for the endpoint, and the attempt is
    -- retried at once at the new one, as any other failure (a.again).
    -- Every pending row of the endpoint but those moved above (a row is
    -- written once a statement): a stale record's row, locked and not
    -- moved, is cancelled here too.
    update outbound_requests p
       set state = 'cancelled', last_error = 'the receiver answered 410 Gone'
     where p.state = 'pending'
       and p.endpoint_id in (select m.endpoint_id from moved m where m.gone)
       and p.id not in (select m.id from moved m)
  )
  select m.id, case when m.state <> 'pending' then m.ordering_key end as freed_key, m.state, m.next_attempt_at, m.gone from moved m`;

/**
 * Whether a pending row waits behind one of these rows (same ordering key,
 * a higher id): the claim may take it now. Read once RECORD has committed,
 * not in RECORD: a row committed while RECORD ran is not in RECORD's
 * snapshot, and the claim its NOTIFY woke may have run before RECORD
 * committed and passed it by; nothing else would claim it before the poll.
 * Read after the commit, such a row is either seen here or commits later,
 * and then its NOTIFY wakes a claim that sees RECORD's commit.
 */
export const FOLLOWED = /* sql */ `
  select exists (
    select 1 from unnest($1::text[], $2::bigint[]) as r(ordering_key, id)
     where exists (select 1 from outbound_requests p where p.ordering_key = r.ordering_key and p.state = 'pending' and p.id > r.id)
  ) as followed`;

/** What RECORD made of an attempt it took. */
export interface Taken {
  /** the row's state now, as an outcome (`retry`: pending again): the attempt's own, but a 410 from a URL its row has left since is retried */
  outcome: Outcome;
  /** for `retry`, when: sooner than asked when the row has been sent elsewhere since */
  nextAttemptAt: Date | null;
  /** its 410 Gone spoke for its endpoint (it went to the URL the row still has): the endpoint's pending rows are cancelled */
  gone: boolean;
}

/** What record did: the rows it moved on, and whether any has a pending row of its ordering key behind it. */
export interface Recorded {
  ids: number[];
  /** each of `ids` (as a number) and what became of its attempt */
  taken: Map<number, Taken>;
  /** a row behind one of these (same ordering key, pending) may be claimed now */
  followed: boolean;
  /** the look for followers failed (the record itself is committed): `followed` is then true, for a claim to look */
  followError?: unknown;
}

/**
 * Records a batch of attempts (RECORD), then looks for rows behind those it
 * moved on (FOLLOWED). `db` must not be a transaction: FOLLOWED must run
 * after RECORD has committed.
 */
export async function record(db: Queryable, records: readonly AttemptRecord[], now: Date): Promise<Recorded> {
  if (records.length === 0) return { ids: [], taken: new Map(), followed: false };
  // Whatever a producer's transport reports is made storable here, where every attempt passes: a text
  // PostgreSQL refuses failed the whole batch, for good (storableText).
  const headers = (h: Record<string, string>) => JSON.stringify(Object.fromEntries(Object.entries(h).map(([k, v]) => [storableText(k), storableText(v)])));
  const updated = await db.query<{ id: number; freed_key: string | null; state: OutboundState; next_attempt_at: Date; gone: boolean }>(RECORD, [
    records.map((r) => r.id),
    records.map((r) => r.attemptsBefore),
    records.map((r) => r.outcome),
    records.map((r) => r.nextAttemptAt),
    records.map((r) => r.startedAt),
    records.map((r) => r.durationMs),
    records.map((r) => r.status),
    records.map((r) => storableText(r.excerpt)),
    records.map((r) => storableText(r.error)),
    records.map((r) => headers(r.requestHeaders)),
    records.map((r) => r.skipped === true),
    now,
    records.map((r) => r.leaseUntil ?? null),
    records.map((r) => r.url ?? null),
  ]);
  const ids = updated.map((r) => r.id);
  const taken = new Map(
    updated.map((r): [number, Taken] => [
      Number(r.id),
      r.state === 'pending'
        ? { outcome: 'retry', nextAttemptAt: new Date(r.next_attempt_at), gone: r.gone === true }
        : { outcome: r.state, nextAttemptAt: null, gone: r.gone === true },
    ]),
  );
  const freed = updated.filter((r) => r.freed_key !== null);
  if (freed.length === 0) return { ids, taken, followed: false };
  try {
    const [behind] = await db.query<{ followed: boolean }>(FOLLOWED, [freed.map((r) => r.freed_key), freed.map((r) => r.id)]);
    return { ids, taken, followed: behind!.followed };
  } catch (error) {
    // RECORD has committed: the caller must still settle these, so this is no reason to throw
    return { ids, taken, followed: true, followError: error };
  }
}
