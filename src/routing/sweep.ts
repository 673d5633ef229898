import type { Ctx } from '../context.js';
import { routingCall } from './calls.js';
import { SLA_BATCH } from './sla.js';

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
  const now = ctx.now();
  const [row] = await routingCall<SweepRow>(ctx, SWEEP_STEP, [now, SLA_BATCH], now);
  return { expired: row!.agents_expired, requeued: row!.requeued, offersExpired: row!.offers_expired, assigned: row!.assigned, slaBreached: row!.sla_breached };
}

/**
 * One call (sb_sweep_step): every step of the sweep, in one transaction under
 * the routing lock; a sweep with nothing to do returns on its probes without
 * the lock (sb_sweep_has_work).
 */
const SWEEP_STEP = /* sql */ `select o.agents_expired, o.requeued, o.offers_expired, o.assigned, o.sla_breached, o.logged
  from sb_sweep_step($1::timestamptz, $2::int) o`;

interface SweepRow {
  agents_expired: number;
  requeued: number;
  offers_expired: number;
  assigned: number;
  sla_breached: number;
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
