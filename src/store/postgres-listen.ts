import pg from 'pg';
import type { ListenHandlers, Listening } from './db.js';

// LISTEN on a connection of its own: a pooled connection is shared by
// statements, and a notification arrives only on the connection that
// listens. PostgreSQL delivers a NOTIFY when its transaction commits, so a
// listener hears of work exactly when others can see it. A connection lost
// (server restart, network) is made again with growing pauses; whatever was
// notified meanwhile is lost, so `reconnected` tells the caller to look.
//
// A connection can also be lost without a word: a NAT, load balancer or
// firewall that drops an idle flow, or a failed-over host, leaves the socket
// open and silent, and TCP keepalive with the OS defaults (7200 s on Linux,
// then its probes) reports it only hours later, while every notice is lost
// (the token cache, src/agents/tokens.ts, would keep admitting revoked
// tokens). So the listening connection checks itself: `select 1` every
// `checkEveryMs`, and no answer within `checkTimeoutMs` (or an error) counts
// as a lost connection, exactly like an error reported by the socket. TCP
// keepalive starts probing after `keepAliveInitialDelayMs` of silence too.

const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 5_000;

/** How often a listening connection checks that it still answers, by default. */
export const LISTEN_CHECK_EVERY_MS = 5_000;
/** How long a check may go unanswered before the connection counts as lost, by default. */
export const LISTEN_CHECK_TIMEOUT_MS = 3_000;
/** Silence before TCP keepalive's first probe on a listening connection, by default. */
export const LISTEN_KEEPALIVE_DELAY_MS = 10_000;

export interface ListenOptions {
  connectionString: string;
  connectTimeoutMs: number;
  /** pause between the end of one check (`select 1`) and the next; LISTEN_CHECK_EVERY_MS by default */
  checkEveryMs?: number;
  /** a check unanswered this long counts as a lost connection; LISTEN_CHECK_TIMEOUT_MS by default */
  checkTimeoutMs?: number;
  /** TCP keepalive's first probe after this much silence; LISTEN_KEEPALIVE_DELAY_MS by default */
  keepAliveInitialDelayMs?: number;
}

export async function listenPostgres(options: ListenOptions, channel: string, handlers: ListenHandlers): Promise<Listening> {
  const checkEveryMs = options.checkEveryMs ?? LISTEN_CHECK_EVERY_MS;
  const checkTimeoutMs = options.checkTimeoutMs ?? LISTEN_CHECK_TIMEOUT_MS;
  const keepAliveInitialDelayMillis = options.keepAliveInitialDelayMs ?? LISTEN_KEEPALIVE_DELAY_MS;
  let client: pg.Client | undefined;
  let closed = false;
  let pause = FIRST_PAUSE_MS;
  let retry: NodeJS.Timeout | undefined;
  /** the next check of the connection that listens (one at a time) */
  let check: NodeJS.Timeout | undefined;
  const quoted = `"${channel.replace(/"/g, '""')}"`;

  const lost = (error: unknown) => {
    if (closed) return;
    clearTimeout(check);
    check = undefined;
    handlers.onError?.(error);
    const dead = client;
    client = undefined;
    dead?.removeAllListeners();
    // a lost client may still have a socket open; it ends without us waiting
    // (with a check unanswered, pg destroys the socket rather than wait on it)
    dead?.on('error', () => {});
    void dead?.end().catch(() => {});
    if (dead) dropIfSilent(dead, checkTimeoutMs);
    retry ??= setTimeout(() => {
      retry = undefined;
      void connect(true);
    }, pause);
    retry.unref();
    pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
  };

  const checkLater = (listening: pg.Client) => {
    clearTimeout(check);
    check = setTimeout(() => {
      check = undefined;
      void checkNow(listening);
    }, checkEveryMs);
    check.unref();
  };

  /** `text`'s answer on `listening`, or a rejection once it has gone unanswered for checkTimeoutMs */
  async function answered(listening: pg.Client, text: string, what: string): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      const silence = new Error(`the connection listening on ${channel} did not answer ${what} within ${checkTimeoutMs} ms`);
      timeout = setTimeout(() => reject(silence), checkTimeoutMs);
      timeout.unref();
    });
    try {
      await Promise.race([listening.query(text), silent]);
    } finally {
      clearTimeout(timeout);
    }
  }

  async function checkNow(listening: pg.Client): Promise<void> {
    if (closed || client !== listening) return;
    try {
      await answered(listening, 'select 1', 'a check');
    } catch (error) {
      if (client === listening) lost(error);
      return;
    }
    if (!closed && client === listening) checkLater(listening);
  }

  async function connect(again: boolean): Promise<void> {
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis,
    });
    next.on('error', lost);
    next.on('end', () => lost(new Error(`the connection listening on ${channel} ended`)));
    next.on('notification', (message) => {
      if (message.channel === channel) handlers.notified();
    });
    client = next;
    try {
      await next.connect();
      await answered(next, `listen ${quoted}`, 'LISTEN');
    } catch (error) {
      if (client === next) lost(error);
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    pause = FIRST_PAUSE_MS;
    checkLater(next);
    if (again) handlers.reconnected?.();
  }

  await connect(false);
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      clearTimeout(check);
      check = undefined;
      const last = client;
      client = undefined;
      last?.removeAllListeners();
      last?.on('error', () => {});
      if (last) await ended(last, checkTimeoutMs);
    },
  };
}

/**
 * pg's end() sends Terminate and waits for the server to close the socket;
 * on a path that went silent (no FIN, no RST) that wait lasts until the
 * kernel gives up, some 15 minutes, and a close() awaiting it held up the
 * server's whole shutdown. So the socket is destroyed once `ms` pass.
 */
async function ended(client: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
    timer.unref();
  });
  const outcome = await Promise.race([client.end().then(() => 'ended' as const, () => 'ended' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') destroySocket(client);
}

/** A lost connection's socket is not waited for, but it is not kept open either. */
function dropIfSilent(client: pg.Client, ms: number): void {
  const timer = setTimeout(() => destroySocket(client), ms);
  timer.unref();
  client.once('end', () => clearTimeout(timer));
}

function destroySocket(client: pg.Client): void {
  // `connection.stream` is pg's socket; not in its types
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
