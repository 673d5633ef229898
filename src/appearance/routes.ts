import { Type } from '@sinclair/typebox';
import { activeGreetings } from '../greetings/greetings.js';
import { PublicGreeting } from '../greetings/schemas.js';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses } from '../http/schemas.js';
import { LIMITS, POSITIONS, readAppearance, replaceAppearance, withTextColor, type Appearance } from './appearance.js';

// GET /api/v1/widget-settings is what the widget reads before anything else:
// public (the loader runs in any site's page, so it is readable cross-origin,
// src/http/security.ts), and only what the widget needs — the look and the
// enabled greetings' triggers.

const PositionSchema = Type.Union(POSITIONS.map((p) => Type.Literal(p)));

const AppearanceBody = Type.Object(
  {
    color: Type.String({ maxLength: 40, description: 'a hex colour, #rrggbb: the launcher, header, buttons and the customer’s messages' }),
    position: Type.String({ maxLength: 40, description: POSITIONS.join(' or ') }),
    launcher_text: Type.String({ maxLength: 200, description: `the launcher button’s label, at most ${LIMITS.launcher_text} characters once trimmed` }),
    title: Type.String({ maxLength: 200, description: `the chat window’s heading, at most ${LIMITS.title} characters once trimmed` }),
    show_agent_avatars: Type.Boolean({ description: 'show agents’ initials beside their messages' }),
  },
  { additionalProperties: false },
);

const WidgetSettings = Type.Object({
  color: Type.String(),
  text_color: Type.String({ description: 'the text colour on `color`: white or black, whichever contrasts more (WCAG AA, at least 4.5:1)' }),
  position: PositionSchema,
  launcher_text: Type.String(),
  title: Type.String(),
  show_agent_avatars: Type.Boolean(),
  greetings: Type.Array(PublicGreeting, { description: 'the enabled greetings, oldest first; with ?visitor=, without those already shown to that visitor' }),
});

const WidgetSettingsQuery = Type.Object(
  { visitor: Type.Optional(Type.String({ maxLength: 100, description: 'the loader’s visitor id: greetings already shown to it are left out' })) },
  { additionalProperties: false },
);

export function appearanceRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['widget'];
  const settings = async (visitor: string | null) => ({ ...withTextColor(await readAppearance(ctx.db)), greetings: await activeGreetings(ctx.db, visitor) });
  app.get(
    '/api/v1/widget-settings',
    {
      schema: {
        tags,
        summary: 'The widget’s look and its greetings’ triggers (public: the loader reads it in the visitor’s page, from any origin)',
        security: [],
        querystring: WidgetSettingsQuery,
        response: { 200: WidgetSettings, ...errorResponses },
      },
    },
    async (request) => settings(request.query.visitor || null),
  );
  app.put(
    '/api/v1/widget-settings',
    {
      schema: { tags, summary: 'Replace the widget’s look (admin); answers as GET', body: AppearanceBody, response: { 200: WidgetSettings, ...errorResponses } },
      onRequest: requireAgent(ctx, ['admin']),
    },
    async (request) => {
      await replaceAppearance(ctx, request.body as Appearance, request.actor.id);
      return settings(null);
    },
  );
}
