// The name an upload goes under when the browser gives the file none (a
// picture pasted from the clipboard): its type's extension, since the
// server judges a name's extension against the type it claims
// (attachments_allowed_types), and a pasted JPEG named .png is refused.

const EXTENSION: Readonly<Record<string, string>> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/gif': '.gif',
  'image/webp': '.webp',
};

/** The file's own name, or `pasted-image.jpg` (`.png`, `.gif`, `.webp`; none for other types) when it has none. */
export function uploadName(name: string, type: string): string {
  if (name) return name;
  const kind = type.split(';')[0]!.trim().toLowerCase();
  return `${kind.startsWith('image/') ? 'pasted-image' : 'pasted-file'}${EXTENSION[kind] ?? ''}`;
}
