import { errorCodes, type FastifyInstance, type preParsingAsyncHookHandler } from 'fastify';
import type { Readable } from 'node:stream';
import { AppError } from '../../errors.js';

// Mailroom sends `room` and `room.close` as GET with a JSON body. Fastify
// reads no body on GET (RFC 9110 §9.3.1 gives it no defined meaning) and a
// GET route may not declare one, and `addHttpMethod('GET', { hasBody: true })`
// would change GET for the whole server. So the routes that need it add this
// preParsing hook: on GET it reads the body the way Fastify's JSON parser
// reads a POST's — the same size limit, content type and Content-Length
// checks, strict UTF-8 as the app's JSON parser (src/http/app.ts) wants it,
// and Fastify's own JSON parser with its prototype-poisoning guard — and the
// handler finds it in `request.body` as usual. Other methods are left to
// Fastify.

// Fatal, as for a POST: invalid bytes turned into U+FFFD would open the room
// with a name mailroom never sent, where the same body by POST is refused.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(raw: Buffer): string {
  try {
    return strictUtf8.decode(raw);
  } catch {
    throw new AppError('SB_INVALID_JSON', 'the body is not valid UTF-8', 400);
  }
}

function readLimited(stream: Readable, limit: number, declared: number | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop collecting; the rest is left for Node to discard with the connection.
        stop();
        reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      if (declared !== undefined && size !== declared) reject(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      else resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

export function getBodyParser(app: FastifyInstance): preParsingAsyncHookHandler {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  return async (request, _reply, payload) => {
    if (request.method !== 'GET') return payload;
    const length = request.headers['content-length'];
    const chunked = request.headers['transfer-encoding'] !== undefined;
    if (!chunked && (length === undefined || length === '0')) return payload;
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== 'application/json') throw new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(mediaType || '(none)');
    const limit = request.routeOptions.bodyLimit ?? 1024 * 1024;
    const declared = length === undefined || chunked ? undefined : Number(length);
    if (declared !== undefined && declared > limit) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
    const raw = await readLimited(payload, limit, declared);
    request.body = await new Promise<unknown>((resolve, reject) =>
      parseJson(request, decodeUtf8(raw), (error, body) => (error ? reject(error) : resolve(body))),
    );
    return payload;
  };
}
