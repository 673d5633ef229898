import multipart from '@fastify/multipart';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requireAgentOrCustomer } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses, ErrorBody, IdParams } from '../http/schemas.js';
import { readSettings } from '../settings/settings.js';
import { assertMayBeginUpload, assertMayDownload, findAttachment, readAttachment, requireFiles, uploadAnswer, uploadAttachment, type AttachmentRow, type FileUser } from './attachments.js';
import { DOWNLOADS_AT_ONCE, downloadsInFlight } from './downloads.js';
import { fileMissing, fileTooLarge, linkInvalid, multipartMalformed, notMultipart, uploadsBusy } from './errors.js';
import { invalid } from '../errors.js';
import { assertAllowed, cleanName, normalType, servedInline } from './limits.js';
import type { StoredFile } from './store.js';

const Id = Type.String({ format: 'uuid' });

const UploadAnswer = Type.Object({
  id: Id,
  name: Type.String(),
  content_type: Type.String(),
  size: Type.Integer({ description: 'bytes' }),
  url: Type.String({ description: `a signed link to the file on this server, good for ATTACHMENT_LINK_TTL; refer to the file in a message as {"id"}` }),
});

// Other parameters are ignored, not refused: mail and link rewriters append their own (utm_source=…) to the links they pass on.
const LinkQuery = Type.Object({
  expires: Type.Optional(Type.Integer({ minimum: 0, description: 'unix seconds; with sig, a signed link needs no token' })),
  sig: Type.Optional(Type.String({ maxLength: 100 })),
});

/** Text fields an upload form may carry beside its file. */
const UPLOAD_FIELDS = 10;

const userOf = (request: FastifyRequest): FileUser =>
  request.customerSession ? { kind: 'customer', conversationId: request.customerSession.conversation_id } : { kind: 'agent', actor: request.actor };

/**
 * `filename*` (RFC 6266 / 8187) carries any name; the plain `filename` is its
 * ASCII shadow for old clients. RFC 8187's value-chars are attr-char or %XX:
 * encodeURIComponent leaves ' ( ) * as they are, and a strict parser
 * (Chromium) then drops filename* for the shadow ("l'été.txt" saved as
 * "l'_t_.txt"), so those are percent-encoded too.
 */
function disposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * What reading a multipart body failed with, as the caller's error. The
 * plugin's own errors carry their status (413 past a parts limit, 400 for a
 * request closed early); the parser's (busboy) carry none — a content type
 * without a boundary, a body that ends inside a part ("Unexpected end of
 * form"), a malformed part header — and are the body's fault, not the
 * server's.
 */
function multipartError(error: unknown, maxBytes: number): never {
  const code = (error as { code?: unknown }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') throw fileTooLarge(maxBytes);
  // the plugin's own refusals of the form's shape: the caller's, named as every upload error is
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    throw invalid('file', `could not be read: the form has more parts than an upload takes (one part named file, and at most ${UPLOAD_FIELDS} text fields); send the file alone`);
  }
  if (code === 'FST_PROTO_VIOLATION') throw multipartMalformed('a part is named __proto__ or constructor');
  if (code === 'FST_MP_PREMATURE_CLOSE') throw multipartMalformed('the request was closed before the body ended');
  if (error instanceof Error && typeof (error as { statusCode?: unknown }).statusCode !== 'number') throw multipartMalformed(error.message);
  throw error;
}

/** A customer's uploads being read at once in one conversation, in this process. */
export const CUSTOMER_UPLOADS_AT_ONCE = 2;

/** Counts uploads in flight by conversation; past CUSTOMER_UPLOADS_AT_ONCE, 429 SB_ATTACHMENT_BUSY. */
function uploadsInFlight() {
  const now = new Map<string, number>();
  return {
    enter(conversationId: string): () => void {
      const n = now.get(conversationId) ?? 0;
      if (n >= CUSTOMER_UPLOADS_AT_ONCE) throw uploadsBusy(CUSTOMER_UPLOADS_AT_ONCE);
      now.set(conversationId, n + 1);
      let left = false;
      return () => {
        if (left) return;
        left = true;
        const still = (now.get(conversationId) ?? 1) - 1;
        if (still > 0) now.set(conversationId, still);
        else now.delete(conversationId);
      };
    },
  };
}

/** Uploads (multipart, field `file`) and authorized downloads of message attachments. */
export async function fileRoutes(app: App, { ctx }: AppDeps): Promise<void> {
  const customerUploads = uploadsInFlight();
  // Limits are settings, applied per request; these only bound what one request may carry at all.
  await app.register(multipart, { limits: { files: 1, fields: UPLOAD_FIELDS, parts: 20, fieldSize: 1024 } });
  const tags = ['attachments'];
  const agentOrCustomer = requireAgentOrCustomer(ctx);
  app.addHook('onClose', async () => ctx.files?.close());

  app.post(
    '/api/v1/conversations/:id/attachments',
    {
      schema: {
        tags,
        summary: 'Upload a file to an open conversation (multipart/form-data, part `file`); a message then carries it as {"id"}',
        description:
          'Agents holding the conversation (once accepted, else 409 SB_NOT_ACCEPTED; never a Qiscus room, 409 SB_QISCUS_AGENT_MESSAGE), supervisors, admins, or the customer with the session token. A malformed multipart body (no boundary, cut off inside the part): 400 SB_VALIDATION naming field file. Limits are the attachments_* settings: 413 SB_ATTACHMENT_TOO_LARGE, 422 SB_ATTACHMENT_TYPE; and a customer\'s quota in the conversation, derived from them: 429 SB_ATTACHMENT_UNSENT_LIMIT (with retry-after) past 3 × attachments_max_files files not sent in a message yet, 413 SB_ATTACHMENT_QUOTA past 5 × attachments_max_bytes in all; each naming field file; nothing is stored then. A customer\'s file not sent within a day is removed.',
        consumes: ['multipart/form-data'],
        params: IdParams,
        response: { 201: UploadAnswer, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody, 429: ErrorBody, ...errorResponses },
      },
      onRequest: agentOrCustomer,
    },
    async (request, reply) => {
      const files = requireFiles(ctx);
      if (!request.isMultipart()) throw notMultipart();
      const limits = await readSettings(ctx.db);
      const user = userOf(request);
      await assertMayBeginUpload(ctx, request.params.id, user, limits);
      // The quota is counted once a file is read whole, in the upload's transaction: a customer's
      // uploads at once all passed the check before it, each held in memory up to attachments_max_bytes
      // (and written to S3) before most were refused. A few at a time per conversation (found by review).
      const release = user.kind === 'customer' ? customerUploads.enter(request.params.id) : () => undefined;
      try {
        const unreadable = (error: unknown) => multipartError(error, limits.attachments_max_bytes);
        const part = await request.file({ limits: { fileSize: limits.attachments_max_bytes } }).catch(unreadable);
        if (!part || part.fieldname !== 'file') throw fileMissing();
        const bytes = await part.toBuffer().catch(unreadable);
        const name = cleanName(part.filename);
        const contentType = normalType(part.mimetype);
        assertAllowed(limits, contentType, name);
        const row = await uploadAttachment(ctx, request.params.id, user, { name, contentType, bytes }, limits);
        return reply.status(201).send(uploadAnswer(files, row, ctx.now()));
      } finally {
        release();
      }
    },
  );

  const downloads = downloadsInFlight();
  const download = {
    schema: {
      tags,
      summary: 'The bytes of an uploaded file: with a token that may see its conversation, or as a signed link',
      description: `A token: the conversation’s customer session, agents who hold or held it, supervisors, admins (403 otherwise). A signed link (expires, sig — the url in messages, webhooks, RapidPro callbacks and transcripts) needs no token; expired or altered: 403 SB_LINK_INVALID. Pictures and PDF are served inline, anything else as a download of application/octet-stream. A file kept in the S3 bucket, asked of a process without S3_BUCKET: 503 SB_FILES_UNAVAILABLE. While one server process sends ${DOWNLOADS_AT_ONCE} files already: 503 SB_ATTACHMENT_DOWNLOADS_BUSY, retry-after: 1. HEAD answers the same headers, the file unread.`,
      params: IdParams,
      querystring: LinkQuery,
      security: [{ bearer: [] }, {}] as Record<string, string[]>[],
      response: { 200: Type.Unknown({ description: 'the file' }), ...errorResponses, 503: ErrorBody },
    },
    onRequest: async function (this: unknown, request: FastifyRequest, reply: FastifyReply) {
      const query = request.query as { sig?: unknown; expires?: unknown };
      if (query.sig === undefined && query.expires === undefined) await agentOrCustomer.call(this as never, request, reply);
    },
  };
  const answerDownload = async (request: FastifyRequest, reply: FastifyReply, id: string, { expires, sig }: Static<typeof LinkQuery>) => {
    const signed = sig !== undefined || expires !== undefined;
    // A link is checked before the lookup: a forged one learns nothing, not even whether the file exists.
    if (signed && (sig === undefined || expires === undefined || !(await requireFiles(ctx).links.accepts(id, expires, sig, ctx.now())))) throw linkInvalid();
    const attachment = await findAttachment(ctx.db, id);
    if (!signed) await assertMayDownload(ctx.db, attachment, userOf(request));
    if (request.method === 'HEAD') {
      // a file in a bucket this process cannot reach is 503 here too, as GET would answer
      requireFiles(ctx).storeOf(attachment);
      return fileHeaders(reply, attachment).header('content-length', String(attachment.size)).send();
    }
    const release = downloads.enter();
    let file: StoredFile;
    try {
      file = await readAttachment(ctx, attachment);
    } catch (error) {
      release();
      throw error;
    }
    file.body.once('close', release);
    // A response closed before its file ended (the client went away) lets go of the store's stream.
    // Fastify destroys the response when the stream fails: the client sees it cut short, never a short file whole.
    reply.raw.once('close', () => file.body.destroy());
    return fileHeaders(reply, attachment).header('content-length', String(file.length)).send(file.body);
  };
  app.get('/api/v1/attachments/:id', { ...download, exposeHeadRoute: false }, (request, reply) => answerDownload(request, reply, request.params.id, request.query));
  // Fastify's own HEAD route would run the GET handler and read the whole file to throw it away.
  app.head('/api/v1/attachments/:id', download, (request, reply) => answerDownload(request, reply, request.params.id, request.query));
}

/** What a download and its HEAD both carry, besides the length. */
function fileHeaders(reply: FastifyReply, attachment: AttachmentRow): FastifyReply {
  const inline = servedInline(attachment.content_type);
  return (
    reply
      .header('content-type', inline ? attachment.content_type : 'application/octet-stream')
      .header('content-disposition', disposition(inline ? 'inline' : 'attachment', attachment.name))
      .header('content-security-policy', "default-src 'none'; sandbox")
      // not kept by the browser: an erased file, or a revoked link, is gone at once (docs/api.md)
      .header('cache-control', 'private, no-store')
  );
}
