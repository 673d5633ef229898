import type { Ctx } from '../context.js';
import { withEvents } from '../events/outbox.js';
import { readSettings } from '../settings/settings.js';
import { drain } from './match.js';
import { expireOffers } from './offers.js';
import { expireSilentAgents, requeueAfterGrace } from './presence.js';
import { raiseSlaBreaches } from './sla.js';

export interface SweepResult {
  expired: number;
  requeued: number;
  /** offers that ran out unanswered */
  offersExpired: number;
  assigned: number;
  /** conversation.sla_breached events raised */
  slaBreached: number;
}

/**
 * The safety net behind event-driven matching: presence timeouts, the offline
 * grace period, offers that ran out (and those of agents no longer online),
 * and a full drain in case anything was missed. It is also
 * where time alone changes routing (issue #20): a sticky wait that ended
 * makes its conversation eligible for every agent of its department (the
 * drain finds it), aging reorders the queue, and a first-response SLA that
 * passed raises conversation.sla_breached. So these take effect within one
 * sweep interval (SWEEP_INTERVAL, 1 s by default) of their time.
 */
export async function sweep(ctx: Ctx): Promise<SweepResult> {
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      // First: sb_expire_offers and sb_sweep_sla_breaches append their
      // events to the log as they go, while the steps below buffer theirs
      // until the commit, so only in this order do the events' ids follow
      // the order of the changes. Offers of
      // an agent the keep-alive sets offline below go at the next sweep.
      const offers = await expireOffers(tx, emit, now);
      const slaBreached = await raiseSlaBreaches(tx, emit, now);
      const settings = await readSettings(tx);
      const expired = await expireSilentAgents(tx, emit, now, settings);
      const requeued = await requeueAfterGrace(tx, emit, now, settings);
      const assigned = await drain(tx, emit, now);
      return { expired: expired.length, requeued, offersExpired: offers.expired, assigned: assigned.length, slaBreached };
    },
    { routing: true },
  );
}

export interface Sweeper {
  stop(): Promise<void>;
}

/** Runs `sweep` every `intervalMs`, never two at once; a failed sweep (store down) is logged and retried next tick. */
export function startSweeper(ctx: Ctx, intervalMs: number, onError: (error: unknown) => void): Sweeper {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    running = sweep(ctx)
      .then(() => undefined, onError)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
