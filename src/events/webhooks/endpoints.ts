import type { Ctx } from '../../context.js';
import { notFound } from '../../errors.js';
import type { Queryable } from '../../store/db.js';
import { withEvents } from '../outbox.js';
import { resolvedProblem, urlProblem } from '../outbound/ssrf.js';
import { SUBSCRIBABLE_EVENTS } from './catalog.js';
import { CURSOR as FANOUT_CURSOR } from './fanout.js';
import { badSecret, badUrl, rotationInGrace, targetPrivate, unknownEvent } from './errors.js';
import { generateSecret, secretProblem } from './signing.js';

// Webhook endpoints: what an admin configures. The secret leaves the server
// twice only — in the answer that creates it and the one that rotates it.

export interface EndpointRow {
  id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  events: string[];
  verify_ssl: boolean;
  app_code: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: Date | null;
  /** its start in the event log (migration 0073) */
  since_xid_bound: number;
  since_event_id: number;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/** An endpoint as the API shows it: never the secret. */
export interface Endpoint {
  id: string;
  url: string;
  events: string[];
  verify_ssl: boolean;
  app_code: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

export function toEndpoint(row: EndpointRow): Endpoint {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    verify_ssl: row.verify_ssl,
    app_code: row.app_code,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    failing_since: iso(row.failing_since),
    previous_secret_expires_at: iso(row.previous_secret_expires_at),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
  };
}

export interface EndpointInput {
  url: string;
  secret?: string;
  events: string[];
  verify_ssl?: boolean;
  app_code?: string | null;
  enabled?: boolean;
}

export type EndpointPatch = Partial<Omit<EndpointInput, 'secret'>>;

export interface Policy {
  allowPrivate: boolean;
}

/**
 * Characters a URL is sent without: the WHATWG parser drops tabs and line
 * breaks anywhere, and control characters and spaces at either end, so an
 * endpoint saved as `http://host/x\r\nX-Evil: 1` was stored and shown as
 * that and contacted as `http://host/xX-Evil:%201`. Refused rather than
 * stored as the parsed href: what the admin sees is what they typed and
 * what is contacted, and a mistake is named instead of silently rewritten.
 * (C1 controls and U+2028/U+2029 are kept by the parser, but no real URL
 * holds one and they break the line a log or a screen shows the URL on.)
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

async function checkUrl(url: string, policy: Policy): Promise<void> {
  const control = CONTROL.exec(url);
  if (control) throw badUrl(`must not contain control characters or line breaks (found U+${control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at position ${control.index})`);
  if (url.trim() !== url) throw badUrl('must not start or end with white space');
  const problem = urlProblem(url, policy.allowPrivate);
  if (problem?.includes('private')) throw targetPrivate(problem);
  if (problem) throw badUrl(problem);
  const resolved = await resolvedProblem(url, policy.allowPrivate);
  if (resolved) throw targetPrivate(resolved);
}

function checkEvents(events: readonly string[]): void {
  events.forEach((name, i) => {
    if (!(SUBSCRIBABLE_EVENTS as readonly string[]).includes(name)) throw unknownEvent(i, name);
  });
}

export async function createEndpoint(ctx: Ctx, input: EndpointInput, by: string | null, policy: Policy): Promise<{ endpoint: EndpointRow; secret: string }> {
  await checkUrl(input.url, policy);
  checkEvents(input.events);
  if (input.secret !== undefined) {
    const problem = secretProblem(input.secret);
    if (problem) throw badSecret(problem);
  }
  const secret = input.secret ?? generateSecret();
  const now = ctx.now();
  // It starts at the log's horizon (migration 0073): every event of a transaction still open
  // now comes after it. The fan-out's cursor first: a page being fanned out, or the skip to
  // the end of the log when no endpoint is enabled, commits before the start is read, so
  // what the skip passed over is all before it.
  const row = await ctx.db.transaction(async (tx) => {
    await tx.query('select 1 from outbox_cursors where name = $1 for update', [FANOUT_CURSOR]);
    const [inserted] = await tx.query<EndpointRow>(
      `insert into webhook_endpoints (url, secret, events, verify_ssl, app_code, enabled, since_xid_bound, since_event_id, created_by, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, event_horizon(), 0, $7, $8, $8)
       returning *`,
      [input.url, secret, [...new Set(input.events)], input.verify_ssl ?? true, input.app_code ?? null, input.enabled ?? true, by, now],
    );
    return inserted!;
  });
  return { endpoint: row, secret };
}

export async function listEndpoints(db: Queryable): Promise<EndpointRow[]> {
  return db.query<EndpointRow>('select * from webhook_endpoints order by created_at, id');
}

/** `forShare`: locked until the transaction ends, against a change (disable, new URL) or a delete. */
export async function getEndpoint(db: Queryable, id: string, options: { forShare?: boolean } = {}): Promise<EndpointRow> {
  const [row] = await db.query<EndpointRow>(`select * from webhook_endpoints where id = $1${options.forShare ? ' for share' : ''}`, [id]);
  if (!row) throw notFound('webhook', id);
  return row;
}

/**
 * A new URL or TLS setting applies to deliveries still waiting too, and
 * makes them due at once: the reason they failed may be gone, and a
 * back-off can be hours, with the conversation's later events waiting
 * behind it. A delivery in flight keeps its lease (leased_until, as in
 * RapidPro's setCallbackUrl): due now, another claim would send it beside
 * its attempt; should that attempt fail, its retry is due at once (RECORD
 * compares the URL the attempt went to). Enabling clears the failure
 * record, so the endpoint starts afresh.
 */
export async function updateEndpoint(ctx: Ctx, id: string, patch: EndpointPatch, policy: Policy): Promise<EndpointRow> {
  if (patch.url !== undefined) await checkUrl(patch.url, policy);
  if (patch.events !== undefined) checkEvents(patch.events);
  const updated = await ctx.db.transaction(async (tx) => {
    const now = ctx.now();
    // The fan-out's cursor first, as createEndpoint: a page being fanned
    // out read the endpoint as it was, and commits its deliveries (at the
    // old URL, for events no longer subscribed) before this change reads
    // the pending rows it re-aims. Unlocked, those deliveries committed
    // after it and went to the URL the admin had just left (found by review).
    await tx.query('select 1 from outbox_cursors where name = $1 for update', [FANOUT_CURSOR]);
    const [row] = await tx.query<EndpointRow>(
      `update webhook_endpoints
          set url = coalesce($2, url),
              events = coalesce($3, events),
              verify_ssl = coalesce($4, verify_ssl),
              app_code = case when $5 then $6 else app_code end,
              enabled = coalesce($7, enabled),
              disabled_reason = case when $7 then null else disabled_reason end,
              failing_since = case when $7 and not enabled then null else failing_since end,
              updated_at = $8
        where id = $1
        returning *`,
      [
        id,
        patch.url ?? null,
        patch.events ? [...new Set(patch.events)] : null,
        patch.verify_ssl ?? null,
        patch.app_code !== undefined,
        patch.app_code ?? null,
        patch.enabled ?? null,
        now,
      ],
    );
    if (!row) throw notFound('webhook', id);
    if (patch.url !== undefined || patch.verify_ssl !== undefined) {
      // in id order, as every statement locking several outbound rows (RECORD, src/events/outbound/outbox.ts)
      await tx.query(
        `update outbound_requests o
            set url = $2, verify_tls = $3,
                next_attempt_at = case when o.leased_until > $4 then o.next_attempt_at else least(o.next_attempt_at, $4) end
          where o.id in (select l.id from outbound_requests l
                          where l.endpoint_id = $1 and l.state = 'pending' and (l.url is distinct from $2 or l.verify_tls is distinct from $3)
                          order by l.id for update)`,
        [id, row.url, row.verify_ssl, now],
      );
    }
    if (patch.enabled === false) await cancelPending(tx, id, 'the endpoint was disabled');
    return row;
  });
  // wakes the outbound worker, which listens to commits
  ctx.onCommitted?.([]);
  return updated;
}

async function cancelPending(tx: Queryable, id: string, reason: string): Promise<void> {
  await tx.query(
    `update outbound_requests set state = 'cancelled', last_error = $2
      where id in (select l.id from outbound_requests l where l.endpoint_id = $1 and l.state = 'pending' order by l.id for update)`,
    [id, reason],
  );
}

/**
 * Its deliveries go with it (on delete cascade). The endpoint's row first,
 * then its deliveries in id order, as every statement locking several
 * outbound rows takes them (RECORD, src/events/outbound/outbox.ts), and as
 * an update or a disable takes the two: the cascade alone took the
 * deliveries in the order it found them, and could deadlock with a
 * worker's record of a batch.
 */
export async function deleteEndpoint(ctx: Ctx, id: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    // The fan-out's cursor first, as updateEndpoint: a page that read the
    // endpoint writes its deliveries before it goes (they go with it).
    // Unlocked, the delete went through beside the page, whose insert then
    // broke on the foreign key, and the page rolled back for every endpoint.
    await tx.query('select 1 from outbox_cursors where name = $1 for update', [FANOUT_CURSOR]);
    const [found] = await tx.query('select 1 from webhook_endpoints where id = $1 for update', [id]);
    if (!found) throw notFound('webhook', id);
    await tx.query('select 1 from outbound_requests where endpoint_id = $1 order by id for update', [id]);
    await tx.query('delete from webhook_endpoints where id = $1', [id]);
  });
}

