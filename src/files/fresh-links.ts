import type { Files } from './files.js';
import { attachmentPath } from './links.js';

// File links in a body queued for later: an outbound request (a webhook, a
// RapidPro callback) carries the links signed when it was queued, good for
// ATTACHMENT_OUTBOUND_LINK_TTL from then. One retried, held or redelivered
// past that would hand its receiver dead links; each attempt signs them
// afresh instead.
//
// Only links this server signed to a file the message carries are renewed:
// an attachment with the file's `id` whose url is the file's path with an
// `expires` and a `sig` that is this server's signature of it (checked as at
// a moment before it expired). A link to elsewhere, one another server
// signed, or one of ours sent as a plain link attachment passes as it is.

/** The file id of a link this server signed (expired or not), or undefined. */
function ownFileOf(files: Files, link: string): string | undefined {
  if (!URL.canParse(link)) return undefined;
  const url = new URL(link);
  const id = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  if (id === '' || url.pathname !== attachmentPath(id)) return undefined;
  const expires = Number(url.searchParams.get('expires'));
  const sig = url.searchParams.get('sig');
  if (sig === null || !Number.isSafeInteger(expires)) return undefined;
  // verify refuses an expired link: asked as of its last second, it checks the signature alone
  return files.links.verify(id, expires, sig, new Date((expires - 1) * 1000)) ? id : undefined;
}

/**
 * The attachments (`{type, url, …}`) with this server's links signed as of
 * `now`, on the current origin (PUBLIC_URL, or the address listened on);
 * undefined when none of them is this server's.
 */
export function renewedLinks(files: Files, attachments: readonly unknown[], now: Date): unknown[] | undefined {
  let renewed = false;
  const fresh = attachments.map((a) => {
    const attachment = a as { type: string; url: unknown; id?: unknown } | null;
    const id = typeof attachment?.url === 'string' ? ownFileOf(files, attachment.url) : undefined;
    // Only a file stored with the message (it carries its id) is renewed: a link attachment anyone may
    // send holding an old link of ours — another conversation's file, long expired — passes as it is,
    // dead, instead of being signed afresh for every receiver (found by review).
    if (id === undefined || attachment!.id !== id) return a;
    renewed = true;
    return { ...attachment, url: files.present([{ type: attachment!.type, url: attachmentPath(id), id }], now, 'outbound')[0]!.url };
  });
  return renewed ? fresh : undefined;
}
