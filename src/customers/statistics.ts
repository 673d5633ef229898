import { seesEverything, type Actor } from '../agents/model.js';
import { forbidden } from '../errors.js';
import type { Queryable } from '../store/db.js';
import type { CustomersConfig } from './config.js';

// The statistics contract of the customer panel (seed 004): Switchboard asks
// the customer's own service, server-side (so browsers need no CORS),
//
//   GET {STATISTICS_BASE_ENDPOINT}/chimpassist/:customerId/statistics
//       ?start_date_time=YYYYMMDD-HH:mm:ss&end_date_time=YYYYMMDD-HH:mm:ss
//
// for the last 24 hours and the last 7 days, in UTC, and passes on the
// answer when it is what the contract says: an array of {label, value}, the
// value a string, a list of links [{url, label}] or a list of chart points
// [{x, y}]. Anything else, a failure or a timeout becomes {ok:false, error}
// for that range, never an error of the route: the panel shows the note.
// Answers (failures too, briefly) are cached per customer and range, and
// concurrent asks for the same one share a single call.

export type StatisticValue = string | { url: string; label: string }[] | { x: string | number; y: number }[];
export interface StatisticItem {
  label: string;
  value: StatisticValue;
}

export interface RangeWindow {
  /** as sent to the service, YYYYMMDD-HH:mm:ss in UTC */
  start_date_time: string;
  end_date_time: string;
}
export type RangeResult = RangeWindow & ({ ok: true; items: StatisticItem[] } | { ok: false; error: string });

export type RangeName = 'last_24_hours' | 'last_7_days';
export const RANGES: Record<RangeName, number> = { last_24_hours: 24 * 3600_000, last_7_days: 7 * 24 * 3600_000 };

export type CustomerStatistics = { configured: false } | ({ configured: true } & Record<RangeName, RangeResult>);

/** Failures are reused for at most this long, so a service back up is seen soon. */
const FAILURE_CACHE_MS = 5_000;
/** Entries kept at most; the oldest go first. */
const CACHE_ENTRIES = 2_000;
/** An answer larger than this is not read. */
const MAX_ANSWER_BYTES = 1024 * 1024;

export const NOT_A_LIST = 'the statistics service answered something that is not a list of {label, value}';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The contract's date-time format, in UTC: 20181221-11:33:09. */
export function contractDateTime(t: Date): string {
  return `${pad(t.getUTCFullYear(), 4)}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}-${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`;
}

/**
 * Why a customer id cannot be asked about, or undefined. The id is one path
 * segment, percent-encoded, but "." and ".." stay themselves in a URL and
 * would move the request to another path of the service (…/chimpassist/../statistics).
 */
export function unaskableCustomerId(customerId: string): string | undefined {
  return customerId === '.' || customerId === '..' ? `must not be ${JSON.stringify(customerId)}: it is not a customer id the statistics service can be asked about` : undefined;
}

