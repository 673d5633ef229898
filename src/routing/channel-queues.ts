import { invalid } from '../errors.js';

// A department whose name starts with '@' is a channel's own queue: a
// channel that chooses the agent itself (Qiscus, whose allocator assigns
// from the agents Qiscus lists: '@qiscus') keeps its conversations there,
// where no engine agent serves. An engine agent in such a department would
// be given the channel's rooms without the channel ever hearing of it, and
// a conversation opened or moved there by anyone else would wait for an
// allocator that never looks at it. So people and other channels cannot
// use these names; only the channel's own writes do (in SQL).

export const CHANNEL_QUEUE_PREFIX = '@';

export function isChannelQueue(department: string): boolean {
  return department.startsWith(CHANNEL_QUEUE_PREFIX);
}

const RESERVED = `departments starting with ${CHANNEL_QUEUE_PREFIX} are channels' own queues, routed by their channel alone`;

/** 400 naming `field` when the department is a channel's queue. */
export function assertNotChannelQueue(field: string, department: string | null | undefined): void {
  if (department != null && isChannelQueue(department)) throw invalid(field, `must not be ${JSON.stringify(department)}: ${RESERVED}`);
}

/** 400 naming `field` when any of an agent's departments is a channel's queue. */
export function assertNoChannelQueues(field: string, departments: readonly string[] | undefined): void {
  const queue = departments?.find(isChannelQueue);
  if (queue !== undefined) throw invalid(field, `must not include ${JSON.stringify(queue)}: ${RESERVED}`);
}
