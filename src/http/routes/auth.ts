import type { App, AppDeps } from '../deps.js';
import { toAgent } from '../../agents/model.js';
import { rehashIfOutdated, verifyPassword } from '../../agents/passwords.js';
import { issueLoginToken, logOut } from '../../agents/tokens.js';
import type { AgentRow } from '../../agents/model.js';
import { RateLimited, unauthorized } from '../../errors.js';
import { readSettings } from '../../settings/settings.js';
import { requireAgent } from '../auth.js';
import { loginKey, type LoginLimiter } from '../security.js';
import { ErrorBody, errorResponses, LoginBody, LoginReply, NoBody } from '../schemas.js';

export function authRoutes(app: App, { ctx, config, realtime }: AppDeps, limiter: LoginLimiter): void {
  app.post(
    '/api/v1/auth/login',
    { schema: { tags: ['auth'], security: [], body: LoginBody, response: { 200: LoginReply, 429: ErrorBody, ...errorResponses } } },
    async (request, reply) => {
      // Counted after validation, before the password: a locked-out caller learns nothing about it,
      // and parallel guesses are counted before any of them is checked.
      const account = await loginKey(ctx.db, request.body.email);
      const attempt = await limiter.attempt(request, account);
      const [agent] = await ctx.db.query<AgentRow>('select * from agents where lower(email) = $1 and deleted_at is null', [account]);
      // An unknown email costs as much time as a wrong password.
      const ok = await verifyPassword(request.body.password, agent?.password_hash).catch(async (error: unknown) => {
        // Too many checks at once (SB_LOGIN_BUSY): no guess was judged, so none is counted.
        if (error instanceof RateLimited) await attempt.succeeded();
        throw error;
      });
      if (!agent || !ok) throw unauthorized('email or password is wrong');
      const checked = await rehashIfOutdated(ctx.db, agent.id, agent.password_hash, request.body.password);
      // Issued only while the password is still the one checked and the agent not deleted: a password
      // changed (or an agent deleted) during the check revokes every token, this one included.
      const issued = await issueLoginToken(ctx.db, agent.id, checked, ctx.now(), config.tokenTtlSeconds);
      if (!issued) throw unauthorized('email or password is wrong');
      await attempt.succeeded();
      const settings = await readSettings(ctx.db);
      return { token: issued.token, expires_at: issued.expires_at.toISOString(), agent: toAgent(issued.agent, settings.max_customers) };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { schema: { tags: ['auth'], summary: 'Revokes the token used for this call and sets the agent offline', body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: requireAgent(ctx) },
    async (request, reply) => {
      // Logging out is going offline: the grace period then applies to the agent's conversations.
      // One transaction: never a revoked token with its agent still online and getting conversations.
      await logOut(ctx, request.token, request.agent.id, request.actor.id);
      // Its MQTT connections end with it: here at once, in other processes at their next token re-check.
      realtime?.broker.endToken?.(request.token);
      return reply.status(204).send();
    },
  );
}
