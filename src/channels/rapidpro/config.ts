import type { Env } from '../../env.js';

// The RapidPro variables. Filled in by the RapidPro work; empty until then.

export interface RapidProConfig {}

export function loadRapidProConfig(_env: Env): RapidProConfig {
  return {};
}
