// The bounds of the attachments_* settings, as data and one pure function.
// The one copy: the settings route's schema (src/http/schemas.ts) and the
// console's attachments form (web/console/src/admin-attachments.tsx, which
// imports this file through Vite) judge with it, so they cannot drift. No
// imports, no Node or DOM API: it compiles under both tsconfigs.

/** Files are held in memory while they are stored: 100 MiB at most. */
export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
export const MAX_FILES_PER_MESSAGE = 20;
export const MAX_ALLOWED_TYPES = 200;
export const MAX_TYPE_LENGTH = 150;
/** lowercase `type/subtype`, `type/*` or `.ext` */
export const ALLOWED_TYPE_PATTERN = '^([a-z0-9][a-z0-9!#$&^_.+-]*/([a-z0-9][a-z0-9!#$&^_.+-]*|\\*)|\\.[a-z0-9][a-z0-9_-]*)$';

const allowedType = new RegExp(ALLOWED_TYPE_PATTERN);
export const isAllowedTypeEntry = (entry: string) => entry.length <= MAX_TYPE_LENGTH && allowedType.test(entry);
