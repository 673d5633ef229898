import type { Settings } from '../settings/settings.js';
import { fileTypeRefused } from './errors.js';

export type FileLimits = Pick<Settings, 'attachments_max_bytes' | 'attachments_max_files' | 'attachments_allowed_types'>;

/** `image/PNG; name=x` → `image/png`; nothing usable → application/octet-stream. */
export function normalType(contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : 'application/octet-stream';
}

/** The name as the customer's or agent's device gave it, without any path, control characters or excess length. */
export function cleanName(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  const base = (name ?? '').split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return base.slice(-200) || 'file';
}

const extensionOf = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
};

/** A file is allowed when its type, its type's family (`image/*`) or its name's extension is listed. */
export function isAllowed(allowed: readonly string[], type: string, name: string): boolean {
  const ext = extensionOf(name);
  const family = `${type.split('/')[0]}/*`;
  return allowed.some((entry) => entry === type || entry === family || (ext !== '' && entry === ext));
}

export function assertAllowed(limits: FileLimits, type: string, name: string): void {
  if (!isAllowed(limits.attachments_allowed_types, type, name)) throw fileTypeRefused(type, name, limits.attachments_allowed_types);
}

/**
 * Served with their own type and shown in the page: raster images and PDF.
 * Everything else is a download of application/octet-stream, so nothing
 * uploaded (HTML, SVG, scripts) can run on Switchboard's origin.
 */
const SHOWN_INLINE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf']);
export const servedInline = (type: string) => SHOWN_INLINE.has(type);
