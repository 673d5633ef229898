import type { Files } from '../files/files.js';
import { attachmentPath } from '../files/links.js';

/**
 * A transcript's attachments with each file of ours as an absolute link,
 * signed for `ttlSeconds` (EMAIL_LINK_TTL) rather than the webhooks'
 * ATTACHMENT_OUTBOUND_LINK_TTL: an email's retries cannot sign its links
 * again (src/email/config.ts). On the origin outbound links have
 * (PUBLIC_URL, else the address listened on); links to elsewhere pass as
 * they are.
 */
export function emailLinks<T extends { type: string; url: string; id?: string }>(files: Files | undefined, attachments: readonly T[], now: Date, ttlSeconds: number): T[] {
  if (!files) return [...attachments];
  return files.present(attachments, now, 'outbound').map((presented, i) => {
    const id = attachments[i]!.id;
    if (typeof id !== 'string' || presented.url === attachments[i]!.url) return presented;
    const signedAt = presented.url.lastIndexOf(`${attachmentPath(id)}?`);
    if (signedAt < 0) return presented;
    return { ...presented, url: `${presented.url.slice(0, signedAt)}${files.links.sign(id, now, ttlSeconds)}` };
  });
}
