import type { Files } from '../../files/files.js';
import { renewedLinks } from '../../files/fresh-links.js';
import { attachmentPath } from '../../files/links.js';
import type { Producer } from '../outbound/worker.js';
import { disableEndpoint } from './endpoints.js';
import { signatureHeaders } from './signing.js';

// What webhooks add to the generic outbox: signatures made at each attempt
// (webhook-timestamp is the attempt's) over a body whose file links are
// signed afresh for it, and the endpoint's health — 410 Gone or failing for
// days disables it.

/**
 * A message.created delivery's body with its uploaded files' links signed
 * as of `now` (src/files/fresh-links.ts): a delivery retried, or redelivered
 * weeks later (POST /api/v1/deliveries/:id/redeliver), carried the links of
 * its queueing, dead after ATTACHMENT_OUTBOUND_LINK_TTL. Any other body
 * passes as it is.
 */
export function withFreshMessageLinks(body: Buffer, files: Files | undefined, now: Date): Buffer {
  // every message.created body has an attachments list, nearly always empty or
  // of links elsewhere: only one holding this server's file path is parsed
  if (!files || !body.includes(attachmentPath(''))) return body;
  let payload: { type?: unknown; data?: { message?: { attachments?: unknown } } };
  try {
    payload = JSON.parse(body.toString('utf8')) as typeof payload;
  } catch {
    return body;
  }
  const message = payload?.type === 'message.created' ? payload.data?.message : undefined;
  const fresh = Array.isArray(message?.attachments) ? renewedLinks(files, message.attachments, now) : undefined;
  return fresh ? Buffer.from(JSON.stringify({ ...payload, data: { ...payload.data, message: { ...message, attachments: fresh } } })) : body;
}

export const USER_AGENT = 'Switchboard-Webhooks/0.1';
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 3600 * 1000;

interface SigningRow {
  id: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  enabled: boolean;
  failing_since: Date | null;
}

export function webhookProducer(options: { disableAfterFailingMs?: number; onDisabled?: (endpointId: string, reason: string) => void } = {}): Producer {
  const disableAfter = options.disableAfterFailingMs ?? DISABLE_AFTER_FAILING_MS;
  // Endpoints last seen failing: only for them does a success need a write.
  const failing = new Set<string>();
  return {
    async prepare(ctx) {
      // Every enabled endpoint: a handful of rows, read while the claim runs.
      const endpoints = await ctx.db.query<SigningRow>(
        'select id, secret, previous_secret, previous_secret_expires_at, enabled, failing_since from webhook_endpoints where enabled',
      );
      const now = ctx.now();
      for (const e of endpoints) {
        if (e.failing_since === null) failing.delete(e.id);
        else failing.add(e.id);
      }
      const byId = new Map(endpoints.map((e) => [e.id, e]));
      return (rows, attemptAt) => {
        const timestamp = Math.floor(attemptAt.getTime() / 1000);
        const headers = new Map<number, Record<string, string>>();
        // sent instead of the queued body: the signature covers what goes
        const bodies = new Map<number, Buffer>();
        // the server's clock, as every link it signs (attemptAt is the wall clock, for webhook-timestamp)
        const linksAt = ctx.now();
        for (const row of rows) {
          const endpoint = row.endpoint_id ? byId.get(row.endpoint_id) : undefined;
          if (!endpoint) continue;
          const previousLive = endpoint.previous_secret !== null && endpoint.previous_secret_expires_at !== null && new Date(endpoint.previous_secret_expires_at) > now;
          const body = withFreshMessageLinks(row.body, ctx.files, linksAt);
          if (body !== row.body) bodies.set(row.id, body);
          headers.set(row.id, {
            'user-agent': USER_AGENT,
            ...signatureHeaders({ secret: endpoint.secret, previousSecret: previousLive ? endpoint.previous_secret : null, id: row.message_id, timestamp, body }),
          });
        }
        return { headers, bodies, cancelled: 'the webhook endpoint is disabled or deleted' };
      };
    },

    async settle(ctx, results) {
      const now = ctx.now();
      const ok = new Set<string>();
      const failed = new Set<string>();
      const gone = new Set<string>();
      for (const { row, record, gone: wasGone } of results) {
        if (!row.endpoint_id || record.skipped) continue;
        if (record.outcome === 'delivered') ok.add(row.endpoint_id);
        // RECORD's verdict, not the status alone: a 410 from a URL the endpoint has left since (an admin
        // moved it while the attempt went) says nothing of the endpoint, and is an ordinary failure.
        else if (wasGone === true) gone.add(row.endpoint_id);
        else failed.add(row.endpoint_id);
      }
      for (const id of ok) failed.delete(id);
      const recovered = [...ok].filter((id) => failing.has(id));
      if (recovered.length > 0) {
        await ctx.db.query('update webhook_endpoints set failing_since = null where id = any($1::uuid[]) and failing_since is not null', [recovered]);
        for (const id of recovered) failing.delete(id);
      }
      for (const id of failed) failing.add(id);
      const tooLong: { id: string; failing_since: Date }[] =
        failed.size === 0
          ? []
          : await ctx.db.query(
              `update webhook_endpoints set failing_since = coalesce(failing_since, $2)
                where id = any($1::uuid[]) and enabled
                returning id, failing_since`,
              [[...failed], now],
            );
      const disable = new Map<string, string>();
      for (const id of gone) disable.set(id, 'the receiver answered 410 Gone');
      for (const row of tooLong) {
        const since = new Date(row.failing_since);
        if (now.getTime() - since.getTime() >= disableAfter) disable.set(row.id, `every delivery has failed since ${since.toISOString()}`);
      }
      for (const [id, reason] of disable) {
        if (await disableEndpoint(ctx, id, reason)) options.onDisabled?.(id, reason);
      }
    },
  };
}

