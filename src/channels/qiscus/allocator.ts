import type { Ctx } from '../../context.js';
import { allocatePass, type PassOptions, type PassResult } from './allocate.js';
import type { QiscusClient } from './client.js';

// When allocation passes run. A new room, a freed slot and the poll each ask
// for one; a pass that assigned rooms from a full batch asks for the next.
// When a pass found every offered agent full, new rooms alone do not start
// another (they would only fetch the same full lists again): a freed slot or
// the poll does — the poll is how agents coming online in Qiscus are noticed,
// since no webhook says so.

export type Reason = 'new' | 'freed' | 'poll';

export interface Allocator {
  kick(reason: Reason): void;
  /** one pass now, whatever the loop is doing (tests) */
  pass(): Promise<PassResult>;
  start(): void;
  stop(): Promise<void>;
}

export function createAllocator(ctx: Ctx, client: QiscusClient, options: PassOptions & { pollMs: number; onError(error: unknown): void }): Allocator {
  let started = false;
  let due = false;
  let blocked = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const pass = () => allocatePass(ctx, client, options);

  async function run(): Promise<void> {
    while (due && started) {
      due = false;
      try {
        const result = await pass();
        if (result.tried > 0 && result.assigned === 0) blocked = true;
        if (result.assigned > 0 || result.closed > 0) blocked = false;
        if (result.full && (result.assigned > 0 || result.closed > 0)) due = true;
      } catch (error) {
        options.onError(error);
      }
    }
    running = undefined;
  }

  const allocator: Allocator = {
    kick(reason) {
      if (reason === 'new' && blocked) return;
      if (reason !== 'new') blocked = false;
      due = true;
      if (!running && started) running = new Promise<void>((resolve) => setImmediate(resolve)).then(run);
    },
    pass,
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
      await running;
    },
  };
  return allocator;
}
