import type { Settings } from '../settings/settings.js';
import { ALLOWED_FILE_NAME_FORMAT } from '../http/format-characters.js';
import { fileTypeRefused } from './errors.js';

export type FileLimits = Pick<Settings, 'attachments_max_bytes' | 'attachments_max_files' | 'attachments_allowed_types'>;

/** `image/PNG; name=x` → `image/png`; nothing usable → application/octet-stream. */
export function normalType(contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : 'application/octet-stream';
}

/** A control or format character (Unicode Cc, Cf), or a format sequence a name keeps (captured). */
const INVISIBLE = new RegExp(`(${ALLOWED_FILE_NAME_FORMAT.source})|[\\p{Cc}\\p{Cf}]`, 'gu');

/**
 * The name as the customer's or agent's device gave it, without any path,
 * control or invisible format characters (Unicode Cc and Cf: bidi overrides
 * and isolates such as U+202E, which show `invoice\u202Efdp.exe` as
 * "invoiceexe.pdf", direction marks, zero-width spaces, word joiners, the
 * BOM, soft hyphens) but for those its spelling needs, where they belong
 * (src/http/format-characters.ts: the joiners of emoji sequences, a
 * subdivision flag's tags, the non-joiner of Persian and Indic spelling, the
 * joiner after an Indic virama), trailing dots or spaces (which Windows
 * drops when it saves the file, `invoice.exe.` becoming `invoice.exe`), or
 * excess length: the last 200 characters, never half of one.
 */
export function cleanName(name: string | undefined): string {
  const base = (name ?? '')
    .split(/[\\/]/)
    .pop()!
    .replace(INVISIBLE, (_, kept: string | undefined) => kept ?? '')
    .trim()
    .replace(/[\s.]+$/u, '');
  // a cut through a sequence leaves its joiner or tags out of place at the start: they go too
  const cut = Array.from(base).slice(-200).join('').replace(INVISIBLE, (_, kept: string | undefined) => kept ?? '');
  return cut || 'file';
}

/** The text after the name's last dot, lowercase with its dot (`.pdf`); '' for none (`README`, `.profile`). */
export const extensionOf = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
};

/**
 * The extensions a file of a type is known by (as the mime-db lists them),
 * for the types commonly allowed. A type allowed by the setting lets in names
 * with these extensions; any other extension this table or DANGEROUS knows
 * must be listed itself. HEIC and HEIF photos (and their sequences) go by
 * either name whichever type a device gives them (Android and the file-type
 * package call a .heic image/heif); an animated PNG is a PNG.
 */
const HEIF = ['.heic', '.heif', '.heics', '.heifs'];
const EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  'image/png': ['.png', '.apng'],
  'image/x-png': ['.png'],
  'image/apng': ['.apng', '.png'],
  'image/jpeg': ['.jpg', '.jpeg', '.jpe', '.jfif'],
  'image/jpg': ['.jpg', '.jpeg'],
  'image/pjpeg': ['.jpg', '.jpeg', '.jfif'],
  'image/gif': ['.gif'],
  'image/webp': ['.webp'],
  'image/bmp': ['.bmp'],
  'image/x-ms-bmp': ['.bmp'],
  'image/tiff': ['.tif', '.tiff'],
  'image/svg+xml': ['.svg', '.svgz'],
  'image/heic': HEIF,
  'image/heif': HEIF,
  'image/heic-sequence': HEIF,
  'image/heif-sequence': HEIF,
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

/**
 * Extensions a device opens as a program, a script, a page or a disk image
 * (or that an HTTP server runs), installs (a package, a certificate, a
 * theme) or opens with its macros: never let in by a claimed type they are
 * not known by, though the table above may not know them. Outlook's blocked
 * attachment types are all here (OneNote's included).
 */