/** The URL asked for one customer and window; the colons of the dates are left as the contract shows them. */
export function statisticsUrl(base: string, customerId: string, window: RangeWindow): string {
  const problem = unaskableCustomerId(customerId);
  if (problem !== undefined) throw new Error(`customerId ${problem}`);
  return `${base}/chimpassist/${encodeURIComponent(customerId)}/statistics?start_date_time=${window.start_date_time}&end_date_time=${window.end_date_time}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The service's answer read against the contract: the items (only `label`
 * and `value` kept), or why it is not one.
 */
export function readStatistics(answer: unknown): { items: StatisticItem[] } | { error: string } {
  if (!Array.isArray(answer)) return { error: `${NOT_A_LIST}: the answer is ${describe(answer)}, not an array` };
  const items: StatisticItem[] = [];
  for (const [i, item] of answer.entries()) {
    const at = `item ${i}`;
    if (!isObject(item)) return { error: `${NOT_A_LIST}: ${at} is ${describe(item)}` };
    if (typeof item.label !== 'string') return { error: `${NOT_A_LIST}: ${at} has no string "label"` };
    const value = readValue(item.value);
    if (typeof value === 'object' && 'problem' in value) return { error: `${NOT_A_LIST}: the "value" of ${at} (${JSON.stringify(item.label)}) ${value.problem}` };
    items.push({ label: item.label, value });
  }
  return { items };
}

function readValue(value: unknown): StatisticValue | { problem: string } {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return { problem: `is ${describe(value)}; it must be a string, a list of {url, label} or a list of {x, y}` };
  if (value.length === 0) return [];
  const first = value[0];
  if (isObject(first) && 'url' in first) {
    const links: { url: string; label: string }[] = [];
    for (const [j, link] of value.entries()) {
      if (!isObject(link) || typeof link.url !== 'string' || typeof link.label !== 'string') return { problem: `is a list of links whose entry ${j} is not {url: string, label: string}` };
      links.push({ url: link.url, label: link.label });
    }
    return links;
  }
  if (isObject(first) && 'x' in first) {
    const points: { x: string | number; y: number }[] = [];
    for (const [j, point] of value.entries()) {
      const y = isObject(point) ? point.y : undefined;
      const x = isObject(point) ? point.x : undefined;
      const okX = typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
      if (!okX || typeof y !== 'number' || !Number.isFinite(y)) return { problem: `is a list of points whose entry ${j} is not {x: number or string, y: number}` };
      points.push({ x: x as string | number, y });
    }
    return points;
  }
  return { problem: 'is a list of neither {url, label} links nor {x, y} points' };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `a string`;
  return `a ${typeof value}`;
}

/**
 * The body of an answer, or undefined when it is more than `limit` bytes:
 * then reading stops there and the rest is cancelled, not read.
 */
async function readAtMost(response: Response, limit: number): Promise<Uint8Array | undefined> {
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

export interface StatisticsClient {
  /** Both ranges for one customer, ending now. */
  forCustomer(customerId: string): Promise<CustomerStatistics>;
}

interface Cached {
  /** reused while it is in flight, then until this instant */
  until: number;
  settled: boolean;
  result: Promise<RangeResult>;
}

export function statisticsClient(config: CustomersConfig, now: () => Date, fetchImpl: typeof fetch = fetch): StatisticsClient {
  const base = config.statisticsBaseEndpoint;
  const cache = new Map<string, Cached>();

  const ask = async (url: string, window: RangeWindow): Promise<RangeResult> => {
    const fail = (error: string): RangeResult => ({ ...window, ok: false, error });
    const seconds = `${config.statisticsTimeoutMs / 1000} s`;
    let response: Response;
    let text: string;
    try {
      // No redirects: the URL asked is the one built from STATISTICS_BASE_ENDPOINT and
      // the id, and an answer may not send this server (and its network position) elsewhere.
      response = await fetchImpl(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(config.statisticsTimeoutMs), redirect: 'manual' });
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel().catch(() => undefined);
        return fail(`the statistics service answered a redirect (HTTP ${response.status}), which is not followed`);
      }
      const length = Number(response.headers.get('content-length') ?? 0);
      if (length > MAX_ANSWER_BYTES) {
        await response.body?.cancel().catch(() => undefined);
        return fail(`the statistics service answered more than ${MAX_ANSWER_BYTES} bytes`);
      }
      // A chunked answer has no content-length (and one may be wrong): the
      // bytes are counted as they arrive, and the rest is not read.
      const bytes = await readAtMost(response, MAX_ANSWER_BYTES);
      if (bytes === undefined) return fail(`the statistics service answered more than ${MAX_ANSWER_BYTES} bytes`);
      text = new TextDecoder().decode(bytes);
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') return fail(`the statistics service did not answer within ${seconds}`);
      return fail(`the statistics service could not be reached: ${e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)}`);
    }
    if (!response.ok) return fail(`the statistics service answered HTTP ${response.status}`);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return fail(`${NOT_A_LIST}: the answer is not JSON`);
    }
    const read = readStatistics(data);
    return 'error' in read ? fail(read.error) : { ...window, ok: true, items: read.items };
  };

  const range = (customerId: string, name: RangeName, end: Date): Promise<RangeResult> => {
    const key = `${name}\u0000${customerId}`;
    const at = end.getTime();
    const hit = cache.get(key);
    // A call in flight is shared until it answers, whatever the TTL (0
    // included, or a service slower than it); then its answer is reused
    // until `until`.
    if (hit && (!hit.settled || hit.until > at)) return hit.result;
    const window: RangeWindow = { start_date_time: contractDateTime(new Date(at - RANGES[name])), end_date_time: contractDateTime(end) };
    const result = ask(statisticsUrl(base!, customerId, window), window);
    const entry: Cached = { until: at + config.statisticsCacheMs, settled: false, result };
    cache.delete(key);
    cache.set(key, entry);
    // A failure is kept only briefly; measured from when it is known.
    const failed = () => {
      entry.until = Math.min(entry.until, now().getTime() + FAILURE_CACHE_MS);
    };
    void result.then(
      (r) => {
        entry.settled = true;
        if (!r.ok) failed();
      },
      () => {
        entry.settled = true;
        failed();
      },
    );
    while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    return result;
  };

  return {
    async forCustomer(customerId) {
      if (base === undefined) return { configured: false };
      const end = now();
      const [day, week] = await Promise.all([range(customerId, 'last_24_hours', end), range(customerId, 'last_7_days', end)]);
      return { configured: true, last_24_hours: day, last_7_days: week };
    },
  };
}

/**
 * Supervisors and admins see any customer's statistics. An agent sees those
 * of a customer with a verified conversation they hold, last held (a closed
 * one), or held before it was transferred away (the event log says so).
 * Verified, because anyone can claim a customer id: an unsigned widget chat,
 * or a conversation an agent opened themselves through the API (an agent
 * does not vouch), unlocks nothing (issue #16).
 */
export async function assertCanSeeCustomer(db: Queryable, actor: Actor, customerId: string): Promise<void> {
  if (seesEverything(actor)) return;
  const [row] = await db.query<{ one: number }>(
    `select 1 as one from conversations c
      where c.customer_id = $1 and c.customer_verified
        and (c.agent_id = $2
             or exists (select 1 from events e
                         where e.conversation_id = c.id and e.agent_id = $2
                           and e.type in ('conversation.assigned', 'conversation.transferred')))
      limit 1`,
    [customerId, actor.id],
  );
  if (!row) throw forbidden(`customer ${JSON.stringify(customerId)} has no conversation you hold or held whose customer is verified`);
}