/**
 * A new secret signs from now on; the old one keeps signing too (a second
 * webhook-signature) for `graceSeconds`, so receivers can switch without
 * dropping a delivery.
 */
export async function rotateSecret(ctx: Ctx, id: string, input: { secret?: string; grace_seconds?: number }): Promise<{ endpoint: EndpointRow; secret: string }> {
  if (input.secret !== undefined) {
    const problem = secretProblem(input.secret);
    if (problem) throw badSecret(problem);
  }
  const secret = input.secret ?? generateSecret();
  const now = ctx.now();
  const grace = input.grace_seconds ?? 24 * 3600;
  const row = await ctx.db.transaction(async (tx) => {
    const [current] = await tx.query<Pick<EndpointRow, 'previous_secret_expires_at'>>('select previous_secret_expires_at from webhook_endpoints where id = $1 for update', [id]);
    if (!current) throw notFound('webhook', id);
    // One previous secret is kept: a second rotation with a grace would put
    // the first new one in its place and drop the original at once, though
    // receivers were promised it until the end of its grace.
    const graceEnds = current.previous_secret_expires_at === null ? null : new Date(current.previous_secret_expires_at);
    if (grace > 0 && graceEnds !== null && graceEnds.getTime() > now.getTime()) throw rotationInGrace(graceEnds);
    const [updated] = await tx.query<EndpointRow>(
      `update webhook_endpoints
          set previous_secret = case when $3::int > 0 then secret end,
              previous_secret_expires_at = case when $3::int > 0 then $4::timestamptz + make_interval(secs => $3::int) end,
              secret = $2, updated_at = $4
        where id = $1
        returning *`,
      [id, secret, grace, now],
    );
    return updated!;
  });
  return { endpoint: row, secret };
}

/** Turns an endpoint off, cancels what waits for it, and tells admins with a webhook.disabled event. */
export async function disableEndpoint(ctx: Ctx, id: string, reason: string): Promise<boolean> {
  return withEvents(ctx, async (tx, emit) => {
    const now = ctx.now();
    const [row] = await tx.query<EndpointRow>(
      `update webhook_endpoints set enabled = false, disabled_reason = $2, updated_at = $3 where id = $1 and enabled returning *`,
      [id, reason, now],
    );
    if (!row) return false;
    await cancelPending(tx, id, `the endpoint was disabled: ${reason}`);
    emit({ type: 'webhook.disabled', data: { webhook: toEndpoint(row), reason } });
    return true;
  });
}
