import type { Env } from '../env.js';

// The Realtime variables. Filled in by the Realtime work; empty until then.

export interface RealtimeConfig {}

export function loadRealtimeConfig(_env: Env): RealtimeConfig {
  return {};
}
