import type { ApiError } from './util';
import { uploadName } from './file-name';
import { formatNumber } from './format';
import { t } from './i18n';

// Uploaded files in both apps: sending one (multipart, the session's or
// agent's token) and showing one — pictures inline, other files as a link
// with name and size. Links to elsewhere (sent as URLs) stay plain links.

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

export function AttachmentView({ attachment: a }: { attachment: ShownAttachment }) {
  if (a.id !== undefined) {
    const name = a.name ?? t('file');

    if (a.type.startsWith('image/')) {
      return (
        <a className="attachment image" href={a.url} target="_blank" rel="noopener noreferrer" data-testid="attachment-image">
          <img src={a.url} alt={name} loading="lazy" />
        </a>
      );
    }
    return (
      <a className="attachment file" href={a.url} download={name} data-testid="attachment-file">
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
