import type { Client } from 'aedes';
import { tokenDigest } from '../agents/tokens.js';
import type { Ctx } from '../context.js';
import { identify, identityKey, keyOf, liveDigests, type Identity } from './identity.js';

// The embedded broker's connections and what each was made with: its
// identity, its token and when that token stops being good. A connection
// lasts no longer than its token — it is closed when the token expires (a
// timer), when it is revoked in this process (logout, DELETE /session,
// agent events) and, for revocations in other processes sharing the
// database, by a periodic re-check of every connection's token. And a
// client id belongs to one identity while the broker keeps its session.

interface Connection {
  identity: Identity;
  token: string;
  digest: string;
  expiresAt: Date;
  /** when the token was last read from the database and found good (ctx.now, ms) */
  checkedAt: number;
  /** closed by Switchboard (its token is no longer good): nothing more is delivered to it */
  ended: boolean;
}

/** The longest a Node timer can wait; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Digests per re-check query: keeps each statement's parameter small. */
const RECHECK_BATCH = 500;

/**
 * Connections one identity may hold at once in this process (connecting or
 * connected): a customer's widget needs one per open tab, an agent's console
 * one per tab or device. Anyone can get a customer token (POST /session), so
 * without a cap one token could hold any number of sockets and their memory.
 */
export const MAX_CONNECTIONS_PER_IDENTITY = { customer: 10, agent: 20 } as const;

/**
 * Persistent sessions (clean: false) one identity may have the broker keep
 * in this process, connected or not: each keeps its subscriptions and the
 * messages queued for it while it is away, so without a cap one token could
 * leave any number behind (connect, subscribe, disconnect, again).
 */
export const MAX_PERSISTENT_SESSIONS_PER_IDENTITY = { customer: 10, agent: 20 } as const;

export interface Connections {
  /**
   * Records an authenticated client: 'ok'. 'taken' when its client id is
   * bound to another identity (a live connection, or a persistent session the
   * broker keeps); 'full' when its identity holds MAX_CONNECTIONS_PER_IDENTITY
   * already, or asks for a new persistent session with
   * MAX_PERSISTENT_SESSIONS_PER_IDENTITY kept; 'gone' when its connection closed meanwhile (while its token
   * was being read): the connection must be refused.
   */
  admit(client: Client, identity: Identity, token: string, expiresAt: Date): 'ok' | 'taken' | 'full' | 'gone';
  /** the broker registered the client (before its CONNACK): its expiry timer starts */
  ready(client: Client): void;
  /** the client disconnected: forgets it, and frees its client id when its session ended with it */
  gone(client: Client): void;
  identityOf(client: Client): Identity | undefined;
  /** synchronous, for deliveries: the connection is known, not ended, and its token not past its expiry */
  usable(client: Client): boolean;
  /**
   * The connection's identity at subscribe and publish time, or undefined
   * after closing the connection when the token was revoked or expired, or
   * the agent's role changed. An agent's token is read again each time
   * (through the process's token cache, exact by its notices); a customer's
   * session is read again once its last reading is `freshForMs` old — until
   * then its expiry is checked against the clock, an ended session in this
   * process has closed the connection already (endToken), and one ended in
   * another process is caught by that reading or the periodic re-check.
   */
  refresh(client: Client): Promise<Identity | undefined>;
  /** closes, at once, every connection made with this token (it was just revoked here) */
  endToken(token: string): number;
  /** re-reads the tokens of this agent's connections; closes those revoked, expired or whose role changed */
  revalidateAgent(agentId: string): Promise<void>;
  /**
   * re-reads every connection's token in a few batched queries; closes the
   * dead ones; returns how many. And forgets the offline persistent sessions
   * whose token died (a customer's session ended or expired, an agent's login
   * revoked or expired, the agent deleted).
   */
  recheck(): Promise<number>;
  close(): void;
}

/**
 * `freshForMs`: how long a customer session's reading is trusted at
 * subscribe and publish time (0: read every time); the broker passes its
 * re-check period, so a session ended in another process is refused within it
 * either way.
 */
