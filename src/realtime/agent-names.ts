import type { Ctx } from '../context.js';
import type { Listening } from '../store/db.js';

/**
 * How long the names read stay good, ms, while this process does not hear
 * the renames other processes commit (its listening connection is down, or
 * not up yet). A rename this process commits is heard at once
 * (agent.updated); one another process commits is heard as its notice
 * arrives (migration 0070), or shows once the names are read again, within this.
 */
export const AGENT_NAMES_MAX_AGE_MS = 30_000;

/** The channel migration 0070's trigger notifies on when an agent's name or deletion changes. */
export const AGENT_NAMES_CHANNEL = 'switchboard_agent_names';

/** Agents' names for the control topics' `sessionInfo.agent` (src/realtime/publisher.ts). */
export interface AgentNames {
  nameOf(id: string): Promise<string>;
  /** A rename or deletion this process committed: the next announce reads the name again. */
  forget(id: string): void;
  /** Stops listening for other processes' renames. */
  close(): Promise<void>;
}

const ALL = 'select id, name from agents where deleted_at is null';
const ONE = 'select name from agents where id = $1';

/**
 * Names kept per process. Every agent's name is read in one statement, when
 * first needed and again after any process renames or deletes an agent (a
 * notice on AGENT_NAMES_CHANNEL); while the notices may go unheard, also
 * once the last such read is `maxAgeMs` old (the clock is the context's):
 * one read per agent was one more round trip for
 * every agent's first assignment after a start, a third of the creates of
 * bench/creates-http.ts (1,000 agents, 3,000 creates). An agent that read
 * did not find (created since, or deleted) is read alone, as is one
 * forgotten after a rename. Concurrent announces naming the same agent
 * share its read.
 */
export function agentNames(ctx: Ctx, maxAgeMs = AGENT_NAMES_MAX_AGE_MS): AgentNames {
  let known = new Map<string, Promise<string>>();
  let readAt = -Infinity;
  let reading: Promise<void> | undefined;
  /** forgotten while the whole read was on the way: what it brings of them may predate the rename */
  let forgottenMeanwhile = new Set<string>();
  /** true only while the listening connection is up: a rename made meanwhile would go unheard */
  let hearing = false;
  /** bumped at every notice: a read begun before one may predate the rename, and is not kept */
  let generation = 0;
  const stale = () => {
    generation += 1;
    known = new Map();
    readAt = -Infinity;
  };
  let failedWhileStarting = false;
  const listening: Promise<Listening | undefined> = ctx.db
    .listen(AGENT_NAMES_CHANNEL, {
      notified: stale,
      reconnected: () => {
        stale();
        hearing = true;
      },
      onError: () => {
        failedWhileStarting = true;
        hearing = false;
      },
    })
    .then(
      (listening) => {
        // a first attempt that failed is retried; `reconnected` says when it hears again
        if (!failedWhileStarting) hearing = true;
        stale();
        return listening;
      },
      () => undefined,
    );

  function readAll(): Promise<void> {
    const started = ctx.now().getTime();
    const at = generation;
    forgottenMeanwhile = new Set();
    const read = ctx.db.query<{ id: string; name: string }>(ALL).then(
      (rows) => {
        if (at !== generation) return;
        const next = new Map<string, Promise<string>>();
        for (const { id, name } of rows) if (!forgottenMeanwhile.has(id)) next.set(id, Promise.resolve(name));
        known = next;
        readAt = started;
      },
      // A failed read is not remembered: the agent is read alone, and the next announce tries the whole read again.
      () => undefined,
    );
    const tracked: Promise<void> = read.finally(() => {
      if (reading === tracked) reading = undefined;
    });
    reading = tracked;
    return tracked;
  }

  function readOne(id: string): Promise<string> {
    const name = ctx.db.query<{ name: string }>(ONE, [id]).then(([row]) => row?.name ?? 'Agent');
    known.set(id, name);
    // A failed read is not remembered: the next announce reads again.
    name.catch(() => {
      if (known.get(id) === name) known.delete(id);
    });
    return name;
  }

  const due = () => readAt === -Infinity || (!hearing && ctx.now().getTime() - readAt >= maxAgeMs);

  return {
    async nameOf(id) {
      if (reading === undefined && due()) void readAll();
      if (reading !== undefined) await reading;
      return known.get(id) ?? readOne(id);
    },
    forget(id) {
      known.delete(id);
      forgottenMeanwhile.add(id);
    },
    async close() {
      hearing = false;
      await (await listening)?.close();
    },
  };
}
