import type { Ctx } from '../../context.js';
import { allocatePass, type Lane, type Offer, type PassOptions, type PassResult, type QueueSpot } from './allocate.js';
import type { QiscusClient } from './client.js';

/** A back-off's pass a little after its end: a timer may fire a millisecond early, and the pass would find the room not due. */
const RETRY_MARGIN_MS = 20;

/** At most one FREED_SINCE check in this many ms. */
const FREED_CHECK_MS = 50;

/** Whether one of the mirrors has a lower load than the one given (a slot freed since it was read). */
const FREED_SINCE = /* sql */ `select exists (
  select 1 from unnest($1::uuid[], $2::int[]) as was(id, load) join agents a on a.id = was.id where a.load < was.load) as freed`;

// When allocation passes run. A new room, a freed slot and the poll each ask
// for one; a pass that assigned rooms from a full batch asks for the next.
// When a pass found every offered agent full, new rooms do not start another
// pass from the head (it would only fetch the same full lists again): a
// freed slot or the poll does — the poll is how agents coming online in
// Qiscus are noticed, since no webhook says so. Qiscus lists agents per room
// (its channel, its division), though, so a new room may be offered agents
// with room while the older rooms' are full: the rooms that arrive while
// blocked get passes of their own that read those rooms alone (one list
// each, as any new room costs), decided behind the older rooms, whose slots
// are kept (Lane.waiting). A slot freed in another process (a resolve
// webhook or a console resolve it served) kicks only that one; so a new room
// that finds this process blocked also asks the store whether one of the
// agents it was blocked on has a lower load than that pass read, and starts
// a pass from the head if so (one query, never a call to Qiscus). A room
// whose agent list failed is tried again when its back-off ends (1 s, 2 s,
// 4 s …), by a pass of its own.
//
// Passes overlap (issue #22): a room that arrives while a pass waits for
// Qiscus' agent lists gets a pass of its own at once, up to passesAtOnce,
// rather than waiting for that pass to end and then for its own. Each pass
// reads rooms no other pass holds, one read at a time (Lane.claim), and
// decides under the row locks that make any two passes safe (allocate.ts),
// one decision at a time (Lane.decision): what overlaps is the waiting for
// Qiscus, not the transactions.
// Passes are also pipelined: a pass that reached its decision no longer
// counts against passesAtOnce, so the next pass reads and fetches the rooms
// that arrived meanwhile while it decides, and, waiting for its own turn,
// takes those that arrive after (Lane.turn): a room arriving during a
// decision waits for that decision and its own, not for the rest of a pass
// and then a whole pass of its own (issue #22).
// Queue order across passes: a pass keeps, on every agent, a slot for each
// room of an earlier pass not decided yet (Lane.reserve); a room left
// waiting for want of those slots alone is tried again once they are. And a
// pass reads only rooms no other pass holds, so a room the decision before
// it left waiting (its agents full) is not among its rooms: each decision
// keeps, in queue order, the slot each such room read by no pass since would
// take now, on the list it was decided on (Lane.waiting), so a slot freed
// meanwhile is not given to a newer room; the room's next pass (the freed
// slot asks for one) assigns it on a fresh list. This holds within a
// process; across processes each process's passes read the oldest rooms,
// so FIFO there is as close as their passes are apart.

export type Reason = 'new' | 'freed' | 'poll';

// How many at once is QISCUS_PASSES_AT_ONCE, 1 by default: with Qiscus
// answering fast, passes at once only wait for each other's decisions and
// were slower end to end (bench/RESULTS.md, 2026-11-25 01:51–02:40 UTC); a
// second and third keep rooms moving while one waits on a slow or stuck
// agent list (up to QISCUS_TIMEOUT).

export interface Allocator {
  /** `room`: the conversation a 'new' kick is for, read alone while the queue is blocked */
  kick(reason: Reason, room?: string): void;
  /** one pass now, alone, whatever the loop is doing (tests) */
  pass(): Promise<PassResult>;
  start(): void;
  stop(): Promise<void>;
}

