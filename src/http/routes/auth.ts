import type { App, AppDeps } from '../deps.js';
import { updateAgent } from '../../agents/agents.js';
import { toAgent } from '../../agents/model.js';
import { rehashIfOutdated, verifyPassword } from '../../agents/passwords.js';
import { issueToken, revokeToken } from '../../agents/tokens.js';
import type { AgentRow } from '../../agents/model.js';
import { unauthorized } from '../../errors.js';
import { readSettings } from '../../settings/settings.js';
import { requireAgent } from '../auth.js';
import type { LoginLimiter } from '../security.js';
import { ErrorBody, errorResponses, LoginBody, LoginReply, NoBody } from '../schemas.js';

export function authRoutes(app: App, { ctx, config, realtime }: AppDeps, limiter: LoginLimiter): void {
  app.post(
    '/api/v1/auth/login',
    { schema: { tags: ['auth'], security: [], body: LoginBody, response: { 200: LoginReply, 429: ErrorBody, ...errorResponses } } },
    async (request, reply) => {
      // Counted after validation, before the password: a locked-out caller learns nothing about it,
      // and parallel guesses are counted before any of them is checked.
      const attempt = await limiter.attempt(request, request.body.email);
      const [agent] = await ctx.db.query<AgentRow>('select * from agents where lower(email) = lower($1) and deleted_at is null', [
        request.body.email,
      ]);
      // An unknown email costs as much time as a wrong password.
      const ok = await verifyPassword(request.body.password, agent?.password_hash);
      if (!agent || !ok) throw unauthorized('email or password is wrong');
      await attempt.succeeded();
      await rehashIfOutdated(ctx.db, agent.id, agent.password_hash, request.body.password);
      const { token, expires_at } = await issueToken(ctx.db, agent.id, ctx.now(), config.tokenTtlSeconds);
      const settings = await readSettings(ctx.db);
      return { token, expires_at: expires_at.toISOString(), agent: toAgent(agent, settings.max_customers) };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { schema: { tags: ['auth'], summary: 'Revokes the token used for this call and sets the agent offline', body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: requireAgent(ctx) },
    async (request, reply) => {
      await revokeToken(ctx.db, request.token, ctx.now());
      // Logging out is going offline: the grace period then applies to the agent's conversations.
      await updateAgent(ctx, request.agent.id, { status: 'offline' }, request.actor, { unlessStatusAlready: true });
      // Its MQTT connections end with it: here at once, in other processes at their next token re-check.
      realtime?.broker.endToken?.(request.token);
      return reply.status(204).send();
    },
  );
}
