import { boolean, ConfigError, integer, optional, type Env } from '../env.js';

// Where uploaded files are kept, and how long the signed links to them live.

export interface S3Config {
  bucket: string;
  /** an S3-compatible service (MinIO, Ceph, R2, …); unset: AWS itself */
  endpoint: string | undefined;
  region: string;
  /** unset: the AWS SDK's own chain (environment, instance role, …) */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** bucket in the path (http://host/bucket/key), as most S3-compatible servers want */
  forcePathStyle: boolean;
}

export interface FilesConfig {
  /** S3-compatible storage when S3_BUCKET is set; otherwise the bytes are kept in the database */
  s3: S3Config | undefined;
  /** the HMAC key of signed links; unset: one is made once and kept in the database */
  linkSecret: string | undefined;
  /** how long a signed link given to a browser (API answers, MQTT) stays good, s */
  linkTtlSeconds: number;
  /** how long a signed link sent out (webhooks, RapidPro, email) stays good, s: it must outlive the retries */
  outboundLinkTtlSeconds: number;
}

export function loadFilesConfig(env: Env): FilesConfig {
  const linkSecret = optional(env, 'ATTACHMENT_LINK_SECRET');
  if (linkSecret !== undefined && linkSecret.length < 32) throw new ConfigError('ATTACHMENT_LINK_SECRET', 'must be at least 32 characters long');
  return {
    s3: loadS3(env),
    linkSecret,
    linkTtlSeconds: integer(env, 'ATTACHMENT_LINK_TTL', 3_600, 10, 7 * 86_400),
    outboundLinkTtlSeconds: integer(env, 'ATTACHMENT_OUTBOUND_LINK_TTL', 7 * 86_400, 60, 30 * 86_400),
  };
}

function loadS3(env: Env): S3Config | undefined {
  const bucket = optional(env, 'S3_BUCKET');
  const endpoint = optional(env, 'S3_ENDPOINT');
  const accessKeyId = optional(env, 'S3_ACCESS_KEY_ID');
  const secretAccessKey = optional(env, 'S3_SECRET_ACCESS_KEY');
  if (bucket === undefined) {
    for (const name of ['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
      if (optional(env, name) !== undefined) throw new ConfigError('S3_BUCKET', `is required when ${name} is set (files are kept in the database without it)`);
    }
    return undefined;
  }
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) throw new ConfigError('S3_ENDPOINT', `must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError(accessKeyId === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY', 'is required when the other S3 key variable is set');
  }
  return {
    bucket,
    endpoint,
    region: optional(env, 'S3_REGION') ?? 'us-east-1',
    credentials: accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey } : undefined,
    forcePathStyle: boolean(env, 'S3_FORCE_PATH_STYLE', endpoint !== undefined),
  };
}
