import { agentName, storableName } from './agent-name.js';
import type { QiscusConfig } from './config.js';
import { qiscusErrorMessage } from './error-body.js';
import { createHttpRequester, type HttpRequest } from './http.js';

// The calls Switchboard makes to Qiscus directly (the assign_agent call goes
// through the durable outbox instead: see producer.ts). Every call has a
// deadline; form-encoded bodies, as most clients send; the admin login token
// is cached and renewed once when Qiscus answers 401.

export type QiscusApi = NonNullable<QiscusConfig['api']>;

export class QiscusError extends Error {
  constructor(
    /** null: no answer (timeout, refused) */
    readonly status: number | null,
    message: string,
  ) {
    super(message);
    this.name = 'QiscusError';
  }
  /** worth trying again later: no answer, 5xx, 429, 408 */
  get transient(): boolean {
    return this.status === null || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/**
 * Qiscus refused the credentials: the admin login answered with no token (a
 * wrong or changed password, say), or a call was answered 401 with a token
 * the login had just given, or with the secret key. Every call waits on it,
 * whatever the room, so no room is failed for it (allocate.ts, fetchFailed)
 * and the channel logs it (channel.ts).
 */
export class QiscusLoginError extends QiscusError {
  constructor(
    status: number,
    message: string,
    /** how long until they are tried again (the SDK server's refusal: lastCommentId), 0 when unknown */
    readonly waitMs = 0,
  ) {
    super(status, message);
    this.name = 'QiscusLoginError';
  }
}

export interface AvailableAgent {
  id: string;
  name: string;
  email: string | null;
  current_customer_count: number;
  is_available: boolean;
  force_offline: boolean;
}

export interface WebhookSettings {
  mark_as_resolved_webhook_url: string | null;
  is_mark_as_resolved_webhook_enabled: boolean | null;
  allocate_agent_webhook_url: string | null;
  is_allocate_agent_webhook_enabled: boolean | null;
}

const PAGE_SIZE = 50;
/** a runaway cursor (a service bug) must not page forever */
const MAX_PAGES = 100;

export interface QiscusClient {
  readonly api: QiscusApi;
  /** Every eligible agent Qiscus offers for the room, all pages. */
  availableAgents(roomId: string): Promise<AvailableAgent[]>;
  setWebhook(kind: 'mark_as_resolved' | 'agent_allocation', url: string, enabled: boolean): Promise<WebhookSettings>;
  /**
   * The id of the room's last comment, as mark_as_resolved wants it, read
   * from the Qiscus SDK server (get_rooms_info); null when the room has no
   * comment. Throws QiscusError when Qiscus does not answer or refuses; in
   * login mode a 401 also forgets the key the login gave, so that the next
   * call logs in again for the current one. In secret mode a 401 is a
   * QiscusLoginError with its `waitMs`: QISCUS_SECRET is not read with
   * again for REFUSED_LOGIN_COOLDOWN_MS, then by one read at a time — on
   * the SDK server only: Multichannel's calls go on as they fare there.
   */
  lastCommentId(roomId: string): Promise<string | null>;
  /** Headers that authenticate a call now (logs in first in login mode when no token is cached). */
  authHeaders(): Promise<Record<string, string>>;
  /**
   * The cached login token was refused: the next call logs in again. Given
   * the token a call was refused with, only if that one is still cached: a
   * late 401 of a call sent before the last login keeps the fresh token, and
   * calls refused together share one login.
   */
  forgetToken(refused?: string): void;
  /**
   * A call made with these credentials (the login's token; undefined with
   * the secret key) was answered 401: `renew` when the token had worked
   * before (it expired: the next call logs in again, and may go at once) or
   * has been replaced since, else the credentials themselves are refused —
   * reported (onAuth), and no call should go for `waitMs`
   * (credentialsCooling).
   */
  refused(credential: string | undefined, what: string): { renew: boolean; waitMs: number };
  /**
   * A call made with these credentials was answered `status`: one that shows
   * them taken (a 2xx, or a 4xx other than 401, 408 and 429) ends a failure
   * of the credentials, if they are still the ones a call would go with.
   */
  answered(credential: string | undefined, status: number): void;
  /**
   * While refused credentials cool down, how long until a call may go again
   * (0: it may now). `renewing`: for the call refused() just told to renew,
   * which goes on its turn (the one call let through after the cool-down)
   * rather than waiting for it.
   */
  credentialsCooling(renewing?: boolean): number;
}

/**
 * Credentials Qiscus refused (a token no call had been taken with yet, the
 * secret key) are not tried again, nor renewed by a login, for this long.
 */
export const REFUSED_LOGIN_COOLDOWN_MS = 15_000;

export interface QiscusClientOptions {
  timeoutMs: number;
  request?: HttpRequest;
  sdkBaseUrl?: string;
  /**
   * How the credentials fare, for the operator's log: a failed login (a
   * QiscusLoginError when refused, a plain QiscusError when Qiscus did not
   * answer it), a QiscusLoginError when a call is refused (401) with fresh
   * credentials; null when a call was taken with them. `server` 'sdk': the
   * SDK server's verdict on QISCUS_SECRET (lastCommentId), apart from
   * Multichannel's.
   */
  onAuth?: (failure: QiscusError | null, server?: 'sdk') => void;
  /** epoch ms, for REFUSED_LOGIN_COOLDOWN_MS (default Date.now) */
  now?: () => number;
}

export function createQiscusClient(api: QiscusApi, options: QiscusClientOptions): QiscusClient {
  const request = options.request ?? createHttpRequester();
  const now = options.now ?? Date.now;
  const noAnswer = (method: string, path: string, error: unknown) => {
    const name = (error as Error).name;
    const why = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${options.timeoutMs} ms` : ((error as { cause?: Error }).cause?.message ?? (error as Error).message);
    return new QiscusError(null, `Qiscus ${method} ${path}: ${why}`);
  };
  let token: Promise<string> | undefined;
  /** the cached token, once its login answered */
  let cached: string | undefined;
  /** login mode: the app's secret key, as the login answer gives it (the SDK server wants it) */
  let appSecret: string | undefined;
  /** login mode: the token a call was last taken with (an expired one is renewed; one never taken is refused) */
  let proven: string | undefined;
  /**
   * the credentials Qiscus refused (a token never taken; undefined: the
   * secret key), when, and until when a call let through to try them again
   * once the cool-down is over (one call, not every waiting one) has the turn
   */
  let refusal: { credential: string | undefined; at: number; probeUntil: number } | undefined;
  /**
   * secret mode: when the SDK server refused QISCUS_SECRET, and the read let
   * through after the cool-down's turn. Its own: were it Multichannel's, a
   * SDK server that refuses (a wrong QISCUS_SDK_BASE_URL) would hold back
   * every assign_agent after each resolve's read (found by review).
   */
  let sdkRefusal: { at: number; probeUntil: number } | undefined;

  /** The SDK server answered `status`: any but 401, 408, 429 or a 5xx shows it took the secret (a 404 of a room too). */
  function sdkTook(status: number): void {
    if (sdkRefusal === undefined || status === 408 || status === 429 || status >= 500) return;
    sdkRefusal = undefined;
    options.onAuth?.(null, 'sdk');
  }

  /** secret mode: how long until the SDK server may be asked again (0: now; this read takes the turn after the cool-down) */
  function sdkCooling(): number {
    if (sdkRefusal === undefined) return 0;
    const at = now();
    if (at < sdkRefusal.probeUntil) return sdkRefusal.probeUntil - at;
    const left = sdkRefusal.at + REFUSED_LOGIN_COOLDOWN_MS - at;
    if (left > 0) return left;
    sdkRefusal.probeUntil = at + options.timeoutMs;
    return 0;
  }

  async function call(method: 'GET' | 'POST', path: string, params: Record<string, string>, headers: Record<string, string>): Promise<{ status: number; json: unknown; text: string }> {
    const query = method === 'GET' ? `?${new URLSearchParams(params).toString()}` : '';
    let status: number;
    let text: string;
    try {
      ({ status, text } = await request(`${api.baseUrl}${path}${query}`, {
        method,
        headers: { accept: 'application/json', ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...headers },
        ...(method === 'POST' ? { body: new URLSearchParams(params).toString() } : {}),
        timeoutMs: options.timeoutMs,
      }));
    } catch (error) {
      throw noAnswer(method, path, error);
    }
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    return { status, json, text };
  }

  async function login(): Promise<string> {
    if (api.auth.mode !== 'login') throw new Error('login mode only');
    let res: Awaited<ReturnType<typeof call>>;
    try {
      res = await call('POST', '/api/v1/auth', { email: api.auth.email, password: api.auth.password }, { 'qiscus-app-id': api.appId });
    } catch (error) {
      if (error instanceof QiscusError) options.onAuth?.(error);
      throw error;
    }
    const user = (res.json as { data?: { user?: { authentication_token?: unknown; app?: { secret_key?: unknown } } } } | null)?.data?.user;
    const tokenValue = user?.authentication_token;
    if (res.status !== 200 || typeof tokenValue !== 'string') {
      const refused =
        res.status >= 500 || res.status === 429
          ? new QiscusError(res.status, `Qiscus login as ${api.auth.email} failed: HTTP ${res.status} ${qiscusErrorMessage(res.text) ?? ''}`.trim())
          : new QiscusLoginError(res.status, `Qiscus login as ${api.auth.email} failed: HTTP ${res.status} ${qiscusErrorMessage(res.text) ?? ''}`.trim());
      options.onAuth?.(refused);
      throw refused;
    }
    if (typeof user?.app?.secret_key === 'string' && user.app.secret_key !== '') appSecret = user.app.secret_key;
    return tokenValue;
  }

  async function authHeaders(): Promise<Record<string, string>> {
    if (api.auth.mode === 'secret') return { 'qiscus-app-id': api.appId, 'qiscus-secret-key': api.auth.secret };
    token ??= login();
    const current = token;
    try {
      const value = await current;
      if (token === current) cached = value;
      return { 'qiscus-app-id': api.appId, authorization: value };
    } catch (error) {
      // a failed login is not cached: the next call tries again
      if (token === current) token = undefined;
      throw error;
    }
  }

  /**
   * The SDK server refused the secret key a login gave: rotated in Qiscus
   * since. Only a login gives the new one, so the token goes with it and the
   * next call logs in again, as forgetToken has it do for a refused token.
   * Unless a later login brought another key already, or is on its way
   * (then it brings the new one).
   */
  function forgetSecret(refused: string): void {
    if (appSecret !== refused) return;
    appSecret = undefined;
    if (cached !== undefined) {
      token = undefined;
      cached = undefined;
    }
  }

  /**
   * The cached token was refused: the next call logs in again. Only if it is
   * still the cached one: calls refused together, or late, with a token
   * since replaced, share one login (the one in flight, or its token).
   */
  function forgetToken(refused: string | undefined): void {
    if (refused !== undefined && cached !== refused) return;
    token = undefined;
    cached = undefined;
  }

  function refused(credential: string | undefined, what: string): { renew: boolean; waitMs: number } {
    const at = now();
    if (api.auth.mode === 'login') {
      // a late answer to a call sent with a token since replaced (or being replaced) says nothing of the current one
      if (credential === undefined || credential !== cached) return { renew: true, waitMs: 0 };
      const lapsed = refusal !== undefined && refusal.credential === credential && at - refusal.at >= REFUSED_LOGIN_COOLDOWN_MS;
      if (credential === proven || lapsed) {
        // It worked before, or its cool-down is over: a login may bring one that works. Once: Qiscus' admin
        // login gives the same token again, and were that refused too, it is refused outright (found by
        // review: `proven` stayed, every 401 renewed, counted, and a room's attempts went in one tick).
        proven = undefined;
        if (lapsed) {
          // the cool-down starts again, and the turn covers this call's login and its call again: were its
          // new token free for all before it is answered, the waiting calls would go with it untried
          refusal!.at = at;
          refusal!.probeUntil = at + 2 * options.timeoutMs;
        }
        forgetToken(credential);
        return { renew: true, waitMs: 0 };
      }
    }
    if (refusal === undefined || refusal.credential !== credential || at - refusal.at >= REFUSED_LOGIN_COOLDOWN_MS) refusal = { credential, at, probeUntil: 0 };
    options.onAuth?.(
      new QiscusLoginError(401, `${what}: HTTP 401 (${api.auth.mode === 'login' ? `with a token the login as ${api.auth.email} gave, no call taken with it yet` : 'with QISCUS_SECRET'})`),
    );
    return { renew: false, waitMs: Math.max(0, refusal.at + REFUSED_LOGIN_COOLDOWN_MS - at) };
  }

  /** `status`: the answer to a call made with `credential`; any but 401, 408, 429 or a 5xx shows they were taken. */
  function answered(credential: string | undefined, status: number): void {
    if (status === 401 || status === 408 || status === 429 || status >= 500) return;
    // only the credentials a call would go with now: a late answer to a replaced token proves nothing of them
    if (api.auth.mode === 'login' && (credential === undefined || credential !== cached)) return;
    if (api.auth.mode === 'login') proven = credential;
    refusal = undefined;
    options.onAuth?.(null);
  }

  function credentialsCooling(renewing = false): number {
    if (refusal === undefined) return 0;
    const at = now();
    // The call trying them again once the cool-down is over, and its login, are under way: the others wait for
    // it. Not its own renewal (found by review: it waited for itself, sent nothing, and once the turn lapsed
    // every waiting call went at once).
    if (!renewing && at < refusal.probeUntil) return refusal.probeUntil - at;
    // In login mode only while that token is still the one a call would go with: a login replaced it. Not
    // while none is cached yet — the probe's renewal forgot it and is logging in — or every waiting call went
    // once the probe's turn lapsed (found by review); except for that renewal itself.
    if (api.auth.mode === 'login' && refusal.credential !== cached && (cached !== undefined || renewing)) return 0;
    const left = refusal.at + REFUSED_LOGIN_COOLDOWN_MS - at;
    if (left > 0) return left;
    if (!renewing) refusal.probeUntil = at + options.timeoutMs;
    return 0;
  }

  /**
   * One call, logging in again once if the token had worked before (it
   * expired). Credentials Qiscus refused (a token no call was taken with,
   * the secret key) are the credentials' fault, not their age: reported
   * (onAuth), and no call goes with them until REFUSED_LOGIN_COOLDOWN_MS
   * has passed, rather than each call logging in again.
   */
  async function authed(method: 'GET' | 'POST', path: string, params: Record<string, string>) {
    const what = `Qiscus ${method} ${path}`;
    const cooling = credentialsCooling();
    if (cooling > 0) throw new QiscusLoginError(401, `${what}: not sent: Qiscus refused the credentials a moment ago (tried again within ${Math.ceil(cooling / 1000)} s)`);
    let headers = await authHeaders();
    let res = await call(method, path, params, headers);
    if (res.status === 401) {
      const verdict = refused(headers.authorization, what);
      if (verdict.renew) {
        // a late 401 to a replaced token renews to the current one, which may be cooling down itself
        const cooling = credentialsCooling(true);
        if (cooling > 0) throw new QiscusLoginError(401, `${what}: not sent again: Qiscus refused the credentials a moment ago (tried again within ${Math.ceil(cooling / 1000)} s)`);
        headers = await authHeaders();
        res = await call(method, path, params, headers);
        if (res.status === 401) refused(headers.authorization, what);
      }
    }
    answered(headers.authorization, res.status);
    const detail = qiscusErrorMessage(res.text);
    if (res.status === 401) throw new QiscusLoginError(401, `${what}: HTTP 401${detail ? ` ${detail}` : ''}`);
    if (res.status < 200 || res.status >= 300) throw new QiscusError(res.status, `${what}: HTTP ${res.status}${detail ? ` ${detail}` : ''}`);
    return res.json;
  }

  return {
    api,
    authHeaders,
    forgetToken,
    refused,
    answered,
    credentialsCooling,

    async availableAgents(roomId) {
      const agents: AvailableAgent[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const params: Record<string, string> = { room_id: roomId, limit: String(PAGE_SIZE), is_available_in_room: 'true' };
        if (cursor !== null) params.cursor_after = cursor;
        const json = (await authed('GET', '/api/v2/admin/service/available_agents', params)) as {
          data?: { agents?: unknown[] };
          meta?: { after?: unknown };
        } | null;
        const list = json?.data?.agents;
        if (!Array.isArray(list)) throw new QiscusError(200, 'Qiscus available_agents answered without data.agents');
        for (const raw of list) {
          const a = raw as Record<string, unknown>;
          if (a.id === undefined || a.id === null) continue;
          const id = String(a.id);
          // Its mirror is found by this id and Qiscus is called with it: one that is not plain,
          // storable text cannot be either, and is left out rather than fail the whole pass.
          if (storableName(id) !== id) continue;
          const email = typeof a.email === 'string' ? a.email : null;
          agents.push({
            id,
            name: agentName(a.name, email, id),
            email,
            current_customer_count: Number.isFinite(Number(a.current_customer_count)) ? Number(a.current_customer_count) : 0,
            is_available: a.is_available === true,
            force_offline: a.force_offline === true,
          });
        }
        const after = json?.meta?.after;
        if (after === null || after === undefined || after === '' || list.length === 0) return agents;
        cursor = String(after);
      }
      return agents;
    },

    async lastCommentId(roomId) {
      // The SDK server knows the app by its id and secret key, the same as Multichannel's (auth mode A); a login
      // (mode B) has the secret key from its answer.
      const base = options.sdkBaseUrl ?? 'https://api.qiscus.com';
      const path = '/api/v2.1/rest/get_rooms_info';
      const cooling = api.auth.mode === 'secret' ? sdkCooling() : 0;
      if (cooling > 0) throw new QiscusLoginError(401, `Qiscus GET ${path}: not sent: the SDK server refused QISCUS_SECRET a moment ago (tried again within ${Math.ceil(cooling / 1000)} s)`, cooling);
      let secret = api.auth.mode === 'secret' ? api.auth.secret : appSecret;
      if (secret === undefined) {
        await authHeaders();
        secret = appSecret;
      }
      if (secret === undefined) throw new QiscusError(null, 'Qiscus login gave no app secret key: the room\'s last comment id cannot be read');
      let status: number;
      let text: string;
      try {
        ({ status, text } = await request(`${base}${path}?${new URLSearchParams({ 'room_ids[]': roomId }).toString()}`, {
          method: 'GET',
          headers: { accept: 'application/json', 'qiscus-sdk-app-id': api.appId, 'qiscus-sdk-secret': secret },
          timeoutMs: options.timeoutMs,
        }));
      } catch (error) {
        throw noAnswer('GET', path, error);
      }
      if (status < 200 || status >= 300) {
        if (status === 401 && api.auth.mode === 'login') forgetSecret(secret);
        if (status !== 401) sdkTook(status);
        const message = qiscusErrorMessage(text);
        if (status === 401 && api.auth.mode === 'secret') {
          const at = now();
          if (sdkRefusal === undefined || at - sdkRefusal.at >= REFUSED_LOGIN_COOLDOWN_MS) sdkRefusal = { at, probeUntil: 0 };
          const refused = new QiscusLoginError(401, `Qiscus GET ${path}: HTTP 401${message ? ` ${message}` : ''} (the SDK server, with QISCUS_SECRET)`, sdkRefusal.at + REFUSED_LOGIN_COOLDOWN_MS - at);
          options.onAuth?.(refused, 'sdk');
          throw refused;
        }
        throw new QiscusError(status, `Qiscus GET ${path}: HTTP ${status}${message ? ` ${message}` : ''}`);
      }
      sdkTook(status);
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        throw new QiscusError(status, `Qiscus GET ${path} answered without JSON`);
      }
      const rooms = (json as { results?: { rooms?: unknown } } | null)?.results?.rooms;
      if (!Array.isArray(rooms)) throw new QiscusError(status, `Qiscus GET ${path} answered without results.rooms`);
      const room = (rooms as Record<string, unknown>[]).find((r) => String(r.room_id_str ?? r.room_id ?? r.id) === roomId);
      if (!room) throw new QiscusError(404, `Qiscus GET ${path}: room ${roomId} not found`);
      // The _str twin keeps ids past 2^53 exact; 0 is a room without comments.
      const id = room.last_comment_id_str ?? room.last_comment_id;
      if (id === undefined || id === null || String(id) === '' || String(id) === '0') return null;
      return String(id);
    },

    async setWebhook(kind, url, enabled) {
      const json = (await authed('POST', `/api/v1/app/webhook/${kind}`, { webhook_url: url, is_webhook_enabled: String(enabled) })) as { data?: Record<string, unknown> } | null;
      const data = json?.data ?? {};
      const str = (v: unknown) => (typeof v === 'string' ? v : null);
      const bool = (v: unknown) => (typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : null);
      return {
        mark_as_resolved_webhook_url: str(data.mark_as_resolved_webhook_url),
        is_mark_as_resolved_webhook_enabled: bool(data.is_mark_as_resolved_webhook_enabled),
        allocate_agent_webhook_url: str(data.allocate_agent_webhook_url),
        is_allocate_agent_webhook_enabled: bool(data.is_allocate_agent_webhook_enabled),
      };
    },
  };
}
