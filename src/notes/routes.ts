import { Type } from '@sinclair/typebox';
import { toMessage } from '../conversations/messages.js';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses, IdParams, Message, NoBody } from '../http/schemas.js';
import { addNote, deleteNote, editNote } from './notes.js';

const NoteBody = Type.Object({ text: Type.String({ minLength: 1, maxLength: 10_000 }) }, { additionalProperties: false });
const NoteParams = Type.Object({ id: Type.String({ format: 'uuid' }), noteId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

export function noteRoutes(app: App, { ctx }: AppDeps): void {
  const anyone = requireAgent(ctx);
  const tags = ['notes'];

  app.post(
    '/api/v1/conversations/:id/notes',
    {
      schema: {
        tags,
        summary: 'Add a private note: agents see it among the messages (private: true); the customer and every channel never do',
        params: IdParams,
        body: NoteBody,
        response: { 201: Message, ...errorResponses },
      },
      onRequest: anyone,
    },
    async (request, reply) => reply.status(201).send(toMessage(await addNote(ctx, request.params.id, request.body.text, { ...request.actor, id: request.agent.id }))),
  );

  app.patch(
    '/api/v1/conversations/:id/notes/:noteId',
    { schema: { tags, summary: 'Edit your own note', params: NoteParams, body: NoteBody, response: { 200: Message, ...errorResponses } }, onRequest: anyone },
    async (request) => toMessage(await editNote(ctx, request.params.id, request.params.noteId, request.body.text, request.actor)),
  );

  app.delete(
    '/api/v1/conversations/:id/notes/:noteId',
    { schema: { tags, summary: 'Delete your own note', params: NoteParams, body: NoBody, response: { 204: {}, ...errorResponses } }, onRequest: anyone },
    async (request, reply) => {
      await deleteNote(ctx, request.params.id, request.params.noteId, request.actor);
      return reply.status(204).send();
    },
  );
}
