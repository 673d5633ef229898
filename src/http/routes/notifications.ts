import { Type } from '@sinclair/typebox';
import { getPreferences, putPreferences } from '../../notifications/preferences.js';
import { requireAgent } from '../auth.js';
import type { App, AppDeps } from '../deps.js';
import { errorResponses } from '../schemas.js';

const Channels = Type.Object(
  {
    sound: Type.Boolean({ description: 'a short beep when the console tab is hidden' }),
    desktop: Type.Boolean({ description: 'a desktop notification when the tab is hidden and the browser allows it' }),
  },
  { additionalProperties: false },
);

export const NotificationPreferences = Type.Object(
  {
    assignment: Channels,
    customer_message: Channels,
  },
  { additionalProperties: false, description: 'what the console does, while its tab is hidden, on a new assignment and on a new customer message' },
);

export function notificationRoutes(app: App, { ctx }: AppDeps): void {
  const anyone = requireAgent(ctx);
  const tags = ['agents'];

  app.get(
    '/api/v1/agents/me/notification-preferences',
    { schema: { tags, summary: 'Your notification preferences (all on until you change them)', response: { 200: NotificationPreferences, ...errorResponses } }, onRequest: anyone },
    async (request) => getPreferences(ctx.db, request.agent.id),
  );

  app.put(
    '/api/v1/agents/me/notification-preferences',
    {
      schema: { tags, summary: 'Replace your notification preferences', body: NotificationPreferences, response: { 200: NotificationPreferences, ...errorResponses } },
      onRequest: anyone,
    },
    async (request) => putPreferences(ctx.db, request.agent.id, request.body, ctx.now()),
  );
}
