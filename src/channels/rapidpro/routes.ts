import type { App, AppDeps } from '../../http/deps.js';
import { ticketerRoutes } from './admin-routes.js';
import { mailroomRoutes } from './mailroom-routes.js';

/** Everything RapidPro adds to the HTTP API: the admin's ticketers and mailroom's endpoints. */
export function rapidproRoutes(app: App, deps: AppDeps): void {
  ticketerRoutes(app, deps);
  // Its own plugin: mailroom's endpoints answer errors as {"error":"…"}, not the core envelope.
  void app.register(mailroomRoutes(deps));
}
