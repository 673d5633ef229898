// Reading the event log in its commit-safe order (migration 0022). Ids are
// drawn before commit, so the log is not read in id order: it is read in
// (xid_bound, id) order, and only below the horizon, where no transaction
// still open can add an event before what a reader has passed. Every reader
// that follows the log with a cursor (the webhook fan-out, the channel feeds,
// GET /api/v1/events) uses these pieces, so they cannot disagree.

/** The log order, for `order by`, on the events table aliased `e`. */
export const LOG_ORDER = (e: string) => `${e}.xid_bound, ${e}.id`;

/**
 * Events (alias `e`) past a position that are final: their transactions and
 * every older one have ended, so nothing can commit later with a position
 * before theirs. `position` is a subquery giving one (xid_bound, id) row,
 * uncorrelated, so that the comparison is an index condition on
 * events_log_order (a row taken from a join is only a filter: a scan of the
 * whole log). No row (a cursor another process holds) reads nothing.
 */
export const PAST = (e: string, position: string) => `(${e}.xid_bound, ${e}.id) > (${position}) and ${e}.xid_bound < event_horizon()`;

/** A reader's own cursor, locked for the page (`$param` names it); no row while another process holds it. */
export const LOCKED_CURSOR = (param: string) =>
  `select last_xid_bound, last_event_id from outbox_cursors where name = ${param} for update skip locked`;

/** Events a reader has not passed yet, final or not (still to come to it). */
export const NOT_PASSED = (e: string, cursor: string) =>
  `(${e}.xid_bound, ${e}.id) > (select last_xid_bound, last_event_id from outbox_cursors where name = '${cursor}')`;

/**
 * Whether cursor `cursor` has committed events ahead that are not final yet
 * (an older transaction is still open): the reader should look again in a
 * moment rather than wait for the next commit or poll.
 */
export const WAITING = (cursor: string) => /* sql */ `select exists (
  select 1 from events e where e.xid_bound >= event_horizon() and ${NOT_PASSED('e', cursor)}) as waiting`;

/** Moves cursor $1 to the event ($2 = its xid_bound, $3 = its id). */
export const MOVE_CURSOR = /* sql */ `update outbox_cursors set last_xid_bound = $2, last_event_id = $3 where name = $1`;

/**
 * The position of the last final event, or the cursor's own (alias `k`) when
 * it is further: for a reader that skips to the end of the log unread.
 */
export const END_OF_LOG = (k: string) => /* sql */ `(
  select l.xid_bound, l.id from (
    (select xid_bound, id from events where xid_bound < event_horizon() order by xid_bound desc, id desc limit 1)
    union all select ${k}.last_xid_bound, ${k}.last_event_id
  ) l order by l.xid_bound desc, l.id desc limit 1)`;

/** A position in the log: an event's xid_bound and id. */
export interface LogPosition {
  xid_bound: number;
  id: number;
}