export function createConnections(
  ctx: Ctx,
  options: {
    freshForMs?: number;
    /** drops what the broker keeps for an offline persistent session (its subscriptions, queued messages) */
    forgetSession?(clientId: string): Promise<void>;
  } = {},
): Connections {
  const freshForMs = options.freshForMs ?? 0;
  const byClient = new WeakMap<Client, Connection>();
  const timers = new Map<Client, NodeJS.Timeout>();
  /** client id → the identity it belongs to, and the clients using it now (connecting or connected) */
  const bindings = new Map<string, { key: string; clients: Set<Client> }>();
  /** identity key → its clients admitted and not gone (connecting or connected) */
  const byIdentity = new Map<string, Set<Client>>();
  /**
   * client id → the token digest of a persistent session (clean: false) the
   * broker keeps while nobody is connected with it. A customer's session has
   * one token: once it is dead, the session cannot be resumed. An agent's is
   * forgotten with the login it was made with (logout, expiry): left, it
   * queued the agent's events until the process restarted.
   */
  const offline = new Map<string, string>();
  /** client ids whose offline session the broker is forgetting now: not to be resumed meanwhile */
  const forgetting = new Set<string>();
  /** identity key → the client ids of its persistent sessions, connected or kept offline */
  const persistent = new Map<string, Set<string>>();

  /** the client id is free: its session is over (a clean one ended, a persistent one forgotten) */
  const unbind = (clientId: string, key: string) => {
    bindings.delete(clientId);
    const kept = persistent.get(key);
    if (kept?.delete(clientId) && kept.size === 0) persistent.delete(key);
  };

  /**
   * Every client admitted and not gone: connected, or still between its
   * CONNECT's check and the broker's registering it (a logout then must
   * reach it too: it would otherwise be served until the next re-check).
   */
  const admitted = (): Client[] => [...byIdentity.values()].flatMap((clients) => [...clients]);

  const end = (client: Client) => {
    const connection = byClient.get(client);
    if (connection) connection.ended = true;
    client.close();
  };

  /** a token that no longer stands for anyone, or for an agent whose role changed: its rights were granted to someone else */
  const lapsed = (before: Identity, now: Identity | undefined) =>
    !now || now.kind !== before.kind || (now.kind === 'agent' && before.kind === 'agent' && now.agent.role !== before.agent.role);

  function arm(client: Client) {
    const connection = byClient.get(client);
    if (!connection || connection.ended) return;
    const wait = connection.expiresAt.getTime() - ctx.now().getTime();
    if (wait <= 0) return end(client);
    // Checked again when it fires: the clock the token's expiry is measured on is ctx.now.
    timers.set(client, setTimeout(() => arm(client), Math.min(wait, MAX_TIMER_MS)).unref());
  }

  const connections: Connections = {
    admit(client, identity, token, expiresAt) {
      // Its 'close' has been (or is being) said already: a place taken now
      // would wait for a close that never comes, and aedes drops such a
      // client without 'clientDisconnect' — ten of them would lock a
      // customer out for good.
      if (client.closed || client.conn.destroyed) return 'gone';
      const key = identityKey(identity);
      const binding = bindings.get(client.id);
      if (binding && binding.key !== key) return 'taken';
      if (forgetting.has(client.id)) return 'full';
      const mine = byIdentity.get(key) ?? new Set<Client>();
      // A connection this one takes over (same client id: aedes closes it) does not count.
      let holding = 0;
      for (const other of mine) if (other.id !== client.id) holding += 1;
      if (holding >= MAX_CONNECTIONS_PER_IDENTITY[identity.kind]) return 'full';
      const sessions = persistent.get(key);
      if (!client.clean && !sessions?.has(client.id) && (sessions?.size ?? 0) >= MAX_PERSISTENT_SESSIONS_PER_IDENTITY[identity.kind]) return 'full';
      // Checked and taken in one synchronous step: two CONNECTs racing for one id (or the last place) cannot both pass.
      if (binding) binding.clients.add(client);
      else bindings.set(client.id, { key, clients: new Set([client]) });
      byIdentity.set(key, mine.add(client));
      if (!client.clean) persistent.set(key, (sessions ?? new Set<string>()).add(client.id));
      offline.delete(client.id);
      // `identity` was read just before (identifyUntil): it counts as a reading.
      byClient.set(client, { identity, token, digest: tokenDigest(token), expiresAt, checkedAt: ctx.now().getTime(), ended: false });
      // A connection that drops before the broker registers it never says
      // 'clientDisconnect': its hold on the client id ends with the socket.
      client.conn.once('close', () => connections.gone(client));
      return 'ok';
    },

    ready(client) {
      // Not admitted, or gone already (its place given back): nothing to time.
      if (!byClient.has(client) || !bindings.get(client.id)?.clients.has(client)) return;
      arm(client);
    },

    gone(client) {
      clearTimeout(timers.get(client));
      timers.delete(client);
      const binding = bindings.get(client.id);
      if (!binding?.clients.delete(client)) return;
      const mine = byIdentity.get(binding.key);
      if (mine?.delete(client) && mine.size === 0) byIdentity.delete(binding.key);
      if (binding.clients.size > 0) return;
      // A clean session ends with its connection (and a clean CONNECT wiped
      // whatever persistent one its id had); a persistent one stays with the
      // broker (and its queued messages with it), so its id stays bound until
      // its token dies (recheck).
      if (client.clean) unbind(client.id, binding.key);
      else {
        const connection = byClient.get(client);
        if (connection) offline.set(client.id, connection.digest);
      }
    },

    identityOf(client) {
      return byClient.get(client)?.identity;
    },

    usable(client) {
      const connection = byClient.get(client);
      return !!connection && !connection.ended && connection.expiresAt.getTime() > ctx.now().getTime();
    },

    async refresh(client) {
      const connection = byClient.get(client);
      if (!connection || connection.ended) return undefined;
      const at = ctx.now();
      if (connection.identity.kind === 'customer' && at.getTime() - connection.checkedAt < freshForMs) {
        // What identify's query would say of an expiry, without the round trip.
        if (connection.expiresAt.getTime() > at.getTime()) return connection.identity;
        end(client);
        return undefined;
      }
      const now = await identify(ctx.db, connection.token, at);
      if (lapsed(connection.identity, now)) {
        end(client);
        return undefined;
      }
      connection.identity = now!;
      connection.checkedAt = at.getTime();
      return now;
    },

    endToken(token) {
      const digest = tokenDigest(token);
      let ended = 0;
      for (const client of admitted()) {
        if (byClient.get(client)?.digest !== digest) continue;
        end(client);
        ended += 1;
      }
      return ended;
    },

    async revalidateAgent(agentId) {
      // whichever token each connection was made with
      for (const client of [...(byIdentity.get(keyOf('agent', agentId)) ?? [])]) {
        const connection = byClient.get(client);
        if (connection?.identity.kind !== 'agent' || connection.identity.agent.id !== agentId) continue;
        await connections.refresh(client);
      }
    },

    async recheck() {
      const at = ctx.now().getTime();
      const clients = admitted().filter((client) => !byClient.get(client)!.ended);
      const digests = [...new Set(clients.map((client) => byClient.get(client)!.digest))];
      const states = new Map<string, string>();
      for (let i = 0; i < digests.length; i += RECHECK_BATCH) {
        for (const [digest, state] of await liveDigests(ctx.db, digests.slice(i, i + RECHECK_BATCH), ctx.now())) states.set(digest, state);
      }
      // Offline persistent sessions: their tokens in queries of their own, when any is kept.
      const kept = [...offline];
      let failure: unknown;
      const asked = new Set(digests);
      const more = [...new Set(kept.map(([, digest]) => digest))].filter((digest) => !asked.has(digest));
      for (let i = 0; i < more.length; i += RECHECK_BATCH) {
        for (const [digest, state] of await liveDigests(ctx.db, more.slice(i, i + RECHECK_BATCH), ctx.now())) states.set(digest, state);
      }
      for (const [clientId, digest] of kept) {
        // Resumed meanwhile (admit took it off the list), or still resumable.
        if (offline.get(clientId) !== digest || states.has(digest)) continue;
        offline.delete(clientId);
        // Its id stays bound until the broker has forgotten the session, so
        // nobody else resumes it meanwhile; nor its owner (an agent back with
        // a new login), whose restored subscriptions the forgetting would
        // take from under them: CONNACK 3, try again.
        forgetting.add(clientId);
        try {
          await options.forgetSession?.(clientId);
        } catch (error) {
          // kept, to be forgotten at a later re-check; the rest goes on
          offline.set(clientId, digest);
          failure ??= error;
          continue;
        } finally {
          forgetting.delete(clientId);
        }
        const binding = bindings.get(clientId);
        if (binding && binding.clients.size === 0 && !offline.has(clientId)) unbind(clientId, binding.key);
      }
      let ended = 0;
      for (const client of clients) {
        const connection = byClient.get(client)!;
        const state = states.get(connection.digest);
        const was = connection.identity.kind === 'agent' ? connection.identity.agent.role : 'customer';
        if (state === was) {
          connection.checkedAt = Math.max(connection.checkedAt, at);
          continue;
        }
        end(client);
        ended += 1;
      }
      // a session that could not be forgotten is reported once the dead connections are closed
      if (failure !== undefined) throw failure;
      return ended;
    },

    close() {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };
  return connections;
}

/**
 * Re-checks every connection's token every `intervalMs` (0 = never; tests
 * call `run`). Polling rather than an event because a revocation in another
 * process leaves no trace this process hears about (a logout writes no event,
 * and PGlite has no LISTEN across processes); one batched query every few
 * seconds is cheap whatever the number of connections.
 */
export function recheckEvery(connections: Connections, intervalMs: number, onError: (error: unknown) => void): { run(): Promise<number>; stop(): void } {
  let running = false;
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (running) return;
          running = true;
          connections
            .recheck()
            .catch(onError)
            .finally(() => (running = false));
        }, intervalMs).unref()
      : undefined;
  return {
    run: () => connections.recheck(),
    stop: () => clearInterval(timer),
  };
}
