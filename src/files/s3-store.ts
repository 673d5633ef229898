import { DeleteObjectsCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Config } from './config.js';
import type { FileStore, RemovalRefusal } from './store.js';

export interface S3Timeouts {
  /** to open the connection */
  connectionTimeoutMs: number;
  /** for a request to be sent and answered, and for a silence on the connection while the answer's body is read */
  requestTimeoutMs: number;
}

/**
 * The SDK's own default is no timeout at all: a bucket that accepts the
 * connection and never answers (a dead proxy, a black-holed route) would
 * hold an upload's HTTP request, or a sweeper pass, for ever. Each try is
 * bounded; the SDK tries a request 3 times.
 */
export const S3_TIMEOUTS: S3Timeouts = { connectionTimeoutMs: 5_000, requestTimeoutMs: 30_000 };

/**
 * S3 requires Content-MD5 on DeleteObjects; the SDK sends an
 * x-amz-checksum-crc32 instead, which AWS accepts and many S3-compatible
 * services (MinIO, Ceph, Garage, R2, B2, …) do not: "Missing Content-MD5",
 * every erased file left in the bucket. The batch goes with Content-MD5
 * alone, as the SDK's own MD5 fallback advises
 * (aws-sdk-js-v3 supplemental-docs/MD5_FALLBACK.md). Low priority in the
 * build step runs it after the SDK's checksum middleware, and before
 * signing (finalizeRequest), so the header is signed.
 */
function sendContentMd5OnDeleteObjects(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName !== 'DeleteObjectsCommand' || !request.headers) return next(args);
      for (const name of Object.keys(request.headers)) {
        const lower = name.toLowerCase();
        if (lower.startsWith('x-amz-checksum-') || lower.startsWith('x-amz-sdk-checksum-') || lower === 'content-md5') delete request.headers[name];
      }
      const body = request.body;
      // the XML serializer gives a string; anything else goes unhashed, for the bucket to judge
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body instanceof Uint8Array ? body : body === undefined ? Buffer.alloc(0) : undefined;
      if (bytes) request.headers['content-md5'] = createHash('md5').update(bytes).digest('base64');
      return next(args);
    },
    { step: 'build', priority: 'low', name: 'switchboardDeleteObjectsContentMd5' },
  );
}

/** Bytes in an S3-compatible bucket, one object per attachment id. */
export function s3Store(config: S3Config, timeouts: S3Timeouts = S3_TIMEOUTS): FileStore & { client: S3Client } {
  const client = new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // The SDK's default (WHEN_SUPPORTED) puts CRC32 checksum headers on every
    // upload and asks for them on downloads; several S3-compatible services
    // refuse uploads carrying them. Only DeleteObjects, where S3 requires a
    // checksum, carries one: Content-MD5 (sendContentMd5OnDeleteObjects).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // the options of the SDK's NodeHttpHandler
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      // without it an exceeded requestTimeout is only logged
      throwOnRequestTimeout: true,
      socketTimeout: timeouts.requestTimeoutMs,
    },
  });
  sendContentMd5OnDeleteObjects(client);
  const Bucket = config.bucket;
  /** DeleteObjects for these keys: the keys the bucket refused, each with its reason (a missing object counts as removed). */
  const deleteObjects = async (keys: readonly string[]): Promise<RemovalRefusal[]> => {
    const answer = await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    const failed = (answer.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    // An error naming no key (no S3 answers so) cannot be pinned on one: the whole batch is retried.
    const unnamed = failed.find((e) => !e.Key || !keys.includes(e.Key));
    if (unnamed) throw new Error(`S3 refused to delete an object it did not name (${String(unnamed.Key)}): ${unnamed.Code} ${unnamed.Message}`);
    return failed.map((e) => ({ key: e.Key!, reason: `${e.Code ?? 'Error'} ${e.Message ?? ''}`.trim() }));
  };
  return {
    kind: 's3',
    client,
    async stage(key, bytes, contentType) {
      // The whole upload is not bounded by requestTimeout (a large file on a
      // slow link may take longer); a stalled one is, by the socket's silence.
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: bytes, ContentType: contentType, ContentLength: bytes.length }), { requestTimeout: 0 });
      return {
        commit: async () => {},
        // The row never committed: nothing refers to the object. A refusal
        // throws, like a failed request, so the caller queues the key.
        abort: async () => {
          const [refused] = await deleteObjects([key]);
          if (refused) throw new Error(`S3 refused to delete ${refused.key}: ${refused.reason}`);
        },
      };
    },
    async read(_db, key) {
      let answer;
      try {
        answer = await client.send(new GetObjectCommand({ Bucket, Key: key }));
      } catch (error) {
        if (error instanceof NoSuchKey) return undefined;
        throw error;
      }
      // The SDK's Node runtime answers the bucket's own response (an
      // IncomingMessage): passed on as it arrives, and failing as it does
      // (a dropped connection, 30 s without a byte: socketTimeout). It holds
      // one of the client's sockets until it ends or is destroyed.
      const body = answer.Body;
      if (!(body instanceof Readable) || answer.ContentLength === undefined) {
        if (body instanceof Readable) body.destroy();
        throw new Error(`the bucket answered object ${key} without ${body instanceof Readable ? 'a content-length' : 'a Node stream'}`);
      }
      return { length: answer.ContentLength, body };
    },
    async remove(keys) {
      // A refused key is retried by the sweeper, key by key.
      return keys.length === 0 ? [] : deleteObjects(keys);
    },
  };
}
