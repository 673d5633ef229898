import pg from 'pg';
import type { ListenHandlers, Listening } from './db.js';

// LISTEN on a connection of its own: a pooled connection is shared by
// statements, and a notification arrives only on the connection that
// listens. PostgreSQL delivers a NOTIFY when its transaction commits, so a
// listener hears of work exactly when others can see it. A connection lost
// (server restart, network) is made again with growing pauses; whatever was
// notified meanwhile is lost, so `reconnected` tells the caller to look.

const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 5_000;

export interface ListenOptions {
  connectionString: string;
  connectTimeoutMs: number;
}

export async function listenPostgres(options: ListenOptions, channel: string, handlers: ListenHandlers): Promise<Listening> {
  let client: pg.Client | undefined;
  let closed = false;
  let pause = FIRST_PAUSE_MS;
  let retry: NodeJS.Timeout | undefined;
  const quoted = `"${channel.replace(/"/g, '""')}"`;

  const lost = (error: unknown) => {
    if (closed) return;
    handlers.onError?.(error);
    const dead = client;
    client = undefined;
    dead?.removeAllListeners();
    // a lost client may still have a socket open; it ends without us waiting
    dead?.on('error', () => {});
    void dead?.end().catch(() => {});
    retry ??= setTimeout(() => {
      retry = undefined;
      void connect(true);
    }, pause);
    retry.unref();
    pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
  };

  async function connect(again: boolean): Promise<void> {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.connectionString, connectionTimeoutMillis: options.connectTimeoutMs, keepAlive: true });
    next.on('error', lost);
    next.on('end', () => lost(new Error(`the connection listening on ${channel} ended`)));
    next.on('notification', (message) => {
      if (message.channel === channel) handlers.notified();
    });
    client = next;
    try {
      await next.connect();
      await next.query(`listen ${quoted}`);
    } catch (error) {
      if (client === next) lost(error);
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    pause = FIRST_PAUSE_MS;
    if (again) handlers.reconnected?.();
  }

  await connect(false);
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      const last = client;
      client = undefined;
      last?.removeAllListeners();
      last?.on('error', () => {});
      await last?.end().catch(() => {});
    },
  };
}
