// An agent's presence. The keep-alive timeout and the offline grace period are
// steps of the sweep (sb_sweep_step, src/store/migrations/routing/functions.sql).
export type AgentStatus = 'online' | 'away' | 'offline';
