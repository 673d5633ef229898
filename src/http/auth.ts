import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Actor, AgentIdentity, Role } from '../agents/model.js';
import { agentForToken } from '../agents/tokens.js';
import type { Ctx } from '../context.js';
import { isCustomerToken, sessionForToken, type CustomerSession } from '../realtime/sessions.js';
import { forbidden, unauthorized } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
    /** only who the token speaks for: a route that needs the agent's status, name etc. reads them */
    agent: AgentIdentity;
    token: string;
    /** set instead of agent/actor when a customer's session token was admitted */
    customerSession?: CustomerSession;
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

/**
 * An onRequest hook that admits a live token of one of `roles` (all roles
 * when none given). It runs before the body is parsed, so a caller without a
 * token learns nothing about what the route would accept.
 */
export function requireAgent(ctx: Ctx, roles: readonly Role[] = []): onRequestAsyncHookHandler {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw unauthorized();
    const agent = await agentForToken(ctx.db, token, ctx.now());
    if (!agent) throw unauthorized('the token is unknown, expired or revoked; log in again');
    if (roles.length > 0 && !roles.includes(agent.role)) {
      throw forbidden(`this needs the role ${roles.join(' or ')}; you are ${agent.role}`);
    }
    request.agent = agent;
    request.actor = { id: agent.id, role: agent.role };
    request.token = token;
  };
}

/**
 * Admits an agent's token, or a customer's session token (the widget reads
 * its own conversation's history after reconnecting). The handler must check
 * `request.customerSession` before using `request.actor`.
 */
export function requireAgentOrCustomer(ctx: Ctx): onRequestAsyncHookHandler {
  const agents = requireAgent(ctx);
  return async function (this: unknown, request: FastifyRequest, reply: FastifyReply) {
    const token = bearerToken(request);
    if (token === undefined || !isCustomerToken(token)) return agents.call(this as never, request, reply);
    const session = await sessionForToken(ctx.db, token, ctx.now());
    if (!session) throw unauthorized('the session token is unknown or expired; start a new session');
    request.customerSession = session;
    request.token = token;
  };
}

/**
 * Admits only a customer's live session token (the widget's): an agent's
 * token is refused with `refuseAgent`'s 403, before the body is read.
 */
export function requireCustomer(ctx: Ctx, refuseAgent: () => Error): onRequestAsyncHookHandler {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw unauthorized('a session token is required: send Authorization: Bearer <token from POST /session>');
    if (!isCustomerToken(token)) {
      if (await agentForToken(ctx.db, token, ctx.now())) throw refuseAgent();
      throw unauthorized('the token is unknown, expired or revoked');
    }
    const session = await sessionForToken(ctx.db, token, ctx.now());
    if (!session) throw unauthorized('the session token is unknown or expired; start a new session');
    request.customerSession = session;
    request.token = token;
  };
}
