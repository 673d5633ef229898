import { Type } from '@sinclair/typebox';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { Conversation, errorResponses, IdParams, NoBody } from '../http/schemas.js';
import { queueInfoOf } from '../routing/queue.js';
import { toConversation } from '../conversations/model.js';
import { setConversationLabels } from './conversation-labels.js';
import { createLabel, deleteLabel, listLabels, toLabel, updateLabel } from './labels.js';
import { ConversationLabelsBody, Label, LabelCount, LabelPatchBody, NewLabelBody } from './schemas.js';
import { labelCounts } from './stats.js';

export function labelRoutes(app: App, { ctx }: AppDeps): void {
  const anyone = requireAgent(ctx);
  const admin = requireAgent(ctx, ['admin']);
  const tags = ['labels'];

  app.get(
    '/api/v1/labels',
    { schema: { tags, summary: 'The label catalogue, by name (any agent)', response: { 200: Type.Array(Label), ...errorResponses } }, onRequest: anyone },
    async () => (await listLabels(ctx.db)).map(toLabel),
  );

  app.post(
    '/api/v1/labels',
    { schema: { tags, summary: 'Add a label (admin)', body: NewLabelBody, response: { 201: Label, ...errorResponses } }, onRequest: admin },
    async (request, reply) => reply.status(201).send(toLabel(await createLabel(ctx, request.body))),
  );

  app.patch(
    '/api/v1/labels/:id',
    {
      schema: { tags, summary: 'Rename or recolour a label (admin); a rename follows on every conversation', params: IdParams, body: LabelPatchBody, response: { 200: Label, ...errorResponses } },
      onRequest: admin,
    },
    async (request) => toLabel(await updateLabel(ctx, request.params.id, request.body, request.actor)),
  );

  app.delete(
    '/api/v1/labels/:id',
    { schema: { tags, summary: 'Delete a label (admin); it leaves every conversation', params: IdParams, body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: admin },
    async (request, reply) => {
      await deleteLabel(ctx, request.params.id, request.actor);
      return reply.status(204).send();
    },
  );

  app.put(
    '/api/v1/conversations/:id/labels',
    {
      schema: {
        tags,
        summary: "Replace a conversation's labels (its agent, supervisors, admins); records conversation.labels_changed",
        params: IdParams,
        body: ConversationLabelsBody,
        response: { 200: Conversation, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request) => {
      const row = await setConversationLabels(ctx, request.params.id, request.body.labels, request.actor);
      return toConversation(row, await queueInfoOf(ctx, row));
    },
  );

  app.get(
    '/api/v1/stats/labels',
    {
      schema: { tags: ['stats', ...tags], summary: 'Conversations per label, open now and in all (admin, supervisor)', response: { 200: Type.Array(LabelCount), ...errorResponses } },
      onRequest: requireAgent(ctx, ['admin', 'supervisor']),
    },
    async () => labelCounts(ctx.db),
  );
}
