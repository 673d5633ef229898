import type { Settings } from '../settings/settings.js';
import { fileTypeRefused } from './errors.js';

export type FileLimits = Pick<Settings, 'attachments_max_bytes' | 'attachments_max_files' | 'attachments_allowed_types'>;

/** `image/PNG; name=x` → `image/png`; nothing usable → application/octet-stream. */
export function normalType(contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : 'application/octet-stream';
}

/**
 * The name as the customer's or agent's device gave it, without any path,
 * control or invisible format characters (Unicode Cc and Cf: bidi overrides
 * such as U+202E, which show `invoice\u202Efdp.exe` as "invoiceexe.pdf",
 * zero-width characters), trailing dots or spaces (which Windows drops when
 * it saves the file, `invoice.exe.` becoming `invoice.exe`), or excess
 * length: the last 200 characters, never half of one.
 */
export function cleanName(name: string | undefined): string {
  const base = (name ?? '')
    .split(/[\\/]/)
    .pop()!
    .replace(/[\p{Cc}\p{Cf}]/gu, '')
    .trim()
    .replace(/[\s.]+$/u, '');
  const chars = Array.from(base);
  return chars.slice(-200).join('') || 'file';
}

/** The name's extension, lowercase with its dot (`.pdf`); '' for none (`README`, `.profile`). */
export const extensionOf = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
};

/**
 * The extensions a file of a type is known by (as the mime-db lists them),
 * for the types commonly allowed. A type allowed by the setting lets in names
 * with these extensions; any other extension must be listed itself.
 */
const EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  'image/png': ['.png'],
  'image/x-png': ['.png'],
  'image/jpeg': ['.jpg', '.jpeg', '.jpe', '.jfif'],
  'image/jpg': ['.jpg', '.jpeg'],
  'image/pjpeg': ['.jpg', '.jpeg', '.jfif'],
  'image/gif': ['.gif'],
  'image/webp': ['.webp'],
  'image/bmp': ['.bmp'],
  'image/x-ms-bmp': ['.bmp'],
  'image/tiff': ['.tif', '.tiff'],
  'image/svg+xml': ['.svg', '.svgz'],
  'image/heic': ['.heic'],
  'image/heif': ['.heif'],
  'image/avif': ['.avif'],
  'image/jxl': ['.jxl'],
  'image/x-icon': ['.ico'],
  'image/vnd.microsoft.icon': ['.ico'],
  'application/pdf': ['.pdf'],
  'text/plain': ['.txt', '.text', '.log', '.conf', '.ini', '.list'],
  'text/csv': ['.csv'],
  'text/markdown': ['.md', '.markdown'],
  'text/html': ['.html', '.htm'],
  'text/xml': ['.xml'],
  'application/xml': ['.xml'],
  'text/calendar': ['.ics'],
  'text/vcard': ['.vcf', '.vcard'],
  'application/rtf': ['.rtf'],
  'text/rtf': ['.rtf'],
  'application/json': ['.json'],
  'application/zip': ['.zip'],
  'application/x-zip-compressed': ['.zip'],
  'application/gzip': ['.gz'],
  'application/x-7z-compressed': ['.7z'],
  'application/msword': ['.doc'],
  'application/vnd.ms-excel': ['.xls'],
  'application/vnd.ms-powerpoint': ['.ppt', '.pps'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['.docx'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['.xlsx'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['.pptx'],
  'application/vnd.oasis.opendocument.text': ['.odt'],
  'application/vnd.oasis.opendocument.spreadsheet': ['.ods'],
  'application/vnd.oasis.opendocument.presentation': ['.odp'],
  'audio/mpeg': ['.mp3', '.mpga'],
  'audio/mp4': ['.m4a'],
  'audio/x-m4a': ['.m4a'],
  'audio/aac': ['.aac'],
  'audio/ogg': ['.ogg', '.oga', '.opus'],
  'audio/opus': ['.opus'],
  'audio/wav': ['.wav'],
  'audio/x-wav': ['.wav'],
  'audio/webm': ['.weba', '.webm'],
  'audio/flac': ['.flac'],
  'audio/amr': ['.amr'],
  'video/mp4': ['.mp4', '.m4v'],
  'video/webm': ['.webm'],
  'video/quicktime': ['.mov', '.qt'],
  'video/ogg': ['.ogv'],
  'video/mpeg': ['.mpeg', '.mpg'],
  'video/3gpp': ['.3gp'],
};

/** Why a file is refused, or undefined when it is allowed. */
export function refusal(allowed: readonly string[], type: string, name: string): 'type' | 'extension' | undefined {
  const ext = extensionOf(name);
  const typeListed = allowed.includes(type) || allowed.includes(`${type.split('/')[0]}/*`);
  if (ext !== '' && allowed.includes(ext)) return undefined;
  if (!typeListed) return 'type';
  // The type passed (a header the sender writes); the name the agent saves the file under must not say otherwise.
  if (ext !== '' && !EXTENSIONS[type]?.includes(ext)) return 'extension';
  return undefined;
}

/**
 * A file is allowed when its name's extension is listed (`.docx`), or when
 * its type or its type's family (`image/*`) is listed and its name has no
 * extension or one its type is known by (`.png` for image/png): a claimed
 * type never lets in a name ending in an extension nobody allowed.
 */
export function isAllowed(allowed: readonly string[], type: string, name: string): boolean {
  return refusal(allowed, type, name) === undefined;
}

export function assertAllowed(limits: FileLimits, type: string, name: string): void {
  const why = refusal(limits.attachments_allowed_types, type, name);
  if (why) throw fileTypeRefused(type, name, limits.attachments_allowed_types, why === 'extension' ? extensionOf(name) : undefined);
}

/**
 * Served with their own type and shown in the page: raster images and PDF.
 * Everything else is a download of application/octet-stream, so nothing
 * uploaded (HTML, SVG, scripts) can run on Switchboard's origin.
 */
const SHOWN_INLINE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf']);
export const servedInline = (type: string) => SHOWN_INLINE.has(type);
