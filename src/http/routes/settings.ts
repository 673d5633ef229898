import { assertActorStill } from '../../agents/agents.js';
import type { Ctx } from '../../context.js';
import { withEvents } from '../../events/outbox.js';
import { drain } from '../../routing/match.js';
import { readSettings, writeSettings, type Settings } from '../../settings/settings.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { errorResponses, SettingsBody, SettingsPatchBody } from '../schemas.js';

/**
 * A raised max_customers gives room to every agent without their own
 * capacity: drain in the same transaction. `by`: the admin asking (null:
 * Switchboard itself).
 */
export async function changeSettings(ctx: Ctx, patch: Partial<Settings>, by: string | null): Promise<Settings> {
  return withEvents(
    ctx,
    async (tx, emit) => {
      // an admin when the request came, and still one as it is written
      await assertActorStill(tx, by, ['admin']);
      const now = ctx.now();
      await writeSettings(tx, patch, now);
      emit({ type: 'settings.changed', data: { changed: patch, by } });
      await drain(tx, emit, now);
      return readSettings(tx);
    },
    { routing: true },
  );
}

export function settingsRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['settings'];
  app.get(
    '/api/v1/settings',
    { schema: { tags, summary: 'Runtime settings (admin, supervisor)', response: { 200: SettingsBody, ...errorResponses } }, onRequest: requireAgent(ctx, ['admin', 'supervisor']) },
    async () => readSettings(ctx.db),
  );
  app.patch(
    '/api/v1/settings',
    { schema: { tags, summary: 'Change runtime settings (admin); persisted', body: SettingsPatchBody, response: { 200: SettingsBody, ...errorResponses } }, onRequest: requireAgent(ctx, ['admin']) },
    async (request) => changeSettings(ctx, request.body as Partial<Settings>, request.actor.id),
  );
}
