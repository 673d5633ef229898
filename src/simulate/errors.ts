// Mistakes in a simulation request: a flag, a trace file or a team
// description. The CLI prints the message and exits with status 2.

export class SimulationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationInputError';
  }
}

export const badInput = (message: string) => new SimulationInputError(message);
