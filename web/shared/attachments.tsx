import { useCallback, useRef, useState, type MouseEvent } from 'react';
import type { ApiError } from './util';
import { uploadName } from './file-name';
import { formatNumber } from './format';
import { t } from './i18n';

// Uploaded files in both apps: sending one (multipart, the session's or
// agent's token) and showing one — pictures inline, other files as a link
// with name and size. Links to elsewhere (sent as URLs) stay plain links.
//
// A file's link is signed and dies after ATTACHMENT_LINK_TTL (an hour by
// default), while a chat stays open for longer: a picture first scrolled
// into view, or a file clicked, after that was refused (403 SB_LINK_INVALID).
// The app then reads its messages again for links signed now (docs/api.md,
// "Attachments"), as `refresh` (useLinkRefresh) asks it to.

export interface ShownAttachment {
  type: string;
  url: string;
  id?: string;
  name?: string;
  size?: number;
}

export interface Uploaded {
  id: string;
  name: string;
  content_type: string;
  size: number;
  url: string;
}

/** POST /api/v1/conversations/:id/attachments; throws an ApiError (413/422 name the limit) like `api`. */
export async function uploadFile(conversationId: string, token: string, file: File): Promise<Uploaded> {
  const form = new FormData();
  form.append('file', file, uploadName(file.name, file.type));
  const response = await fetch(`/api/v1/conversations/${conversationId}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const data = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string; field?: string } } | null;
  if (!response.ok) {
    throw {
      status: response.status,
      code: data?.error?.code ?? 'SB_HTTP',
      message: data?.error?.message ?? response.statusText,
      ...(data?.error?.field ? { field: data.error.field } : {}),
    } satisfies ApiError;
  }
  return data as unknown as Uploaded;
}

export function formatSize(bytes: number | undefined): string {
  if (bytes === undefined) return '';
  const size = (value: number, unit: 'byte' | 'kilobyte' | 'megabyte', digits: number) =>
    formatNumber(value, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: digits });
  if (bytes < 1024) return size(bytes, 'byte', 0);
  if (bytes < 1024 * 1024) return size(bytes / 1024, 'kilobyte', bytes < 10 * 1024 ? 1 : 0);
  return size(bytes / 1024 / 1024, 'megabyte', 1);
}

/** A read a refresh may start this long after the one before, at the soonest: a picture that stays broken (its file erased) must not read the history over and over. */
export const LINK_REFRESH_INTERVAL_MS = 30_000;
/** A file link this close to its expiry is renewed before it is followed: the download would start too late. */
const EXPIRY_MARGIN_MS = 60_000;

/** Reads the app's messages again; resolves to the fresh link of each file by its id (or the latest one known, when a read was made too recently). */
export type RefreshLinks = () => Promise<ReadonlyMap<string, string>>;

/**
 * The app's `read` (its history read again and merged, links included, over
 * the messages it shows) made into a RefreshLinks: one read at a time, none
 * sooner than LINK_REFRESH_INTERVAL_MS after the last.
 */
export function useLinkRefresh(read: () => Promise<readonly { attachments: readonly ShownAttachment[] }[]>): RefreshLinks {
  const latest = useRef(read);
  latest.current = read;
  const state = useRef<{ startedAt: number; running: Promise<ReadonlyMap<string, string>> | null; fresh: ReadonlyMap<string, string> }>({
    startedAt: -Infinity,
    running: null,
    fresh: new Map(),
  });
  return useCallback(() => {
    const s = state.current;
    if (s.running) return s.running;
    // performance.now: a wall clock set back would hold refreshes off for as long
    if (performance.now() - s.startedAt < LINK_REFRESH_INTERVAL_MS) return Promise.resolve(s.fresh);
    s.startedAt = performance.now();
    const running = latest
      .current()
      .then((messages) => {
        const fresh = new Map(s.fresh);
        for (const m of messages) for (const a of m.attachments) if (a.id !== undefined) fresh.set(a.id, a.url);
        return (s.fresh = fresh);
      })
      .finally(() => (s.running = null));
    s.running = running;
    return running;
  }, []);
}

/** Whether `url`'s signature runs out within EXPIRY_MARGIN_MS by this browser's clock (a link without `expires` is left alone). */
function expiring(url: string): boolean {
  const expires = Number(new URL(url, location.href).searchParams.get('expires'));
  return Number.isFinite(expires) && expires > 0 && expires * 1000 - Date.now() < EXPIRY_MARGIN_MS;
}

/**
 * A link followed as usual while its signature holds; one about to expire is
 * renewed first and the fresh one followed (`follow`), or the old one when
 * the read fails: the browser then shows why.
 */
function renewingClick(a: ShownAttachment, refresh: RefreshLinks | undefined, start: () => (url: string) => void) {
  return (event: MouseEvent<HTMLAnchorElement>) => {
    if (!refresh || a.id === undefined || !expiring(a.url)) return;
    event.preventDefault();
    const id = a.id;
    // started within the click (a tab opened later, after the read, is a popup browsers block)
    const follow = start();
    void refresh().then(
      (fresh) => follow(fresh.get(id) ?? a.url),
      () => follow(a.url),
    );
  };
}

export function AttachmentView({ attachment: a, refresh }: { attachment: ShownAttachment; refresh?: RefreshLinks }) {
  if (a.id !== undefined) {
    const name = a.name ?? t('file');

    if (a.type.startsWith('image/')) {
      // the tab opens at once, blank, and goes to the fresh link once it is read
      const open = () => {
        const tab = window.open('', '_blank');
        if (tab) tab.opener = null;
        return (url: string) => {
          if (tab) tab.location.href = url;
          else window.open(url, '_blank', 'noopener,noreferrer');
        };
      };
      return (
        <a className="attachment image" href={a.url} target="_blank" rel="noopener noreferrer" data-testid="attachment-image" onClick={renewingClick(a, refresh, open)}>
          <Picture url={a.url} name={name} refresh={refresh} />
        </a>
      );
    }
    const download = () => (url: string) => {
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      link.click();
    };
    return (
      <a className="attachment file" href={a.url} download={name} data-testid="attachment-file" onClick={renewingClick(a, refresh, download)}>
        <span aria-hidden="true">📎 </span>
        {name} <span className="size">({formatSize(a.size)})</span>
      </a>
    );
  }
  return /^https?:\/\//i.test(a.url) ? (
    <a href={a.url} target="_blank" rel="noopener noreferrer">
      {a.type}: {a.url}
    </a>
  ) : null;
}

/**
 * A picture fetched when it comes into view, asking for fresh links when its
 * own fails: for any failure, not only an expiry, as a revoked key
 * (docs/security.md) or a clock set wrong leaves a link dead before its
 * `expires`. One shown keeps the link it came from (its bytes are on screen).
 * One not shown yet is a new element at a new link: Chromium fetches a lazy
 * image whose src changes at once, so renewed links would load every picture
 * of a long chat, where a new element waits to be scrolled to.
 */
function Picture({ url, name, refresh }: { url: string; name: string; refresh: RefreshLinks | undefined }) {
  const [shown, setShown] = useState<string | null>(null);
  const src = shown ?? url;
  return (
    <img key={src} src={src} alt={name} loading="lazy" onLoad={() => setShown(src)} onError={refresh ? () => void refresh().catch(() => undefined) : undefined} />
  );
}
