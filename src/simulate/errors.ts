// Mistakes in a simulation request: a flag, a trace file or a team
// description. The CLI prints the message and exits with status 2.

import { isChannelQueue } from '../routing/channel-queues.js';

export class SimulationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationInputError';
  }
}

export const badInput = (message: string) => new SimulationInputError(message);

/** `name`, a department the engine routes: a channel's own queue (@qiscus) is its channel's to serve, not the simulated engine's. */
export function engineDepartment(name: string, where: string): string {
  if (isChannelQueue(name)) throw badInput(`${where}: ${JSON.stringify(name)} is a channel's own queue (a department starting with @), which the engine does not route`);
  return name;
}
