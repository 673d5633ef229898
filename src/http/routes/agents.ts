import { Type } from '@sinclair/typebox';
import { createAgent, deleteAgent, getAgent, heartbeat, listAgents, updateAgent } from '../../agents/agents.js';
import { forgetTokens } from '../../agents/tokens.js';
import { hasRoom, toAgent, type AgentRow } from '../../agents/model.js';
import { forbidden } from '../../errors.js';
import { readSettings } from '../../settings/settings.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { Agent, AgentPatchBody, AgentQuery, AgentStatus, errorResponses, IdParams, NewAgentBody, NoBody, OwnStatusBody } from '../schemas.js';

/**
 * What any agent may know of colleagues, to pick one for a transfer: no
 * email, role or loads, only whether a transfer to them would be taken now.
 */
const DirectoryEntry = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  status: AgentStatus,
  departments: Type.Array(Type.String()),
  has_room: Type.Boolean({ description: 'online and below capacity: a transfer to this agent is accepted now' }),
});

function toDirectoryEntry(row: AgentRow, maxCustomers: number) {
  return { id: row.id, name: row.name, status: row.status, departments: row.departments, has_room: hasRoom(row, maxCustomers) };
}

export function agentRoutes(app: App, { ctx }: AppDeps): void {
  const anyone = requireAgent(ctx);
  const admin = requireAgent(ctx, ['admin']);
  const overseer = requireAgent(ctx, ['admin', 'supervisor']);
  const view = async (row: AgentRow) => toAgent(row, (await readSettings(ctx.db)).max_customers);
  const tags = ['agents'];

  app.post(
    '/api/v1/agents',
    { schema: { tags, summary: 'Create an agent (admin)', body: NewAgentBody, response: { 201: Agent, ...errorResponses } }, onRequest: admin },
    // The actor goes along: still a live admin when the row is written, not only on arrival.
    async (request, reply) => reply.status(201).send(await view(await createAgent(ctx, request.body, request.actor))),
  );

  app.get(
    '/api/v1/agents',
    { schema: { tags, summary: 'List agents (admin, supervisor)', querystring: AgentQuery, response: { 200: Type.Array(Agent), ...errorResponses } }, onRequest: overseer },
    async (request) => {
      const max = (await readSettings(ctx.db)).max_customers;
      return (await listAgents(ctx.db, request.query)).map((row) => toAgent(row, max));
    },
  );

  app.get(
    '/api/v1/agents/directory',
    {
      schema: { tags, summary: 'Every agent’s name, presence, departments and whether they have room (any agent; for transfers)', response: { 200: Type.Array(DirectoryEntry), ...errorResponses } },
      onRequest: anyone,
    },
    async () => {
      const max = (await readSettings(ctx.db)).max_customers;
      return (await listAgents(ctx.db)).map((row) => toDirectoryEntry(row, max));
    },
  );

  // Read again: the token's agent may come from the token cache, as it was when looked up.
  app.get('/api/v1/agents/me', { schema: { tags, summary: 'The agent this token belongs to', response: { 200: Agent, ...errorResponses } }, onRequest: anyone }, async (request) =>
    view(await getAgent(ctx.db, request.agent.id)),
  );

  app.patch(
    '/api/v1/agents/me',
    { schema: { tags, summary: 'Set your own presence status', body: OwnStatusBody, response: { 200: Agent, ...errorResponses } }, onRequest: anyone },
    // any role may: the agent need only still be there when it is written
    async (request) => view(await updateAgent(ctx, request.agent.id, { status: request.body.status }, request.actor, { actorRoles: [] })),
  );

  app.post(
    '/api/v1/agents/me/heartbeat',
    {
      schema: { tags, summary: 'Keep-alive; send more often than attendant_keep_alive_ms', body: NoBody, response: { 200: Agent, ...errorResponses } },
      onRequest: anyone,
    },
    async (request) => view(await heartbeat(ctx, request.agent.id)),
  );

  app.get(
    '/api/v1/agents/:id',
    { schema: { tags, summary: 'One agent (admin, supervisor, or yourself)', params: IdParams, response: { 200: Agent, ...errorResponses } }, onRequest: anyone },
    async (request) => {
      if (request.actor.role === 'agent' && request.params.id !== request.actor.id) throw forbidden('agents may only read their own record');
      return view(await getAgent(ctx.db, request.params.id));
    },
  );

  app.patch(
    '/api/v1/agents/:id',
    { schema: { tags, summary: 'Change an agent (admin)', params: IdParams, body: AgentPatchBody, response: { 200: Agent, ...errorResponses } }, onRequest: admin },
    async (request) => {
      const row = await updateAgent(ctx, request.params.id, request.body, request.actor);
      // A role or password changed here is refused at once in this process; others hear it (migration 0047).
      forgetTokens(ctx.db);
      return view(row);
    },
  );

  app.delete(
    '/api/v1/agents/:id',
    {
      schema: { tags, summary: 'Remove an agent; their open conversations are re-queued (admin)', params: IdParams, body: NoBody, response: { 204: {}, ...errorResponses } },
      onRequest: admin,
    },
    async (request, reply) => {
      await deleteAgent(ctx, request.params.id, request.actor);
      forgetTokens(ctx.db);
      return reply.status(204).send();
    },
  );
}
