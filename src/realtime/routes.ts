import type { App, AppDeps } from '../http/deps.js';
import { brokerRoutes } from './broker-routes.js';
import type { Realtime } from './index.js';
import { sessionRoutes } from './session-routes.js';

/** Chat sessions, the MQTT endpoint of the embedded broker, and the auth hooks of external ones. */
export async function realtimeRoutes(app: App, deps: AppDeps, realtime: Realtime): Promise<void> {
  sessionRoutes(app, deps, realtime);
  await brokerRoutes(app, deps, realtime);
}