export function createAllocator(ctx: Ctx, client: QiscusClient, options: PassOptions & { pollMs: number; passesAtOnce: number; onError(error: unknown): void; onUnmirrored?(agentIds: string[]): void }): Allocator {
  let started = false;
  /** a pass is wanted as soon as fewer than passesAtOnce run */
  let wanted = false;
  let blocked = false;
  /** the agents the pass that blocked found full, with their loads then (and those passes of new rooms found since) */
  let blockedOn: { id: string; load: number }[] = [];
  /** rooms that arrived while blocked, not read by a pass yet, in arrival order */
  const arrived = new Set<string>();
  /** a pass of the arrived rooms is wanted */
  let freshWanted = false;
  /** a FREED_SINCE check in flight or waiting for its turn, and when the last one started */
  let checking = false;
  /** a new room came while a check was on its way: its answer may predate that room's chance */
  let checkAgain = false;
  let checkedAt = -Infinity;
  /** a pass is wanted once every pass up to this one has ended (0: none) */
  let after = 0;
  /**
   * Where the next pass reads from: behind a full batch nobody could take
   * (undefined: the head of the queue), and the agents the pages so far
   * found full, for blockedOn once the last page is read.
   */
  let page: QueueSpot | undefined;
  let fullOnPages: { id: string; load: number }[] = [];
  /** a freed slot or the poll asked for a pass: the next starts from the head, whatever page was next */
  let headAsked = false;
  let timer: NodeJS.Timeout | undefined;
  /** a pass at the end of a room's back-off (a failed agent list), and when */
  let retry: { at: number; timer: NodeJS.Timeout } | undefined;
  let last = 0;
  /**
   * running passes by number, with the rooms each holds; deciding once it
   * reached its decision (it counts no more against passesAtOnce); more
   * while it waits for its turn to decide, to hand it the rooms that arrive
   */
  const running = new Map<number, { done: Promise<void>; rooms: string[]; deciding: boolean; fresh: boolean; more?: () => void }>();
  /** rooms of running passes not decided yet, by pass number */
  const undecided = new Map<number, number>();
  /** rooms decisions left waiting, with their agent lists, until a pass reads them again (Lane.waiting) */
  const leftWaiting = new Map<string, Offer>();
  let reading: Promise<unknown> = Promise.resolve();
  let deciding: Promise<unknown> = Promise.resolve();
  /** decisions under way or waiting for their turn */
  let decisions = 0;

  function laneOf(id: number): Lane {
    return {
      claim(read) {
        const turn = reading.then(async () => {
          const held: string[] = [];
          for (const pass of running.values()) held.push(...pass.rooms);
          const rows = await read(held);
          running.get(id)!.rooms.push(...rows.map((row) => row.id));
          // this pass fetches their lists anew, and decides them
          for (const row of rows) leftWaiting.delete(row.id);
          undecided.set(id, (undecided.get(id) ?? 0) + rows.length);
          return rows;
        });
        reading = turn.catch(() => undefined);
        return turn;
      },
      decision(decide) {
        running.get(id)!.deciding = true;
        decisions += 1;
        const turn = deciding.then(decide).finally(() => (decisions -= 1));
        deciding = turn.catch(() => undefined);
        // no longer reading nor fetching: the next pass may
        schedule();
        return turn;
      },
      turn() {
        const entry = running.get(id)!;
        if (decisions === 0) return Promise.resolve('decide');
        return new Promise((resolve) => {
          let settled = false;
          const settle = (step: 'decide' | 'more') => {
            if (settled) return;
            settled = true;
            if (entry.more === more) entry.more = undefined;
            resolve(step);
          };
          const more = () => settle('more');
          entry.more = more;
          void deciding.then(() => settle('decide'));
          // rooms that arrived while this pass fetched
          schedule();
        });
      },
      reserve() {
        let n = 0;
        for (const [other, rooms] of undecided) if (other < id) n += rooms;
        return n;
      },
      decided() {
        undecided.delete(id);
      },
      waiting() {
        return new Map(leftWaiting);
      },
      settle(left, settled) {
        for (const room of settled) leftWaiting.delete(room);
        // a room another pass read while this one decided is that pass's to decide, on its own list
        const others = new Set<string>();
        for (const [other, pass] of running) if (other !== id) for (const room of pass.rooms) others.add(room);
        for (const [room, offer] of left) if (!others.has(room)) leftWaiting.set(room, offer);
      },
    };
  }

  /** A pass once a backed-off room may be tried again (the earliest such time wins), not only at the poll. */
  function retryAt(at: number): void {
    if (retry && retry.at <= at) return;
    if (retry) clearTimeout(retry.timer);
    const timer = setTimeout(() => {
      retry = undefined;
      if (started) allocator.kick('poll');
    }, Math.max(0, at - ctx.now().getTime()) + RETRY_MARGIN_MS);
    timer.unref();
    retry = { at, timer };
  }

  function ended(id: number, result: PassResult | undefined): void {
    const fresh = running.get(id)?.fresh === true;
    running.delete(id);
    if (result?.retryAt !== undefined) retryAt(result.retryAt);
    if (result?.unmirrored) options.onUnmirrored?.(result.unmirrored);
    if (fresh) {
      // The older rooms wait on as they were, whatever the new ones got: still blocked.
      if (result && blocked) blockedOn = mergeLoads(blockedOn, result.fullAgents ?? []);
      if (result?.held) after = Math.max(after, last);
      if (arrived.size > 0) freshWanted = true;
    } else if (result) {
      const stuck = result.tried > 0 && result.assigned === 0 && result.closed === 0 && result.held === 0;
      if (stuck && result.full && result.last) {
        // A full batch nobody can take now (every agent it was offered is full): the rooms behind it may be
        // offered others (another channel's agents), and get a pass at once, page after page, rather than
        // waiting behind the batch until it drains (found by review: they never got one).
        page = result.last;
        fullOnPages.push(...(result.fullAgents ?? []));
        wanted = true;
      } else {
        // Rooms held back for other passes' work are not blocked: once those passes end, they may well be assigned.
        if (result.tried > 0 && result.assigned === 0 && result.held === 0) {
          blocked = true;
          blockedOn = [...fullOnPages, ...(result.fullAgents ?? [])];
        }
        fullOnPages = [];
        if (result.assigned > 0 || result.closed > 0) blocked = false;
        if (result.full && (result.assigned > 0 || result.closed > 0)) wanted = true;
        // Held back for other passes' work (earlier ones' rooms, or a mirror a later one created): again once those end.
        if (result.held > 0) after = Math.max(after, last);
      }
    }
    if (after > 0 && ![...running.keys()].some((other) => other <= after)) {
      after = 0;
      wanted = true;
    }
    schedule();
  }

  /** The arrived rooms a pass of them reads next, taken: a room is read once. */
  function takeArrived(limit: number): string[] {
    const taken = [...arrived].slice(0, limit);
    for (const room of taken) arrived.delete(room);
    return taken;
  }

  function schedule(): void {
    while (started && (wanted || freshWanted)) {
      if (!wanted && arrived.size === 0) {
        freshWanted = false;
        return;
      }
      const fresh = !wanted;
      // A pass waiting for its turn to decide reads them: the newest of its kind, whose rooms are the latest
      // (a pass of arrived rooms reads nothing else, one from the head may not reach them).
      const waiter = [...running.values()].reverse().find((pass) => pass.more !== undefined && pass.fresh === fresh);
      if (waiter) {
        if (fresh) freshWanted = false;
        else wanted = false;
        waiter.more!();
        continue;
      }
      if ([...running.values()].filter((pass) => !pass.deciding).length >= options.passesAtOnce) return;
      const id = ++last;
      const entry = { done: Promise.resolve(), rooms: [] as string[], deciding: false, fresh };
      running.set(id, entry);
      let passOptions: PassOptions;
      if (fresh) {
        freshWanted = false;
        passOptions = { ...options, only: takeArrived };
      } else {
        wanted = false;
        // a page is read once: any pass after it starts from the head again, unless this one finds it stuck too;
        // a freed slot or the poll goes to the head first (its oldest rooms may take the slot)
        const from = headAsked ? undefined : page;
        page = undefined;
        if (from === undefined) {
          headAsked = false;
          fullOnPages = [];
        }
        passOptions = from ? { ...options, after: from } : options;
      }
      entry.done = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => (started ? allocatePass(ctx, client, passOptions, laneOf(id)) : undefined))
        .then(
          (result) => ended(id, result),
          (error: unknown) => {
            options.onError(error);
            ended(id, undefined);
          },
        );
    }
  }

  /**
   * Unblocks, and asks for a pass, when an agent the blocking pass found full
   * has had a slot freed since. One check at a time, at most one every
   * FREED_CHECK_MS: new rooms arriving at capacity (hundreds a second) cost
   * the store a few queries a second, not one each.
   */
  function checkFreed(): void {
    if (checking) {
      checkAgain = true;
      return;
    }
    if (blockedOn.length === 0) return;
    checking = true;
    checkAgain = false;
    const wait = Math.max(0, checkedAt + FREED_CHECK_MS - Date.now());
    setTimeout(() => {
      const on = blockedOn;
      checkedAt = Date.now();
      if (!started || !blocked || on.length === 0) {
        checking = false;
        return;
      }
      void ctx.db
        .query<{ freed: boolean }>(FREED_SINCE, [on.map((a) => a.id), on.map((a) => a.load)])
        .then(
          ([row]) => {
            if (row?.freed && blocked && blockedOn === on) allocator.kick('freed');
          },
          // the poll is still there; a store that fails here fails the pass too
          (error: unknown) => options.onError(error),
        )
        .finally(() => {
          checking = false;
          if (checkAgain && blocked) checkFreed();
        });
    }, wait).unref();
  }

  const allocator: Allocator = {
    kick(reason, room) {
      if (reason === 'new' && blocked) {
        if (room !== undefined) {
          arrived.add(room);
          freshWanted = true;
          schedule();
        }
        return checkFreed();
      }
      if (reason !== 'new') {
        blocked = false;
        // the passes from the head read them in queue order
        arrived.clear();
        freshWanted = false;
        headAsked = true;
        // The rooms running passes hold may have missed this slot: one more pass once they end.
        if (running.size > 0) after = Math.max(after, last);
      }
      wanted = true;
      schedule();
    },
    pass: () => allocatePass(ctx, client, options),
    start() {
      if (started) return;
      started = true;
      timer = setInterval(() => allocator.kick('poll'), options.pollMs);
      timer.unref();
      allocator.kick('poll');
    },
    async stop() {
      started = false;
      clearInterval(timer);
      if (retry) clearTimeout(retry.timer);
      retry = undefined;
      while (running.size > 0) await Promise.all([...running.values()].map((pass) => pass.done));
      leftWaiting.clear();
      arrived.clear();
      freshWanted = false;
    },
  };
  return allocator;
}

/** The agents of both lists, each with the higher of its loads read. */
function mergeLoads(was: readonly { id: string; load: number }[], read: readonly { id: string; load: number }[]): { id: string; load: number }[] {
  const byId = new Map(was.map((a) => [a.id, a]));
  // The higher load stays the mark: a pass of new rooms may read an agent
  // after a slot of theirs was freed in another process, and lowering the mark
  // to that would hide the freed slot from FREED_SINCE (the older rooms wait
  // for it). A mark too high costs at most one pass from the head.
  for (const a of read) byId.set(a.id, { id: a.id, load: Math.max(a.load, byId.get(a.id)?.load ?? a.load) });
  return [...byId.values()];
}
