import type { Db } from './store/db.js';
import type { StoredEvent } from './events/event.js';
import type { Files } from './files/files.js';

/**
 * What domain functions need, passed in explicitly. `now` is the only clock
 * the engine reads: the server passes the wall clock, tests and the simulator
 * a virtual one.
 */
export interface Ctx {
  db: Db;
  now: () => Date;
  /**
   * Called after a transaction that wrote events has committed (metrics,
   * waking the webhook worker). May be called with no events, as a plain
   * "new outbound work was committed" signal.
   */
  onCommitted?: (events: readonly StoredEvent[]) => void;
  /** uploaded files: their store and signed links; none in the simulator */
  files?: Files;
}