const DANGEROUS = new Set(
  [
    // Outlook's blocked attachment types not in the groups below
    ...['ade', 'adp', 'asx', 'bas', 'bgi', 'cab', 'cer', 'crt', 'der', 'cnt', 'diagcab', 'fxp', 'grp', 'hlp', 'hpj', 'htc', 'ins', 'isp', 'its', 'mcf', 'msu', 'ops', 'osd', 'pcd'],
    ...['mad', 'maf', 'mag', 'mam', 'maq', 'mar', 'mas', 'mat', 'mau', 'mav', 'maw', 'mda', 'mdb', 'mde', 'mdt', 'mdw', 'mdz', 'one', 'onepkg', 'pst', 'tmp', 'theme', 'themepack'],
    ...['msh', 'msh1', 'msh2', 'mshxml', 'msh1xml', 'msh2xml', 'ps2', 'ps2xml', 'psc1', 'psc2', 'psdm1', 'cdxml', 'pssc', 'plg', 'prf', 'prg', 'printerexport', 'pyo', 'pyz', 'pyzw'],
    ...['sct', 'shb', 'shs', 'udl', 'vb', 'vbp', 'vsmacros', 'vsw', 'webpnp', 'website', 'wsb', 'xbap', 'xnk', 'appcontent-ms', 'searchconnector-ms', 'search-ms'],
    ...['exe', 'msi', 'msp', 'mst', 'bat', 'cmd', 'com', 'scr', 'pif', 'cpl', 'dll', 'ocx', 'sys', 'drv', 'lnk', 'url', 'scf', 'inf', 'reg'],
    ...['ps1', 'psm1', 'psd1', 'ps1xml', 'vbs', 'vbe', 'js', 'jse', 'mjs', 'cjs', 'wsf', 'wsh', 'wsc', 'ws', 'hta', 'msc', 'gadget', 'application'],
    ...['appx', 'appxbundle', 'msix', 'msixbundle', 'appref-ms', 'settingcontent-ms', 'library-ms', 'chm', 'jar', 'jnlp', 'class'],
    ...['html', 'htm', 'xhtml', 'xht', 'shtml', 'mht', 'mhtml', 'svg', 'svgz', 'xsl', 'xslt', 'swf'],
    ...['sh', 'bash', 'zsh', 'ksh', 'csh', 'command', 'tool', 'app', 'pkg', 'dmg', 'iso', 'img', 'vhd', 'vhdx', 'deb', 'rpm', 'apk', 'ipa', 'run', 'bin', 'elf'],
    ...['php', 'php3', 'php4', 'php5', 'php7', 'phtml', 'phar', 'asp', 'aspx', 'jsp', 'cgi', 'pl', 'py', 'pyw', 'pyc', 'rb'],
    ...['docm', 'dotm', 'xlsm', 'xltm', 'xlam', 'xll', 'pptm', 'potm', 'ppam', 'ppsm', 'sldm', 'xlsb', 'iqy', 'slk'],
    // the legacy Office templates and add-ins, which carry macros too
    ...['dot', 'xla', 'xlt', 'xlw', 'pot', 'ppa', 'wbk'],
    ...['desktop', 'scpt', 'applescript', 'workflow'],
  ].map((ext) => `.${ext}`),
);
const KNOWN = new Set(Object.values(EXTENSIONS).flat());

/**
 * The extension the name is judged by: the text after its last dot when some
 * type is known by it or it is DANGEROUS; '' for none, and for a suffix
 * nothing opens by (`Scan 2024.01.15`, `Dr. Smith referral`,
 * `photo.jpg_large`), which the claimed type alone decides.
 */
export const judgedExtension = (name: string) => {
  const ext = extensionOf(name);
  return KNOWN.has(ext) || DANGEROUS.has(ext) ? ext : '';
};

/** Why a file is refused, or undefined when it is allowed. */
export function refusal(allowed: readonly string[], type: string, name: string): 'type' | 'extension' | undefined {
  const named = extensionOf(name);
  if (named !== '' && allowed.includes(named)) return undefined;
  const typeListed = allowed.includes(type) || allowed.includes(`${type.split('/')[0]}/*`);
  if (!typeListed) return 'type';
  // The type passed (a header the sender writes); the name the agent saves the file under must not say otherwise.
  const ext = judgedExtension(name);
  if (ext !== '' && !EXTENSIONS[type]?.includes(ext)) return 'extension';
  return undefined;
}

/**
 * A file is allowed when its name's extension is listed (`.docx`), or when
 * its type or its type's family (`image/*`) is listed and its name has no
 * extension, an extension its type is known by (`.png` for image/png), or a
 * suffix no type is known by and nothing runs (`.15`): a claimed type never
 * lets in a name ending in an extension of another type (`.jpg` as
 * image/png) or a dangerous one (`.exe`, `.html`) nobody allowed. A type the
 * table does not know lets in no such extension at all.
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
