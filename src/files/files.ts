import type { Queryable } from '../store/db.js';
import type { FilesConfig } from './config.js';
import { databaseStore } from './database-store.js';
import { bucketNotConfigured } from './errors.js';
import { attachmentPath, openFileLinks, type FileLinks } from './links.js';
import { s3Store } from './s3-store.js';
import type { FileStore } from './store.js';

/** A file attached to a message, as stored in the message's attachments. */
export interface FileAttachment {
  /** the content type */
  type: string;
  /** `/api/v1/attachments/<id>` as stored; a signed link when presented */
  url: string;
  id: string;
  name: string;
  size: number;
}

type AnyAttachment = { type: string; url: string; id?: string };

/** Uploaded files: where they are kept, and the signed links that reach them. */
export interface Files {
  /** where new uploads go: the bucket when S3_BUCKET is set, else the database */
  store: FileStore;
  /**
   * Where a file's bytes are, by its row's `storage`, whichever store new
   * uploads go to: files kept in the database stay readable after S3_BUCKET
   * is set. A file in the bucket, on a process without S3 settings, is 503
   * SB_FILES_UNAVAILABLE: it exists, this process cannot reach it.
   */
  storeOf(attachment: { id: string; storage: FileStore['kind'] }): FileStore;
  links: FileLinks;
  config: FilesConfig;
  /**
   * The attachments with a signed link in place of each file's stored path:
   * for a browser, a path on this server good for ATTACHMENT_LINK_TTL; sent
   * out (webhooks, RapidPro, email), an absolute URL good for
   * ATTACHMENT_OUTBOUND_LINK_TTL. Links to elsewhere pass unchanged.
   */
  present<T extends AnyAttachment>(attachments: readonly T[], now: Date, audience: 'browser' | 'outbound'): T[];
  /** Where outbound links point when PUBLIC_URL is unset: the address the server listens on. */
  useOrigin(origin: string): void;
  /** Stops the links' timer (the app closing). */
  close(): void;
}

/** `databaseChunkBytes`: not a setting; tests read a file of a few MiB in many pieces. */
export async function openFiles(db: Queryable, config: FilesConfig, publicUrl: string | undefined, options: { databaseChunkBytes?: number } = {}): Promise<Files> {
  const links = await openFileLinks(db, config.linkSecret);
  let origin = publicUrl ?? 'http://127.0.0.1';
  const database = databaseStore(options.databaseChunkBytes);
  const s3 = config.s3 ? s3Store(config.s3) : undefined;
  return {
    store: s3 ?? database,
    storeOf(attachment) {
      if (attachment.storage === 'database') return database;
      if (!s3) throw bucketNotConfigured(attachment.id);
      return s3;
    },
    links,
    config,
    present(attachments, now, audience) {
      return attachments.map((a) => {
        if (typeof a.id !== 'string' || a.url !== attachmentPath(a.id)) return a;
        const path = links.sign(a.id, now, audience === 'browser' ? config.linkTtlSeconds : config.outboundLinkTtlSeconds);
        return { ...a, url: audience === 'browser' ? path : `${origin}${path}` };
      });
    },
    useOrigin(listening) {
      if (publicUrl === undefined) origin = listening.replace(/\/+$/, '');
    },
    close: () => links.close(),
  };
}

/** Attachments as a caller outside Switchboard gets them: with signed links when files are set up. */
export function presentAttachments<T extends AnyAttachment>(files: Files | undefined, attachments: readonly T[], now: Date, audience: 'browser' | 'outbound'): T[] {
  return files ? files.present(attachments, now, audience) : [...attachments];
}
