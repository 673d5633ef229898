import type { Env } from '../../env.js';

// The Qiscus variables. Filled in by the Qiscus work; empty until then.

export interface QiscusConfig {}

export function loadQiscusConfig(_env: Env): QiscusConfig {
  return {};
}
